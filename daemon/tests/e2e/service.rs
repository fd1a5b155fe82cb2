//! Running as a service: systemd units that verify, socket activation and
//! readiness, the launchd plist, start/stop, doctor, config.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use lcd_protocol::sender::Sender;
use lcd_testkit::env::{create_private_dir, write_script};
use lcd_testkit::DaemonProcess;

use super::env;

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() -> Result<()> {
    let env = env()?;
    let printed = env.lcd(&["service", "print", "systemd"])?;
    let dir = env.root.join("units");
    std::fs::create_dir_all(&dir)?;
    let mut files = Vec::new();
    for part in printed.split("# lcd.").skip(1) {
        let (name, text) = part.split_once('\n').context("a unit")?;
        let path = dir.join(format!("lcd.{name}"));
        std::fs::write(&path, text)?;
        files.push(path);
    }
    assert_eq!(files.len(), 2, "{printed}");
    let service = std::fs::read_to_string(dir.join("lcd.service"))?;
    assert!(service.contains(&format!("ExecStart={} daemon run", env.lcd.display())), "{service}");
    assert!(service.contains("Type=notify") && service.contains("Restart=on-failure"));
    assert!(std::fs::read_to_string(dir.join("lcd.socket"))?.contains("ListenStream=%t/lcd/lcd.sock"));
    let out = Command::new("systemd-analyze")
        .args(["verify", "--user", "--man=no"])
        .args(&files)
        .env("XDG_RUNTIME_DIR", env.root.join("run"))
        .output()
        .context("running systemd-analyze (is systemd installed?)")?;
    let complaints = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && complaints.trim().is_empty(), "systemd-analyze verify: {complaints}");
    Ok(())
}

/// The units `lcd service install` writes name lcd(1) (`Documentation=`);
/// `systemd-analyze verify`, man page check included, passes on them as
/// installed, for an lcd laid out as `cargo install` does (`<prefix>/bin`).
#[test]
fn the_installed_units_pass_systemd_analyze_verify_with_their_man_page() -> Result<()> {
    let env = env()?;
    let bin = env.root.join("bin");
    std::fs::create_dir_all(&bin)?;
    let lcd = bin.join("lcd");
    std::fs::hard_link(&env.lcd, &lcd).or_else(|_| std::fs::copy(&env.lcd, &lcd).map(drop))?;
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let installed = |args: &[&str]| {
        let mut cmd = Command::new(&lcd);
        cmd.env_clear().envs(env.vars()).env("PATH", &path).args(args).current_dir(env.home());
        cmd.output()
    };
    // No systemd user manager here: the files are written, nothing enabled.
    let out = installed(&["service", "install"])?;
    let page = env.root.join("share/man/man1/lcd.1");
    assert!(page.exists(), "no man page at {}: {}", page.display(), String::from_utf8_lossy(&out.stdout));
    // And every page lcd(1) refers to, which man then finds by name.
    let referred = super::cli::pages_referred_to(&std::fs::read_to_string(&page)?);
    assert!(referred.contains(&"lcd-query".to_string()), "{referred:?}");
    for name in &referred {
        assert!(page.with_file_name(format!("{name}.1")).exists(), "lcd(1) refers to {name}(1), not installed");
    }
    let man =
        Command::new("man").arg("-M").arg(env.root.join("share/man")).args(["-P", "cat", "lcd-query"]).output()?;
    assert!(String::from_utf8_lossy(&man.stdout).contains("--wide"), "{}", String::from_utf8_lossy(&man.stderr));
    let units = env.home().join(".config/systemd/user");
    let service = std::fs::read_to_string(units.join("lcd.service"))?;
    assert!(service.contains("Documentation=man:lcd(1)"), "{service}");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .args([units.join("lcd.service"), units.join("lcd.socket")])
        .env_clear()
        .envs(env.vars())
        .env("PATH", &path)
        .output()
        .context("running systemd-analyze (is systemd installed?)")?;
    let complaints = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && complaints.trim().is_empty(), "systemd-analyze verify: {complaints}");
    let out = installed(&["service", "uninstall"])?;
    assert!(out.status.success() && !page.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!page.with_file_name("lcd-query.1").exists(), "uninstall left lcd-query(1)");
    Ok(())
}

