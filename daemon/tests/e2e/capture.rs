//! Commands typed at a hooked prompt end up stored, exactly as typed, with
//! their outcome; and the hooks never disturb the shell.

use std::time::Duration;

use anyhow::{Context, Result};
use lcd_testkit::{Shell, ShellKind};

use super::{count, env, record, WAIT};

shell_test!(typed_commands_are_stored_with_status_pipestatus_cwd_and_time, |env, mut sh: Shell| {
    for line in ["echo hi", "false", "(exit 3)", "false | true", "sleep 1", "cd /tmp", "pwd"] {
        sh.run(line)?;
    }
    let records = env.wait_finished("pwd")?;
    let shell = sh.kind.name();
    assert_eq!(record(&records, "echo hi")["exit_code"], 0, "{shell}");
    assert_eq!(record(&records, "false")["exit_code"], 1, "{shell}");
    assert_eq!(record(&records, "(exit 3)")["exit_code"], 3, "{shell}");
    let pipe = record(&records, "false | true");
    assert_eq!(
        (pipe["exit_code"].clone(), pipe["pipestatus"].clone()),
        (0.into(), serde_json::json!([1, 0])),
        "{shell}"
    );
    let sleep = record(&records, "sleep 1")["duration_ms"].as_i64().unwrap();
    assert!((750..=1250).contains(&sleep), "{shell}: sleep 1 took {sleep} ms");
    assert_eq!(record(&records, "pwd")["cwd"], "/tmp", "{shell}");
    assert_eq!(record(&records, "echo hi")["cwd"], env.home().display().to_string(), "{shell}");
    let hi = record(&records, "echo hi");
    for field in ["id", "session", "hostname", "user", "started_at", "ended_at"] {
        assert!(hi[field].as_str().is_some_and(|v| !v.is_empty()), "{shell}: {field} missing in {hi}");
    }
    assert_eq!(hi["shell"], shell);
    assert_eq!(hi["status"], "finished");
    assert!(hi["started_at"].as_str().unwrap().ends_with('Z') && hi["started_at"].as_str().unwrap().contains('.'));
    // Newest first.
    assert_eq!(records[0]["command"], "pwd", "{shell}");
    sh.exit()?;
    Ok(())
});

shell_test!(special_characters_are_stored_byte_exact, |env, mut sh: Shell| {
    // A tab must be inserted, not complete: zle takes Ctrl-V Tab; readline
    // is told to stop completing.
    let tab = match sh.kind {
        ShellKind::Zsh => "\x16\t",
        ShellKind::Bash => {
            sh.run("bind 'set disable-completion on'")?;
            "\t"
        }
        ShellKind::Fish => anyhow::bail!("written for zsh and bash"),
    };
    sh.type_raw(&format!("echo 'single \"double\"' \"\\$HOME\" 'back\\slash' 'a{tab}b' é✓日本\r"))?;
    sh.wait_prompt()?;
    let expected = "echo 'single \"double\"' \"\\$HOME\" 'back\\slash' 'a\tb' é✓日本";
    // bash's `bind` is recorded too: wait for the echo itself.
    let records = env.wait_records(WAIT, |r| {
        r.first().is_some_and(|r| r["command"].as_str() != Some("bind 'set disable-completion on'"))
    })?;
    assert_eq!(records[0]["command"], expected, "{}", sh.kind.name());
    Ok(())
});

shell_test!(a_command_typed_over_two_lines_is_one_record, |env, mut sh: Shell| {
    sh.type_line("for i in 1 2; do")?;
    sh.type_line("echo $i; done")?;
    sh.wait_prompt()?;
    let records = env.wait_records(WAIT, |r| !r.is_empty())?;
    // Each shell's own history form: zsh keeps the newline, bash joins the
    // lines (cmdhist) unless lithist is set.
    let expected = match sh.kind {
        ShellKind::Zsh => "for i in 1 2; do\necho $i; done",
        ShellKind::Bash => "for i in 1 2; do echo $i; done",
        ShellKind::Fish => anyhow::bail!("written for zsh and bash"),
    };
    assert_eq!(records.len(), 1, "{}: {records:?}", sh.kind.name());
    assert_eq!(records[0]["command"], expected);
    assert_eq!(records[0]["exit_code"], 0);
    Ok(())
});

