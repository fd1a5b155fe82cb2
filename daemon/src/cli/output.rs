//! How times, durations and records are shown.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;

use crate::store::CommandRow;

/// `2026-11-21T22:29:21.123Z`: RFC 3339, UTC, milliseconds.
pub fn rfc3339_ms(micros: i64) -> String {
    let Ok(ts) = Timestamp::from_microsecond(micros.div_euclid(1000) * 1000) else { return micros.to_string() };
    format!("{}.{:03}Z", ts.strftime("%Y-%m-%dT%H:%M:%S"), micros.div_euclid(1000).rem_euclid(1000))
}

/// `2026-11-21 23:29:21` in the local time zone.
pub fn local_time(micros: i64) -> String {
    match Timestamp::from_microsecond(micros) {
        Ok(ts) => ts.to_zoned(TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => micros.to_string(),
    }
}

/// `850ms`, `1.2s`, `3m05s`, `2h04m`.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// One record as `lcd query --format json` shows it.
#[derive(Debug, Serialize)]
pub struct RecordJson<'a> {
    pub id: &'a str,
    pub command: &'a str,
    pub status: &'a str,
    pub exit_code: Option<i32>,
    pub pipestatus: &'a [i32],
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub cwd: Option<&'a str>,
    pub session: &'a str,
    pub hostname: &'a str,
    pub user: &'a str,
    pub shell: &'a str,
    pub tty: Option<&'a str>,
    pub command_type: &'a str,
    pub subcommand: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub git_root: Option<&'a str>,
    pub git_host: Option<&'a str>,
    pub git_repo: Option<&'a str>,
    pub git_branch: Option<&'a str>,
    pub git_commit: Option<&'a str>,
    pub git_commit_after: Option<&'a str>,
    pub env: serde_json::Value,
}

impl<'a> From<&'a CommandRow> for RecordJson<'a> {
    fn from(row: &'a CommandRow) -> Self {
        RecordJson {
            id: &row.id,
            command: &row.command,
            status: &row.status,
            exit_code: row.exit_code,
            pipestatus: &row.pipestatus,
            started_at: row.started_at.map(rfc3339_ms),
            ended_at: row.ended_at.map(rfc3339_ms),
            duration_ms: row.duration_ms(),
            cwd: row.cwd.as_deref(),
            session: &row.session,
            hostname: &row.hostname,
            user: &row.user,
            shell: &row.shell,
            tty: row.tty.as_deref(),
            command_type: row.command_type.as_deref().unwrap_or(crate::enrich::OTHER),
            subcommand: row.subcommand.as_deref(),
            environment: row.environment.as_deref(),
            git_root: row.git_root.as_deref(),
            git_host: row.git_host.as_deref(),
            git_repo: row.git_repo.as_deref(),
            git_branch: row.git_branch.as_deref(),
            git_commit: row.git_commit.as_deref(),
            git_commit_after: row.git_commit_after.as_deref(),
            env: row.env.as_deref().and_then(|e| serde_json::from_str(e).ok()).unwrap_or_else(|| serde_json::json!({})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_milliseconds_and_utc() {
        assert_eq!(rfc3339_ms(1_700_000_000_123_456), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn durations_read_like_a_person_would_write_them() {
        assert_eq!(human_duration(850), "850ms");
        assert_eq!(human_duration(1_234), "1.2s");
        assert_eq!(human_duration(185_000), "3m05s");
        assert_eq!(human_duration(7_440_000), "2h04m");
    }
}
