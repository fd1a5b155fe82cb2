//! The `lcd` command line: one module per subcommand.

/// `println!` and `print!` that hand back the write's error instead of
/// panicking: `lcd status | head -1` closes the pipe early, and the
/// program then ends quietly (see [`is_broken_pipe`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        ::std::writeln!(::std::io::stdout().lock(), $($arg)*)
    }};
}
macro_rules! out {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        ::std::write!(::std::io::stdout().lock(), $($arg)*)
    }};
}

pub mod completions;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod forward;
pub mod import;
pub mod init;
mod output;
pub mod prune;
pub mod query;
mod remote;
pub mod service;
pub mod setup;
pub mod show;
pub mod stats;
pub mod status;
pub mod team;
pub mod verify;
mod when;

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
    Query(Box<query::Args>),
    /// Everything known about one recorded command.
    Show(show::Args),
    /// Commands per day and per tool, failure rates, slowest, deploys.
    Stats(stats::Args),
    /// Import existing zsh or bash history.
    Import(import::Args),
    /// Delete old commands (counts first; deletes with --yes).
    Prune(prune::Args),
    /// Check that no record was changed, deleted or put in (the hash chains).
    Verify(verify::Args),
    /// Is the daemon running, and where is everything?
    Status(status::Args),
    /// Check the setup; explain what is wrong and how to fix it.
    Doctor,
    /// Where the config file is, what it says, and editing it.
    #[command(subcommand)]
    Config(config::Command),
    /// Run, start or stop the daemon.
    #[command(subcommand)]
    Daemon(daemon::Command),
    /// List the records a sink set aside (refused by its server), or send them again.
    #[command(subcommand)]
    Forward(forward::Command),
    /// The team store's per-user tokens: lcd team token create|list|revoke.
    #[command(subcommand)]
    Team(team::Command),
    /// Run the daemon under systemd (Linux) or launchd (macOS).
    #[command(subcommand)]
    Service(service::Command),
    /// Print shell completions: lcd completions zsh > ~/.zfunc/_lcd
    Completions(completions::Args),
    /// Print a man page: lcd man | man -l -, lcd man query | man -l -
    Man(completions::ManArgs),
}

/// Parses the command line and runs the subcommand.
pub fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    let paths = Paths::from_env()?;
    match cli.command {
        Command::Init(args) => init::run(args, &paths),
        Command::Setup(args) => setup::run(args, &paths),
        Command::Query(args) => query::run(*args, &paths),
        Command::Show(args) => show::run(args, &paths),
        Command::Stats(args) => stats::run(args, &paths),
        Command::Import(args) => import::run(args, &paths),
        Command::Prune(args) => prune::run(args, &paths),
        Command::Completions(args) => completions::completions(args),
        Command::Verify(args) => verify::run(args, &paths),
        Command::Man(args) => completions::man(args),
        Command::Status(args) => status::run(args, &paths),
        Command::Doctor => doctor::run(&paths),
        Command::Config(command) => config::run(command, &paths),
        Command::Daemon(command) => daemon::run(command, &paths),
        Command::Service(command) => service::run(command, &paths),
        Command::Forward(command) => forward::run(command, &paths),
        Command::Team(command) => team::run(command, &paths),
    }
}

/// The history database for reading. One an older lcd wrote is upgraded by
/// the daemon first (started if need be), since readers never write.
pub fn open_history(paths: &Paths) -> Result<Option<crate::store::Store>> {
    use crate::store::{Store, StoreError};
    match Store::open_reader(&paths.database()) {
        Err(StoreError::OlderSchema { .. }) => {
            daemon::connect_or_start(paths)?;
            match Store::open_reader(&paths.database()) {
                Err(e @ StoreError::OlderSchema { .. }) => Err(anyhow::Error::new(e)
                    .context("the running daemon is older than this lcd; restart it with: lcd daemon restart")),
                other => Ok(other?),
            }
        }
        other => Ok(other?),
    }
}

/// Parses a shell's name on the command line, listing the choices when it
/// is not one.
pub fn shell_arg() -> impl clap::builder::TypedValueParser<Value = lcd_protocol::Shell> {
    use clap::builder::TypedValueParser;
    use lcd_protocol::Shell;
    clap::builder::PossibleValuesParser::new(Shell::ALL.map(Shell::name))
        .map(|name| name.parse::<Shell>().expect("one of the possible values"))
}

/// Parses a tool name (`--type`): any name is taken, since `[capture.tools]`
/// adds types, but completion offers the tools lcd tracks (not file names).
#[derive(Debug, Clone, Copy)]
pub struct ToolType;

impl clap::builder::TypedValueParser for ToolType {
    type Value = String;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(command, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(crate::enrich::tracked_types().into_iter().map(clap::builder::PossibleValue::new)))
    }
}

/// Whether `error` comes from writing to a closed pipe (`lcd query | head`),
/// which ends the program quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every argument of `command` and its subcommands, with the command's name.
    fn args(command: &clap::Command, name: String, out: &mut Vec<(String, clap::Arg)>) {
        out.extend(command.get_arguments().map(|a| (name.clone(), a.clone())));
        for sub in command.get_subcommands() {
            args(sub, format!("{name} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn no_help_text_states_a_default_clap_already_shows() {
        let mut all = Vec::new();
        args(&Cli::command(), "lcd".into(), &mut all);
        for (command, arg) in all {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            if !arg.get_default_values().is_empty() {
                assert!(!help.contains("default"), "{command} --{}: {help:?} [default: ...] again", arg.get_id());
            }
        }
    }
}
