//! `lcd-hook serve`: the helper one shell starts once and feeds through a
//! FIFO. It turns the shell's records into events, hands them to the daemon
//! and spools what the daemon does not acknowledge in time.
//!
//! Three threads keep the shell from ever waiting on us: the reader drains
//! the FIFO the moment the shell writes, the translator turns records into
//! events (reading `.git`, which a hostile folder can make slow), and the
//! sender talks to the daemon. Between the last two sits an in-memory queue
//! that the sender empties either into the daemon or into the spool.

use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::git::Repo;
use crate::pipe::{Parser, ShellEnd, ShellRecord, ShellStart};
use crate::sys;
use crate::tail::Tail;
use lcd_protocol::protocol::{
    truncate_marked, CommandEnd, CommandStart, Event, Micros, Session, SessionGap, MAX_FIELD_LEN,
};
use lcd_protocol::record_id::RecordId;
use lcd_protocol::sender::{deliver_or_spool, record_frames, Handed, SendError, Sender};
use lcd_protocol::spool::{record_events, Appended, Spool};

/// How often the reader looks whether the shell is still there.
const SHELL_CHECK: Duration = Duration::from_millis(500);
/// After a failed delivery, how long events go straight to the spool before
/// the next attempt to reach the daemon.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Events per frame.
const EVENTS_PER_FRAME: usize = 256;
/// Records read but not yet translated; past it (the translator is stuck on
/// a file) new records are dropped rather than the FIFO left to fill.
const MAX_UNTRANSLATED: usize = 4096;
/// How long, once the shell is gone, the translator gets to finish.
const TRANSLATE_GRACE: Duration = Duration::from_secs(2);

/// Everything `lcd-hook serve` is told on its command line.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub socket: PathBuf,
    pub spool_dir: PathBuf,
    /// The bound on the spool's files (`[daemon] spool_max_bytes`, rendered
    /// into the shell script by `lcd init` when it is not the default).
    pub spool_max_bytes: u64,
    pub session: Session,
    /// When set and no daemon answers at start-up, run `<lcd> daemon start`.
    pub start_daemon: Option<PathBuf>,
    /// Where to append diagnostics; lcd-hook never writes to the terminal.
    pub log: Option<PathBuf>,
    /// fish: the file the shell appends its records to, read instead of
    /// standard input (see [`crate::tail`]).
    pub tail: Option<PathBuf>,
}

/// Reads `serve`'s options. `None` for anything missing or unknown: the
/// caller then exits quietly, since a shell hook must never print.
///
/// ```text
/// lcd-hook serve --socket PATH --spool DIR --session ID --shell NAME --pid N
///                [--tty-fd N] [--nonblock-fd N] [--start-daemon LCD] [--log FILE]
///                [--unlink FIFO] [--spool-max-bytes N] [--tail FILE]
/// ```
pub fn parse_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<ServeConfig> {
    let mut args = args.into_iter();
    let (mut socket, mut spool_dir, mut id, mut shell, mut pid) = (None, None, None, None, None);
    let (mut tty, mut start_daemon, mut log, mut tail) = (None, None, None, None);
    let mut spool_max_bytes = lcd_protocol::spool::DEFAULT_MAX_BYTES;
    while let Some(flag) = args.next() {
        let value = args.next()?;
        match flag.to_str()? {
            "--socket" => socket = Some(PathBuf::from(value)),
            "--spool" => spool_dir = Some(PathBuf::from(value)),
            "--session" => id = Some(value.into_string().ok()?),
            "--shell" => shell = Some(value.to_str()?.parse::<lcd_protocol::Shell>().ok()?.name().to_string()),
            "--pid" => pid = Some(value.to_str()?.parse::<u32>().ok()?),
            "--tty-fd" => {
                // The shell lends us its terminal on this descriptor only so
                // that we can name it; we never write to it.
                let fd: RawFd = value.to_str()?.parse().ok()?;
                tty = sys::tty_name(fd);
                sys::close(fd);
            }
            "--nonblock-fd" => {
                // The shell's own end of the FIFO, lent so that we make its
                // writes non-blocking (a flag of the open file, which the
                // shell shares with this copy and cannot set itself): with
                // no helper left to read, a full FIFO must lose a record,
                // never hang the shell. We never write to it.
                let fd: RawFd = value.to_str()?.parse().ok()?;
                sys::set_nonblocking(fd);
                sys::close(fd);
            }
            "--start-daemon" => start_daemon = Some(PathBuf::from(value)),
            "--log" => log = Some(PathBuf::from(value)),
            "--tail" => tail = Some(PathBuf::from(value)),
            "--spool-max-bytes" => spool_max_bytes = value.to_str()?.parse().ok()?,
            // The shell made a FIFO to hand us; we hold it now, so its name can go.
            "--unlink" => {
                let _ = std::fs::remove_file(&value);
            }
            _ => return None,
        }
    }
    let session = Session { id: id?, shell: shell?, pid: pid?, host: sys::hostname(), user: sys::user_name(), tty };
    Some(ServeConfig { socket: socket?, spool_dir: spool_dir?, spool_max_bytes, session, start_daemon, log, tail })
}

