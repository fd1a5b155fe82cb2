//! fish's input: a file in lcd's private runtime folder that the shell
//! appends its records to with `printf ... >>`. fish can keep no descriptor
//! open between commands, and opening a FIFO whose reader died would hang
//! the shell; appending to a file never waits.
//!
//! What the helper has read it makes zeros at once: a hole punched over it,
//! so the file takes no room however long the shell lives, or zeros written
//! over it where the filesystem cannot punch holes. A helper started after
//! one that died begins at the first byte that is not zero (records hold no
//! zero byte before their tag): nothing is read twice, and what the dead one
//! had read is lost with it, as with a pipe.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shell's record file, read from where the last reader stopped.
pub struct Tail {
    path: PathBuf,
    file: File,
    /// The inode read, to notice a file removed and made again.
    inode: u64,
    offset: u64,
    changes: Changes,
}

impl Tail {
    /// Opens (or makes, private) the file at `path`.
    pub fn open(path: &Path) -> io::Result<Tail> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        // fish made it first with its umask; it holds command lines.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        let offset = first_unread(&file)?;
        Ok(Tail { path: path.to_path_buf(), inode: meta.ino(), offset, changes: Changes::watch(path), file })
    }

    /// Reads what was appended since the last read; 0 at the end.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = loop {
            match self.file.read_at(buf, self.offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n > 0 {
            zero_out(&self.file, self.offset, &buf[..n]);
            self.offset += n as u64;
        }
        Ok(n)
    }

    /// Waits up to `timeout` for the file to change.
    pub fn wait(&mut self, timeout: Duration) {
        self.changes.wait(timeout);
    }

    /// Takes up the file at the same path when the one read was removed
    /// (fish's next record makes a new one), so nothing written there is missed.
    pub fn follow_replacement(&mut self) {
        let replaced = std::fs::symlink_metadata(&self.path).map_or(true, |m| m.ino() != self.inode);
        if replaced {
            if let Ok(tail) = Tail::open(&self.path) {
                *self = tail;
            }
        }
    }

    /// Removes the file: the shell that wrote it is gone.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The first byte no helper has read: past the holes (SEEK_DATA skips them
/// without reading), then past the zeros.
fn first_unread(file: &File) -> io::Result<u64> {
    // SAFETY: lseek on a descriptor we own.
    let data = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_DATA) };
    let mut at = match u64::try_from(data) {
        Ok(at) => at,
        // All holes: nothing unread.
        Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) => return Ok(file.metadata()?.len()),
        // Holes cannot be told here: zeros from the start.
        Err(_) => 0,
    };
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = file.read_at(&mut buf, at)?;
        match buf[..n].iter().position(|&b| b != 0) {
            Some(i) => return Ok(at + i as u64),
            None if n == 0 => return Ok(at),
            None => at += n as u64,
        }
    }
}

/// Makes the `read` bytes at `from` zeros: a hole punched from the start of
/// the file (one call however much was read before), or where the
/// filesystem cannot, zeros written over them (the file then keeps its size).
fn zero_out(file: &File, from: u64, read: &[u8]) {
    let end = from + read.len() as u64;
    #[cfg(target_os = "linux")]
    // SAFETY: fallocate on a descriptor we own, over a range inside the file.
    let punched = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            0,
            end.min(i64::MAX as u64) as libc::off_t,
        ) == 0
    };
    #[cfg(not(target_os = "linux"))]
    let punched = false;
    if !punched {
        let _ = file.write_all_at(&vec![0; read.len()], from);
    }
}

/// Wakes the reader when the file is written: inotify on Linux, a short
/// sleep elsewhere.
struct Changes {
    #[cfg(target_os = "linux")]
    inotify: Option<std::os::fd::OwnedFd>,
}

impl Changes {
    #[cfg(target_os = "linux")]
    fn watch(path: &Path) -> Changes {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: inotify_init1 makes a new descriptor or fails.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Changes { inotify: None };
        }
        // SAFETY: the descriptor is new and ours.
        let inotify = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let watched = std::ffi::CString::new(path.as_os_str().as_bytes()).ok().is_some_and(|c_path| {
            let mask = libc::IN_MODIFY | libc::IN_ATTRIB | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF;
            // SAFETY: a valid descriptor and NUL-terminated path.
            unsafe { libc::inotify_add_watch(fd, c_path.as_ptr(), mask) >= 0 }
        });
        Changes { inotify: watched.then_some(inotify) }
    }

    #[cfg(not(target_os = "linux"))]
    fn watch(_path: &Path) -> Changes {
        Changes {}
    }

    fn wait(&mut self, timeout: Duration) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.inotify {
            if crate::sys::wait_readable(fd.as_raw_fd(), timeout) {
                let mut events = [0u8; 4096];
                // SAFETY: reading into a buffer of its length; non-blocking.
                while unsafe { libc::read(fd.as_raw_fd(), events.as_mut_ptr().cast(), events.len()) } > 0 {}
            }
            return;
        }
        std::thread::sleep(timeout.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lcd-tail-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    fn append(path: &Path, bytes: &[u8]) {
        OpenOptions::new().append(true).create(true).open(path).unwrap().write_all(bytes).unwrap();
    }

    fn read_all(tail: &mut Tail) -> Vec<u8> {
        let (mut out, mut buf) = (Vec::new(), [0u8; 10_000]);
        loop {
            match tail.read(&mut buf).unwrap() {
                0 => return out,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn a_helper_after_one_that_died_starts_where_it_stopped() {
        let dir = dir("takeover");
        let path = dir.join("records");
        let mut first = Tail::open(&path).unwrap();
        let old: Vec<u8> = (0..9000u32).map(|i| b'a' + (i % 26) as u8).collect();
        append(&path, &old);
        assert_eq!(read_all(&mut first), old);
        append(&path, b"new record");
        drop(first);
        let mut second = Tail::open(&path).unwrap();
        assert_eq!(read_all(&mut second), b"new record", "only the unread bytes are read again");
        let used = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(used <= 8192, "the read part is freed: {used} bytes in use");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_removed_and_made_again_is_followed() {
        let dir = dir("replaced");
        let path = dir.join("records");
        let mut tail = Tail::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        append(&path, b"after");
        assert_eq!(read_all(&mut tail), b"");
        tail.follow_replacement();
        assert_eq!(read_all(&mut tail), b"after");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_in_its_place_is_not_followed() {
        let dir = dir("symlink");
        let path = dir.join("records");
        std::os::unix::fs::symlink(dir.join("elsewhere"), &path).unwrap();
        assert!(Tail::open(&path).is_err());
        assert!(!dir.join("elsewhere").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