shell_test!(empty_lines_and_leading_space_store_nothing, |env, mut sh: Shell| {
    sh.run("")?;
    sh.run(" echo secret")?;
    sh.run("")?;
    sh.run("echo visible")?;
    let records = env.wait_finished("echo visible")?;
    assert_eq!(records.len(), 1, "{}: {records:?}", sh.kind.name());
    Ok(())
});

shell_test!(the_users_own_hooks_still_see_the_commands_status, |env, kind: ShellKind| {
    let _daemon = env.start_daemon()?;
    let mut sh = env.shell(kind)?;
    match kind {
        ShellKind::Zsh => {
            sh.run("autoload -Uz add-zsh-hook; before() { print \"before saw $? ${pipestatus[*]}\" }; add-zsh-hook precmd before")?;
            sh.run("eval \"$(lcd init zsh)\"")?;
            sh.run("after() { print \"after saw $? ${pipestatus[*]}\" }; add-zsh-hook precmd after")?;
        }
        ShellKind::Bash => {
            sh.run("PROMPT_COMMAND='echo \"user saw $?\"'")?;
            sh.run("eval \"$(lcd init bash)\"")?;
        }
        ShellKind::Fish => anyhow::bail!("written for zsh and bash"),
    }
    sh.run("(exit 7)")?;
    let screen = sh.screen();
    match kind {
        ShellKind::Zsh => {
            assert!(screen.contains("before saw 7 7"), "{screen}");
            assert!(screen.contains("after saw 7 7"), "{screen}");
        }
        ShellKind::Bash => assert!(screen.contains("user saw 7"), "{screen}"),
        ShellKind::Fish => anyhow::bail!("written for zsh and bash"),
    }
    // And the prompt's own $? (what a user's PS1 shows) is the command's.
    sh.run("false; echo \"status $?\"")?;
    sh.run("echo \"last $?\"")?;
    assert!(sh.screen().contains("last 0"));
    Ok(())
});

#[test]
fn bash_prompt_command_as_an_array_keeps_its_entries_and_status() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let mut sh = env.shell(ShellKind::Bash)?;
    sh.run("PROMPT_COMMAND=('echo \"first saw $?\"' 'echo second')")?;
    sh.run("eval \"$(lcd init bash)\"")?;
    sh.run("(exit 4)")?;
    let screen = sh.screen();
    assert!(screen.contains("first saw 4"), "{screen}");
    assert!(screen.contains("second"), "{screen}");
    env.wait_records(WAIT, |r| r.iter().any(|r| r["command"] == "(exit 4)" && r["exit_code"] == 4))?;
    Ok(())
}

shell_test!(a_long_running_command_shows_as_running_until_it_ends, |env, mut sh: Shell| {
    sh.run("sleep 30 &")?;
    sh.type_line("sleep 3")?;
    let records = env.wait_records(WAIT, |r| r.iter().any(|r| r["command"] == "sleep 3"))?;
    let running = record(&records, "sleep 3");
    assert_eq!(running["status"], "running", "{}", sh.kind.name());
    assert!(running["exit_code"].is_null() && running["ended_at"].is_null());
    sh.wait_prompt()?;
    let records = env.wait_finished("sleep 3")?;
    assert_eq!(record(&records, "sleep 30 &")["status"], "finished");
    sh.run("kill %1")?;
    Ok(())
});

shell_test!(a_killed_helper_is_replaced_and_nothing_is_lost, |env, mut sh: Shell| {
    let first = helper_pid(&mut sh)?;
    // SAFETY: killing the helper of the shell this test started.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    wait_dead(first)?;
    for line in ["echo one", "echo two", "echo three"] {
        sh.run(line)?;
    }
    assert!(sh.is_alive());
    let records = env
        .wait_records(WAIT, |r| {
            ["echo one", "echo two", "echo three"]
                .iter()
                .all(|c| r.iter().any(|r| r["command"] == *c && r["status"] == "finished"))
        })
        .with_context(|| format!("the terminal:\n{}", sh.screen()))?;
    for c in ["echo one", "echo two", "echo three"] {
        assert_eq!(count(&records, c), 1);
    }
    let second = helper_pid(&mut sh)?;
    assert_ne!(first, second, "{}: a new helper should have taken over", sh.kind.name());
    Ok(())
});

