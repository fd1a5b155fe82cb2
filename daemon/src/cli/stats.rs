//! `lcd stats`: what ran, how often it failed, what was slow, what deployed.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use jiff::Zoned;

use super::output::{visible, FormatArg, TableOrJson};
use super::when::parse_instant;
use crate::paths::Paths;
use crate::store::{HistoryQuery, Stats};
use crate::time::{human_duration, local_time};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Commands started since: 30d, 2h, today, 2026-11-01, ...
    #[arg(long, default_value = "30d", value_name = "WHEN")]
    pub since: String,
    /// Only this repository (owner/name).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Only this tool.
    #[arg(long = "type", short = 't', value_name = "TYPE", value_parser = super::ToolType, hide_possible_values = true)]
    pub command_type: Option<String>,
    #[command(flatten)]
    pub format: FormatArg,
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let now = Zoned::now();
    let since = parse_instant(&args.since, &now)?;
    let query = HistoryQuery {
        since: Some(since),
        repo: args.repo.clone(),
        command_type: args.command_type.clone(),
        ..HistoryQuery::default()
    };
    let today = now.start_of_day()?.timestamp().as_microsecond();
    let stats = match super::open_history(paths)? {
        Some(store) => store.stats(&query, today)?,
        None => Stats::default(),
    };
    let mut out = std::io::stdout().lock();
    match args.format.format {
        TableOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &stats)?;
            writeln!(out)?;
        }
        TableOrJson::Table => {
            // "today: N" beside "Since today: N" would say the same twice.
            let since = Since { text: &args.since, covers_days_before_today: since < today };
            write_table(&mut out, &stats, &since, std::io::stdout().is_terminal())?
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The start of the figures, as typed, and whether it is before today.
struct Since<'a> {
    text: &'a str,
    covers_days_before_today: bool,
}

fn write_table(out: &mut impl Write, s: &Stats, since: &Since, tty: bool) -> Result<()> {
    let rate = |failed: u64, runs: u64| if runs == 0 { 0.0 } else { failed as f64 * 100.0 / runs as f64 };
    write!(
        out,
        "Since {}: {} commands, {} failed ({:.1}%)",
        since.text,
        s.commands,
        s.failed,
        rate(s.failed, s.commands)
    )?;
    if since.covers_days_before_today {
        write!(out, "; today: {}", s.total_commands_today)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "terraform runs: {}, deployments: {} ({} succeeded, {} failed), git operations: {}",
        s.terraform_runs, s.deployments, s.deploys_succeeded, s.deploys_failed, s.git_operations
    )?;
    if !s.per_day.is_empty() {
        writeln!(out, "\nPer day")?;
        let max = s.per_day.iter().map(|d| d.commands).max().unwrap_or(1).max(1);
        for d in &s.per_day {
            // A bar of block characters on a terminal; numbers only in a pipe.
            let bar = if tty { format!("{:<40}  ", bar(d.commands, max, 40)) } else { String::new() };
            writeln!(out, "  {}  {bar}{:>6}  ({} failed)", d.day, d.commands, d.failed)?;
        }
    }
    if !s.per_type.is_empty() {
        writeln!(out, "\n  {:<22} {:>7} {:>7} {:>7}", "TYPE", "RUNS", "FAILED", "RATE")?;
        for k in &s.per_type {
            let name = visible(&k.command_type);
            writeln!(out, "  {name:<22} {:>7} {:>7} {:>6.1}%", k.runs, k.failed, k.failure_rate * 100.0)?;
        }
    }
    let subs: Vec<_> = s.per_subcommand.iter().filter(|k| k.subcommand.is_some()).collect();
    if !subs.is_empty() {
        writeln!(out, "\n  {:<32} {:>7} {:>7} {:>7}", "SUBCOMMAND", "RUNS", "FAILED", "RATE")?;
        for k in subs {
            let name = format!("{} {}", k.command_type, k.subcommand.as_deref().unwrap_or(""));
            let name = visible(&name);
            writeln!(out, "  {name:<32} {:>7} {:>7} {:>6.1}%", k.runs, k.failed, k.failure_rate * 100.0)?;
        }
    }
    if !s.slowest.is_empty() {
        writeln!(out, "\nSlowest")?;
        for r in &s.slowest {
            writeln!(
                out,
                "  {:>8}  {}  {}",
                r.duration_ms.map(human_duration).unwrap_or_default(),
                local_time(r.started_at),
                visible(&r.command)
            )?;
        }
    }
    if !s.most_frequent.is_empty() {
        writeln!(out, "\nMost frequent")?;
        for f in &s.most_frequent {
            writeln!(out, "  {:>6}  {}", f.runs, visible(&f.command))?;
        }
    }
    if !s.deploys.is_empty() {
        writeln!(out, "\nDeploys")?;
        for r in &s.deploys {
            let outcome = match (r.status.as_str(), r.exit_code) {
                ("running", _) => "running".to_string(),
                ("suspended", _) => "suspended".to_string(),
                (_, Some(0)) => "ok".to_string(),
                (_, Some(code)) => format!("failed ({code})"),
                _ => "unknown".to_string(),
            };
            let target =
                [r.git_repo.as_deref(), r.environment.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" @ ");
            let target = visible(&target);
            writeln!(out, "  {}  {outcome:<12} {target:<30} {}", local_time(r.started_at), visible(&r.command))?;
        }
    }
    Ok(())
}

/// `value` of `max` as a bar of `width` cells, in eighths of a block.
fn bar(value: u64, max: u64, width: usize) -> String {
    const PARTS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
    let eighths = (value as f64 / max as f64 * (width * 8) as f64).round() as usize;
    let mut bar = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        bar.push(PARTS[eighths % 8 - 1]);
    }
    if bar.is_empty() && value > 0 {
        bar.push('▏');
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_day() {
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██");
        assert_eq!(bar(1, 1000, 4), "▏");
        assert_eq!(bar(0, 10, 4), "");
    }
}
