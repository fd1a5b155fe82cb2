//! The `lcd` command line: one module per subcommand.

pub mod daemon;
pub mod init;
mod output;
pub mod query;
pub mod setup;
pub mod status;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::paths::Paths;

/// Record every command you run in zsh and bash, and read the history back.
#[derive(Debug, Parser)]
#[command(name = "lcd", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the shell integration: eval "$(lcd init zsh)" in ~/.zshrc.
    Init(init::Args),
    /// Add lcd to your shell's rc files and start the daemon.
    Setup(setup::Args),
    /// Show recorded commands, newest first.
    Query(query::Args),
    /// Is the daemon running, and where is everything?
    Status(status::Args),
    /// Run, start or stop the daemon.
    #[command(subcommand)]
    Daemon(daemon::Command),
}

/// Parses the command line and runs the subcommand.
pub fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    let paths = Paths::from_env()?;
    match cli.command {
        Command::Init(args) => init::run(args, &paths),
        Command::Setup(args) => setup::run(args, &paths),
        Command::Query(args) => query::run(args, &paths),
        Command::Status(args) => status::run(args, &paths),
        Command::Daemon(command) => daemon::run(command, &paths),
    }
}

/// Whether `error` comes from writing to a closed pipe (`lcd query | head`),
/// which ends the program quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}
