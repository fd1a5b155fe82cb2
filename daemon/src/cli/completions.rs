//! `lcd completions SHELL` and `lcd man`: generated from the command-line
//! definitions, so they never fall behind.

use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
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

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (`lcd man query`, `lcd man config edit`); none for lcd(1).
    pub subcommand: Vec<String>,
    /// Write every page (lcd.1, lcd-query.1, ...) into this folder instead, e.g. /usr/share/man/man1.
    #[arg(long, value_name = "DIR", conflicts_with = "subcommand")]
    pub out: Option<PathBuf>,
}

/// `lcd man`: lcd(1), or one subcommand's page, on stdout (`lcd man query |
/// man -l -`); or every page written into a folder.
pub fn man(args: ManArgs) -> Result<ExitCode> {
    let pages = man_pages()?;
    if let Some(dir) = args.out {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, page) in &pages {
            let path = dir.join(name);
            std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
            outln!("wrote {}", path.display())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let wanted = std::iter::once("lcd").chain(args.subcommand.iter().map(String::as_str)).collect::<Vec<_>>().join("-");
    let Some((_, page)) = pages.iter().find(|(name, _)| *name == format!("{wanted}.1")) else {
        let known: Vec<String> = pages
            .iter()
            .filter_map(|(name, _)| name.strip_suffix(".1")?.strip_prefix("lcd-"))
            .map(|sub| sub.replace('-', " "))
            .collect();
        bail!("no man page for \"lcd {}\"; there is one for: {}", args.subcommand.join(" "), known.join(", "));
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), page.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Every man page in roff, each with its file name: lcd(1) and one per
/// subcommand, nested ones too (`lcd-query.1`, `lcd-config-edit.1`), the
/// pages lcd(1) refers to. What `lcd man` prints and `lcd service install`
/// installs.
pub fn man_pages() -> Result<Vec<(String, String)>> {
    fn add(command: clap::Command, pages: &mut Vec<(String, String)>) -> Result<()> {
        let source = format!("lcd {}", env!("CARGO_PKG_VERSION"));
        let man = clap_mangen::Man::new(command.clone()).source(source);
        let mut page = Vec::new();
        man.render(&mut page)?;
        pages.push((man.get_filename(), String::from_utf8(page)?));
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            add(sub.clone(), pages)?;
        }
        Ok(())
    }
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    add(command, &mut pages)?;
    Ok(pages)
}
