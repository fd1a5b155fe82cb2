//! `lcd init zsh|bash`: prints the shell integration with this machine's
//! paths filled in. The scripts are real files under `shell/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::paths::{check_private_dir, Paths};

const ZSH: &str = include_str!("../../../shell/lcd.zsh");
const BASH: &str = include_str!("../../../shell/lcd.bash");

/// The shells lcd integrates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Zsh,
    Bash,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to print the integration for.
    pub shell: Shell,
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let hook = find_hook()?;
    let lcd = std::env::current_exe()?;
    // The hooks make their FIFO in the runtime folder and log to the state folder.
    check_private_dir(&paths.runtime_dir)?;
    check_private_dir(&paths.state_dir)?;
    print!("{}", render(args.shell, paths, &hook, &lcd));
    Ok(ExitCode::SUCCESS)
}

/// The script for `shell`, with every placeholder replaced by a quoted path.
pub fn render(shell: Shell, paths: &Paths, hook: &Path, lcd: &Path) -> String {
    let template = match shell {
        Shell::Zsh => ZSH,
        Shell::Bash => BASH,
    };
    [
        ("@LCD_HOOK@", hook.to_path_buf()),
        ("@LCD_BIN@", lcd.to_path_buf()),
        ("@SOCKET@", paths.socket.clone()),
        ("@SPOOL@", paths.spool_dir()),
        ("@HOOK_LOG@", paths.state_dir.join("hook.log")),
        ("@RUNTIME@", paths.runtime_dir.clone()),
    ]
    .iter()
    .fold(template.to_string(), |script, (placeholder, path)| script.replace(placeholder, &shell_quote(path)))
}

/// Quotes a path for both zsh and bash: single quotes, with `'` spelled `'\''`.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// lcd-hook sits next to lcd (cargo install puts both in one folder), or on PATH.
pub fn find_hook() -> Result<PathBuf> {
    let beside = std::env::current_exe()?.with_file_name("lcd-hook");
    if beside.is_file() {
        return Ok(beside);
    }
    if let Some(found) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("lcd-hook"))
        .find(|p| p.is_file())
    {
        return Ok(found);
    }
    bail!("lcd-hook is not installed next to lcd or on PATH; install it with: cargo install --locked --path client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_paths_with_quotes() {
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
