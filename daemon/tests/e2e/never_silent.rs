//! Recording never stops without the user being told: each way it stopped
//! silently once, played end to end.

use anyhow::Result;
use lcd_testkit::ShellKind;

use super::{env, hooked, record};

#[test]
fn a_replaced_prompt_command_is_put_back_and_nothing_is_lost_bash() -> Result<()> {
    // `PROMPT_COMMAND="history -a"` typed, emptied, or set by a file sourced
    // after lcd's line used to detach lcd: that command stayed `running`
    // and nothing after it was recorded.
    hooked(ShellKind::Bash, |env, mut sh| {
        std::fs::write(env.home().join("later.sh"), "PROMPT_COMMAND='history -a'\n")?;
        let lines = [
            "PROMPT_COMMAND=\"history -a\"",
            "false | true",
            "PROMPT_COMMAND=",
            "echo emptied",
            "PROMPT_COMMAND=; echo same line",
            "(exit 4)",
            "source ~/later.sh",
            "echo after the file",
        ];
        for line in lines {
            sh.run(line)?;
        }
        let records = env.wait_finished("echo after the file")?;
        for line in lines {
            assert_eq!(record(&records, line)["status"], "finished", "{line}: {records:#?}");
        }
        assert_eq!(record(&records, "false | true")["pipestatus"], serde_json::json!([1, 0]));
        assert_eq!(record(&records, "(exit 4)")["exit_code"], 4);
        // The user's own command still runs at each prompt.
        sh.run("echo \"$PROMPT_COMMAND\" > ~/pc")?;
        let pc = std::fs::read_to_string(env.home().join("pc"))?;
        assert!(pc.contains("history -a") && pc.starts_with("_lcd_precmd"), "{pc:?}");
        assert!(!sh.screen().contains("recording stopped"), "{}", sh.screen());
        Ok(())
    })
}

#[test]
fn a_prompt_command_replaced_out_of_sight_warns_once_and_init_repairs_it_bash() -> Result<()> {
    // A function that replaces PROMPT_COMMAND is out of the trap's sight:
    // lcd cannot put its hook back, so the shell says so, once.
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let mut sh = env.hooked_shell(ShellKind::Bash)?;
    sh.run("setprompt() { PROMPT_COMMAND='history -a'; }")?;
    sh.run("setprompt")?;
    for line in ["echo one", "echo two", "echo three"] {
        sh.run(line)?;
    }
    let warning =
        "lcd: recording stopped: PROMPT_COMMAND no longer runs lcd's hook; to resume: eval \"$(lcd init bash)\"";
    assert_eq!(sh.screen().matches(warning).count(), 1, "{}", sh.screen());
    sh.run("eval \"$(lcd init bash)\"")?;
    sh.run("echo repaired")?;
    env.wait_finished("echo repaired")?;
    Ok(())
}

/// Stops the background daemon a test started with `lcd daemon start`.
struct StopsDaemon<'a>(&'a lcd_testkit::TestEnv);

impl Drop for StopsDaemon<'_> {
    fn drop(&mut self) {
        let _ = self.0.lcd_output(&["daemon", "stop"]);
    }
}

