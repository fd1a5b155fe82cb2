//! The spool: frames the daemon did not acknowledge, appended to a file in a
//! private folder, replayed by the daemon when it starts and on a timer.
//!
//! Writers (every lcd-hook, and the daemon itself when its database is
//! unavailable) append one whole frame per write under an exclusive `flock`,
//! so concurrent shells never interleave. The daemon claims a file by
//! renaming it, then locks it: once it holds the lock, no writer is half-way
//! through. A writer that opened the file before the rename notices, after
//! taking the lock, that the path now names another file, and starts over.
//!
//! The folder's files are bounded ([`Spool::max_bytes`]): a frame that does
//! not fit is dropped, and counted in a gap file beside the spool files
//! ([`Gap`]), so that the loss stays visible (`lcd status`) after the spool
//! has drained. Replay reads a file a frame at a time ([`Claimed::frames`]),
//! never a whole file.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::frame::{self, FrameStream};
use crate::protocol::Request;

/// The file every writer appends to first.
const SHARED: &str = "pending.spool";
/// Files claimed for replay but not yet finished (left by a crash, or in use).
const CLAIMED_PREFIX: &str = "replay-";
const EXTENSION: &str = ".spool";
/// The count of what was dropped because the spool was full (not a spool file).
const GAP: &str = "dropped.gap";
/// How long a writer waits for the shared file before using a file of its own.
const SHARED_LOCK_WAIT: Duration = Duration::from_millis(20);
/// The bound on a spool folder's files unless told otherwise: days of heavy
/// use with the daemon down, far from filling a disk.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// A spool folder.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
}

/// What [`Spool::append`] did with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// The frame is in the spool.
    Written,
    /// The spool is full: the frame was dropped and counted in `gap`. `first`
    /// when this drop began an episode (the previous append was written):
    /// the writer says so once, not per frame.
    Dropped { gap: Gap, first: bool },
}

/// What the spool dropped for want of room, since the first drop: kept in
/// the spool folder until someone removes it, so that the loss is known
/// after the spool drained. (A gap record in the session's hash chain is
/// for later.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gap {
    /// When the first frame was dropped (microseconds since the epoch).
    pub since_micros: i64,
    /// When the last one was.
    pub last_micros: i64,
    pub frames: u64,
    /// Events (starts and ends of commands) in the dropped frames; those of
    /// a frame of a newer protocol are not known.
    pub events: u64,
    pub bytes: u64,
    /// Whether the spool is full now: the last append was dropped.
    pub full: bool,
}

impl Gap {
    const FIELDS: usize = 6;

    /// Fixed-width text, so that a rewrite in place never leaves a tail and
    /// a reader never sees a short file.
    fn to_text(&self) -> String {
        format!(
            "since {:020}\nlast {:020}\nframes {:020}\nevents {:020}\nbytes {:020}\nfull {}\n",
            self.since_micros,
            self.last_micros,
            self.frames,
            self.events,
            self.bytes,
            u8::from(self.full)
        )
    }

    fn parse(text: &str) -> Option<Gap> {
        let mut values = text.lines().map(|l| l.split_once(' ').map(|(_, v)| v.trim()));
        let mut next = || values.next().flatten();
        let gap = Gap {
            since_micros: next()?.parse().ok()?,
            last_micros: next()?.parse().ok()?,
            frames: next()?.parse().ok()?,
            events: next()?.parse().ok()?,
            bytes: next()?.parse().ok()?,
            full: next()? == "1",
        };
        (text.lines().count() == Self::FIELDS).then_some(gap)
    }
}

impl Spool {
    /// The spool in `dir`, bounded by [`DEFAULT_MAX_BYTES`].
    pub fn new(dir: impl Into<PathBuf>) -> Spool {
        Spool { dir: dir.into(), max_bytes: DEFAULT_MAX_BYTES }
    }

