//! `lcd status`: whether the daemon runs, where everything is, what waits.

use std::process::ExitCode;

use anyhow::Result;
use jiff::Zoned;
use lcd_protocol::sender::Sender;
use lcd_protocol::spool::Spool;
use serde_json::{json, Value};

use super::output::TableOrJson;
use crate::paths::Paths;
use crate::store::{Store, StoreError};

pub use super::output::FormatArg as Args;

/// Everything `lcd status` reports, as JSON.
pub fn report(paths: &Paths) -> Value {
    let daemon: Option<Value> = Sender::new(&paths.socket).status().ok().and_then(|j| serde_json::from_str(&j).ok());
    let database = paths.database();
    let size = std::fs::metadata(&database).map(|m| m.len()).ok();
    let today = Zoned::now().start_of_day().map(|d| d.timestamp().as_microsecond()).unwrap_or(0);
    let (records_today, records, database_state) = match Store::open_reader(&database) {
        Ok(Some(store)) => match store.counts(today) {
            Ok((t, a)) => (Some(t), Some(a), "ok".to_string()),
            Err(e) => (None, None, e.to_string()),
        },
        Ok(None) => (None, None, "not created yet".into()),
        Err(e @ StoreError::OlderSchema { .. }) => (None, None, e.to_string()),
        Err(e) => (None, None, e.to_string()),
    };
    let spool = Spool::new(paths.spool_dir());
    json!({
        "running": daemon.is_some(),
        "daemon": daemon,
        "version_skew": daemon.as_ref().and_then(version_skew),
        "client_version": env!("CARGO_PKG_VERSION"),
        "protocol": lcd_protocol::protocol::PROTOCOL_VERSION,
        "socket": paths.socket,
        "database": database,
        "database_bytes": size,
        "database_state": database_state,
        "records_today": records_today,
        "records": records,
        "spool": paths.spool_dir(),
        "spool_bytes": spool.backlog_bytes(),
        "sinks": daemon.as_ref().map(|d| d["sinks"].clone()).unwrap_or(Value::Null),
    })
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let r = report(paths);
    match args.format {
        TableOrJson::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        TableOrJson::Table => {
            match &r["daemon"] {
                Value::Object(d) => println!(
                    "daemon:    running, pid {}, up {}, version {} (protocol {})",
                    d["pid"],
                    uptime(d["uptime_s"].as_u64().unwrap_or(0)),
                    d["version"].as_str().unwrap_or("?"),
                    d["protocol"]
                ),
                _ => println!("daemon:    not running (start it with: lcd daemon start, or: lcd service install)"),
            }
            if let Some(skew) = r["version_skew"].as_str() {
                println!("warning:   {skew}");
            }
            println!("socket:    {}", paths.socket.display());
            let size =
                r["database_bytes"].as_u64().map(|b| format!(", {:.1} MB", b as f64 / 1_048_576.0)).unwrap_or_default();
            println!("database:  {}{size}; {}", paths.database().display(), r["database_state"].as_str().unwrap_or(""));
            if let (Some(today), Some(all)) = (r["records_today"].as_u64(), r["records"].as_u64()) {
                println!("records:   {today} today, {all} in all");
            }
            println!("spool:     {} bytes waiting in {}", r["spool_bytes"], paths.spool_dir().display());
            match r["sinks"].as_array() {
                Some(sinks) if !sinks.is_empty() => {
                    for s in sinks {
                        println!(
                            "sink:      {}: {} waiting, last success {}, last error {}",
                            s["name"].as_str().unwrap_or("?"),
                            s["backlog"],
                            s["last_success"].as_str().unwrap_or("never"),
                            super::output::visible(s["last_error"].as_str().unwrap_or("none"))
                        );
                    }
                }
                _ => println!("sinks:     none configured (local only)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn uptime(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        7200..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// What differs between the running daemon and this lcd, if anything: after
/// an upgrade the old daemon runs on until restarted.
pub fn version_skew(daemon: &Value) -> Option<String> {
    let version = daemon["version"].as_str().unwrap_or("unknown");
    let protocol = daemon["protocol"].as_u64().unwrap_or(0);
    let ours = lcd_protocol::protocol::PROTOCOL_VERSION as u64;
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
        let same = json!({"version": env!("CARGO_PKG_VERSION"), "protocol": lcd_protocol::protocol::PROTOCOL_VERSION});
        assert_eq!(version_skew(&same), None);
        let older = json!({"version": "0.0.1", "protocol": 0});
        let message = version_skew(&older).unwrap();
        assert!(message.contains("0.0.1") && message.contains("lcd daemon restart"), "{message}");
    }
}
