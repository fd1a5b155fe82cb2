//! lcd's end-to-end tests: real zsh and bash in a pseudo-terminal, a real
//! daemon on a real socket, a real SQLite file. One binary, one module per
//! area; each test names what it guards, and a test for every shell
//! (`shell_test!`) is one test per shell.

#[macro_use]
mod macros;

mod capture;
mod chain;
mod cli;
mod enrichment;
mod forged;
mod github;
mod hostile;
mod identity;
mod init_script;
mod neighbours;
mod never_silent;
mod packaging;
mod query;
mod redaction;
mod remote;
mod repository;
mod resilience;
mod security;
mod service;
mod terminal;
mod typed_bytes;

use std::time::Duration;

use anyhow::Result;
use lcd_testkit::{Shell, ShellKind, TestEnv};
use serde_json::Value;

/// How long a test waits for what a shell typed to be stored.
const WAIT: Duration = Duration::from_secs(10);

/// A fresh environment for this test binary's `lcd`.
fn env() -> Result<TestEnv> {
    TestEnv::new(env!("CARGO_BIN_EXE_lcd"))
}

/// Runs `test` in a fresh environment with the daemon running in-process and
/// a `kind` shell with lcd's hooks loaded.
fn hooked(kind: ShellKind, test: impl FnOnce(&TestEnv, Shell) -> Result<()>) -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    test(&env, env.hooked_shell(kind)?)
}

/// Runs `test` in a fresh environment; the test starts what it needs.
fn in_env(kind: ShellKind, test: impl FnOnce(&TestEnv, ShellKind) -> Result<()>) -> Result<()> {
    test(&env()?, kind)
}

/// The record whose command is exactly `command`.
fn record<'a>(records: &'a [Value], command: &str) -> &'a Value {
    records.iter().find(|r| r["command"] == command).unwrap_or_else(|| {
        panic!("no record of {command:?} among:\n{}", serde_json::to_string_pretty(records).unwrap())
    })
}

/// How many records have exactly `command`.
fn count(records: &[Value], command: &str) -> usize {
    records.iter().filter(|r| r["command"] == command).count()
}
