//! Another local user, and what passes between a shell and its helper: each
//! test is named after the hole it closes (issue "Hostile machines, hostile
//! repositories, hostile input"; docs/SECURITY.md says what lcd does).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{ensure, Context, Result};
use lcd_testkit::{Shell, ShellKind, TestEnv};

use super::{env, record};

/// The uid the tests play another user with (nobody).
const OTHER_UID: &str = "65534";

/// Runs `args` as the other user, with the system's tools.
fn as_other_user(args: &[&str]) -> Result<()> {
    let out = Command::new("setpriv")
        .env("PATH", "/usr/bin:/bin")
        .args([&format!("--reuid={OTHER_UID}"), &format!("--regid={OTHER_UID}"), "--clear-groups"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running setpriv (util-linux)")?;
    ensure!(out.status.success(), "{args:?} as uid {OTHER_UID}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    Ok(names)
}

/// The files process `pid` holds open, as the kernel names them.
fn open_files(pid: u32) -> Result<Vec<std::path::PathBuf>> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).context("reading /proc")?;
    Ok(fds.flatten().filter_map(|fd| std::fs::read_link(fd.path()).ok()).collect())
}

/// What another user plants where lcd used to put its runtime folder when
/// `XDG_RUNTIME_DIR` is unset.
enum Plant {
    /// A link to a folder the victim owns, which passed the owner check.
    SymlinkToOurFolder,
    /// A plain folder of theirs, which stopped the victim's capture.
    TheirFolder,
}

/// A shell without `XDG_RUNTIME_DIR`, whose temporary folder (world-writable,
/// sticky, like /tmp) holds what another user planted at `lcd-<uid>`: its
/// commands are still recorded, and nothing lcd makes goes through the plant.
fn runtime_fallback_is_not_hijacked(env: &TestEnv, kind: ShellKind, plant: Plant) -> Result<()> {
    let _daemon = env.start_daemon()?;
    std::fs::set_permissions(&env.root, std::fs::Permissions::from_mode(0o711))?;
    let tmp = env.root.join("tmp");
    std::fs::create_dir(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))?;
    let ours = env.root.join("ours");
    std::fs::create_dir(&ours)?;
    std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o700))?;
    let planted = tmp.join(format!("lcd-{}", unsafe { libc::geteuid() }));
    let planted_arg = planted.to_str().context("a UTF-8 path")?;
    match plant {
        Plant::SymlinkToOurFolder => as_other_user(&["ln", "-s", ours.to_str().unwrap(), planted_arg])?,
        Plant::TheirFolder => as_other_user(&["mkdir", "-m", "777", planted_arg])?,
    }
    let mut vars: Vec<(String, String)> = env.vars().into_iter().filter(|(k, _)| k != "XDG_RUNTIME_DIR").collect();
    vars.push(("TMPDIR".into(), tmp.display().to_string()));
    // The in-process daemon's socket; the FIFOs go wherever lcd now puts them.
    vars.push(("LCD_SOCKET".into(), env.paths().socket.display().to_string()));
    let mut sh = Shell::start(kind, &vars, &env.home())?;
    sh.run(&format!("eval \"$(lcd init {})\"", kind.name()))?;
    sh.run("echo past the plant")?;
    env.wait_finished("echo past the plant").with_context(|| format!("the terminal:\n{}", sh.screen()))?;
    assert!(names_in(&ours)?.is_empty(), "{}: lcd wrote through the link: {:?}", kind.name(), names_in(&ours)?);
    // The FIFO's name is gone once opened; where it was made shows in /proc.
    let held = open_files(sh.pid())?;
    assert!(
        !held.iter().any(|f| f.starts_with(&ours)),
        "{}: the shell's FIFO went through the link: {held:?}",
        kind.name()
    );
    match plant {
        Plant::SymlinkToOurFolder => assert!(std::fs::symlink_metadata(&planted)?.file_type().is_symlink()),
        Plant::TheirFolder => assert!(names_in(&planted)?.is_empty(), "{:?}", names_in(&planted)?),
    }
    Ok(())
}

shell_test!(another_users_symlink_at_the_tmp_runtime_folder_gets_nothing, |env, kind: ShellKind| {
    runtime_fallback_is_not_hijacked(env, kind, Plant::SymlinkToOurFolder)
});

shell_test!(another_users_folder_at_the_tmp_runtime_folder_stops_no_capture, |env, kind: ShellKind| {
    runtime_fallback_is_not_hijacked(env, kind, Plant::TheirFolder)
});

