//! lcd beside the user's other shell tools: bash-preexec (which starship,
//! atuin and many prompts build on), zsh's add-zsh-hook users, a prompt
//! framework's hooks. Loaded before or after lcd, their hooks fire exactly as
//! they do without lcd and see the command's true status; lcd's records stay
//! right.

use anyhow::Result;
use lcd_testkit::{ShellKind, TestEnv, BASH_PREEXEC};
use serde_json::Value;

use super::{env, record};

/// bash-preexec's `preexec`/`precmd`, logging each call with the status and
/// pipestatus they see, and timing commands as starship does (start time in
/// preexec, duration in precmd).
const BASH_USER_HOOKS: &str = r#"
preexec() { _t0=$EPOCHREALTIME; echo "pre:$1" >> ~/calls; }
precmd() { local s=$? p="${BP_PIPESTATUS[*]}"; echo "post:$s:$p:${_t0:+$(( ${EPOCHREALTIME/[.,]/} - ${_t0/[.,]/} ))}" >> ~/calls; _t0=''; }
"#;

/// add-zsh-hook users and a framework that appends to the hook arrays.
const ZSH_USER_HOOKS: &str = r#"
autoload -Uz add-zsh-hook
_mine_pre() { _t0=$EPOCHREALTIME; echo "pre:$1" >> ~/calls; }
_mine_post() { echo "post:$?:$pipestatus:${_t0:+$(( (EPOCHREALTIME - _t0) * 1000000 ))}" >> ~/calls; _t0=''; }
add-zsh-hook preexec _mine_pre
add-zsh-hook precmd _mine_post
_framework_post() { echo "framework:$?:$pipestatus" >> ~/calls; }
precmd_functions+=(_framework_post)
"#;

const LINES: [&str; 6] = ["echo a", "false | true", "sleep 0.3", "(exit 3)", "{ false; }", "echo b"];

/// The user's hooks' calls for [`LINES`], typed in a shell whose rc is
/// `rc`, and lcd's records of them (none without lcd).
fn hook_calls(kind: ShellKind, rc: &[&str], with_lcd: bool) -> Result<(Vec<String>, Vec<Value>)> {
    let env: TestEnv = env()?;
    let _daemon = env.start_daemon()?;
    let file = match kind {
        ShellKind::Zsh => ".zshrc",
        ShellKind::Bash => ".bashrc",
        ShellKind::Fish => ".config/fish/config.fish",
    };
    std::fs::write(env.home().join(file), rc.join("\n"))?;
    let mut sh = env.shell(kind)?;
    sh.run(&format!("source ~/{file}"))?;
    // From the prompt after the rc on.
    std::fs::write(env.home().join("calls"), "")?;
    for line in LINES {
        sh.run(line)?;
    }
    let records = if with_lcd { env.wait_finished("echo b")? } else { Vec::new() };
    let calls = std::fs::read_to_string(env.home().join("calls"))?.lines().map(str::to_string).collect();
    Ok((calls, records))
}

/// Checks that lcd, loaded first or last, changes nothing the user's hooks
/// see (but the times they measure) and records every line whole.
fn neighbours_see_what_they_see_without_lcd(kind: ShellKind, hooks: &[&str]) -> Result<()> {
    let lcd = format!("eval \"$(lcd init {})\"", kind.name());
    let (alone, _) = hook_calls(kind, hooks, false)?;
    let untimed = |calls: &[String]| -> Vec<String> {
        calls
            .iter()
            .map(|c| c.rsplit_once(':').filter(|_| c.starts_with("post:")).map_or(c.clone(), |(h, _)| h.into()))
            .collect()
    };
    assert!(alone.iter().any(|c| c == "pre:sleep 0.3"), "the hooks did not run: {alone:#?}");
    for lcd_first in [true, false] {
        let rc: Vec<&str> =
            if lcd_first { [&[lcd.as_str()][..], hooks].concat() } else { [hooks, &[lcd.as_str()][..]].concat() };
        let (calls, records) = hook_calls(kind, &rc, true)?;
        let order = if lcd_first { "lcd first" } else { "lcd last" };
        assert_eq!(untimed(&calls), untimed(&alone), "{order}: with lcd {calls:#?}\nwithout {alone:#?}");
        let at = calls.iter().position(|c| c == "pre:sleep 0.3").unwrap();
        let slept: f64 = calls[at + 1].rsplit(':').next().unwrap_or_default().parse().unwrap_or(-1.0);
        assert!((250_000.0..2_000_000.0).contains(&slept), "{order}: the prompt timed sleep 0.3 as {slept} µs");
        assert_eq!(record(&records, "false | true")["pipestatus"], serde_json::json!([1, 0]), "{order}");
        assert_eq!(record(&records, "(exit 3)")["exit_code"], 3, "{order}");
        for line in LINES {
            assert_eq!(record(&records, line)["status"], "finished", "{order}: {line}");
        }
    }
    Ok(())
}

#[test]
fn bash_preexec_hooks_fire_as_without_lcd_whichever_loads_first() -> Result<()> {
    let preexec = format!("source '{BASH_PREEXEC}'");
    neighbours_see_what_they_see_without_lcd(ShellKind::Bash, &[&preexec, BASH_USER_HOOKS])
}

#[test]
fn zsh_hook_users_see_the_true_status_once_per_command_whichever_loads_first() -> Result<()> {
    neighbours_see_what_they_see_without_lcd(ShellKind::Zsh, &[ZSH_USER_HOOKS])
}
