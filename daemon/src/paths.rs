//! Where lcd keeps its files. Everything comes from the platform's standard
//! folders (the `directories` crate: XDG on Linux), so a test isolates lcd by
//! setting `HOME` and the `XDG_*` variables.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
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
            // No XDG_RUNTIME_DIR (macOS, or a bare session): a folder inside
            // our own state folder. Never the temporary directory: another
            // user can create `/tmp/lcd-<uid>` first, as a folder (capture
            // stops) or as a link to a folder of ours (and swap in a FIFO).
            None => state_dir.join("run"),
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

    /// Where lcd-hook writes what went wrong (it never writes to the terminal).
    pub fn hook_log(&self) -> PathBuf {
        self.state_dir.join("hook.log")
    }

    /// The config file as it was when the daemon last loaded it: what runs
    /// while the file is broken.
    pub fn last_good_config(&self) -> PathBuf {
        self.state_dir.join("config.last-good.toml")
    }
}

/// Creates `dir` (mode 0700) if missing; refuses one that another user owns,
/// that others may write to, or that is a symbolic link, since whoever can
/// write there (or aim the link) can plant a socket, a FIFO or a database in
/// lcd's name. The checks are made on the folder actually opened, without
/// following a link, so nothing can be swapped in between the check and the use.
pub fn check_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    // The parents are ordinary folders of ours (~/.local/state, ...); only the
    // last one is lcd's own, and it is made without `recursive` so that an
    // existing one is looked at, never taken over.
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(e).with_context(|| format!("creating {}", dir.display()))
        }
        _ => {}
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir);
    let folder = match opened {
        Ok(folder) => folder,
        Err(_) if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) => bail!(
            "{} is a symbolic link; lcd keeps its files only in a real folder of yours: remove it or point lcd elsewhere",
            dir.display()
        ),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => bail!("{} is not a folder", dir.display()),
        Err(e) => return Err(e).with_context(|| format!("opening {}", dir.display())),
    };
    let meta = folder.metadata().with_context(|| format!("reading {}", dir.display()))?;
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid {
        bail!(
            "{} belongs to uid {}, not to you (uid {uid}); remove it or point lcd elsewhere",
            dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "{} is writable by other users (mode {:o}); fix it with: chmod 700 {}",
            dir.display(),
            meta.mode() & 0o777,
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lcd-paths-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_symlink_to_a_folder_of_ours_is_refused_and_left_alone() {
        let dir = scratch("link");
        let ours = dir.join("ours");
        check_private_dir(&ours).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&ours, &link).unwrap();
        let err = check_private_dir(&link).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_folder_is_made_private_and_a_file_is_refused() {
        let dir = scratch("make");
        let made = dir.join("a/b");
        check_private_dir(&made).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&made).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::write(dir.join("file"), "").unwrap();
        let err = check_private_dir(&dir.join("file")).unwrap_err().to_string();
        assert!(err.contains("is not a folder"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
