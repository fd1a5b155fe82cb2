//! Running the daemon under the platform's service manager: systemd user
//! units (with socket activation) on Linux, a launchd agent on macOS, and
//! the readiness notification systemd waits for.

pub mod launchd;
pub mod notify;
pub mod systemd;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// Runs a service-manager command; its output on failure.
fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program).args(args).output().with_context(|| format!("running {program}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Installs the man pages: lcd(1), the page the systemd units name
/// (`Documentation=`) and `systemd-analyze verify` looks up, and the one of
/// each subcommand it refers to (`lcd-query(1)`, ...), each `(file name,
/// roff)`. They go beside the binary's folder, `<prefix>/share/man/man1/`
/// (`~/.cargo/share/man` for a `cargo install`ed lcd), which man finds for
/// any folder on PATH, so wherever the user types `lcd`; where that cannot
/// be written (an lcd installed for the whole system) under the user's data
/// folder. Returns where each went.
pub fn install_man_pages(lcd: &Path, pages: &[(String, String)]) -> Result<Vec<PathBuf>> {
    let mut last = None;
    for dir in man_page_dirs(lcd)? {
        match pages.iter().map(|(name, page)| write_file(&dir.join(name), page).map(|()| dir.join(name))).collect() {
            Ok(written) => return Ok(written),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no folder for the man pages")))
}

/// Removes the pages named `names` that [`install_man_pages`] wrote; where
/// they were.
pub fn uninstall_man_pages(lcd: &Path, names: &[String]) -> Result<Vec<PathBuf>> {
    let dirs = man_page_dirs(lcd)?;
    let candidates = dirs.iter().flat_map(|dir| names.iter().map(move |name| dir.join(name)));
    Ok(candidates.filter(|p| std::fs::remove_file(p).is_ok()).collect())
}

/// Where the man pages may go, the preferred first.
fn man_page_dirs(lcd: &Path) -> Result<Vec<PathBuf>> {
    let beside = lcd.parent().and_then(Path::parent).map(|prefix| prefix.join("share/man/man1"));
    let base = directories::BaseDirs::new().context("cannot determine the home directory")?;
    Ok(beside.into_iter().chain([base.data_dir().join("man/man1")]).collect())
}

/// Writes `text` to `path` (creating its folder), replacing what was there.
fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
