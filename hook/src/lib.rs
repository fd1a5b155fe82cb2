//! lcd-hook, the helper each shell starts: it reads the records the shell
//! writes to its FIFO, takes a git snapshot for each, and hands them to the
//! daemon as frames of [`lcd_protocol`], spooling what the daemon does not take.
//!
//! - [`pipe`]: the private record format the shell scripts write to lcd-hook;
//! - [`git`]: the repository and commit a command ran at, read from `.git`;
//! - [`serve`]: `lcd-hook serve`, tying them together;
//! - [`tail`]: the file fish appends its records to, read as it grows;
//! - [`sys`]: the few system calls it needs that std does not wrap.
//!
//! It depends on std, libc and lcd-protocol only, so that it starts about as
//! fast as an empty binary.

pub mod git;
pub mod pipe;
pub mod serve;
pub mod sys;
pub mod tail;
