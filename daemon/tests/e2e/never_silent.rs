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
