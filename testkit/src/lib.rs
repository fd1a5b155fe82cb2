//! The harness behind lcd's end-to-end tests and benchmarks: real zsh and
//! bash in a pseudo-terminal ([`pty`]), a private home per test ([`env`]),
//! and the daemon run in-process, waited for by its ready signal.

pub mod access;
pub mod daemon;
pub mod env;
pub mod git;
pub mod github;
mod http;
pub mod pty;
pub mod records;
pub mod remote;

/// rcaloras/bash-preexec 0.6.0 (MIT, `vendor/bash-preexec/LICENSE.md`), which
/// starship, atuin and many prompts build on: lcd must live beside it.
pub const BASH_PREEXEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vendor/bash-preexec/bash-preexec.sh");

pub use daemon::DaemonProcess;
pub use env::{InProcessDaemon, TestEnv};
pub use pty::{Shell, ShellKind};