/// The pid of the shell's helper, as the shell knows it.
fn helper_pid(sh: &mut Shell) -> Result<u32> {
    sh.run("echo \"helper=$_lcd_pid.\"")?;
    let screen = sh.screen();
    let at = screen.rfind("helper=").context("no helper pid shown")? + "helper=".len();
    let digits: String = screen[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().with_context(|| format!("no helper pid in {:?}", &screen[at..]))
}

/// Waits until `pid` has exited (a zombie counts as exited).
fn wait_dead(pid: u32) -> Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return Ok(()),
            Ok(stat) if stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')) => return Ok(()),
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    anyhow::bail!("the helper {pid} did not die")
}

shell_test!(sigpipe_is_left_alone_for_the_users_commands, |_env, mut sh: Shell| {
    sh.type_line("yes | head -1")?;
    sh.wait_prompt_for(Duration::from_secs(3))?;
    let screen = sh.screen();
    let after = &screen[screen.rfind("yes | head -1").unwrap()..];
    assert_eq!(
        after.matches('y').count(),
        2,
        "{}: one y from yes, one in the echoed command: {after:?}",
        sh.kind.name()
    );
    Ok(())
});

shell_test!(loading_the_init_twice_records_each_command_once, |env, mut sh: Shell| {
    sh.run(&format!("eval \"$(lcd init {})\"", sh.kind.name()))?;
    sh.run("echo once")?;
    let records = env.wait_finished("echo once")?;
    assert_eq!(count(&records, "echo once"), 1, "{}", sh.kind.name());
    Ok(())
});

shell_test!(hooks_survive_nounset_errexit_and_aliased_builtins, |env, kind: ShellKind| {
    let _daemon = env.start_daemon()?;
    let mut sh = env.shell(kind)?;
    // Aliases defined before the init are expanded when its functions are defined.
    // The quotes keep the word ALIASED out of the echo of this line.
    let names =
        ["print", "printf", "kill", "builtin", "history", "local", "return", "trap", "emulate", "command", "mkfifo"];
    let aliases: Vec<String> = names.iter().map(|n| format!("{n}='echo ALI''ASED'")).collect();
    sh.run(&format!("alias {}", aliases.join(" ")))?;
    sh.run(&format!("eval \"$(lcd init {})\"", kind.name()))?;
    sh.run("set -u")?;
    sh.run("echo nounset")?;
    sh.run("set -e")?;
    sh.run("false && true")?;
    sh.run("echo errexit")?;
    assert!(sh.is_alive(), "{} died under set -e", kind.name());
    assert!(!sh.screen().contains("ALIASED"), "{}: {}", kind.name(), sh.screen());
    assert!(!sh.screen().contains("unbound"), "{}: {}", kind.name(), sh.screen());
    let records = env.wait_finished("echo errexit")?;
    assert_eq!(record(&records, "false && true")["exit_code"], 1);
    Ok(())
});

#[test]
fn bash_keeps_a_debug_trap_the_user_already_had() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let mut sh = env.shell(ShellKind::Bash)?;
    sh.run("user_debug() { :; }; trap user_debug DEBUG")?;
    sh.run("eval \"$(lcd init bash)\"")?;
    sh.run("echo recorded anyway")?;
    sh.run("trap -p DEBUG")?;
    assert!(sh.screen().contains("trap -- 'user_debug' DEBUG"), "{}", sh.screen());
    env.wait_records(WAIT, |r| r.iter().any(|r| r["command"] == "echo recorded anyway" && r["exit_code"] == 0))?;
    Ok(())
}

shell_test!(a_cached_init_script_makes_its_own_fifo, |env, kind: ShellKind| {
    let _daemon = env.start_daemon()?;
    // The script as a plugin manager would cache it: made by another process.
    let script = env.home().join(format!("cached.{}", kind.name()));
    std::fs::write(&script, env.lcd(&["init", kind.name()])?)?;
    let mut sh = env.shell(kind)?;
    sh.run(&format!("source {}", script.display()))?;
    sh.run("echo from cache")?;
    env.wait_finished("echo from cache")?;
    // The helper removed the FIFO's name once it held it.
    let leftovers: Vec<_> = std::fs::read_dir(env.paths().runtime_dir)?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("hook.{}.", sh.pid())))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
});

