//! lcd's end-to-end tests: real zsh and bash in a pseudo-terminal, a real
//! daemon on a real socket, a real SQLite file. One binary, one module per
//! area; each test names what it guards.

mod capture;
mod enrichment;
mod github;
mod hostile;
mod init_script;
mod packaging;
mod query;
mod remote;
mod resilience;
mod service;

use anyhow::Result;
use lcd_testkit::{ShellKind, TestEnv};
use serde_json::Value;

/// A fresh environment for this test binary's `lcd`.
fn env() -> Result<TestEnv> {
    TestEnv::new(env!("CARGO_BIN_EXE_lcd"))
}

/// The record whose command is exactly `command`.
fn record<'a>(records: &'a [Value], command: &str) -> &'a Value {
    records.iter().find(|r| r["command"] == command).unwrap_or_else(|| {
        panic!("no record of {command:?} among:\n{}", serde_json::to_string_pretty(records).unwrap())
    })
}

fn count(records: &[Value], command: &str) -> usize {
    records.iter().filter(|r| r["command"] == command).count()
}

const SHELLS: [ShellKind; 2] = [ShellKind::Zsh, ShellKind::Bash];