/// Lists, from inside a program the shell runs, the descriptors it inherited
/// that read from a FIFO.
const LIST_READABLE_FIFOS: &str = r#"import os, stat, fcntl
fds = [int(n) for n in os.listdir("/proc/self/fd")]
found = []
for fd in fds:
    try:
        if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_WRONLY:
            found.append(fd)
    except OSError:
        pass
print("readable-fifos:" + ",".join(map(str, found)) + ".")
"#;

shell_test!(no_program_the_shell_runs_inherits_a_readable_end_of_the_fifo, |env, mut sh: Shell| {
    let lister = env.home().join("list_fifos.py");
    std::fs::write(&lister, LIST_READABLE_FIFOS)?;
    sh.run("echo before")?;
    // Once at start and once after the helper was replaced.
    for round in 0..2 {
        sh.run(&format!("/usr/bin/python3 {}", lister.display()))?;
        let screen = sh.screen();
        let at = screen.rfind("readable-fifos:").context("the lister printed nothing")?;
        let line = screen[at..].lines().next().unwrap_or_default();
        assert_eq!(line, "readable-fifos:.", "{} (round {round}): a child can read records", sh.kind.name());
        sh.run("kill -9 $_lcd_pid")?;
    }
    sh.run("echo after")?;
    env.wait_finished("echo after")?;
    Ok(())
});

#[test]
fn a_nul_typed_into_a_zsh_command_line_forges_no_field_and_no_record() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let mut sh = env.hooked_shell(ShellKind::Zsh)?;
    // What follows each NUL looks like the fields and records the hook writes.
    let parts = ["echo 'kept", "c=forged command", "\x1e", "S", "n=77", "t=1700000000.5", "d=/", "c=injected record'"];
    // ^V (quoted-insert) then the key: a NUL is ^@, 0x1e is ^^.
    let typed: Vec<String> = parts.iter().map(|p| p.replace('\x1e', "\x16\x1e")).collect();
    sh.type_raw(&typed.join("\x16\x00"))?;
    sh.run("")?;
    sh.run("echo next")?;
    let records = env.wait_finished("echo next")?;
    let stored = parts.join("\u{2400}");
    assert_eq!(record(&records, &stored)["status"], "finished");
    let commands: Vec<&str> = records.iter().filter_map(|r| r["command"].as_str()).collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    Ok(())
}

#[test]
fn bash_records_nothing_for_a_first_command_kept_out_of_history() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let history = env.home().join(".bash_history");
    std::fs::write(&history, "ls\nterraform destroy -auto-approve\n")?;
    let mut vars = env.vars();
    vars.push(("HISTFILE".into(), history.display().to_string()));
    vars.push(("HISTCONTROL".into(), "ignorespace".into()));
    let mut sh = Shell::start(ShellKind::Bash, &vars, &env.home())?;
    // As if loaded from ~/.bashrc: the newest entry is the last session's.
    sh.run(" history -c; history -r")?;
    sh.run(" eval \"$(lcd init bash)\"")?;
    sh.run(" export X=1")?;
    sh.run("echo shown")?;
    let records = env.wait_finished("echo shown")?;
    let commands: Vec<&str> = records.iter().filter_map(|r| r["command"].as_str()).collect();
    assert_eq!(commands, ["echo shown"]);
    Ok(())
}

/// A config file others can read, holding the team store's token: the
/// daemon used to refuse to start, so nothing was captured at all. Now the
/// token is refused and its sink stops with the reason; capture goes on.
#[test]
fn a_token_in_a_config_file_others_can_read_stops_its_sink_not_capture() -> Result<()> {
    let env = env()?;
    // Port 9 (discard) refuses the connection: no token could leave anyway.
    env.write_config("[remote]\nurl = \"http://127.0.0.1:9\"\ntoken = \"hunter2\"\n")?;
    let file = env.paths().config_file();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
    let mut daemon = lcd_testkit::DaemonProcess::start(&env, &[])?;
    let mut sh = env.hooked_shell(ShellKind::Zsh)?;
    sh.run("echo still captured")?;
    env.wait_finished("echo still captured").with_context(|| format!("the terminal:\n{}", sh.screen()))?;

    let status = env.status()?;
    let sink = &status["sinks"][0];
    assert_eq!(sink["name"], "remote", "{status:#}");
    assert_eq!(sink["state"], "stopped", "{status:#}");
    let reason = sink["last_error"].as_str().context("the stopped sink says why")?;
    let fix = format!("chmod 600 {}", file.display());
    assert!(reason.contains("mode 644") && reason.contains(&fix), "{reason}");
    assert!(!status.to_string().contains("hunter2"), "{status:#}");

    let doctor = env.lcd_output(&["doctor"])?;
    let printed = String::from_utf8(doctor.stdout)?;
    assert!(!doctor.status.success(), "{printed}");
    let line = printed.lines().find(|l| l.contains("token")).with_context(|| format!("doctor:\n{printed}"))?;
    assert!(line.starts_with("FAIL") && line.contains("mode 644") && line.contains(&fix), "{printed}");
    assert!(!printed.contains("hunter2"), "{printed}");

    // The fix works without a restart.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("configuration reloaded")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while env.status()?["sinks"][0]["state"] == "stopped" {
        ensure!(std::time::Instant::now() < deadline, "the sink stayed stopped: {:#}", env.status()?);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}

