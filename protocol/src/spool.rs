//! The spool: frames the daemon did not acknowledge, appended to a file in a
//! private folder, replayed by the daemon when it starts and on a timer.
//!
//! Writers (every lcd-hook, and the daemon itself when its database is
//! unavailable) append one whole frame per write under an exclusive `flock`,
//! so concurrent shells never interleave. The daemon claims a file by
//! renaming it, then locks it: once it holds the lock, no writer is half-way
//! through. A writer that opened the file before the rename notices, after
//! taking the lock, that the path now names another file, and starts over.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::frame::{self, FrameError, Header};

/// The file every writer appends to first.
const SHARED: &str = "pending.spool";
/// Files claimed for replay but not yet finished (left by a crash, or in use).
const CLAIMED_PREFIX: &str = "replay-";
const EXTENSION: &str = ".spool";
/// How long a writer waits for the shared file before using a file of its own.
const SHARED_LOCK_WAIT: Duration = Duration::from_millis(20);

/// A spool folder.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub fn new(dir: impl Into<PathBuf>) -> Spool {
        Spool { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one frame. Creates the folder (0700) and file (0600) as needed.
    pub fn append(&self, frame: &[u8]) -> io::Result<()> {
        ensure_private_dir(&self.dir)?;
        let shared = self.dir.join(SHARED);
        let private = self.dir.join(format!("pending-{}{EXTENSION}", std::process::id()));
        let deadline = Instant::now() + SHARED_LOCK_WAIT;
        loop {
            let (file, path) = match open_locked(&shared, Some(deadline))? {
                Some(file) => (file, &shared),
                None => (open_locked(&private, None)?.expect("blocking lock"), &private),
            };
            if !still_names(&file, path)? {
                continue; // claimed for replay between our open and our lock
            }
            return append_whole(file, frame);
        }
    }

    /// Bytes waiting in the spool (pending and claimed files).
    pub fn backlog_bytes(&self) -> u64 {
        self.files().iter().filter_map(|p| fs::metadata(p).ok()).map(|m| m.len()).sum()
    }

    /// Claims every spool file for replay, oldest claims first. Each claimed
    /// file stays locked until [`Claimed::finish`] removes it.
    pub fn claim(&self) -> io::Result<Vec<Claimed>> {
        let mut claimed = Vec::new();
        let mut files = self.files();
        files.sort();
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        for (n, path) in files.into_iter().enumerate() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let target = if name.starts_with(CLAIMED_PREFIX) {
                path
            } else {
                let target = self.dir.join(format!("{CLAIMED_PREFIX}{stamp:024}-{n:04}-{name}"));
                match fs::rename(&path, &target) {
                    Ok(()) => target,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            };
            let Some(mut file) = open_locked(&target, None)? else { continue };
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            claimed.push(Claimed { path: target, bytes, _lock: file });
        }
        Ok(claimed)
    }

    fn files(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(EXTENSION)))
            .collect()
    }
}

/// A spool file claimed for replay.
pub struct Claimed {
    path: PathBuf,
    bytes: Vec<u8>,
    _lock: File,
}

impl Claimed {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The frames in the file, and what could not be read as a frame.
    pub fn frames(&self) -> (Vec<(Header, &[u8])>, Vec<FrameError>) {
        frame::split_frames(&self.bytes)
    }

    /// Removes the file: call once everything in it is durable elsewhere.
    pub fn finish(self) -> io::Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Creates `dir` (and parents) with mode 0700, and tightens an existing one.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if meta.mode() & 0o077 != 0 && meta.uid() == crate::sys::euid() {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            }
            Ok(())
        }
        _ => fs::DirBuilder::new().recursive(true).mode(0o700).create(dir),
    }
}

/// Opens `path` for appending and locks it. With a deadline, gives up (None)
/// when the lock stays taken; without one, waits.
fn open_locked(path: &Path, deadline: Option<Instant>) -> io::Result<Option<File>> {
    let file = OpenOptions::new().read(true).append(true).create(true).mode(0o600).open(path)?;
    let Some(deadline) = deadline else {
        file.lock()?;
        return Ok(Some(file));
    };
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Whether `path` still names the file we hold (it was not claimed meanwhile).
fn still_names(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match fs::metadata(path) {
        Ok(now) => Ok(now.ino() == held.ino() && now.dev() == held.dev()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Appends all of `frame` or nothing: a short write (disk full) is cut back
/// so that the file never holds half a frame.
fn append_whole(mut file: File, frame: &[u8]) -> io::Result<()> {
    let before = file.metadata()?.len();
    if let Err(e) = file.write_all(frame) {
        let _ = file.set_len(before);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Request;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lcd-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn appended_frames_are_claimed_once() {
        let dir = temp_dir("claim");
        let spool = Spool::new(dir.join("spool"));
        let frame = frame::encode(&Request::Status).unwrap();
        for _ in 0..3 {
            spool.append(&frame).unwrap();
        }
        assert_eq!(fs::metadata(dir.join("spool")).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(dir.join("spool").join(SHARED)).unwrap().mode() & 0o777, 0o600);
        let claimed = spool.claim().unwrap();
        assert_eq!(claimed.len(), 1);
        let (frames, errors) = claimed[0].frames();
        assert_eq!((frames.len(), errors.len()), (3, 0));
        // New appends go to a fresh file while the claim is in progress.
        spool.append(&frame).unwrap();
        for c in claimed {
            c.finish().unwrap();
        }
        let again = spool.claim().unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].frames().0.len(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_writers_never_interleave() {
        let dir = temp_dir("concurrent");
        let spool = Spool::new(&dir);
        let frame = frame::encode(&Request::Record(vec![])).unwrap();
        let replayed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..200 {
                        spool.append(&frame).unwrap();
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..20 {
                    for c in spool.claim().unwrap() {
                        let (frames, errors) = c.frames();
                        assert!(errors.is_empty());
                        replayed.fetch_add(frames.len(), std::sync::atomic::Ordering::SeqCst);
                        c.finish().unwrap();
                    }
                }
            });
        });
        let rest: usize = spool.claim().unwrap().iter().map(|c| c.frames().0.len()).sum();
        assert_eq!(replayed.into_inner() + rest, 1600);
        fs::remove_dir_all(dir).unwrap();
    }
}