    /// The same spool with its files bounded by `max_bytes` instead.
    pub fn with_max_bytes(self, max_bytes: u64) -> Spool {
        Spool { max_bytes, ..self }
    }

    /// A spool in the folder `name` inside this one, with the same bound.
    pub fn subfolder(&self, name: &str) -> Spool {
        Spool { dir: self.dir.join(name), max_bytes: self.max_bytes }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The most bytes the spool files may hold together; a frame that would
    /// go past it is dropped. Writers check before they append, so several
    /// at once may overshoot by a frame each.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// What a writer logs when a drop begins an episode (once, not per frame).
    pub fn full_message(&self) -> String {
        format!(
            "the spool is full ({} bytes in {}): dropping commands until the daemon replays it; `lcd status` counts them",
            self.max_bytes,
            self.dir.display()
        )
    }

    /// Appends one frame, or drops it when the spool is full. Creates the
    /// folder (0700) and files (0600) as needed.
    pub fn append(&self, frame: &[u8]) -> io::Result<Appended> {
        ensure_private_dir(&self.dir)?;
        let (backlog, gap_file) = self.scan();
        if backlog.saturating_add(frame.len() as u64) > self.max_bytes {
            return self.count_dropped(frame);
        }
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
            append_whole(file, frame)?;
            if gap_file {
                room_again(&self.gap_file())?;
            }
            return Ok(Appended::Written);
        }
    }

    /// Bytes waiting in the spool (pending and claimed files).
    pub fn backlog_bytes(&self) -> u64 {
        self.scan().0
    }

    /// What the spool dropped for want of room, if it ever did.
    pub fn gap(&self) -> Option<Gap> {
        Gap::parse(&fs::read_to_string(self.gap_file()).ok()?)
    }

    /// The file that keeps the [`Gap`]; removing it forgets the loss.
    pub fn gap_file(&self) -> PathBuf {
        self.dir.join(GAP)
    }

    /// Claims every spool file for replay, oldest claims first: renames them
    /// all at once (writers move on to new files), then opens and locks each
    /// only when the iteration reaches it, so that one file at a time is
    /// open and read. Each claimed file stays locked until
    /// [`Claimed::finish`] removes it.
    pub fn claim(&self) -> io::Result<Claims> {
        let mut paths = Vec::new();
        let mut files = self.files();
        files.sort();
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        for (n, path) in files.into_iter().enumerate() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if name.starts_with(CLAIMED_PREFIX) {
                paths.push(path);
                continue;
            }
            let target = self.dir.join(format!("{CLAIMED_PREFIX}{stamp:024}-{n:04}-{name}"));
            match fs::rename(&path, &target) {
                Ok(()) => paths.push(target),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Claims { paths: paths.into_iter() })
    }

    fn files(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(EXTENSION)))
            .collect()
    }

    /// The bytes in the spool files, and whether a gap file is there: one
    /// pass over the folder.
    fn scan(&self) -> (u64, bool) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return (0, false) };
        let (mut bytes, mut gap) = (0, false);
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(EXTENSION) {
                bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
            } else if name == GAP {
                gap = true;
            }
        }
        (bytes, gap)
    }

    /// Counts `frame` in the gap file.
    fn count_dropped(&self, frame: &[u8]) -> io::Result<Appended> {
        let now = crate::protocol::now_micros();
        let events = events_in(frame);
        let mut after = Gap::default();
        let first = update_gap(&self.gap_file(), |gap| {
            let first = !gap.full;
            if gap.frames == 0 {
                gap.since_micros = now;
            }
            gap.last_micros = now;
            gap.frames += 1;
            gap.events += events;
            gap.bytes += frame.len() as u64;
            gap.full = true;
            after = gap.clone();
            first
        })?;
        Ok(Appended::Dropped { gap: after, first })
    }
}

