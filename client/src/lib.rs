//! The client side of lcd: everything the shell's helper process needs and
//! nothing more.
//!
//! - [`protocol`]: the messages exchanged with the daemon and their limits;
//! - [`frame`]: the versioned frame codec (magic, version, length, postcard);
//! - [`record_id`]: globally unique record ids derived on the client side;
//! - [`git`]: the repository and commit a command ran at, read from `.git`;
//! - [`pipe`]: the private record format the shell scripts write to lcd-hook;
//! - [`sender`]: the blocking sender with its time budget;
//! - [`spool`]: the append-only file that holds frames the daemon did not take;
//! - [`serve`]: `lcd-hook serve`, the per-shell helper tying them together.
//!
//! This crate depends on std, serde, postcard, interprocess and libc only, so
//! that lcd-hook starts about as fast as an empty binary.

pub mod frame;
pub mod git;
pub mod pipe;
pub mod protocol;
pub mod record_id;
pub mod sender;
pub mod serve;
pub mod spool;
pub mod sys;

pub use protocol::{CommandEnd, CommandStart, Event, Reply, Request, Session};
pub use record_id::RecordId;
