//! Messages between clients and the daemon, and the limits both sides enforce.
//!
//! A change to any type here that alters its postcard encoding needs a new
//! [`PROTOCOL_VERSION`]: postcard is not self-describing, so the version in the
//! frame header is the only thing that tells a reader how to decode a payload.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::record_id::RecordId;

/// The version of the payload encoding, carried in every frame header.
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest payload a frame may declare; checked before the payload is read.
pub const MAX_FRAME_LEN: u32 = 1 << 20;

/// Longest command line stored; longer ones are cut and marked, never dropped.
pub const MAX_COMMAND_LEN: usize = 64 * 1024;

/// Longest value of the small text fields (cwd, tty, host, user, shell, session).
pub const MAX_FIELD_LEN: usize = 4096;

/// Most entries in a pipestatus; a longer pipeline keeps its first entries.
pub const MAX_PIPESTATUS: usize = 256;

/// Most environment variables sent with one start.
pub const MAX_ENV_VARS: usize = 64;

/// Appended to a text that was cut to its limit.
pub const TRUNCATION_MARKER: &str = "…[lcd: truncated]";

/// Microseconds since the Unix epoch, as the shell's `$EPOCHREALTIME` gives it.
pub type Micros = i64;

/// The time now, as [`Micros`].
pub fn now_micros() -> Micros {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Micros::try_from(since.as_micros()).unwrap_or(Micros::MAX)
}

/// The repository a command ran in, as it was at one instant (read by
/// lcd-hook from `.git`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct GitSnapshot {
    /// The work tree's top folder.
    pub root: String,
    /// The checked-out branch; `None` when HEAD is detached.
    pub branch: Option<String>,
    /// The commit HEAD points at; `None` before the first commit.
    pub commit: Option<String>,
    /// The `origin` remote's URL, when there is one.
    pub remote_url: Option<String>,
}

/// The shells lcd integrates with: what `lcd init` and `lcd import` take,
/// what lcd-hook is told, what tests drive. On the wire a [`Session`] names
/// its shell as text, so that a newer client's shell reaches an older daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shell {
    Zsh,
    Bash,
    Fish,
}

impl Shell {
    /// Every shell, in the order help texts list them.
    pub const ALL: [Shell; 3] = [Shell::Zsh, Shell::Bash, Shell::Fish];

    /// Its name, as users type it and records carry it.
    pub fn name(self) -> &'static str {
        match self {
            Shell::Zsh => "zsh",
            Shell::Bash => "bash",
            Shell::Fish => "fish",
        }
    }
}

impl std::fmt::Display for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Shell {
    type Err = String;

    fn from_str(name: &str) -> Result<Shell, String> {
        Shell::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Shell::ALL.iter().map(|s| s.name()).collect();
            format!("{name:?} is not a shell lcd knows ({})", names.join(", "))
        })
    }
}

/// One shell process: constant for every record it produces.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Made by the shell at start-up (a UUIDv7), exported as `LCD_SESSION`.
    pub id: String,
    /// `zsh`, `bash` or `fish`.
    pub shell: String,
    /// The shell's process id, used to notice a shell that died mid-command.
    pub pid: u32,
    pub host: String,
    pub user: String,
    pub tty: Option<String>,
}

/// A command was entered at the prompt and is about to run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CommandStart {
    pub id: RecordId,
    pub session: Session,
    /// The shell's own counter of commands, starting at 1.
    pub seq: u64,
    pub started_at: Micros,
    /// Working directory when the command was entered.
    pub cwd: String,
    /// The command line as typed.
    pub command: String,
    /// The command with aliases expanded, when the shell provides it (zsh).
    pub expanded: Option<String>,
    /// The allowlisted environment variables that were exported (name, value).
    pub env: Vec<(String, String)>,
    /// The repository the command ran in, as it was when it started.
    pub git: Option<GitSnapshot>,
}

/// A command finished and the shell is about to draw the next prompt.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CommandEnd {
    pub id: RecordId,
    pub session: Session,
    pub seq: u64,
    pub ended_at: Micros,
    pub exit_code: i32,
    /// One exit status per pipeline element, as `$pipestatus`/`PIPESTATUS`.
    pub pipestatus: Vec<i32>,
    /// HEAD of the start's repository when the command ended (differs after
    /// `git commit`, `git pull`, `git checkout`).
    pub git_commit_after: Option<String>,
}