/// How many short-lived shells the lifetime test starts: the issue counted 92
/// FIFOs left behind by 124.
const SHORT_LIVED_SHELLS: usize = 120;

/// Writes the rc file that loads lcd into every interactive `kind` shell.
fn load_lcd_from_the_rc(env: &TestEnv, kind: ShellKind) -> Result<()> {
    let rc = env.home().join(format!(".{}rc", kind.name()));
    std::fs::write(rc, format!("eval \"$(lcd init {})\"\n", kind.name()))?;
    Ok(())
}

/// Runs `<shell> -i -c true` the way an editor reads the user's environment:
/// in a process group of its own, no terminal. Returns the group's id.
fn run_interactive_true(env: &TestEnv, kind: ShellKind) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(kind.name())
        .args(["-i", "-c", "true"])
        .env_clear()
        .envs(env.vars())
        .current_dir(env.home())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("running {}", kind.name()))?;
    let group = i32::try_from(child.id())?;
    let status = child.wait()?;
    ensure!(status.success(), "{} -i -c true: {status}", kind.name());
    Ok(group)
}

/// The lcd-hook processes serving `env` (other tests and sessions may run
/// the same binary), as their command lines.
fn helpers_of(env: &TestEnv) -> Result<Vec<String>> {
    let hook = env.lcd_hook.to_str().context("a UTF-8 path")?;
    let socket = env.paths().socket.to_str().context("a UTF-8 path")?.to_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")?.flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.first().is_some_and(|a| a == hook) && args.contains(&socket) {
            found.push(args.join(" "));
        }
    }
    Ok(found)
}

shell_test!(a_shell_killed_with_its_process_group_leaves_no_fifo_and_no_helper, |env, kind: ShellKind| {
    let _daemon = env.start_daemon()?;
    load_lcd_from_the_rc(env, kind)?;
    for i in 0..SHORT_LIVED_SHELLS {
        let group = run_interactive_true(env, kind)?;
        // What a timeout wrapper does (SIGKILL) and a closing terminal (SIGHUP).
        let signal = if i % 2 == 0 { libc::SIGKILL } else { libc::SIGHUP };
        // SAFETY: signals only the group this test made.
        unsafe { libc::kill(-group, signal) };
    }
    let runtime = env.paths().runtime_dir;
    let fifos: Vec<String> = names_in(&runtime)?.into_iter().filter(|n| n.starts_with("hook.")).collect();
    assert!(fifos.is_empty(), "{}: {} of {SHORT_LIVED_SHELLS} shells left a FIFO: {fifos:?}", kind.name(), fifos.len());
    let helpers = helpers_of(env)?;
    assert!(helpers.is_empty(), "{}: helpers left running: {helpers:#?}", kind.name());
    Ok(())
});

shell_test!(a_shell_that_runs_no_command_starts_no_daemon, |env, kind: ShellKind| {
    load_lcd_from_the_rc(env, kind)?;
    run_interactive_true(env, kind)?;
    // A helper started at init would start the daemon within a few ms; give
    // it more than it needs.
    let socket = env.paths().socket;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !socket.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let started = socket.exists();
    if started {
        let _ = env.lcd_output(&["daemon", "stop"]);
    }
    assert!(!started, "{}: `{} -i -c true` started the daemon", kind.name(), kind.name());
    let helpers = helpers_of(env)?;
    assert!(helpers.is_empty(), "{}: helpers running: {helpers:#?}", kind.name());
    Ok(())
});
