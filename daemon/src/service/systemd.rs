//! systemd user units: `lcd.socket` (systemd holds the socket from login on)
//! and `lcd.service` (`Type=notify`, started by the first connection).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use super::{run, write_file};

const SERVICE: &str = include_str!("../../../packaging/systemd/lcd.service");
const SOCKET: &str = include_str!("../../../packaging/systemd/lcd.socket");
/// The path the packaged units name; replaced by the installed binary's.
const PACKAGED_BIN: &str = "/usr/bin/lcd";

/// The unit files for an lcd at `lcd`: (file name, contents).
pub fn units(lcd: &Path) -> [(&'static str, String); 2] {
    let path = lcd.display().to_string();
    // systemd splits ExecStart at spaces unless the path is quoted.
    let exec = if path.contains(' ') { format!("\"{path}\"") } else { path };
    // Only the command line: the comment naming the packaged path stays.
    let service = SERVICE.replace(&format!("ExecStart={PACKAGED_BIN} "), &format!("ExecStart={exec} "));
    [("lcd.service", service), ("lcd.socket", SOCKET.to_string())]
}

/// Where user units live: `$XDG_CONFIG_HOME/systemd/user`.
pub fn unit_dir() -> Result<PathBuf> {
    let base = directories::BaseDirs::new().ok_or_else(|| anyhow::anyhow!("cannot determine the home directory"))?;
    Ok(base.config_dir().join("systemd/user"))
}

/// Whether a systemd user manager answers (`systemctl --user`).
pub fn available() -> bool {
    Command::new("systemctl").args(["--user", "show-environment"]).output().is_ok_and(|out| out.status.success())
}

/// What installing did.
pub struct Installed {
    pub files: Vec<PathBuf>,
    /// Whether the socket was enabled and started (systemd was running).
    pub enabled: bool,
}

/// Writes the units; with a user manager running, enables and starts the
/// socket (the daemon then starts with the first connection).
pub fn install(lcd: &Path) -> Result<Installed> {
    let dir = unit_dir()?;
    let mut files = Vec::new();
    for (name, text) in units(lcd) {
        let path = dir.join(name);
        write_file(&path, &text)?;
        files.push(path);
    }
    if !available() {
        return Ok(Installed { files, enabled: false });
    }
    run("systemctl", &["--user", "daemon-reload"])?;
    run("systemctl", &["--user", "enable", "--now", "lcd.socket"])?;
    Ok(Installed { files, enabled: true })
}

/// Stops and disables the units and removes their files.
pub fn uninstall() -> Result<Vec<PathBuf>> {
    if available() {
        // Not installed or already stopped is fine.
        let _ = run("systemctl", &["--user", "disable", "--now", "lcd.socket", "lcd.service"]);
    }
    let dir = unit_dir()?;
    let mut removed = Vec::new();
    for name in ["lcd.service", "lcd.socket"] {
        let path = dir.join(name);
        if std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    if available() {
        let _ = run("systemctl", &["--user", "daemon-reload"]);
    }
    Ok(removed)
}

/// `is-enabled` and `is-active` of both units, as systemctl says them.
pub fn state() -> Vec<(String, String, String)> {
    let ask = |verb: &str, unit: &str| -> String {
        Command::new("systemctl")
            .args(["--user", verb, unit])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    ["lcd.socket", "lcd.service"].iter().map(|u| (u.to_string(), ask("is-enabled", u), ask("is-active", u))).collect()
}
