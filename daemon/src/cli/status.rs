//! `lcd status`: whether the daemon runs, and where lcd keeps things.

use std::process::ExitCode;

use anyhow::Result;
use lcd_client::sender::Sender;
use lcd_client::spool::Spool;
use serde_json::json;

use crate::paths::Paths;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let daemon: Option<serde_json::Value> =
        Sender::new(&paths.socket).status().ok().and_then(|j| serde_json::from_str(&j).ok());
    let database = paths.database();
    let size = std::fs::metadata(&database).map(|m| m.len()).ok();
    let spool = Spool::new(paths.spool_dir()).backlog_bytes();
    let skew = daemon.as_ref().and_then(version_skew);
    let report = json!({
        "daemon": daemon,
        "running": daemon.is_some(),
        "version_skew": skew,
        "client_version": env!("CARGO_PKG_VERSION"),
        "socket": paths.socket,
        "database": database,
        "database_bytes": size,
        "spool_bytes": spool,
    });
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => {
            match &daemon {
                Some(d) => println!(
                    "daemon:    running (pid {}, version {}, protocol {}, up {} s)",
                    d["pid"],
                    d["version"].as_str().unwrap_or("?"),
                    d["protocol"],
                    d["uptime_s"]
                ),
                None => println!("daemon:    not running (start it with: lcd daemon start)"),
            }
            if let Some(skew) = &skew {
                println!("warning:   {skew}");
            }
            println!("socket:    {}", paths.socket.display());
            match size {
                Some(size) => println!("database:  {} ({} KiB)", database.display(), size / 1024),
                None => println!("database:  {} (not created yet)", database.display()),
            }
            println!("spool:     {} bytes waiting in {}", spool, paths.spool_dir().display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What differs between the running daemon and this lcd, if anything: after
/// an upgrade the old daemon runs on until restarted.
fn version_skew(daemon: &serde_json::Value) -> Option<String> {
    let version = daemon["version"].as_str().unwrap_or("unknown");
    let protocol = daemon["protocol"].as_u64().unwrap_or(0);
    let ours = lcd_client::protocol::PROTOCOL_VERSION as u64;
    if version == env!("CARGO_PKG_VERSION") && protocol == ours {
        return None;
    }
    Some(format!(
        "the daemon is version {version} (protocol {protocol}), this lcd is {} (protocol {ours}); restart it with: lcd daemon restart",
        env!("CARGO_PKG_VERSION")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_reported_with_the_fix() {
        let same = json!({"version": env!("CARGO_PKG_VERSION"), "protocol": lcd_client::protocol::PROTOCOL_VERSION});
        assert_eq!(version_skew(&same), None);
        let older = json!({"version": "0.0.1", "protocol": 0});
        let message = version_skew(&older).unwrap();
        assert!(message.contains("0.0.1") && message.contains("lcd daemon restart"), "{message}");
    }
}