shell_test!(the_terminal_a_command_ran_on_is_recorded_as_its_tty, |env, mut sh: Shell| {
    // The helper is lent the shell's terminal to name it: a redirection
    // order that hands it the FIFO instead left every record's tty empty.
    sh.run("tty > \"$HOME/tty.txt\"")?;
    let records = env.wait_finished("tty > \"$HOME/tty.txt\"")?;
    let tty = std::fs::read_to_string(env.home().join("tty.txt"))?;
    assert!(tty.starts_with("/dev/pts/"), "{}: the shell runs on a pty: {tty:?}", sh.kind.name());
    assert_eq!(records[0]["tty"], tty.trim(), "{}", sh.kind.name());
    Ok(())
});

// Ctrl-Z stops a job, it does not end it: its record is `suspended` (no
// exit status, not a failure), and the `fg` that continues it names it.
shell_test!(a_job_stopped_with_ctrl_z_is_suspended_and_the_fg_that_continues_it_names_it, |env, mut sh: Shell| {
    sh.type_line("sleep 1")?;
    std::thread::sleep(Duration::from_millis(300));
    sh.type_raw("\x1a")?;
    sh.wait_prompt()?;
    sh.run("fg")?;
    sh.run("true")?;
    let records = env.wait_finished("true")?;
    let shell = sh.kind.name();
    let stopped = record(&records, "sleep 1");
    assert_eq!(stopped["status"], "suspended", "{shell}: {stopped}");
    assert_eq!(stopped["exit_code"], serde_json::Value::Null, "{shell}: {stopped}");
    let fg = record(&records, "fg");
    assert_eq!((&fg["resumes"], &fg["exit_code"]), (&stopped["id"], &0.into()), "{shell}: {fg}");
    let failed = env.lcd(&["query", "--failed", "--format", "json"])?;
    assert!(!failed.contains("sleep 1"), "{shell}: a stopped job is no failure: {failed}");
    let table = env.lcd(&["query", "--limit", "5"])?;
    assert!(table.contains("suspended"), "{shell}: {table}");
    let verified = env.lcd(&["verify"])?;
    assert!(verified.starts_with("intact: "), "{shell}: {verified}");
    Ok(())
});

// A command that exits 148 of its own is finished with 148, not suspended.
shell_test!(an_exit_status_of_148_without_a_stopped_job_is_an_exit_status, |env, mut sh: Shell| {
    sh.run("(exit 148)")?;
    let records = env.wait_finished("(exit 148)")?;
    let exited = record(&records, "(exit 148)");
    assert_eq!((&exited["status"], &exited["exit_code"]), (&"finished".into(), &148.into()), "{exited}");
    Ok(())
});

/// fish (through the same pty as zsh and bash): status, pipestatus, its own
/// duration, the leading-space rule, `$status` left as it was, and nothing
/// at all in private mode.
#[test]
fn fish_commands_are_stored_with_status_pipestatus_and_fishs_duration() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let mut sh = env.hooked_shell(ShellKind::Fish)?;
    for line in ["echo hi", "false", "false | true", "sleep 1", " echo secret", "echo \"saw $status\"", "cd /tmp; pwd"]
    {
        sh.run(line)?;
    }
    sh.run("false")?;
    sh.run("echo \"after false $status\"")?;
    let records = env.wait_finished("echo \"after false $status\"")?;
    assert!(sh.screen().contains("after false 1"), "the hook changed $status: {}", sh.screen());
    assert_eq!(record(&records, "echo hi")["exit_code"], 0);
    assert_eq!(record(&records, "echo hi")["shell"], "fish");
    assert_eq!(record(&records, "echo hi")["cwd"], env.home().display().to_string());
    let pipe = record(&records, "false | true");
    assert_eq!((pipe["exit_code"].clone(), pipe["pipestatus"].clone()), (0.into(), serde_json::json!([1, 0])));
    let sleep = record(&records, "sleep 1")["duration_ms"].as_i64().unwrap();
    assert!((990..=1250).contains(&sleep), "sleep 1 took {sleep} ms (fish's CMD_DURATION)");
    assert!(records.iter().all(|r| r["command"] != " echo secret" && r["command"] != "echo secret"), "{records:?}");
    assert_eq!(count(&records, "false"), 2);
    sh.exit()?;

    // Private mode: nothing.
    let mut private = env.hooked_shell(ShellKind::Fish)?;
    private.run("set -g fish_private_mode 1")?;
    private.run("echo in private")?;
    private.run("set -e fish_private_mode")?;
    private.run("echo public again")?;
    let records = env.wait_finished("echo public again")?;
    assert!(records.iter().all(|r| r["command"] != "echo in private"), "{records:?}");
    Ok(())
}
