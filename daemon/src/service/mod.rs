//! Running the daemon under the platform's service manager: systemd user
//! units (with socket activation) on Linux, a launchd agent on macOS, and
//! the readiness notification systemd waits for.

pub mod launchd;
pub mod notify;
pub mod systemd;

use std::path::Path;
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

/// Writes `text` to `path` (creating its folder), replacing what was there.
fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
