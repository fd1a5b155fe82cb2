//! Reading a small file that someone else may have planted: a file inside
//! the user's working folder (`.git/HEAD`, `.terraform/environment`) comes
//! from whatever repository or archive the user unpacked there.
//!
//! Such a file may be a symlink to a secret (`~/.aws/credentials`), a FIFO
//! that never delivers (and whose `open` alone blocks), a link to
//! `/dev/zero`, or simply huge. [`read_small_file`] opens it without
//! following a final symlink and without blocking, accepts only a regular
//! file, and reads at most a bound; anything else is an error the caller
//! treats as "not there". Both lcd-hook and the daemon use it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The contents of the regular file at `path` if it holds at most `max`
/// bytes. Refused (an error): a symlink as the last component, anything but
/// a regular file (FIFO, device, socket, folder), and a file longer than
/// `max`: a longer file is not what lcd expects there, and cutting it would
/// turn a trap into a plausible value.
pub fn read_small_file(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > max as u64 {
        return Err(too_long(max));
    }
    let mut bytes = Vec::with_capacity(max.min(64 * 1024) + 1);
    // One byte more than allowed tells a file at the bound from a longer one,
    // whatever its size said (a file can grow between fstat and read).
    file.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(too_long(max));
    }
    Ok(bytes)
}

fn too_long(max: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("longer than {max} bytes"))
}

/// [`read_small_file`] for a text file: refused when it is not UTF-8.
pub fn read_small_text(path: &Path, max: usize) -> io::Result<String> {
    String::from_utf8(read_small_file(path, max)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The last `max` bytes (or fewer) of the regular file at `path`, and when it
/// was last modified; refused like [`read_small_file`] for anything but a
/// regular file. For a log that only grows, whose newest lines are what
/// matters (git's reflog).
pub fn read_small_tail(path: &Path, max: usize) -> io::Result<(Vec<u8>, std::time::SystemTime)> {
    use std::io::{Seek, SeekFrom};
    let (mut file, len) = open_regular(path)?;
    let modified = file.metadata()?.modified()?;
    file.seek(SeekFrom::Start(len.saturating_sub(max as u64)))?;
    let mut bytes = Vec::with_capacity(max.min(64 * 1024));
    file.take(max as u64).read_to_end(&mut bytes)?;
    Ok((bytes, modified))
}

/// Opens `path` for reading only if it is a regular file and not a symlink;
/// with the size it has now.
fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer; on a regular file it changes nothing. O_NOCTTY: a terminal
    // device must not become our controlling terminal before fstat refuses it.
    // (std adds O_CLOEXEC.)
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    // fstat on the descriptor, not stat on the name: the name could be
    // swapped between the two calls.
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok((file, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::time::{Duration, Instant};

    fn dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lcd-small-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_small_regular_file_is_read_exactly() {
        let dir = dir("regular");
        std::fs::write(dir.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        assert_eq!(read_small_text(&dir.join("HEAD"), 64).unwrap(), "ref: refs/heads/main\n");
        std::fs::write(dir.join("exact"), [b'x'; 64]).unwrap();
        assert_eq!(read_small_file(&dir.join("exact"), 64).unwrap().len(), 64);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_symlink_to_a_secret_is_refused() {
        let dir = dir("symlink");
        std::fs::write(dir.join("secret"), "aws_secret_access_key = hunter2\n").unwrap();
        symlink(dir.join("secret"), dir.join("environment")).unwrap();
        assert!(read_small_file(&dir.join("environment"), 4096).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = dir("fifo");
        let fifo =
            std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(dir.join("HEAD").as_os_str())).unwrap();
        // SAFETY: a valid path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let started = Instant::now();
        assert!(read_small_file(&dir.join("HEAD"), 4096).is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn devices_and_folders_are_refused() {
        assert!(read_small_file(Path::new("/dev/zero"), 4096).is_err());
        let dir = dir("devices");
        symlink("/dev/zero", dir.join("zero")).unwrap();
        assert!(read_small_file(&dir.join("zero"), 4096).is_err());
        assert!(read_small_file(&dir, 4096).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_tail_is_the_last_bytes_and_refuses_what_a_whole_read_refuses() {
        let dir = dir("tail");
        std::fs::write(dir.join("log"), "one\ntwo\nthree\n").unwrap();
        assert_eq!(read_small_tail(&dir.join("log"), 6).unwrap().0, b"three\n");
        assert_eq!(read_small_tail(&dir.join("log"), 64).unwrap().0, b"one\ntwo\nthree\n");
        symlink(dir.join("log"), dir.join("link")).unwrap();
        assert!(read_small_tail(&dir.join("link"), 64).is_err());
        assert!(read_small_tail(Path::new("/dev/zero"), 64).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_past_the_bound_is_refused_not_cut() {
        let dir = dir("large");
        let mut text = b"prod".to_vec();
        text.resize(1 << 20, b'\n');
        std::fs::write(dir.join("environment"), text).unwrap();
        assert!(read_small_file(&dir.join("environment"), 4096).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
