//! lcd's wire protocol: what the shell's helper (lcd-hook) and the CLI say
//! to the daemon, and how it is framed and kept when the daemon is away.
//!
//! - [`protocol`]: the messages exchanged with the daemon and their limits;
//! - [`frame`]: the versioned frame codec (magic, version, length, postcard);
//! - [`record_id`]: globally unique record ids made on the client side;
//! - [`sender`]: the blocking sender with its time budget;
//! - [`spool`]: the append-only file that holds frames the daemon did not take;
//! - [`sys`]: the host and user every record names;
//! - [`small_file`]: reading a small file someone else may have planted.
//!
//! Both lcd-hook and the daemon link it, so it depends on std, serde,
//! postcard, interprocess and libc only: lcd-hook must start about as fast
//! as an empty binary.

pub mod frame;
pub mod protocol;
pub mod record_id;
pub mod sender;
pub mod small_file;
pub mod spool;
pub mod sys;

pub use protocol::{
    CommandEnd, CommandStart, ConfigStatus, DaemonStatus, Event, GitSnapshot, Reply, Request, Session, Shell,
    ShellStatus, SinkHealth, SinkStatus,
};
pub use record_id::RecordId;
