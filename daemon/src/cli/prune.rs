//! `lcd prune --before WHEN [--type T]`: counts first; deletes with --yes.

use std::process::ExitCode;

use anyhow::{bail, Result};
use jiff::Zoned;
use lcd_protocol::protocol::{Reply, Request};

use super::daemon::connect_or_start;
use super::when::parse_instant;
use crate::paths::Paths;
use crate::time::local_time;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete commands started before this: 90d, 2026-01-01, RFC 3339, ...
    #[arg(long, value_name = "WHEN")]
    pub before: String,
    /// Only commands of this tool.
    #[arg(long = "type", short = 't', value_name = "TYPE", value_parser = super::ToolType, hide_possible_values = true)]
    pub command_type: Option<String>,
    /// Really delete (without it, only count).
    #[arg(long)]
    pub yes: bool,
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let before = parse_instant(&args.before, &Zoned::now())?;
    let what = match &args.command_type {
        Some(t) => format!("{t} commands"),
        None => "commands".to_string(),
    };
    let mut sender = connect_or_start(paths)?;
    let request = Request::Prune { before, command_type: args.command_type.clone(), dry_run: !args.yes };
    let count = match sender.request(&request)? {
        Reply::Pruned { count } => count,
        other => bail!("unexpected answer from the daemon: {other:?}"),
    };
    if args.yes {
        outln!("Deleted {count} {what} started before {}.", local_time(before))?;
    } else {
        outln!("{count} {what} started before {} would be deleted.", local_time(before))?;
        if count > 0 {
            let kind = args.command_type.as_deref().map(|t| format!(" --type {t}")).unwrap_or_default();
            outln!("To delete them: lcd prune --before {}{kind} --yes", args.before)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