#[test]
fn a_broken_config_never_stops_capture_and_every_command_says_what_is_wrong() -> Result<()> {
    // Once: `lcd daemon reload` said it asked and exited 0 while the daemon
    // refused, `restart` stopped the daemon and could not start it, status
    // showed nothing wrong, and a new shell claimed the defaults applied.
    let env = env()?;
    let good = "[capture]\nignore_commands = ['^secret-tool']\n";
    env.write_config(good)?;
    env.lcd(&["daemon", "start"])?;
    let _stop = StopsDaemon(&env);
    env.write_config("[capture]\nignore_commands = ['^secret-tool'\n")?;
    let reload = env.lcd_output(&["daemon", "reload"])?;
    let said = String::from_utf8_lossy(&reload.stderr);
    assert!(!reload.status.success(), "reload of a broken file exited 0: {said}");
    assert!(said.contains("broken") && said.contains("line 2"), "{said}");
    let status = env.lcd(&["status"])?;
    assert!(status.contains("config:    BROKEN") && status.contains("line 2"), "{status}");
    let restart = env.lcd_output(&["daemon", "restart"])?;
    assert!(restart.status.success(), "restart: {}", String::from_utf8_lossy(&restart.stderr));
    assert!(String::from_utf8_lossy(&restart.stderr).contains("last good settings"));
    let status = env.lcd(&["status"])?;
    assert!(status.contains("daemon:    running"), "{status}");
    assert!(status.contains("BROKEN: the daemon records with the last good settings"), "{status}");
    let doctor = String::from_utf8(env.lcd_output(&["doctor"])?.stdout)?;
    assert!(doctor.contains("the config file is broken") && doctor.contains("line 2"), "{doctor}");
    // A new shell says so in full, once, and records with the last good
    // rules (the ignored command stays out).
    let mut sh = env.shell(ShellKind::Bash)?;
    sh.run("eval \"$(lcd init bash)\"")?;
    let screen = sh.screen();
    assert_eq!(screen.matches("the config file is broken").count(), 1, "{screen}");
    assert!(screen.contains("line 2"), "{screen}");
    sh.run("secret-tool store x 2>/dev/null")?;
    sh.run("echo still recorded")?;
    let records = env.wait_finished("echo still recorded")?;
    assert!(records.iter().all(|r| !r["command"].as_str().unwrap_or("").starts_with("secret-tool")), "{records:#?}");
    // Fixed: the reload takes it and says so.
    env.write_config(good)?;
    let reload = env.lcd_output(&["daemon", "reload"])?;
    assert!(reload.status.success(), "{}", String::from_utf8_lossy(&reload.stderr));
    assert!(!env.lcd(&["status"])?.contains("BROKEN"));
    Ok(())
}

#[test]
fn reload_says_when_the_daemon_cannot_read_its_token() -> Result<()> {
    // The daemon's environment is fixed when it starts: a token variable
    // exported later in a shell never reaches it, and reload must say so.
    let env = env()?;
    env.lcd(&["daemon", "start"])?;
    let _stop = StopsDaemon(&env);
    env.write_config("[remote]\nurl = 'http://127.0.0.1:9'\ntoken_env = 'LCD_TEST_TOKEN'\n")?;
    let reload = env.lcd_command(&["daemon", "reload"]).env("LCD_TEST_TOKEN", "set-in-this-shell-only").output()?;
    let said = String::from_utf8_lossy(&reload.stderr);
    assert!(!reload.status.success(), "{said}");
    assert!(
        said.contains("$LCD_TEST_TOKEN is not set in the daemon's environment") && said.contains("restart"),
        "{said}"
    );
    let doctor = String::from_utf8(
        env.lcd_command(&["doctor"]).env("LCD_TEST_TOKEN", "set-in-this-shell-only").output()?.stdout,
    )?;
    assert!(doctor.contains("the daemon stopped sending"), "{doctor}");
    env.write_config("[remote]\nurl = 'http://127.0.0.1:9'\ntoken_command = 'no-such-token-program'\n")?;
    let reload = env.lcd_output(&["daemon", "reload"])?;
    let said = String::from_utf8_lossy(&reload.stderr);
    assert!(said.contains("its program is not found"), "{said}");
    Ok(())
}

shell_test!(status_lists_each_open_shell_with_its_terminal_and_forgets_it_once_closed, |env, kind: ShellKind| {
    let _daemon = env.start_daemon()?;
    let mut sh = env.hooked_shell(kind)?;
    sh.run("tty > ~/tty.txt; echo $LCD_SESSION > ~/session.txt")?;
    env.wait_finished("tty > ~/tty.txt; echo $LCD_SESSION > ~/session.txt")?;
    let tty = std::fs::read_to_string(env.home().join("tty.txt"))?.trim().to_string();
    let session = std::fs::read_to_string(env.home().join("session.txt"))?.trim().to_string();
    let status = env.status()?;
    let shells = status["daemon"]["shells"].as_array().cloned().unwrap_or_default();
    let this = shells.iter().find(|s| s["session"] == session.as_str()).unwrap_or_else(|| panic!("{status:#}"));
    assert_eq!(this["tty"], tty.as_str());
    assert_eq!(this["shell"], kind.name());
    assert!(this["running"].is_null(), "{this}");
    let table = env.lcd(&["status"])?;
    assert!(table.contains("shells:    1 open") && table.contains(&tty), "{table}");
    sh.exit()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while env.status()?["daemon"]["shells"].as_array().is_some_and(|s| !s.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "a closed shell is still listed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
});

#[test]
fn status_flags_a_shell_whose_command_never_ended_while_it_runs_nothing_bash() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon_with_config("[daemon]\nstuck_after_s = 1\n")?;
    let mut sh = env.hooked_shell(ShellKind::Bash)?;
    sh.run("setprompt() { PROMPT_COMMAND='history -a'; }")?;
    sh.run("setprompt")?;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let table = env.lcd(&["status"])?;
    assert!(table.contains("running for") && table.contains("its hooks may have stopped"), "{table}");
    assert!(table.contains("eval \"$(lcd init bash)\""), "{table}");
    Ok(())
}

