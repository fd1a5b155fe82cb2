//! The blocking sender: one connection to the daemon, one frame at a time,
//! each held until the daemon says it is durable, within a time budget.

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use interprocess::local_socket::traits::{Stream as _, StreamCommon as _};
use interprocess::local_socket::{ConnectOptions, GenericFilePath, Stream, ToFsName};
use interprocess::ConnectWaitMode;

use crate::frame::{self, FrameError};
use crate::protocol::{Event, RefusalReason, Reply, Request, MAX_FRAME_LEN};

/// How long a connection attempt may take.
pub const CONNECT_BUDGET: Duration = Duration::from_millis(100);
/// How long the daemon may take to acknowledge a frame before it is spooled.
pub const ACK_BUDGET: Duration = Duration::from_secs(1);

/// Why a frame was not acknowledged. Whatever the reason, the caller still
/// holds the frame and should spool it.
#[derive(Debug)]
pub enum SendError {
    /// No daemon listens on the socket (missing, refused, or timed out).
    Unreachable(io::Error),
    /// The daemon is not running as this user: nothing is sent to it.
    ForeignDaemon { uid: u32 },
    /// The daemon answered but did not take the frame.
    Refused(RefusalReason),
    /// The connection broke.
    Broken(FrameError),
    /// The daemon took longer than this to answer (it may still be working
    /// on the frame: a frame sent again lands once).
    Slow(Duration),
    /// The daemon answered something that is not an answer to this request.
    Unexpected(Reply),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Unreachable(e) => write!(f, "daemon unreachable: {e}"),
            SendError::ForeignDaemon { uid } => write!(f, "the socket belongs to uid {uid}, not to us"),
            SendError::Refused(r) => write!(f, "daemon refused the frame: {r}"),
            SendError::Broken(e) => write!(f, "connection to the daemon broke: {e}"),
            SendError::Slow(budget) => write!(f, "the daemon did not answer within {budget:?}"),
            SendError::Unexpected(r) => write!(f, "unexpected answer from the daemon: {r:?}"),
        }
    }
}

impl std::error::Error for SendError {}

/// A connection to the daemon, opened on first use and reopened after errors.
pub struct Sender {
    socket: PathBuf,
    stream: Option<Stream>,
    ack_budget: Duration,
}

impl Sender {
    pub fn new(socket: impl Into<PathBuf>) -> Sender {
        Sender { socket: socket.into(), stream: None, ack_budget: ACK_BUDGET }
    }

    /// The same, waiting up to `budget` for each answer instead of
    /// [`ACK_BUDGET`] (a shell's helper must not wait long; `lcd import` may).
    /// An open connection takes the new budget too: the one a status check
    /// opened must not keep the old one.
    pub fn with_ack_budget(mut self, budget: Duration) -> Sender {
        self.ack_budget = budget;
        if let Some(stream) = &self.stream {
            if Self::set_budget(stream, budget).is_err() {
                self.stream = None;
            }
        }
        self
    }

    fn set_budget(stream: &Stream, budget: Duration) -> io::Result<()> {
        stream.set_recv_timeout(Some(budget))?;
        stream.set_send_timeout(Some(budget))
    }

    /// Whether the connection is open (not closed by us or found broken).
    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Connects unless connected.
    pub fn connect(&mut self) -> Result<(), SendError> {
        if self.stream.is_some() {
            return Ok(());
        }
        let name = self.socket.as_path().to_fs_name::<GenericFilePath>().map_err(SendError::Unreachable)?;
        let stream = ConnectOptions::new()
            .name(name)
            .wait_mode(ConnectWaitMode::Timeout(CONNECT_BUDGET))
            .connect_sync()
            .map_err(SendError::Unreachable)?;
        // The socket's folder is private, but a daemon of another user must
        // never receive our commands, whatever the folder's mode.
        // A peer whose credentials cannot be read is not known to be ours.
        match stream.peer_creds().ok().and_then(|c| c.euid()) {
            Some(uid) if uid == crate::sys::euid() => {}
            Some(uid) => return Err(SendError::ForeignDaemon { uid }),
            None => {
                return Err(SendError::Unreachable(io::Error::other(
                    "cannot tell which user runs the daemon (no peer credentials)",
                )))
            }
        }
        Self::set_budget(&stream, self.ack_budget).map_err(SendError::Unreachable)?;
        self.stream = Some(stream);
        Ok(())
    }

