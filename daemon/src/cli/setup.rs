//! `lcd setup`: the one step after installing. Adds the init line to the rc
//! files of the shells this machine has, and starts the daemon.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::daemon::{self, StartArgs};
use super::init::{self, Shell};
use crate::paths::Paths;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only print what would change.
    #[arg(long)]
    pub dry_run: bool,
}

/// The line above the one `lcd setup` adds: what it is, and where to read
/// more on this machine (no web address that might not exist).
const RC_COMMENT: &str = "# lcd: records every command typed in this shell; see: lcd --help, lcd man";

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let home = PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?);
    for shell in Shell::ALL {
        if !on_path(shell.name()) {
            continue;
        }
        let rc = home.join(init::rc_file(shell));
        let line = init::load_line(shell);
        let current = fs::read_to_string(&rc).unwrap_or_default();
        if current.lines().any(|l| l.contains(&format!("lcd init {shell}"))) {
            outln!("{}: already loads lcd", rc.display())?;
            continue;
        }
        if args.dry_run {
            outln!("{}: would add: {line}", rc.display())?;
            continue;
        }
        if let Some(folder) = rc.parent() {
            fs::create_dir_all(folder).with_context(|| format!("making {}", folder.display()))?;
        }
        let mut file = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&rc)
            .with_context(|| format!("opening {}", rc.display()))?;
        let sep = if current.is_empty() || current.ends_with('\n') { "" } else { "\n" };
        writeln!(file, "{sep}{RC_COMMENT}\n{line}")?;
        outln!("{}: added {line}", rc.display())?;
    }
    if !args.dry_run {
        daemon::run(daemon::Command::Start(StartArgs { quiet: false }), paths)?;
        outln!("Open a new shell: its commands are recorded from then on. Read them back with: lcd query")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").iter().flat_map(std::env::split_paths).any(|d| d.join(program).is_file())
}