shell_test!(doctor_checks_this_shells_hooks_by_a_round_trip, |env, kind: ShellKind| {
    let _daemon = env.start_daemon()?;
    let mut sh = env.hooked_shell(kind)?;
    sh.run("lcd doctor > ~/doctor.txt 2>&1")?;
    let doctor = std::fs::read_to_string(env.home().join("doctor.txt"))?;
    assert!(doctor.contains("shell hooks: this shell's record of `lcd doctor` reached the daemon"), "{doctor}");
    // A session variable alone (copied, or hooks gone) is not hooks.
    let mut plain = env.shell(kind)?;
    plain.run("export LCD_SESSION=0190aaaa-0000-7000-8000-000000000000; lcd doctor > ~/doctor.txt 2>&1")?;
    let doctor = std::fs::read_to_string(env.home().join("doctor.txt"))?;
    assert!(doctor.contains("but nothing from it reached the daemon"), "{doctor}");
    Ok(())
});

shell_test!(a_shell_whose_helper_is_gone_for_good_says_so_once_and_never_hangs, |env, kind: ShellKind| {
    // lcd-hook removed (an uninstall, an upgrade that moved it) and the
    // helper killed: nothing drains the FIFO any more. The shell once
    // blocked in its write when the pipe's 64 KiB filled.
    let _daemon = env.start_daemon()?;
    let bin = env.home().join("bin");
    std::fs::create_dir_all(&bin)?;
    for name in ["lcd", "lcd-hook"] {
        std::fs::copy(env.lcd.with_file_name(name), bin.join(name))?;
    }
    let mut sh = env.shell(kind)?;
    sh.run(&format!("eval \"$('{}' init {})\"", bin.join("lcd").display(), kind.name()))?;
    sh.run("echo before")?;
    env.wait_finished("echo before")?;
    std::fs::remove_file(bin.join("lcd-hook"))?;
    sh.run("pkill -f 'lcd-hook serve.*'\"$LCD_SESSION\"; sleep 0.2")?;
    // About 130 KiB of records, twice what the pipe holds.
    let long = ": ".to_string() + &"x".repeat(4000);
    for _ in 0..32 {
        sh.type_line(&long)?;
        sh.wait_prompt_for(std::time::Duration::from_secs(5))?;
    }
    sh.run("echo still responsive > ~/alive")?;
    assert!(env.home().join("alive").exists());
    let warning = "lcd: recording stopped:";
    assert_eq!(sh.screen().matches(warning).count(), 1, "{}", sh.screen());
    assert!(sh.screen().contains("lcd-hook is missing; reinstall lcd-hook"), "{}", sh.screen());
    Ok(())
});

shell_test!(a_frozen_helper_costs_records_never_the_prompt, |env, kind: ShellKind| {
    // A helper stopped (SIGSTOP, a debugger) reads nothing; once the FIFO's
    // 64 KiB are full a blocking write would hang the shell for good. The
    // helper makes the shell's end non-blocking: records are lost instead.
    let _daemon = env.start_daemon()?;
    let mut sh = env.hooked_shell(kind)?;
    sh.run("echo $LCD_SESSION > ~/session")?;
    let session = std::fs::read_to_string(env.home().join("session"))?.trim().to_string();
    env.wait_finished("echo $LCD_SESSION > ~/session")?;
    let helper = std::process::Command::new("pgrep").args(["-f", &format!("lcd-hook serve.*{session}")]).output()?;
    let pid: i32 = String::from_utf8(helper.stdout)?.trim().parse()?;
    // SAFETY: signalling this test's own helper process.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let long = ": ".to_string() + &"y".repeat(4000);
    for _ in 0..32 {
        sh.type_line(&long)?;
        sh.wait_prompt_for(std::time::Duration::from_secs(5))?;
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    // The record the full pipe cut in two is lost with its neighbour;
    // recording goes on after them.
    sh.run("echo thawed")?;
    sh.run("echo thawed again")?;
    env.wait_finished("echo thawed again")?;
    Ok(())
});