#[test]
fn a_socket_passed_by_systemd_is_used_and_readiness_is_notified() -> Result<()> {
    let env = env()?;
    let socket = env.paths().socket;
    create_private_dir(&env.paths().runtime_dir)?;
    let notify_path = env.root.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path)?;
    notify.set_read_timeout(Some(Duration::from_secs(15)))?;
    // systemd-socket-activate listens, and on the first connection runs the
    // daemon with the socket as LISTEN_FDS, as systemd's lcd.socket would.
    let mut activator =
        env.lcd_command(&[]).env("NOTIFY_SOCKET", &notify_path).stderr(Stdio::piped()).spawn_with_program(
            "systemd-socket-activate",
            &[
                "-l",
                &socket.display().to_string(),
                "-E",
                "NOTIFY_SOCKET",
                &env.lcd.display().to_string(),
                "daemon",
                "run",
            ],
        )?;
    // The socket's file appears at bind(), a moment before listen(): until
    // then a connection is refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let answer = loop {
        match Sender::new(&socket).status() {
            Ok(answer) => break answer,
            Err(e) => anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "systemd-socket-activate did not listen on {}: {e}",
                socket.display()
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status: serde_json::Value = serde_json::from_str(&answer)?;
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).context("no readiness notification")?;
    let message = String::from_utf8_lossy(&buf[..n]);
    assert!(message.contains("READY=1") && message.contains(&format!("MAINPID={}", status["pid"])), "{message}");
    // SAFETY: stopping the daemon this test started.
    unsafe { libc::kill(status["pid"].as_i64().unwrap() as i32, libc::SIGTERM) };
    activator.wait()?;
    let mut log = String::new();
    std::io::Read::read_to_string(&mut activator.stderr.take().unwrap(), &mut log)?;
    assert!(log.contains("using the socket passed by the service manager"), "{log}");
    assert!(socket.exists(), "the daemon removed a socket that systemd owns");
    Ok(())
}

/// Runs another program with the test's lcd environment.
trait SpawnWith {
    fn spawn_with_program(&mut self, program: &str, args: &[&str]) -> Result<std::process::Child>;
}

impl SpawnWith for Command {
    fn spawn_with_program(&mut self, program: &str, args: &[&str]) -> Result<std::process::Child> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(self.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        cmd.spawn().with_context(|| format!("running {program} (is systemd installed?)"))
    }
}

#[test]
fn the_launchd_plist_is_a_property_list_with_the_keys_launchd_needs() -> Result<()> {
    let env = env()?;
    let plist = env.lcd(&["service", "print", "launchd"])?;
    let path = env.root.join("agent.plist");
    std::fs::write(&path, &plist)?;
    let read = "import plistlib,sys,json; print(json.dumps(plistlib.load(open(sys.argv[1],'rb'))))";
    let out = Command::new("python3").args(["-c", read]).arg(&path).output().context("running python3")?;
    assert!(out.status.success(), "not a property list: {}", String::from_utf8_lossy(&out.stderr));
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(parsed["Label"], "dev.lcd.daemon");
    assert_eq!(parsed["ProgramArguments"], serde_json::json!([env.lcd.display().to_string(), "daemon", "run"]));
    assert_eq!((parsed["RunAtLoad"].as_bool(), parsed["KeepAlive"].as_bool()), (Some(true), Some(true)));
    let log = env.paths().daemon_log().display().to_string();
    assert_eq!(
        (parsed["StandardOutPath"].as_str(), parsed["StandardErrorPath"].as_str()),
        (Some(log.as_str()), Some(log.as_str()))
    );
    Ok(())
}

#[test]
fn start_twice_is_fine_and_stop_removes_the_socket() -> Result<()> {
    let env = env()?;
    assert!(env.lcd(&["daemon", "start"])?.contains("started"));
    assert!(env.lcd(&["daemon", "start"])?.contains("already running"));
    let socket = env.paths().socket;
    assert!(socket.exists());
    assert!(env.lcd(&["daemon", "stop"])?.contains("stopped"));
    assert!(!socket.exists(), "stop left the socket behind");
    assert!(!env.paths().pid_file().exists(), "stop left the pid file behind");
    assert!(env.lcd(&["daemon", "stop"])?.contains("not running"));
    Ok(())
}

