//! `lcd status`: whether the daemon runs, where everything is, what waits.

use std::process::ExitCode;

use anyhow::Result;
use jiff::Zoned;
use lcd_protocol::sender::Sender;
use lcd_protocol::spool::{Gap, Spool};
use lcd_protocol::{DaemonStatus, SinkHealth, SinkStatus};
use serde_json::{json, Value};

use super::daemon::ask_status;
use super::output::TableOrJson;
use crate::paths::Paths;
use crate::store::{Store, StoreError};
use crate::time::{local_time, rfc3339_ms};

pub use super::output::FormatArg as Args;

/// Everything `lcd status` reports.
struct Report {
    /// `None` when no daemon answers.
    daemon: Option<DaemonStatus>,
    database_bytes: Option<u64>,
    /// `ok`, or why the database cannot be read.
    database_state: String,
    /// Commands started today and in all, when the database reads.
    records: Option<(u64, u64)>,
    spool_bytes: u64,
    /// What the spool dropped for want of room, if it ever did.
    spool_gap: Option<Gap>,
    /// What is wrong with the config file as it is now, if anything (the
    /// daemon may not have read it yet).
    config_file_error: Option<String>,
}

impl Report {
    fn gather(paths: &Paths) -> Report {
        let daemon = ask_status(&mut Sender::new(&paths.socket)).ok();
        let database = paths.database();
        let today = Zoned::now().start_of_day().map(|d| d.timestamp().as_microsecond()).unwrap_or(0);
        let (records, database_state) = match Store::open_reader(&database) {
            Ok(Some(store)) => match store.counts(today) {
                Ok(counts) => (Some(counts), "ok".to_string()),
                Err(e) => (None, e.to_string()),
            },
            Ok(None) => (None, "not created yet".into()),
            Err(e @ StoreError::OlderSchema { .. }) => (None, e.to_string()),
            Err(e) => (None, e.to_string()),
        };
        Report {
            daemon,
            database_bytes: std::fs::metadata(&database).map(|m| m.len()).ok(),
            database_state,
            records,
            spool_bytes: Spool::new(paths.spool_dir()).backlog_bytes(),
            spool_gap: Spool::new(paths.spool_dir()).gap(),
            config_file_error: crate::config::Config::load(&paths.config_file()).err().map(|e| format!("{e:#}")),
        }
    }

    /// What `lcd status` says about the config file: in effect, broken in
    /// the daemon (and what runs instead), or broken on disk and not read yet.
    fn config_lines(&self, paths: &Paths) -> Vec<String> {
        let file = paths.config_file();
        let daemon = self.daemon.as_ref().map(|d| &d.config);
        let (headline, error) = match (daemon.and_then(|c| c.error.as_ref()), &self.config_file_error) {
            (Some(error), _) => {
                let with = daemon.and_then(|c| c.running_with.as_deref()).unwrap_or("the settings it had");
                (format!("BROKEN: the daemon records with {with}"), Some(error))
            }
            (None, Some(error)) if self.daemon.is_some() => (
                "BROKEN since the daemon read it: a reload or restart keeps the settings in effect".into(),
                Some(error),
            ),
            (None, Some(error)) => ("BROKEN: the daemon will start with the last good settings".into(), Some(error)),
            (None, None) => (format!("{}, in effect", file.display()), None),
        };
        let mut lines = vec![format!("config:    {headline}")];
        if let Some(error) = error {
            lines.extend(error.lines().map(|l| format!("           {}", super::output::visible(l))));
            lines.push("           fix it with: lcd config edit (then: lcd daemon reload)".into());
        }
        lines
    }

