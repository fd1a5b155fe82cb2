//! `lcd completions SHELL` and `lcd man`: generated from the command-line
//! definitions, so they never fall behind.

use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;

use super::Cli;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

pub fn completions(args: Args) -> Result<ExitCode> {
    let mut command = Cli::command();
    // Into memory first: clap_complete panics when its writer fails, and a
    // closed pipe (`lcd completions zsh | head -1`) must end quietly.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "lcd", &mut script);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
    Ok(ExitCode::SUCCESS)
}

/// The man page (roff) on stdout: `lcd man | man -l -`.
pub fn man() -> Result<ExitCode> {
    std::io::Write::write_all(&mut std::io::stdout().lock(), man_page()?.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The man page, lcd(1), in roff: what `lcd man` prints and `lcd service
/// install` installs.
pub fn man_page() -> Result<String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    Ok(String::from_utf8(page)?)
}