#[test]
fn service_install_without_systemd_says_so_and_leaves_the_daemon_running() -> Result<()> {
    // It once stopped the daemon, wrote the units, enabled nothing and left
    // capture down, while `lcd service status` exited 0.
    let env = env()?;
    env.lcd(&["daemon", "start"])?;
    let pid = env.status()?["daemon"]["pid"].clone();
    let out = env.lcd_output(&["service", "install"])?;
    let err = String::from_utf8_lossy(&out.stderr);
    let said = String::from_utf8_lossy(&out.stdout);
    // This machine (and CI) has no systemd user manager.
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("systemd is not running") && err.contains("lcd daemon start"), "{err}");
    assert!(!said.contains("stopped"), "{said}");
    assert_eq!(env.status()?["daemon"]["pid"], pid, "the daemon is the one that ran before");
    let unit = std::fs::read_to_string(env.home().join(".config/systemd/user/lcd.service"))?;
    assert!(unit.contains(&format!("ExecStart={} daemon run", env.lcd.display())), "{unit}");
    assert!(env.home().join(".config/systemd/user/lcd.socket").exists());
    let status = env.lcd_output(&["service", "status"])?;
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(3), "{text}");
    assert!(text.contains("lcd.service: installed"), "{text}");
    assert!(text.contains("service: not in effect; a daemon started on demand runs"), "{text}");
    env.lcd(&["daemon", "stop"])?;
    let status = env.lcd_output(&["service", "status"])?;
    assert!(String::from_utf8_lossy(&status.stdout).contains("no daemon runs"));
    env.lcd(&["service", "uninstall"])?;
    assert!(!env.home().join(".config/systemd/user/lcd.service").exists());
    Ok(())
}

#[test]
fn doctor_names_each_problem_and_passes_a_healthy_setup() -> Result<()> {
    let env = env()?;
    // Broken: no daemon, a folder others can write to, a config with a typo.
    env.write_config("[daemon]\nretention_day = 30\n")?;
    std::fs::create_dir_all(&env.paths().state_dir)?;
    std::fs::set_permissions(&env.paths().state_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    let out = env.lcd_output(&["doctor"])?;
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("FAIL  shell hooks: not loaded"), "{report}");
    assert!(report.contains("FAIL  daemon: nothing answers") && report.contains("lcd daemon start"), "{report}");
    assert!(report.contains("is writable by other users") && report.contains("chmod 700"), "{report}");
    assert!(report.contains("retention_day") && report.contains("line 2"), "{report}");
    // Healthy: all fixed, a daemon running, the hooks loaded.
    env.write_config("[daemon]\nretention_days = 30\n")?;
    std::fs::set_permissions(&env.paths().state_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let _daemon = DaemonProcess::start(&env, &[])?;
    // In a hooked shell: doctor checks the hooks by a round trip of its own start.
    let mut sh = env.hooked_shell(lcd_testkit::ShellKind::Bash)?;
    sh.run("lcd doctor > ~/doctor.txt; echo \"exit $?\" >> ~/doctor.txt")?;
    let report = std::fs::read_to_string(env.home().join("doctor.txt"))?;
    assert!(report.ends_with("exit 0\n"), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
    Ok(())
}

#[test]
fn config_path_show_edit_and_reload() -> Result<()> {
    let env = env()?;
    let file = env.paths().config_file();
    assert_eq!(env.lcd(&["config", "path"])?.trim(), file.display().to_string());
    let shown = env.lcd_command(&["config", "show"]).env("LCD_DAEMON_RETENTION_DAYS", "45").output()?;
    assert!(String::from_utf8_lossy(&shown.stdout).contains("retention_days = 45"));
    // An editor that adds a typo: edit reports the key and the line.
    let editor = env.root.join("editor.sh");
    write_script(&editor, "#!/bin/sh\nprintf '[daemon]\\nretention_dayz = 1\\n' > \"$1\"\n")?;
    let out = env.lcd_command(&["config", "edit"]).env("EDITOR", &editor).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("retention_dayz") && err.contains("line 2"), "{err}");
    let mode = std::fs::metadata(&file)?.permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    // A good edit, and a running daemon picks it up.
    std::fs::write(&editor, "#!/bin/sh\nprintf '[daemon]\\nretention_days = 1\\n' > \"$1\"\n")?;
    assert!(env.lcd_command(&["config", "edit"]).env("EDITOR", &editor).output()?.status.success());
    let mut daemon = DaemonProcess::start(&env, &[])?;
    assert!(env.lcd(&["daemon", "reload"])?.contains("reload"));
    daemon.wait_log("configuration reloaded")?;
    Ok(())
}