/// One observation about one command. Start and end share the record id and
/// may reach the daemon in either order, or more than once. Variants are only
/// ever appended: a daemon older than one cannot decode a frame holding it,
/// and the sender spools that frame until a newer daemon runs.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Start(CommandStart),
    End(CommandEnd),
    /// The command was stopped (Ctrl-Z, SIGSTOP), not ended: the shell gave
    /// the prompt back with the job suspended. Its `exit_code` is the
    /// shell's `$?` (128 + the signal); a later `fg` continues it.
    Suspend(CommandEnd),
    /// Records of this session were lost before they reached the daemon.
    Gap(SessionGap),
}

/// What a helper had to drop of its own shell's records (its spool full, or
/// its memory bound reached while neither the daemon nor the spool took
/// them), said as a record of its own in the session's chain, so that the
/// loss is never silent.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SessionGap {
    /// Made at the first loss and kept: a gap said twice (sent again, or
    /// its frame replayed) lands once.
    pub id: RecordId,
    pub session: Session,
    /// The shell's command counter when the loss was noticed: the gap sits
    /// after that command in the session's order.
    pub seq: u64,
    /// When the first lost event happened, and the last.
    pub first_at: Micros,
    pub last_at: Micros,
    /// Events (starts and ends) lost.
    pub events: u64,
    /// Why, in a few words ("the spool was full").
    pub reason: String,
}

impl Event {
    pub fn id(&self) -> RecordId {
        match self {
            Event::Start(s) => s.id,
            Event::End(e) | Event::Suspend(e) => e.id,
            Event::Gap(g) => g.id,
        }
    }

    pub fn session(&self) -> &Session {
        match self {
            Event::Start(s) => &s.session,
            Event::End(e) | Event::Suspend(e) => &e.session,
            Event::Gap(g) => &g.session,
        }
    }
}

/// A command read from a shell's history file (`lcd import`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ImportedCommand {
    /// Derived from the history entry itself, so importing twice adds nothing.
    pub id: RecordId,
    pub shell: String,
    pub host: String,
    pub user: String,
    pub started_at: Micros,
    /// zsh's extended history records how long a command ran.
    pub duration_ms: Option<i64>,
    pub command: String,
}

/// What a client asks of the daemon. Variants are only ever appended.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Store these events; answered with [`Reply::Stored`] once they are durable.
    Record(Vec<Event>),
    /// Describe yourself; answered with [`Reply::Status`], the fields of a
    /// [`DaemonStatus`] as JSON. Kept for an lcd older than
    /// [`Request::DaemonStatus`].
    Status,
    /// Add history read from a file; answered with [`Reply::Imported`].
    Import(Vec<ImportedCommand>),
    /// Delete (or with `dry_run`, count) the commands started before
    /// `before`, of one type if given; answered with [`Reply::Pruned`].
    Prune { before: Micros, command_type: Option<String>, dry_run: bool },
    /// Put the records a sink set aside as failed back in its queue; answered
    /// with [`Reply::Requeued`].
    RetryFailed { sink: String },
    /// Describe yourself; answered with [`Reply::DaemonStatus`]. A daemon
    /// older than this variant cannot decode it and closes the connection:
    /// the client then asks [`Request::Status`].
    DaemonStatus,
}

/// What the daemon answers. Variants are only ever appended, so that a
/// client can read the answer of a daemon of any version.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The events of the request are committed to the database.
    Stored { events: u32 },
    /// The request was not taken; the client keeps (spools) what it sent.
    Refused { reason: RefusalReason },
    /// The fields of a [`DaemonStatus`] as one JSON object, for an lcd
    /// older than [`Reply::DaemonStatus`].
    Status { json: String },
    /// How many imported commands were new, and how many were there already.
    Imported { added: u64, already: u64 },
    /// How many commands were deleted (or would be, on a dry run).
    Pruned { count: u64 },
    /// How many failed records went back in the queue.
    Requeued { count: u64 },
    /// What the daemon says about itself (boxed to keep every reply small;
    /// the encoding is the struct's).
    DaemonStatus(Box<DaemonStatus>),
}

