//! Aggregates for `lcd stats`.

use rusqlite::types::Value;
use serde::Serialize;

use super::{HistoryQuery, Store, StoreError};

/// Runs that deploy something: `terraform apply`, `wrangler deploy`, ...
pub const DEPLOY_SQL: &str = "((c.command_type = 'terraform' AND c.subcommand IN ('apply', 'destroy'))
    OR (c.command_type = 'wrangler' AND c.subcommand IN ('deploy', 'publish', 'versions deploy'))
    OR (c.command_type = 'pulumi' AND c.subcommand IN ('up', 'destroy'))
    OR (c.command_type = 'helm' AND c.subcommand IN ('install', 'upgrade')))";

#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub day: String,
    pub commands: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Kind {
    pub command_type: String,
    pub subcommand: Option<String>,
    pub runs: u64,
    pub failed: u64,
    pub failure_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Frequent {
    pub command: String,
    pub runs: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: String,
    pub started_at: i64,
    pub command: String,
    pub duration_ms: Option<i64>,
    pub status: String,
    pub exit_code: Option<i32>,
    pub command_type: Option<String>,
    pub subcommand: Option<String>,
    pub environment: Option<String>,
    pub git_repo: Option<String>,
}

/// Everything `lcd stats` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub commands: u64,
    pub failed: u64,
    pub per_day: Vec<Day>,
    pub per_type: Vec<Kind>,
    pub per_subcommand: Vec<Kind>,
    pub slowest: Vec<Run>,
    pub most_frequent: Vec<Frequent>,
    pub deploys: Vec<Run>,
    pub deploys_succeeded: u64,
    pub deploys_failed: u64,
    pub total_commands_today: u64,
    pub terraform_runs: u64,
    pub deployments: u64,
    pub git_operations: u64,
}

impl Store {
    /// Aggregates over the commands `filter` selects (its limit is ignored);
    /// `today` is the start of the local day, in µs.
    pub fn stats(&self, filter: &HistoryQuery, today: i64) -> Result<Stats, StoreError> {
        let filter = HistoryQuery { limit: None, ..filter.clone() };
        let (cond, args) = filter.filter();
        let conn = self.conn();

        let (commands, failed): (i64, i64) = conn.query_row(
            &format!("SELECT count(*), count(*) FILTER (WHERE c.exit_code != 0) FROM commands c WHERE {cond}"),
            rusqlite::params_from_iter(&args),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let per_day = rows(
            conn,
            &format!(
                "SELECT date(c.started_at / 1000000, 'unixepoch', 'localtime') AS day, count(*),
                        count(*) FILTER (WHERE c.exit_code != 0)
                 FROM commands c WHERE {cond} GROUP BY day ORDER BY day"
            ),
            &args,
            |r| Ok(Day { day: r.get(0)?, commands: r.get::<_, i64>(1)? as u64, failed: r.get::<_, i64>(2)? as u64 }),
        )?;
        let kinds = |group: &str, limit: usize| -> Result<Vec<Kind>, StoreError> {
            let sql = format!(
                "SELECT coalesce(c.command_type, 'other'), {group}, count(*), count(*) FILTER (WHERE c.exit_code != 0)
                 FROM commands c WHERE {cond} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT {limit}"
            );
            rows(conn, &sql, &args, |r| {
                let (runs, failed) = (r.get::<_, i64>(2)? as u64, r.get::<_, i64>(3)? as u64);
                Ok(Kind {
                    command_type: r.get(0)?,
                    subcommand: r.get(1)?,
                    runs,
                    failed,
                    failure_rate: failed as f64 / runs.max(1) as f64,
                })
            })
        };
        let per_type = kinds("NULL", 100)?;
        let per_subcommand = kinds("c.subcommand", 20)?;
        let runs = |extra_cond: &str, order: &str, limit: usize| -> Result<Vec<Run>, StoreError> {
            let sql = format!(
                "SELECT c.id, c.started_at, c.command, c.ended_at - c.started_at, c.status, c.exit_code, c.command_type,
                        c.subcommand, c.environment, c.git_repo
                 FROM commands c WHERE {cond} AND {extra_cond} ORDER BY {order} LIMIT {limit}"
            );
            rows(conn, &sql, &args, |r| {
                Ok(Run {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    command: r.get(2)?,
                    duration_ms: r.get::<_, Option<i64>>(3)?.map(|us| us / 1000),
                    status: r.get(4)?,
                    exit_code: r.get(5)?,
                    command_type: r.get(6)?,
                    subcommand: r.get(7)?,
                    environment: r.get(8)?,
                    git_repo: r.get(9)?,
                })
            })
        };
        let slowest = runs("c.ended_at IS NOT NULL", "c.ended_at - c.started_at DESC", 10)?;
        let deploys = runs(DEPLOY_SQL, "c.started_at DESC", 20)?;
        let most_frequent = rows(
            conn,
            &format!("SELECT c.command, count(*) FROM commands c WHERE {cond} GROUP BY c.command ORDER BY 2 DESC, 1 LIMIT 10"),
            &args,
            |r| Ok(Frequent { command: r.get(0)?, runs: r.get::<_, i64>(1)? as u64 }),
        )?;
        let count = |extra_cond: &str| -> Result<u64, StoreError> {
            let sql = format!("SELECT count(*) FROM commands c WHERE {cond} AND {extra_cond}");
            Ok(conn.query_row(&sql, rusqlite::params_from_iter(&args), |r| r.get::<_, i64>(0))? as u64)
        };
        // Today's figure ignores --since: it is about today.
        let today_filter = HistoryQuery { since: Some(today), until: None, ..filter.clone() };
        let (today_cond, today_args) = today_filter.filter();
        let total_commands_today: i64 = conn.query_row(
            &format!("SELECT count(*) FROM commands c WHERE {today_cond}"),
            rusqlite::params_from_iter(&today_args),
            |r| r.get(0),
        )?;
        Ok(Stats {
            commands: commands as u64,
            failed: failed as u64,
            per_day,
            per_type,
            per_subcommand,
            slowest,
            most_frequent,
            deploys_succeeded: count(&format!("{DEPLOY_SQL} AND c.exit_code = 0"))?,
            deploys_failed: count(&format!("{DEPLOY_SQL} AND c.exit_code != 0"))?,
            deploys,
            total_commands_today: total_commands_today as u64,
            terraform_runs: count("c.command_type = 'terraform'")?,
            deployments: count(DEPLOY_SQL)?,
            git_operations: count("c.command_type = 'git'")?,
        })
    }
}

/// Runs `sql` with `args` and maps every row.
fn rows<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Value],
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), map)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
