//! `lcd init zsh|bash`: prints the shell integration with this machine's
//! paths filled in. The scripts are real files under `shell/`.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::config::Config;
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
    // The hooks log to the state folder and read from a FIFO in the runtime folder.
    check_private_dir(&paths.runtime_dir)?;
    check_private_dir(&paths.state_dir)?;
    let fifo = make_fifo(&paths.runtime_dir).unwrap_or_default();
    // A broken config must not leave the shell unrecorded: say so, go on.
    let config = Config::load_for_init(&paths.config_file()).unwrap_or_else(|e| {
        eprintln!("lcd: {e:#}; using the default settings");
        Config::default()
    });
    print!("{}", render(args.shell, paths, &hook, &lcd, &fifo, &config.capture.env));
    Ok(ExitCode::SUCCESS)
}

/// FIFOs older than this were never opened by a shell (someone ran
/// `lcd init` to read it) and are removed.
const FIFO_UNCLAIMED: Duration = Duration::from_secs(60);

/// Makes the FIFO the calling shell will write its records to, named after
/// that shell's pid (our parent: `$(lcd init zsh)` runs us directly), so the
/// script can tell it was made for it. Saves the shell a `mkfifo` process.
fn make_fifo(runtime_dir: &Path) -> Option<PathBuf> {
    remove_unclaimed_fifos(runtime_dir);
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.subsec_nanos();
    let path = runtime_dir.join(format!("hook.{}.{nonce}", std::os::unix::process::parent_id()));
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a valid NUL-terminated path; mkfifo creates nothing else.
    (unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } == 0).then_some(path)
}

fn remove_unclaimed_fifos(runtime_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(runtime_dir) else { return };
    for entry in entries.flatten() {
        let is_hook_fifo =
            entry.file_name().to_string_lossy().starts_with("hook.") && entry.file_type().is_ok_and(|t| t.is_fifo());
        let old = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > FIFO_UNCLAIMED);
        if is_hook_fifo && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The script for `shell`: every path placeholder replaced by a quoted path,
/// and the code that sends the allowlisted variables `env` (names already
/// checked to be identifiers).
pub fn render(shell: Shell, paths: &Paths, hook: &Path, lcd: &Path, fifo: &Path, env: &[String]) -> String {
    let (template, env_fields) = match shell {
        // One word per exported variable, none for the others.
        Shell::Zsh => (
            ZSH,
            env.iter().map(|v| format!("${{${{(M)${{(t){v}}}:#*export*}}:+v={v}=${v}}}")).collect::<Vec<_>>().join(" "),
        ),
        Shell::Bash => (
            BASH,
            env.iter()
                .map(|v| format!("[[ -n ${{{v}+x}} && ${{{v}@a}} == *x* ]] && env+=(\"v={v}=${v}\")"))
                .collect::<Vec<_>>()
                .join("\n  "),
        ),
    };
    let template = template.replace("@ENV_FIELDS@", &env_fields);
    [
        ("@LCD_HOOK@", hook.to_path_buf()),
        ("@LCD_BIN@", lcd.to_path_buf()),
        ("@SOCKET@", paths.socket.clone()),
        ("@SPOOL@", paths.spool_dir()),
        ("@HOOK_LOG@", paths.state_dir.join("hook.log")),
        ("@RUNTIME@", paths.runtime_dir.clone()),
        ("@FIFO@", fifo.to_path_buf()),
    ]
    .iter()
    .fold(template, |script, (placeholder, path)| script.replace(placeholder, &shell_quote(path)))
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
