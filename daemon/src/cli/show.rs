//! `lcd show ID`: everything known about one record.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};

use super::output::visible;
use crate::paths::Paths;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id, or a unique beginning of it (at least 4 characters).
    pub id: String,
    /// Print JSON instead of one field per line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let prefix = args.id.trim().to_ascii_lowercase();
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        bail!(
            "{:?} is not a record id (ids look like 0190f3c2-7a4e-8b21-9d37-02f28399d0bc; 4 characters are enough)",
            args.id
        );
    }
    let Some(store) = super::open_history(paths)? else { bail!("no commands recorded yet") };
    let rows = store.find(&prefix)?;
    let row = match rows.as_slice() {
        [] => bail!("no record with an id starting with {prefix}"),
        [row] => row,
        _ => bail!("more than one record starts with {prefix}; give more of the id"),
    };
    let mut out = std::io::stdout().lock();
    let mut record = row.to_json();
    if let Some(github) = store.github_state(&row.id)? {
        record["github"] = serde_json::to_value(github)?;
    }
    if args.json {
        serde_json::to_writer_pretty(&mut out, &record)?;
        writeln!(out)?;
    } else if let Some(fields) = record.as_object() {
        for (key, value) in fields {
            let text = match value {
                serde_json::Value::Null => "-".to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writeln!(out, "{key:>17}  {}", visible(&text))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
