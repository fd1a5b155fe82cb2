//! `lcd query`: recorded commands, newest first, read straight from the
//! database (the daemon need not run).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;

use super::output::{human_duration, local_time, RecordJson};
use crate::paths::Paths;
use crate::store::{CommandRow, HistoryQuery, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many commands to show.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let Some(store) = Store::open_reader(&paths.database())? else {
        if args.format == Format::Json {
            println!("[]");
        } else {
            eprintln!("No commands recorded yet. Add eval \"$(lcd init zsh)\" (or bash) to your shell's rc file.");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let rows = store.history(&HistoryQuery { limit: Some(args.limit), ..Default::default() })?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let records: Vec<RecordJson> = rows.iter().map(RecordJson::from).collect();
            serde_json::to_writer_pretty(&mut out, &records)?;
            writeln!(out)?;
        }
        Format::Table => write_table(&mut out, &rows, std::io::stdout().is_terminal())?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_table(out: &mut impl Write, rows: &[CommandRow], colour: bool) -> Result<()> {
    let colour = colour && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    writeln!(out, "{:<19}  {:>8}  {:>4}  {:<24}  COMMAND", "TIME", "DURATION", "EXIT", "CWD")?;
    for row in rows {
        let time = row.started_at.map(local_time).unwrap_or_default();
        let duration = row.duration_ms().map(human_duration).unwrap_or_else(|| "-".into());
        let exit = match (row.status.as_str(), row.exit_code) {
            ("running", _) => "run".to_string(),
            (_, Some(code)) => code.to_string(),
            _ => "?".to_string(),
        };
        let painted = match (colour, row.exit_code) {
            (false, _) => format!("{exit:>4}"),
            (true, Some(0)) => format!("\x1b[32m{exit:>4}\x1b[0m"),
            (true, _) => format!("\x1b[31m{exit:>4}\x1b[0m"),
        };
        let command = row.command.replace('\n', "⏎");
        writeln!(out, "{time:<19}  {duration:>8}  {painted}  {:<24}  {command}", row.cwd.as_deref().unwrap_or(""))?;
    }
    Ok(())
}
