//! lcd's benchmarks. Each prints lcd's figure next to a floor measured in the
//! same run, the ratio or difference, and the goal it is held to.
//!
//!     cargo build --release --workspace
//!     target/release/lcd-bench [--smoke] [all|prompt|startup|hook-startup|ingest|footprint|query|drain]
//!
//! `--smoke` runs a few iterations only, so CI notices a benchmark that broke
//! without spending time on figures.

mod drain;
mod footprint;
mod ingest;
mod prompt;
mod query;
mod startup;
mod stats;

use std::path::PathBuf;

use anyhow::{bail, Result};

/// Iteration counts: full runs for figures, smoke runs for CI.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub smoke: bool,
}

impl Scale {
    pub fn pick(self, full: usize, smoke: usize) -> usize {
        if self.smoke {
            smoke
        } else {
            full
        }
    }
}

fn main() -> Result<()> {
    let mut smoke = false;
    let mut which = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "-h" | "--help" => {
                println!(
                    "usage: lcd-bench [--smoke] [all|prompt|startup|hook-startup|ingest|footprint|query|drain]..."
                );
                return Ok(());
            }
            other => which.push(other.to_string()),
        }
    }
    if which.is_empty() {
        which.push("all".into());
    }
    let scale = Scale { smoke };
    let lcd = sibling("lcd")?;
    println!(
        "# lcd-bench {} on {} cores ({})",
        env!("CARGO_PKG_VERSION"),
        cores(),
        if smoke { "smoke" } else { "full" }
    );
    for name in &which {
        let all = name == "all";
        if all || name == "prompt" {
            prompt::run(&lcd, scale)?;
        }
        if all || name == "startup" {
            startup::shells(&lcd, scale)?;
        }
        if all || name == "hook-startup" {
            startup::hook(&lcd, scale)?;
        }
        if all || name == "ingest" {
            ingest::run(&lcd, scale)?;
        }
        if all || name == "footprint" {
            footprint::hook(&lcd, scale)?;
        }
        if all || name == "query" {
            query::run(&lcd, scale)?;
        }
        if all || name == "drain" {
            drain::run(&lcd, scale)?;
        }
        if !all
            && !["prompt", "startup", "hook-startup", "ingest", "footprint", "query", "drain"].contains(&name.as_str())
        {
            bail!("unknown benchmark {name:?}");
        }
    }
    Ok(())
}

/// A binary built next to this one (same profile).
pub fn sibling(name: &str) -> Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.exists() {
        bail!("{} is missing; build everything first: cargo build --release --workspace", path.display());
    }
    Ok(path)
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