/// What the daemon says about itself (`lcd status`, `lcd doctor`). Its JSON
/// form is the older [`Reply::Status`] answer, so fields added later need
/// `#[serde(default)]` for the JSON of an older daemon to read.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DaemonStatus {
    pub pid: u32,
    /// The daemon's package version, which differs from the client's after
    /// an upgrade until the daemon restarts.
    pub version: String,
    /// The [`PROTOCOL_VERSION`] the daemon speaks.
    pub protocol: u16,
    pub started_at: Micros,
    /// Seconds since `started_at`.
    pub uptime_s: u64,
    pub socket: PathBuf,
    pub database: PathBuf,
    /// Client connections open now; the first daemons did not say.
    #[serde(default)]
    pub connections: u64,
    /// Every configured sink; daemons from before forwarding did not say.
    #[serde(default)]
    pub sinks: Vec<SinkStatus>,
    /// Whether the config file is in effect; older daemons did not say.
    #[serde(default, skip_serializing_if = "ConfigStatus::is_unknown")]
    pub config: ConfigStatus,
    /// The shells on this machine that sent records and are still open;
    /// older daemons did not say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shells: Vec<ShellStatus>,
}

/// One open shell, as the daemon last heard from it.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellStatus {
    pub session: String,
    pub shell: String,
    pub pid: u32,
    pub tty: Option<String>,
    /// When its last record arrived (daemon's clock).
    pub last_record_at: Micros,
    /// The command it reported started and not yet ended: its number in the
    /// session and when it started. (Never its text: the command may be one
    /// lcd is told not to record.)
    pub running: Option<(u64, Micros)>,
    /// Why its hooks may have stopped sending, when the daemon suspects so.
    pub suspect: Option<String>,
}

impl ConfigStatus {
    /// An older daemon's answer, which did not say.
    pub fn is_unknown(&self) -> bool {
        *self == ConfigStatus::default()
    }
}

/// The config file as the daemon sees it.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigStatus {
    /// How often the daemon has read the file (start, then each reload):
    /// a reload is answered once this grows. 0 from older daemons.
    pub loads: u64,
    /// Why the file is not in effect (the whole error, TOML's line and
    /// column included); `None` when it is.
    pub error: Option<String>,
    /// What runs instead while it is broken ("the last good settings (from
    /// …)", "the default settings").
    pub running_with: Option<String>,
}

/// How a sink is doing, as `lcd status` shows it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SinkHealth {
    /// Delivering, or nothing to deliver.
    #[default]
    Ok,
    /// Failing for now; trying again after a backoff.
    Retrying,
    /// The credentials or the config are wrong: waiting for a fix.
    Stopped,
}

/// What `lcd status` shows about one sink.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStatus {
    /// The sink's name in the config (`remote`, `github`).
    pub name: String,
    /// Where it sends (never with a token).
    pub target: String,
    pub state: SinkHealth,
    /// Records waiting to be sent.
    pub backlog: u64,
    /// Records set aside because the peer refused them.
    pub failed: u64,
    /// When a delivery last succeeded (RFC 3339).
    pub last_success: Option<String>,
    pub last_error: Option<String>,
}

/// Why the daemon did not take a request.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// The frame's protocol version is newer than the daemon understands.
    UnsupportedVersion { supported: u16 },
    /// The daemon could not make the events durable (disk full, locked, ...).
    StorageUnavailable { detail: String },
    /// The daemon is shutting down.
    ShuttingDown,
    /// The request was understood but its content is not acceptable.
    Invalid { detail: String },
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefusalReason::UnsupportedVersion { supported } => {
                write!(f, "protocol version not supported (daemon speaks up to {supported})")
            }
            RefusalReason::StorageUnavailable { detail } => write!(f, "storage unavailable: {detail}"),
            RefusalReason::ShuttingDown => f.write_str("daemon is shutting down"),
            RefusalReason::Invalid { detail } => write!(f, "invalid request: {detail}"),
        }
    }
}

/// Cuts `text` to at most `max` bytes (on a char boundary) and marks the cut.
/// The result, marker included, is never longer than `max`.
pub fn truncate_marked(text: &mut String, max: usize) {
    if text.len() > max {
        cut_and_mark(text, max);
    }
}

/// Marks `text` as cut, shortening it so that the marker fits in `max` bytes:
/// for a text whose tail was already lost before it reached us.
pub fn cut_and_mark(text: &mut String, max: usize) {
    let mut cut = max.saturating_sub(TRUNCATION_MARKER.len()).min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(TRUNCATION_MARKER);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_the_head_and_marks_the_cut() {
        let mut s = "é".repeat(100);
        truncate_marked(&mut s, 51);
        assert!(s.len() <= 51);
        assert!(s.ends_with(TRUNCATION_MARKER));
        assert!(s.starts_with("éé"));
    }

    #[test]
    fn short_text_is_left_alone() {
        let mut s = String::from("git status");
        truncate_marked(&mut s, 64);
        assert_eq!(s, "git status");
    }
}