    /// The report as `lcd status --format json` prints it.
    fn to_json(&self, paths: &Paths) -> Value {
        json!({
            "running": self.daemon.is_some(),
            "daemon": self.daemon,
            "version_skew": self.daemon.as_ref().and_then(version_skew),
            "client_version": env!("CARGO_PKG_VERSION"),
            "protocol": lcd_protocol::protocol::PROTOCOL_VERSION,
            "socket": paths.socket,
            "database": paths.database(),
            "database_bytes": self.database_bytes,
            "database_state": self.database_state,
            "records_today": self.records.map(|(today, _)| today),
            "records": self.records.map(|(_, all)| all),
            "spool": paths.spool_dir(),
            "spool_bytes": self.spool_bytes,
            "spool_dropped": self.spool_gap.as_ref().map(|g| json!({
                "events": g.events,
                "frames": g.frames,
                "bytes": g.bytes,
                "since": rfc3339_ms(g.since_micros),
                "last": rfc3339_ms(g.last_micros),
                "full": g.full,
            })),
            "sinks": self.daemon.as_ref().map(|d| &d.sinks),
            "config": {
                "file": paths.config_file(),
                "error": self.daemon.as_ref().and_then(|d| d.config.error.clone()).or(self.config_file_error.clone()),
                "running_with": self.daemon.as_ref().and_then(|d| d.config.running_with.clone()),
            },
        })
    }
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let r = Report::gather(paths);
    match args.format {
        TableOrJson::Json => outln!("{}", serde_json::to_string_pretty(&r.to_json(paths))?)?,
        TableOrJson::Table => {
            match &r.daemon {
                Some(d) => outln!(
                    "daemon:    running, pid {}, up {}, version {} (protocol {})",
                    d.pid,
                    uptime(d.uptime_s),
                    d.version,
                    d.protocol
                )?,
                None => outln!("daemon:    not running (start it with: lcd daemon start, or: lcd service install)")?,
            }
            if let Some(skew) = r.daemon.as_ref().and_then(version_skew) {
                outln!("warning:   {skew}")?;
            }
            for line in r.config_lines(paths) {
                outln!("{line}")?;
            }
            outln!("socket:    {}", paths.socket.display())?;
            let size = r.database_bytes.map(|b| format!(", {:.1} MB", b as f64 / 1_048_576.0)).unwrap_or_default();
            outln!("database:  {}{size}; {}", paths.database().display(), r.database_state)?;
            if let Some((today, all)) = r.records {
                outln!("records:   {today} today, {all} in all")?;
            }
            outln!("spool:     {} bytes waiting in {}", r.spool_bytes, paths.spool_dir().display())?;
            if let Some(gap) = &r.spool_gap {
                outln!("dropped:   {}", spool_gap_line(gap))?;
            }
            if let Some(d) = &r.daemon {
                for line in shell_lines(&d.shells) {
                    outln!("{line}")?;
                }
            }
            match r.daemon.as_ref().map(|d| d.sinks.as_slice()) {
                Some(sinks) if !sinks.is_empty() => {
                    for s in sinks {
                        outln!("sink:      {}", sink_line(s))?;
                    }
                }
                _ => outln!("sinks:     none configured (local only)")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One sink's state in a line. The last error is shown only while the sink
/// is failing: once a delivery succeeded after it, it is history (`--format
/// json` keeps it), and records it set aside are counted instead.
fn sink_line(s: &SinkStatus) -> String {
    let state = match s.state {
        SinkHealth::Ok => "ok",
        SinkHealth::Retrying => "retrying",
        SinkHealth::Stopped => "stopped",
    };
    let mut line = format!(
        "{}: {state}, {} waiting, last success {}",
        s.name,
        s.backlog,
        s.last_success.as_deref().unwrap_or("never")
    );
    match (s.state, &s.last_error) {
        (SinkHealth::Ok, _) | (_, None) => {}
        (_, Some(error)) => line.push_str(&format!(", last error {}", super::output::visible(error))),
    }
    if s.failed > 0 {
        line.push_str(&format!(", {} set aside (lcd forward failed --sink {})", s.failed, s.name));
    }
    line
}

/// The open shells the daemon hears from, one line each, with a warning
/// line under one whose hooks seem to have stopped.
fn shell_lines(shells: &[lcd_protocol::ShellStatus]) -> Vec<String> {
    let now = crate::time::now_micros();
    let mut lines = vec![match shells.len() {
        0 => "shells:    none open has sent a record".to_string(),
        1 => "shells:    1 open".to_string(),
        n => format!("shells:    {n} open"),
    }];
    for s in shells {
        let running = s.running.map(|(seq, since)| {
            format!(", command #{seq} running for {}", crate::time::human_duration((now - since).max(0) / 1000))
        });
        lines.push(format!(
            "           {} pid {} on {}, last record {} ago{} (session {})",
            s.shell,
            s.pid,
            super::output::visible(s.tty.as_deref().unwrap_or("no terminal")),
            crate::time::human_duration((now - s.last_record_at).max(0) / 1000),
            running.unwrap_or_default(),
            super::output::visible(&s.session),
        ));
        if let Some(why) = &s.suspect {
            lines.push(format!("  warning: {}", super::output::visible(why)));
        }
    }
    lines
}

/// The loss a full spool caused, in a sentence (`lcd status`, `lcd doctor`).
pub fn spool_gap_line(gap: &Gap) -> String {
    let now = if gap.full { "; the spool is full now" } else { "" };
    format!(
        "{} events (starts and ends of commands, {} frames) dropped because the spool was full since {} (last {}){now}",
        gap.events,
        gap.frames,
        local_time(gap.since_micros),
        local_time(gap.last_micros)
    )
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
pub fn version_skew(daemon: &DaemonStatus) -> Option<String> {
    let DaemonStatus { version, protocol, .. } = daemon;
    let ours = lcd_protocol::protocol::PROTOCOL_VERSION;
    if version == env!("CARGO_PKG_VERSION") && *protocol == ours {
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

    /// A daemon of this version and protocol, as its JSON answer reads.
    fn daemon(version: &str, protocol: u16) -> DaemonStatus {
        let json = json!({"pid": 7, "version": version, "protocol": protocol, "started_at": 0, "uptime_s": 0,
                          "socket": "/run/lcd.sock", "database": "/data/lcd.db"});
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn skew_is_reported_with_the_fix() {
        let same = daemon(env!("CARGO_PKG_VERSION"), lcd_protocol::protocol::PROTOCOL_VERSION);
        assert_eq!(version_skew(&same), None);
        let older = daemon("0.0.1", 0);
        let message = version_skew(&older).unwrap();
        assert!(message.contains("0.0.1") && message.contains("lcd daemon restart"), "{message}");
    }

    #[test]
    fn status_shows_no_old_last_error_after_a_later_success() {
        let failing = SinkStatus {
            name: "remote".into(),
            target: "https://lcd.example.com".into(),
            state: SinkHealth::Retrying,
            backlog: 3,
            failed: 0,
            last_success: Some("2026-01-01T00:00:00.000Z".into()),
            last_error: Some("HTTP 503".into()),
        };
        assert!(sink_line(&failing).contains("retrying") && sink_line(&failing).contains("last error HTTP 503"));
        let recovered = SinkStatus { state: SinkHealth::Ok, backlog: 0, ..failing.clone() };
        assert_eq!(sink_line(&recovered), "remote: ok, 0 waiting, last success 2026-01-01T00:00:00.000Z");
        let set_aside = SinkStatus { failed: 2, ..recovered };
        assert!(sink_line(&set_aside).ends_with(", 2 set aside (lcd forward failed --sink remote)"));
    }
}
