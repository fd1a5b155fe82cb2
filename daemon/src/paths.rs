//! Where lcd keeps its files. Everything comes from the platform's standard
//! folders (the `directories` crate: XDG on Linux), so a test isolates lcd by
//! setting `HOME` and the `XDG_*` variables.

use std::path::PathBuf;

use anyhow::{Context, Result};
use directories::ProjectDirs;

/// Every path lcd uses.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `config.toml` lives here.
    pub config_dir: PathBuf,
    /// The database.
    pub data_dir: PathBuf,
    /// The spool and the daemon's log.
    pub state_dir: PathBuf,
    /// A private (0700) folder for the socket and the pid file.
    pub runtime_dir: PathBuf,
    /// The daemon's socket: `runtime_dir/lcd.sock` unless `LCD_SOCKET` says otherwise.
    pub socket: PathBuf,
}

impl Paths {
    /// Paths for the current user and environment.
    pub fn from_env() -> Result<Paths> {
        let dirs = ProjectDirs::from("", "", "lcd").context("cannot determine the home directory (is HOME set?)")?;
        let data_dir = dirs.data_dir().to_path_buf();
        let state_dir = dirs.state_dir().unwrap_or(dirs.data_dir()).to_path_buf();
        let runtime_dir = match dirs.runtime_dir() {
            Some(dir) => dir.to_path_buf(),
            // No XDG_RUNTIME_DIR (macOS, or a bare session): a per-user folder
            // in the temporary directory, checked for ownership when created.
            None => std::env::temp_dir().join(format!("lcd-{}", unsafe { libc::geteuid() })),
        };
        let socket = match std::env::var_os("LCD_SOCKET") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => runtime_dir.join("lcd.sock"),
        };
        Ok(Paths { config_dir: dirs.config_dir().to_path_buf(), data_dir, state_dir, runtime_dir, socket })
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("history.db")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.state_dir.join("spool")
    }

    /// The folder holding the socket (normally `runtime_dir`).
    pub fn socket_dir(&self) -> PathBuf {
        self.socket.parent().map(PathBuf::from).unwrap_or_else(|| self.runtime_dir.clone())
    }

    /// Holds the running daemon's pid, locked while it runs.
    pub fn pid_file(&self) -> PathBuf {
        self.socket_dir().join("lcd.pid")
    }

    /// Where a detached daemon writes its log.
    pub fn daemon_log(&self) -> PathBuf {
        self.state_dir.join("daemon.log")
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
}

/// Creates `dir` (mode 0700) if missing; refuses one that another user owns
/// or that others may write to, since whoever can write there can plant a
/// socket or a database in lcd's name.
pub fn check_private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::metadata(dir) {
        Ok(meta) => {
            let uid = unsafe { libc::geteuid() };
            if !meta.is_dir() {
                anyhow::bail!("{} is not a folder", dir.display());
            }
            if meta.uid() != uid {
                anyhow::bail!(
                    "{} belongs to uid {}, not to you (uid {uid}); remove it or point lcd elsewhere",
                    dir.display(),
                    meta.uid()
                );
            }
            if meta.mode() & 0o022 != 0 {
                anyhow::bail!(
                    "{} is writable by other users (mode {:o}); fix it with: chmod 700 {}",
                    dir.display(),
                    meta.mode() & 0o777,
                    dir.display()
                );
            }
            Ok(())
        }
        Err(_) => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display())),
    }
}