/// Changes the gap file under its lock; returns what `change` did.
fn update_gap<T>(path: &Path, change: impl FnOnce(&mut Gap) -> T) -> io::Result<T> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)?;
    file.lock()?;
    let mut text = String::new();
    (&file).read_to_string(&mut text)?;
    let mut gap = Gap::parse(&text).unwrap_or_default();
    let result = change(&mut gap);
    let new = gap.to_text();
    if new != text {
        // Written at once: a reader sees the old text or the new.
        file.write_all_at(new.as_bytes(), 0)?;
    }
    Ok(result)
}

/// The spool has room (a frame was written, or a file replayed): the next
/// drop begins a new episode. The count stays.
fn room_again(path: &Path) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(_) => update_gap(path, |gap| gap.full = false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The events a `Request::Record` frame holds (0 for any other, or one this
/// build cannot read).
fn events_in(frame: &[u8]) -> u64 {
    record_events(frame).len() as u64
}

/// The events of a `Request::Record` frame (none for any other, or for one
/// this build cannot read).
pub fn record_events(frame: &[u8]) -> Vec<crate::Event> {
    match FrameStream::new(frame).next() {
        Some(Ok((header, payload))) => match frame::decode_payload::<Request>(header, &payload) {
            Ok(Request::Record(events)) => events,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The files [`Spool::claim`] renamed, opened and locked one by one.
pub struct Claims {
    paths: std::vec::IntoIter<PathBuf>,
}

impl Iterator for Claims {
    type Item = io::Result<Claimed>;

    fn next(&mut self) -> Option<io::Result<Claimed>> {
        for path in self.paths.by_ref() {
            // Gone meanwhile: finished by a daemon that ran at the same time.
            if !path.exists() {
                continue;
            }
            let gap_file = path.with_file_name(GAP);
            return Some(open_locked(&path, None).map(|file| Claimed {
                path,
                gap_file,
                file: file.expect("blocking lock"),
            }));
        }
        None
    }
}

/// A spool file claimed for replay.
pub struct Claimed {
    path: PathBuf,
    /// The spool's gap file, told when the file is gone that there is room.
    gap_file: PathBuf,
    /// Locked: no writer is half-way through a frame.
    file: File,
}

impl Claimed {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The frames in the file, read one at a time from its start, and what
    /// could not be read as a frame. The stream has a descriptor of its own
    /// (it can go to another thread); the lock stays with `self`.
    pub fn frames(&self) -> io::Result<FrameStream<File>> {
        let mut file = self.file.try_clone()?;
        file.rewind()?;
        Ok(FrameStream::new(file))
    }

    /// Removes the file: call once everything in it is durable elsewhere.
    pub fn finish(self) -> io::Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        room_again(&self.gap_file)
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
        let claimed: Vec<Claimed> = spool.claim().unwrap().map(Result::unwrap).collect();
        assert_eq!(claimed.len(), 1);
        let (frames, errors): (Vec<_>, Vec<_>) = claimed[0].frames().unwrap().partition(Result::is_ok);
        assert_eq!((frames.len(), errors.len()), (3, 0));
        // New appends go to a fresh file while the claim is in progress.
        spool.append(&frame).unwrap();
        for c in claimed {
            c.finish().unwrap();
        }
        let again: Vec<Claimed> = spool.claim().unwrap().map(Result::unwrap).collect();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].frames().unwrap().count(), 1);
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
                        let c = c.unwrap();
                        let frames: Vec<_> = c.frames().unwrap().collect::<Result<_, _>>().unwrap();
                        replayed.fetch_add(frames.len(), std::sync::atomic::Ordering::SeqCst);
                        c.finish().unwrap();
                    }
                }
            });
        });
        let rest: usize = spool.claim().unwrap().map(|c| c.unwrap().frames().unwrap().count()).sum();
        assert_eq!(replayed.into_inner() + rest, 1600);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_full_spool_drops_and_counts_what_does_not_fit_once_per_episode() {
        let dir = temp_dir("full");
        let frame = frame::encode(&Request::Record(vec![])).unwrap();
        let spool = Spool::new(&dir).with_max_bytes(3 * frame.len() as u64);
        for _ in 0..3 {
            assert_eq!(spool.append(&frame).unwrap(), Appended::Written);
        }
        assert_eq!(spool.gap(), None);
        let firsts: Vec<bool> = (0..4)
            .map(|_| match spool.append(&frame).unwrap() {
                Appended::Dropped { first, .. } => first,
                Appended::Written => panic!("written past the bound"),
            })
            .collect();
        assert_eq!(firsts, [true, false, false, false]);
        let gap = spool.gap().unwrap();
        assert_eq!((gap.frames, gap.bytes, gap.full), (4, 4 * frame.len() as u64, true));
        assert!(gap.since_micros > 0 && gap.since_micros <= gap.last_micros);
        assert_eq!(spool.backlog_bytes(), 3 * frame.len() as u64);
        // Replayed: room again; the next drop begins a new episode, the count goes on.
        for c in spool.claim().unwrap() {
            c.unwrap().finish().unwrap();
        }
        assert!(!spool.gap().unwrap().full);
        assert_eq!(spool.append(&frame).unwrap(), Appended::Written);
        spool.append(&frame).unwrap();
        spool.append(&frame).unwrap();
        match spool.append(&frame).unwrap() {
            Appended::Dropped { gap, first } => {
                assert!(first && gap.frames == 5 && gap.since_micros == gap_since(&spool))
            }
            Appended::Written => panic!("written past the bound"),
        }
        fs::remove_dir_all(dir).unwrap();
    }

    fn gap_since(spool: &Spool) -> i64 {
        spool.gap().unwrap().since_micros
    }

    #[test]
    fn a_dropped_frame_counts_its_events() {
        let dir = temp_dir("records");
        let events = vec![
            crate::Event::End(crate::CommandEnd {
                id: crate::RecordId([7; 16]),
                session: crate::Session {
                    id: "s".into(),
                    shell: "zsh".into(),
                    pid: 1,
                    host: "h".into(),
                    user: "u".into(),
                    tty: None,
                },
                seq: 1,
                ended_at: 0,
                exit_code: 0,
                pipestatus: vec![],
                git_commit_after: None,
            });
            3
        ];
        let frame = frame::encode(&Request::Record(events)).unwrap();
        let spool = Spool::new(&dir).with_max_bytes(0);
        assert!(matches!(spool.append(&frame).unwrap(), Appended::Dropped { .. }));
        assert_eq!(spool.gap().unwrap().events, 3);
        assert_eq!(spool.backlog_bytes(), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn claimed_files_are_opened_one_at_a_time() {
        let dir = temp_dir("one-by-one");
        let frame = frame::encode(&Request::Status).unwrap();
        for n in 0..50 {
            Spool::new(&dir).append(&frame).unwrap();
            fs::rename(dir.join(SHARED), dir.join(format!("pending-{n}{EXTENSION}"))).unwrap();
        }
        let mut claims = Spool::new(&dir).claim().unwrap();
        let mut seen = 0;
        let first = claims.next().unwrap().unwrap();
        let opened = |path: &Path| -> bool {
            fs::read_dir("/proc/self/fd").unwrap().flatten().any(|fd| fs::read_link(fd.path()).is_ok_and(|p| p == path))
        };
        // Every file is renamed, only the one reached is open.
        let names: Vec<PathBuf> = Spool::new(&dir).files();
        assert_eq!(names.len(), 50);
        assert!(names.iter().all(|p| p.file_name().unwrap().to_str().unwrap().starts_with(CLAIMED_PREFIX)));
        assert_eq!(names.iter().filter(|p| opened(p)).count(), 1);
        assert!(opened(first.path()));
        seen += first.frames().unwrap().count();
        first.finish().unwrap();
        for c in claims {
            let c = c.unwrap();
            seen += c.frames().unwrap().count();
            c.finish().unwrap();
        }
        assert_eq!(seen, 50);
        fs::remove_dir_all(dir).unwrap();
    }
}