/// Runs the helper until the shell is gone; returns the process exit code.
pub fn serve(config: ServeConfig, input: RawFd) -> i32 {
    sys::ignore_terminal_signals();
    let log = Log::new(config.log.clone());
    let shared = Arc::new(Shared::default());
    let sender = {
        let shared = Arc::clone(&shared);
        let config = config.clone();
        let log = log.clone();
        thread::spawn(move || send_loop(&config, &shared, &log))
    };
    let (records, untranslated) = mpsc::sync_channel(MAX_UNTRANSLATED);
    let (translated, done) = mpsc::channel::<()>();
    {
        let shared = Arc::clone(&shared);
        let session = config.session.clone();
        thread::spawn(move || translate_loop(session, untranslated, &shared, translated));
    }
    match &config.tail {
        Some(path) => match Tail::open(path) {
            Ok(tail) => tail_loop(&config, tail, &records, &log),
            Err(e) => log.line(&format!("cannot read {}: {e}", path.display())),
        },
        None => read_loop(&config, input, &records, &log),
    }
    drop(records);
    // Returns once the translator has ended; a translator stuck on a file
    // must not keep the helper alive past its shell.
    let _ = done.recv_timeout(TRANSLATE_GRACE);
    shared.close();
    let _ = sender.join();
    0
}

#[derive(Default)]
struct Shared {
    state: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    closing: bool,
}

impl Shared {
    fn push(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.state.lock().unwrap_or_else(|e| e.into_inner()).events.extend(events);
        self.wake.notify_one();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closing = true;
        self.wake.notify_one();
    }

    /// Waits for events (or closing); returns them and whether we are closing.
    fn take(&self, wait: Duration) -> (Vec<Event>, bool) {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (mut queue, _) = self
            .wake
            .wait_timeout_while(guard, wait, |q| q.events.is_empty() && !q.closing)
            .unwrap_or_else(|e| e.into_inner());
        (queue.events.drain(..).collect(), queue.closing)
    }
}

/// Translates records as the reader hands them over, until it stops;
/// `_done` is dropped on the way out to say so.
fn translate_loop(session: Session, records: Receiver<ShellRecord>, shared: &Shared, _done: mpsc::Sender<()>) {
    let mut translator = Translator::new(session);
    while let Ok(first) = records.recv() {
        let batch = std::iter::once(first).chain(records.try_iter());
        shared.push(batch.filter_map(|record| translator.translate(record)).collect());
    }
}

/// Whether the shell is still there, looked at every [`SHELL_CHECK`].
struct ShellWatch {
    pid: u32,
    /// The shell is our parent: cheaper to ask, and immune to pid reuse.
    parent: bool,
    last_check: Instant,
}

impl ShellWatch {
    fn new(config: &ServeConfig) -> ShellWatch {
        let pid = config.session.pid;
        ShellWatch { pid, parent: sys::parent_pid() == pid, last_check: Instant::now() }
    }

    /// True once the shell was found gone (looked at most every SHELL_CHECK).
    fn gone(&mut self) -> bool {
        if self.last_check.elapsed() < SHELL_CHECK {
            return false;
        }
        self.last_check = Instant::now();
        !if self.parent { sys::parent_pid() == self.pid } else { sys::process_exists(self.pid) }
    }
}

/// Hands the records parsed from one read to the translator; false when it
/// is gone.
fn hand_over(
    parsed: Vec<Result<ShellRecord, crate::pipe::PipeError>>,
    records: &SyncSender<ShellRecord>,
    log: &Log,
) -> bool {
    for record in parsed {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                log.line(&format!("skipped a record from the shell: {e}"));
                continue;
            }
        };
        match records.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => log.line("dropped a record: the translator is stuck"),
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
    true
}