    /// Sends one encoded frame and waits for the answer. Any failure closes
    /// the connection, so the next call starts afresh.
    pub fn exchange(&mut self, frame: &[u8]) -> Result<Reply, SendError> {
        self.connect()?;
        let stream = self.stream.as_mut().expect("connected");
        let budget = self.ack_budget;
        // A timed-out read or write is a slow daemon, not a broken link.
        let failed = |e: FrameError| match &e {
            FrameError::Io(io) if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                SendError::Slow(budget)
            }
            _ => SendError::Broken(e),
        };
        let result = stream.write_all(frame).map_err(|e| failed(FrameError::Io(e))).and_then(|()| {
            match frame::read_message::<Reply>(stream) {
                Ok(Some(reply)) => Ok(reply),
                Ok(None) => Err(SendError::Broken(FrameError::Truncated)),
                Err(e) => Err(failed(e)),
            }
        });
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    /// Sends one encoded `Request::Record` frame; Ok once it is durable.
    pub fn deliver(&mut self, frame: &[u8]) -> Result<(), SendError> {
        match self.exchange(frame)? {
            Reply::Stored { .. } => Ok(()),
            Reply::Refused { reason } => {
                self.stream = None;
                Err(SendError::Refused(reason))
            }
            other => {
                self.stream = None;
                Err(SendError::Unexpected(other))
            }
        }
    }

    /// Sends any request and returns the answer; a refusal is an error.
    pub fn request(&mut self, request: &Request) -> Result<Reply, SendError> {
        let frame = frame::encode(request).map_err(SendError::Broken)?;
        match self.exchange(&frame)? {
            Reply::Refused { reason } => Err(SendError::Refused(reason)),
            reply => Ok(reply),
        }
    }

    /// Asks the daemon to describe itself the way every daemon understands,
    /// [`Request::Status`]: the answer is JSON. Newer daemons also answer
    /// [`Request::DaemonStatus`] (through [`Sender::request`]) with the struct.
    pub fn status(&mut self) -> Result<String, SendError> {
        let frame = frame::encode(&Request::Status).map_err(SendError::Broken)?;
        match self.exchange(&frame)? {
            Reply::Status { json } => Ok(json),
            Reply::Refused { reason } => Err(SendError::Refused(reason)),
            other => Err(SendError::Unexpected(other)),
        }
    }
}

/// Where a frame went.
#[derive(Debug)]
pub enum Handed {
    /// The daemon acknowledged it as durable.
    Delivered,
    /// The daemon did not take it (for this reason); it is in the spool.
    Spooled(SendError),
    /// The daemon did not take it and the spool is full: it is dropped, and
    /// counted in `gap`. `first` when this drop began an episode, which the
    /// caller reports once.
    Dropped { why: SendError, gap: crate::spool::Gap, first: bool },
}

/// Gives one `Request::Record` frame to the daemon, or to the spool when the
/// daemon does not take it. With no sender, straight to the spool. Fails only
/// when neither took the frame and the spool could not even count it as
/// dropped: the caller still holds it.
pub fn deliver_or_spool(sender: Option<&mut Sender>, spool: &crate::spool::Spool, frame: &[u8]) -> io::Result<Handed> {
    let why = match sender.map(|s| s.deliver(frame)) {
        Some(Ok(())) => return Ok(Handed::Delivered),
        Some(Err(e)) => e,
        None => SendError::Unreachable(io::Error::other("not tried: waiting before the next attempt")),
    };
    match spool.append(frame)? {
        crate::spool::Appended::Written => Ok(Handed::Spooled(why)),
        crate::spool::Appended::Dropped { gap, first } => Ok(Handed::Dropped { why, gap, first }),
    }
}

/// Encodes events as `Request::Record` frames, as many events per frame as fit
/// under the size cap (and at most `max_events`).
pub fn record_frames(events: Vec<Event>, max_events: usize) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut batch: Vec<Event> = Vec::new();
    let mut batch_size = 0usize;
    // Leave room for the header and the length prefixes of the Vec.
    let budget = MAX_FRAME_LEN as usize - 64;
    for event in events {
        let size = postcard::experimental::serialized_size(&event).unwrap_or(budget);
        if !batch.is_empty() && (batch_size + size > budget || batch.len() >= max_events) {
            frames.extend(frame::encode(&Request::Record(std::mem::take(&mut batch))).ok());
            batch_size = 0;
        }
        batch_size += size;
        batch.push(event);
    }
    if !batch.is_empty() {
        frames.extend(frame::encode(&Request::Record(batch)).ok());
    }
    frames
}
