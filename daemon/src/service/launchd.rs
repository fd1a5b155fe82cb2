//! A launchd agent (macOS): `~/Library/LaunchAgents/dev.lcd.daemon.plist`,
//! loaded with `launchctl bootstrap gui/$UID`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{run, write_file};

pub const LABEL: &str = "dev.lcd.daemon";
const PLIST: &str = include_str!("../../../packaging/launchd/dev.lcd.daemon.plist");
const PACKAGED_BIN: &str = "/usr/local/bin/lcd";

/// The property list for an lcd at `lcd` logging to `log`.
pub fn plist(lcd: &Path, log: &Path) -> String {
    PLIST
        .replace(PACKAGED_BIN, &xml_escape(&lcd.display().to_string()))
        .replace("@LOG@", &xml_escape(&log.display().to_string()))
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn plist_path() -> Result<PathBuf> {
    let base = directories::BaseDirs::new().ok_or_else(|| anyhow::anyhow!("cannot determine the home directory"))?;
    Ok(base.home_dir().join(format!("Library/LaunchAgents/{LABEL}.plist")))
}

fn domain() -> String {
    format!("gui/{}", unsafe { libc::getuid() })
}

/// Writes the agent and loads it.
pub fn install(lcd: &Path, log: &Path) -> Result<PathBuf> {
    let path = plist_path()?;
    write_file(&path, &plist(lcd, log))?;
    // Replacing an agent that is loaded needs it unloaded first.
    let _ = run("launchctl", &["bootout", &format!("{}/{LABEL}", domain())]);
    run("launchctl", &["bootstrap", &domain(), &path.display().to_string()])?;
    Ok(path)
}

pub fn uninstall() -> Result<Option<PathBuf>> {
    let _ = run("launchctl", &["bootout", &format!("{}/{LABEL}", domain())]);
    let path = plist_path()?;
    Ok(std::fs::remove_file(&path).is_ok().then_some(path))
}

/// Whether launchd has the agent loaded.
pub fn loaded() -> bool {
    run("launchctl", &["print", &format!("{}/{LABEL}", domain())]).is_ok()
}