/// fish's records: read from the file as it grows, timed as they are read,
/// until the shell is gone and what it wrote last is read too.
fn tail_loop(config: &ServeConfig, mut tail: Tail, records: &SyncSender<ShellRecord>, log: &Log) {
    let mut parser = Parser::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut watch = ShellWatch::new(config);
    let mut closing = false;
    loop {
        closing = closing || watch.gone();
        match tail.read(&mut buf) {
            Ok(0) if closing => break,
            Ok(0) => {
                tail.wait(SHELL_CHECK);
                tail.follow_replacement();
            }
            Ok(n) => {
                if !hand_over(parser.feed_read_at(&buf[..n], lcd_protocol::protocol::now_micros()), records, log) {
                    break;
                }
            }
            Err(e) => {
                log.line(&format!("reading the shell's records failed: {e}"));
                break;
            }
        }
    }
    tail.remove();
}

fn read_loop(config: &ServeConfig, fd: RawFd, records: &SyncSender<ShellRecord>, log: &Log) {
    // SAFETY: the shell hands us this descriptor to own for our lifetime.
    let mut input = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut parser = Parser::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut watch = ShellWatch::new(config);
    let mut closing = false;
    loop {
        if !closing && watch.gone() {
            // Drain what the shell wrote before it went, then stop.
            sys::set_nonblocking(input.as_raw_fd());
            closing = true;
        }
        if !closing && !sys::wait_readable(input.as_raw_fd(), SHELL_CHECK) {
            continue;
        }
        match input.read(&mut buf) {
            Ok(0) => return, // every writer closed: the shell is gone
            Ok(n) => {
                if !hand_over(parser.feed(&buf[..n]), records, log) {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // zsh lends us its own descriptor, which --nonblock-fd made
            // non-blocking: nothing to read after all, wait again.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && !closing => {}
            Err(_) if closing => return, // drained (EAGAIN)
            Err(e) => {
                log.line(&format!("reading from the shell failed: {e}"));
                return;
            }
        }
    }
}

fn send_loop(config: &ServeConfig, shared: &Shared, log: &Log) {
    let mut sender = Sender::new(&config.socket);
    let spool = Spool::new(&config.spool_dir).with_max_bytes(config.spool_max_bytes);
    let mut retry_at: Option<Instant> = None;
    // Frames neither the daemon nor the spool took (disk full): kept here and
    // offered again, up to a bound.
    let mut held: VecDeque<Vec<u8>> = VecDeque::new();
    // What was dropped of this shell's records: said as a gap record once
    // the daemon or the spool takes frames again.
    let mut lost = Lost::default();
    if let Err(e) = sender.connect() {
        if let Some(lcd) = &config.start_daemon {
            start_daemon(lcd, log, &e);
        }
    }
    loop {
        let wait = if held.is_empty() && lost.events == 0 { Duration::from_secs(3600) } else { RETRY_AFTER };
        let (events, closing) = shared.take(wait);
        let mut frames: Vec<Vec<u8>> = held.drain(..).collect();
        frames.extend(record_frames(events, EVENTS_PER_FRAME));
        // Whether the spool took the last frame it was offered this round.
        let mut room = false;
        for frame in frames {
            let may_try = retry_at.is_none_or(|t| Instant::now() >= t);
            match deliver_or_spool(may_try.then_some(&mut sender), &spool, &frame) {
                Ok(Handed::Delivered) => retry_at = None,
                Ok(Handed::Spooled(why)) => {
                    room = true;
                    if may_try {
                        if retry_at.is_none() {
                            log.line(&format!("spooling: {why}"));
                        }
                        retry_at = Some(Instant::now() + RETRY_AFTER);
                    }
                }
                Ok(Handed::Dropped { why, gap, first }) => {
                    lost.add(&frame, "the spool was full");
                    room = false;
                    if first {
                        log.line(&format!("{} ({why}; {} events dropped so far)", spool.full_message(), gap.events));
                    }
                    if may_try {
                        retry_at = Some(Instant::now() + RETRY_AFTER);
                    }
                }
                Err(e) => {
                    log.line(&format!("could not spool a frame, holding it in memory: {e}"));
                    hold(&mut held, frame, log, &mut lost);
                }
            }
        }
        // The gap record goes to the daemon, or to the spool when it just
        // took a frame: never into a spool still full, which would count it
        // as lost at every retry. Sent again, it keeps its id.
        if let Some(gap) = lost.gap(&config.session) {
            let may_try = retry_at.is_none_or(|t| Instant::now() >= t);
            for frame in record_frames(vec![gap], 1) {
                let said = (may_try && sender.deliver(&frame).is_ok())
                    || (room && matches!(spool.append(&frame), Ok(Appended::Written)));
                if said {
                    log.line(&format!("said that {} events were lost ({})", lost.events, lost.reason));
                    lost = Lost::default();
                }
            }
        }
        if closing {
            if !held.is_empty() {
                log.line(&format!("exiting with {} frames neither delivered nor spooled", held.len()));
            }
            return;
        }
    }
}

/// Most bytes held in memory; past it the oldest frames are given up.
const MAX_HELD_BYTES: usize = 64 << 20;

fn hold(held: &mut VecDeque<Vec<u8>>, frame: Vec<u8>, log: &Log, lost: &mut Lost) {
    held.push_back(frame);
    let mut total: usize = held.iter().map(Vec::len).sum();
    while total > MAX_HELD_BYTES {
        let Some(dropped) = held.pop_front() else { break };
        total -= dropped.len();
        log.line(&format!("memory bound reached: gave up a frame of {} bytes", dropped.len()));
        lost.add(&dropped, "neither the daemon nor the spool took them");
    }
}

/// Events of this helper's shell that were dropped, since the last gap
/// record said so.
#[derive(Debug, Default)]
struct Lost {
    /// The gap record's id, made at the first loss: a record sent twice
    /// (the daemon slow to answer the first time) lands once.
    id: Option<RecordId>,
    events: u64,
    /// The newest command counter among them: the gap sits after it.
    seq: u64,
    first_at: Micros,
    last_at: Micros,
    reason: &'static str,
}

impl Lost {
    fn add(&mut self, frame: &[u8], reason: &'static str) {
        for event in record_events(frame) {
            let (seq, at) = match &event {
                Event::Start(s) => (s.seq, s.started_at),
                Event::End(e) | Event::Suspend(e) => (e.seq, e.ended_at),
                // A gap record lost in turn is said again by the next one.
                Event::Gap(_) => continue,
            };
            if self.events == 0 {
                (self.first_at, self.last_at) = (at, at);
                self.id = Some(RecordId::random().unwrap_or_else(|| RecordId::derive(&event.session().id, at as u64)));
            }
            self.events += 1;
            self.seq = self.seq.max(seq);
            self.first_at = self.first_at.min(at);
            self.last_at = self.last_at.max(at);
            self.reason = reason;
        }
    }

    /// The gap record of `session` to send, if anything was lost.
    fn gap(&self, session: &Session) -> Option<Event> {
        Some(Event::Gap(SessionGap {
            id: self.id?,
            session: session.clone(),
            seq: self.seq,
            first_at: self.first_at,
            last_at: self.last_at,
            events: self.events,
            reason: self.reason.to_string(),
        }))
    }
}

/// Runs `lcd daemon start` in the background (it detaches and returns once
/// the daemon accepts); what we send meanwhile goes to the spool, which the
/// daemon replays.
fn start_daemon(lcd: &PathBuf, log: &Log, why: &SendError) {
    log.line(&format!("starting the daemon ({why})"));
    let child = Command::new(lcd)
        .args(["daemon", "start", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            thread::spawn(move || child.wait());
        }
        Err(e) => log.line(&format!("could not run {}: {e}", lcd.display())),
    }
}

/// Turns shell records into protocol events, deciding (for bash) which
/// command a start belongs to and whether it is recorded at all.
pub struct Translator {
    session: Session,
    last_history: Option<(u64, String)>,
    skipped: Vec<u64>,
    /// The repository of each command still running, for HEAD at its end.
    repos: Vec<(u64, Repo)>,
    /// The id each start was given, for its end (ids are random, made here
    /// once per command, so only this helper knows them), and its time.
    ids: Vec<(u64, RecordId, Micros)>,
    /// The commit HEAD was at when this helper last looked, and in which
    /// git folder: where a look back through the reflog stops.
    last_head: Option<(PathBuf, String)>,
}

impl Translator {
    pub fn new(mut session: Session) -> Translator {
        for field in [&mut session.id, &mut session.shell, &mut session.host, &mut session.user] {
            truncate_marked(field, MAX_FIELD_LEN);
        }
        if let Some(tty) = &mut session.tty {
            truncate_marked(tty, MAX_FIELD_LEN);
        }
        Translator {
            session,
            last_history: None,
            skipped: Vec::new(),
            repos: Vec::new(),
            ids: Vec::new(),
            last_head: None,
        }
    }

    pub fn translate(&mut self, record: ShellRecord) -> Option<Event> {
        match record {
            ShellRecord::Start(start) => {
                let seq = start.seq;
                let event = self.start(start);
                if event.is_none() {
                    self.skipped.push(seq);
                    // Only the newest few matter: an end follows its start.
                    if self.skipped.len() > 16 {
                        self.skipped.remove(0);
                    }
                }
                event
            }
            ShellRecord::End(end) => {
                if self.skipped.contains(&end.seq) {
                    return None;
                }
                self.end(end)
            }
        }
    }

    fn start(&mut self, start: ShellStart) -> Option<Event> {
        let ShellStart { seq, at, mut cwd, command, expanded, history, first_command, history_next, mut env } = start;
        let command = match command {
            Some(command) => command,
            None => self.command_from_history(history?, first_command.as_deref(), history_next)?,
        };
        // A leading space means "do not record", as in the shells' own history.
        if command.starts_with(' ') || command.trim().is_empty() {
            return None;
        }
        let repo = Repo::discover(Path::new(&cwd));
        let mut git = repo.as_ref().map(|repo| {
            let known = self.last_head.as_ref().filter(|(dir, _)| *dir == repo.git_dir).map(|(_, c)| c.as_str());
            repo.snapshot_at(at, known)
        });
        if let Some(repo) = repo {
            // Commands run one at a time; a few are enough to cover a restart.
            self.repos.retain(|(s, _)| *s + 16 > seq);
            self.repos.push((seq, repo));
        }
        truncate_marked(&mut cwd, MAX_FIELD_LEN);
        for (name, value) in &mut env {
            truncate_marked(name, MAX_FIELD_LEN);
            truncate_marked(value, MAX_FIELD_LEN);
        }
        if let Some(git) = &mut git {
            for field in [Some(&mut git.root), git.branch.as_mut(), git.remote_url.as_mut()].into_iter().flatten() {
                truncate_marked(field, MAX_FIELD_LEN);
            }
        }
        let expanded = expanded.filter(|x| *x != command);
        let id = RecordId::random()?;
        // Commands run one at a time; a few are enough for a late end.
        self.ids.retain(|(s, _, _)| *s + 16 > seq);
        self.ids.push((seq, id, at));
        Some(Event::Start(CommandStart {
            id,
            session: self.session.clone(),
            seq,
            started_at: at,
            cwd,
            command,
            expanded,
            env,
            git,
        }))
    }

    /// bash gives no hook the command line, so the start carries the newest
    /// history entry and the number the line would get. An older entry means
    /// the command was kept out of history (ignoredups, ignorespace,
    /// HISTIGNORE): it is a repeat if the entry is the one we saw for the
    /// command before and its first simple command is part of it; else it is
    /// hidden, or (the first command of the session, whose entry comes from
    /// an earlier session's history file) cannot be known: nothing is recorded.
    fn command_from_history(
        &mut self,
        history: (u64, String),
        first_command: Option<&str>,
        history_next: Option<u64>,
    ) -> Option<String> {
        let seen_before = self.last_history.as_ref() == Some(&history);
        self.last_history = Some(history.clone());
        // Without the number (history off), a new entry is one we did not see.
        let saved = history_next.map_or(!seen_before, |next| history.0 >= next);
        if saved {
            return Some(history.1);
        }
        if !seen_before {
            return None;
        }
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let first = squash(first_command?);
        (!first.is_empty() && squash(&history.1).contains(&first)).then_some(history.1)
    }

    /// The end of a start this helper gave an id to. An end whose start an
    /// earlier helper read (it died mid-command) cannot be matched and is
    /// left out: its start is settled as `unknown` when the next one comes.
    fn end(&mut self, end: ShellEnd) -> Option<Event> {
        let (_, id, started_at) = self.ids.iter().position(|(s, _, _)| *s == end.seq).map(|i| self.ids.remove(i))?;
        // fish's records are timed when read; its own count of the run's
        // milliseconds is the better measure of how long it took.
        let ended_at = end.duration_ms.map_or(end.at, |ms| {
            started_at.saturating_add(Micros::try_from(ms).unwrap_or(Micros::MAX).saturating_mul(1000))
        });
        let git_commit_after = self.repos.iter().position(|(s, _)| *s == end.seq).and_then(|i| {
            let repo = self.repos.remove(i).1;
            let commit = repo.head().1;
            self.last_head = commit.clone().map(|c| (repo.git_dir, c));
            commit
        });
        let half = CommandEnd {
            id,
            session: self.session.clone(),
            seq: end.seq,
            ended_at,
            exit_code: end.status,
            pipestatus: end.pipestatus,
            git_commit_after,
        };
        Some(if end.stopped { Event::Suspend(half) } else { Event::End(half) })
    }
}

/// Diagnostics go to a file named by `--log` (or nowhere): never to the
/// terminal the shell draws on.
#[derive(Clone)]
struct Log(Option<Arc<Mutex<std::fs::File>>>);

impl Log {
    fn new(path: Option<PathBuf>) -> Log {
        use std::os::unix::fs::OpenOptionsExt;
        let file = path.and_then(|p| std::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(p).ok());
        Log(file.map(|f| Arc::new(Mutex::new(f))))
    }

    fn line(&self, message: &str) {
        use std::io::Write;
        if let Some(file) = &self.0 {
            let secs =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(file, "{secs} lcd-hook[{}]: {message}", std::process::id());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            id: "0190f3c2-7a4e-7b21-8c3d-2f1e0a9b8c7d".into(),
            shell: "bash".into(),
            pid: 1,
            host: "h".into(),
            user: "u".into(),
            tty: None,
        }
    }

    fn bash_start(seq: u64, hist: (u64, &str), first: &str) -> ShellRecord {
        ShellRecord::Start(ShellStart {
            seq,
            at: 1,
            cwd: "/".into(),
            history: Some((hist.0, hist.1.into())),
            first_command: Some(first.into()),
            ..Default::default()
        })
    }

    fn command_of(event: Option<Event>) -> Option<String> {
        match event {
            Some(Event::Start(s)) => Some(s.command),
            _ => None,
        }
    }

    #[test]
    fn bash_repeats_kept_out_of_history_are_still_recorded() {
        let mut t = Translator::new(session());
        assert_eq!(command_of(t.translate(bash_start(1, (10, "ls -l"), "ls -l"))).as_deref(), Some("ls -l"));
        assert_eq!(command_of(t.translate(bash_start(2, (10, "ls -l"), "ls -l"))).as_deref(), Some("ls -l"));
    }

    #[test]
    fn bash_commands_hidden_from_history_are_not_recorded_nor_their_end() {
        let mut t = Translator::new(session());
        t.translate(bash_start(1, (10, "ls -l"), "ls -l"));
        assert_eq!(command_of(t.translate(bash_start(2, (10, "ls -l"), "secret-tool --pass x"))), None);
        let end = ShellRecord::End(ShellEnd { seq: 2, at: 2, pipestatus: vec![0], ..Default::default() });
        assert!(t.translate(end).is_none());
    }

    #[test]
    fn a_start_and_its_end_share_an_id_no_one_else_can_compute() {
        let mut t = Translator::new(session());
        let zsh_start = |seq| {
            ShellRecord::Start(ShellStart {
                seq,
                at: 1,
                cwd: "/".into(),
                command: Some("ls".into()),
                ..Default::default()
            })
        };
        let id_of = |event: Option<Event>| event.map(|e| e.id());
        let start = id_of(t.translate(zsh_start(1))).unwrap();
        let end = id_of(t.translate(ShellRecord::End(ShellEnd { seq: 1, at: 2, ..Default::default() })));
        assert_eq!(end, Some(start));
        assert_ne!(start, RecordId::derive(&session().id, 1), "the id follows from the session and counter");
        // A second helper for the same session (the first died) makes other ids.
        assert_ne!(id_of(Translator::new(session()).translate(zsh_start(1))), Some(start));
    }

    #[test]
    fn the_first_command_kept_out_of_history_is_not_taken_for_the_last_saved_one() {
        let mut t = Translator::new(session());
        let mut start = bash_start(1, (40, "terraform destroy -auto-approve"), "export X=1");
        if let ShellRecord::Start(s) = &mut start {
            s.history_next = Some(41);
        }
        assert_eq!(command_of(t.translate(start)), None);
        let mut start = bash_start(2, (41, "echo shown"), "echo shown");
        if let ShellRecord::Start(s) = &mut start {
            s.history_next = Some(41);
        }
        assert_eq!(command_of(t.translate(start)).as_deref(), Some("echo shown"));
    }

    #[test]
    fn leading_space_is_not_recorded() {
        let mut t = Translator::new(session());
        assert_eq!(command_of(t.translate(bash_start(1, (3, " echo secret"), "echo secret"))), None);
    }
}
