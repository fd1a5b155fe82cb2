//! The shell integration as users get it: rendered by `lcd init`, valid for
//! the shell and for shellcheck.

use std::process::Command;

use anyhow::{Context, Result};

use super::env;

#[test]
fn rendered_scripts_parse_and_pass_shellcheck() -> Result<()> {
    let env = env()?;
    for shell in ["zsh", "bash"] {
        let script = env.lcd(&["init", shell])?;
        assert!(script.contains(&env.lcd_hook.display().to_string()), "{shell} script does not name lcd-hook");
        for placeholder in
            ["@LCD_HOOK@", "@LCD_BIN@", "@SOCKET@", "@SPOOL@", "@HOOK_LOG@", "@RUNTIME@", "@FIFO@", "@ENV_FIELDS@"]
        {
            assert!(!script.contains(placeholder), "{shell} script still has {placeholder}");
        }
        let path = env.root.join(format!("init.{shell}"));
        std::fs::write(&path, &script)?;
        let syntax = Command::new(shell).arg("-n").arg(&path).output().with_context(|| format!("running {shell}"))?;
        assert!(syntax.status.success(), "{shell} -n: {}", String::from_utf8_lossy(&syntax.stderr));
    }
    let bash = env.root.join("init.bash");
    let check = Command::new("shellcheck")
        .args(["--shell=bash", "--severity=style"])
        .arg(&bash)
        .output()
        .context("running shellcheck (is it installed?)")?;
    assert!(check.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&check.stdout));
    Ok(())
}

#[test]
fn init_refuses_an_unknown_shell_with_a_clear_message() -> Result<()> {
    let env = env()?;
    let out = env.lcd_output(&["init", "fish-and-chips"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: zsh, bash"));
    Ok(())
}
