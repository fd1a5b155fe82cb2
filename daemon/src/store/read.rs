//! The read path: history queries for `lcd query`.

use rusqlite::types::Value;
use rusqlite::Row;

use super::{Store, StoreError};

/// One command as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRow {
    pub id: String,
    pub session: String,
    pub seq: i64,
    pub command: String,
    pub expanded: Option<String>,
    pub cwd: Option<String>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub exit_code: Option<i32>,
    pub pipestatus: Vec<i32>,
    pub status: String,
    pub hostname: String,
    pub user: String,
    pub shell: String,
    pub shell_pid: Option<i64>,
    pub tty: Option<String>,
    pub command_type: Option<String>,
    pub subcommand: Option<String>,
    pub environment: Option<String>,
    pub git_root: Option<String>,
    pub git_host: Option<String>,
    pub git_repo: Option<String>,
    pub git_branch: Option<String>,
    pub git_commit: Option<String>,
    pub git_commit_after: Option<String>,
    /// The allowlisted variables, a JSON object.
    pub env: Option<String>,
}

impl CommandRow {
    /// Milliseconds from start to end, once both are known.
    pub fn duration_ms(&self) -> Option<i64> {
        Some((self.ended_at? - self.started_at?) / 1000)
    }

    const COLUMNS: &'static str = "id, session, seq, command, expanded, cwd, started_at, ended_at, exit_code, \
         pipestatus, status, hostname, user, shell, shell_pid, tty, command_type, subcommand, environment, \
         git_root, git_host, git_repo, git_branch, git_commit, git_commit_after, env";

    fn from_row(row: &Row) -> rusqlite::Result<CommandRow> {
        let pipestatus: Option<String> = row.get(9)?;
        Ok(CommandRow {
            id: row.get(0)?,
            session: row.get(1)?,
            seq: row.get(2)?,
            command: row.get(3)?,
            expanded: row.get(4)?,
            cwd: row.get(5)?,
            started_at: row.get(6)?,
            ended_at: row.get(7)?,
            exit_code: row.get(8)?,
            pipestatus: pipestatus.and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default(),
            status: row.get(10)?,
            hostname: row.get(11)?,
            user: row.get(12)?,
            shell: row.get(13)?,
            shell_pid: row.get(14)?,
            tty: row.get(15)?,
            command_type: row.get(16)?,
            subcommand: row.get(17)?,
            environment: row.get(18)?,
            git_root: row.get(19)?,
            git_host: row.get(20)?,
            git_repo: row.get(21)?,
            git_branch: row.get(22)?,
            git_commit: row.get(23)?,
            git_commit_after: row.get(24)?,
            env: row.get(25)?,
        })
    }
}

/// Which end of the history comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// A history query: filters and how many rows.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// At most this many rows; `None` for all.
    pub limit: Option<usize>,
    pub order: Order,
    pub session: Option<String>,
}

impl Store {
    /// Commands whose start is known, in the requested order.
    pub fn history(&self, query: &HistoryQuery) -> Result<Vec<CommandRow>, StoreError> {
        let mut sql = format!("SELECT {} FROM commands WHERE command IS NOT NULL", CommandRow::COLUMNS);
        let mut args: Vec<Value> = Vec::new();
        if let Some(session) = &query.session {
            sql.push_str(" AND session = ?");
            args.push(Value::Text(session.clone()));
        }
        let direction = match query.order {
            Order::NewestFirst => "DESC",
            Order::OldestFirst => "ASC",
        };
        sql.push_str(&format!(" ORDER BY started_at {direction}, seq {direction}"));
        if let Some(limit) = query.limit {
            sql.push_str(" LIMIT ?");
            args.push(Value::Integer(limit as i64));
        }
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), CommandRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One command by its id (or a unique prefix of it).
    pub fn find(&self, id_prefix: &str) -> Result<Vec<CommandRow>, StoreError> {
        let sql = format!("SELECT {} FROM commands WHERE id >= ?1 AND id < ?1 || 'g' LIMIT 2", CommandRow::COLUMNS);
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([id_prefix.to_ascii_lowercase()], CommandRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
