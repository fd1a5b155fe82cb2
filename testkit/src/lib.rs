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

pub use daemon::DaemonProcess;
pub use env::{InProcessDaemon, TestEnv};
pub use pty::{Shell, ShellKind};
