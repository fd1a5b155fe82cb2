//! The read path: history queries for `lcd query`.

use rusqlite::types::Value;

use super::record::{select_list, CommandRow, RowReader};
use super::{Store, StoreError};

/// Which end of the history comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// A column whose values `lcd query` offers when a filter on it matches
/// nothing, or completes from a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    CommandType,
    Repo,
    Session,
}

impl Known {
    fn column(self) -> &'static str {
        match self {
            Known::CommandType => "command_type",
            Known::Repo => "git_repo",
            Known::Session => "session",
        }
    }
}

/// How a command ended, for filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failed,
    Succeeded,
    Exit(i32),
    Running,
}

/// A history query: every filter is optional and they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// At most this many rows (the newest ones); `None` for all.
    pub limit: Option<usize>,
    pub order: Order,
    pub command_type: Option<String>,
    pub subcommand: Option<String>,
    pub outcome: Option<Outcome>,
    /// This folder and everything below it.
    pub cwd: Option<String>,
    pub repo: Option<String>,
    pub branch: Option<String>,
    /// A prefix of the commit at start or at end.
    pub commit: Option<String>,
    pub session: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    /// Started at or after (µs).
    pub since: Option<i64>,
    /// Started before (µs).
    pub until: Option<i64>,
    pub min_duration_ms: Option<i64>,
    /// Substring of the command line, case-insensitive.
    pub text: Option<String>,
}

/// The condition of a query without filters.
const EVERY_COMMAND: &str = "c.command IS NOT NULL";

impl HistoryQuery {
    /// Whether some filter narrows the history down.
    pub fn is_filtered(&self) -> bool {
        self.filter().0 != EVERY_COMMAND
    }

    /// The WHERE clause (over `commands c`) and its arguments.
    pub(crate) fn filter(&self) -> (String, Vec<Value>) {
        let mut sql = String::from(EVERY_COMMAND);
        let mut args: Vec<Value> = Vec::new();
        let equal = [
            ("command_type", &self.command_type),
            ("subcommand", &self.subcommand),
            ("git_repo", &self.repo),
            ("git_branch", &self.branch),
            ("session", &self.session),
            ("hostname", &self.host),
            ("user", &self.user),
        ];
        for (column, value) in equal {
            if let Some(v) = value {
                sql.push_str(&format!(" AND c.{column} = ?"));
                args.push(Value::Text(v.clone()));
            }
        }
        match self.outcome {
            Some(Outcome::Failed) => sql.push_str(" AND c.exit_code != 0"),
            Some(Outcome::Succeeded) => sql.push_str(" AND c.exit_code = 0"),
            Some(Outcome::Exit(code)) => {
                sql.push_str(" AND c.exit_code = ?");
                args.push(Value::Integer(code.into()));
            }
            Some(Outcome::Running) => sql.push_str(" AND c.status = 'running'"),
            None => {}
        }
        if let Some(dir) = &self.cwd {
            let dir = dir.trim_end_matches('/');
            if !dir.is_empty() {
                // The folder itself, or a path under it: "dir/" <= cwd < "dir0".
                sql.push_str(" AND (c.cwd = ? OR (c.cwd >= ? AND c.cwd < ?))");
                args.extend([Value::Text(dir.into()), Value::Text(format!("{dir}/")), Value::Text(format!("{dir}0"))]);
            }
        }
        if let Some(prefix) = &self.commit {
            let prefix = prefix.to_ascii_lowercase();
            sql.push_str(
                " AND (c.git_commit >= ? AND c.git_commit < ? OR c.git_commit_after >= ? AND c.git_commit_after < ?)",
            );
            let end = format!("{prefix}~");
            args.extend([Value::Text(prefix.clone()), Value::Text(end.clone()), Value::Text(prefix), Value::Text(end)]);
        }
        if let Some(since) = self.since {
            sql.push_str(" AND c.started_at >= ?");
            args.push(Value::Integer(since));
        }
        if let Some(until) = self.until {
            sql.push_str(" AND c.started_at < ?");
            args.push(Value::Integer(until));
        }
        if let Some(ms) = self.min_duration_ms {
            sql.push_str(" AND c.ended_at - c.started_at >= ?");
            args.push(Value::Integer(ms * 1000));
        }
        if let Some(text) = self.text.as_deref().filter(|t| !t.is_empty()) {
            let like = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            if text.chars().count() >= 3 {
                // Indexed rows through the trigram index; the newest rows,
                // not indexed yet, directly.
                sql.push_str(
                    " AND (c.rowid IN (SELECT rowid FROM commands_fts WHERE commands_fts MATCH ?) \
                     OR (c.rowid > (SELECT last_rowid FROM search_progress) AND c.command LIKE ? ESCAPE '\\'))",
                );
                args.push(Value::Text(format!("\"{}\"", text.replace('"', "\"\""))));
                args.push(Value::Text(like));
            } else {
                sql.push_str(" AND c.command LIKE ? ESCAPE '\\'");
                args.push(Value::Text(like));
            }
        }
        (sql, args)
    }
}

impl HistoryQuery {
    /// The SELECT behind [`Store::history`] and its arguments.
    fn select(&self) -> (String, Vec<Value>) {
        let (filter, mut args) = self.filter();
        let mut sql =
            format!("SELECT {} FROM commands c WHERE {filter} ORDER BY c.started_at DESC, c.seq DESC", select_list());
        if let Some(limit) = self.limit {
            sql.push_str(" LIMIT ?");
            args.push(Value::Integer(limit as i64));
        }
        (sql, args)
    }

    /// The SQL `lcd query` runs, arguments written in as literals, to run the
    /// very same query through the sqlite3 CLI (benchmarks, debugging).
    pub fn to_sql(&self) -> String {
        let (sql, args) = self.select();
        inline(&sql, &args)
    }

    /// The WHERE condition over `commands c`, arguments written in.
    pub fn where_sql(&self) -> String {
        let (sql, args) = self.filter();
        inline(&sql, &args)
    }
}

/// `sql` with each `?` replaced by its argument as an SQL literal.
fn inline(sql: &str, args: &[Value]) -> String {
    let mut args = args.iter();
    let mut out = String::with_capacity(sql.len());
    let mut in_string = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                in_string = !in_string;
                out.push(c);
            }
            '?' if !in_string => match args.next() {
                Some(Value::Integer(i)) => out.push_str(&i.to_string()),
                Some(Value::Text(t)) => out.push_str(&format!("'{}'", t.replace('\'', "''"))),
                Some(Value::Real(r)) => out.push_str(&r.to_string()),
                _ => out.push_str("NULL"),
            },
            _ => out.push(c),
        }
    }
    out
}

impl Store {
    /// The commands matching `query`: the newest `limit` of them, in the
    /// requested order.
    pub fn history(&self, query: &HistoryQuery) -> Result<Vec<CommandRow>, StoreError> {
        let (sql, args) = query.select();
        let mut stmt = self.conn().prepare(&sql)?;
        let reader = RowReader::new(&stmt)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| reader.read(r))?;
        let mut rows: Vec<CommandRow> = rows.collect::<Result<_, _>>()?;
        if query.order == Order::OldestFirst {
            rows.reverse();
        }
        Ok(rows)
    }

    /// How many commands started at or after `since` (µs), and in all.
    pub fn counts(&self, since: i64) -> Result<(u64, u64), StoreError> {
        let (recent, all): (i64, i64) = self.conn().query_row(
            "SELECT count(*) FILTER (WHERE started_at >= ?1), count(*) FROM commands WHERE command IS NOT NULL",
            [since],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((recent as u64, all as u64))
    }

    /// When the newest command started (µs).
    pub fn newest(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn().query_row("SELECT max(started_at) FROM commands", [], |r| r.get(0))?)
    }

    /// When the oldest command started (µs).
    pub fn oldest(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn().query_row("SELECT min(started_at) FROM commands", [], |r| r.get(0))?)
    }

    /// The values `column` holds that start with `prefix`, each once, at
    /// most `limit` of them, in order.
    pub fn known(&self, column: Known, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let column = column.column();
        let sql = format!(
            "SELECT DISTINCT {column} FROM commands WHERE {column} >= ?1 AND substr({column}, 1, length(?1)) = ?1 \
             ORDER BY {column} LIMIT ?2"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params![prefix, limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many characters of `id` tell it apart from every other stored id
    /// (its neighbours in id order share the longest beginnings with it).
    pub fn unique_prefix_len(&self, id: &str) -> Result<usize, StoreError> {
        let neighbour =
            |sql: &str| -> Result<Option<String>, StoreError> { Ok(self.conn().query_row(sql, [id], |r| r.get(0))?) };
        let below = neighbour("SELECT max(id) FROM commands WHERE id < ?1")?;
        let above = neighbour("SELECT min(id) FROM commands WHERE id > ?1")?;
        let shared =
            |other: Option<String>| other.map_or(0, |o| o.bytes().zip(id.bytes()).take_while(|(a, b)| a == b).count());
        Ok((shared(below).max(shared(above)) + 1).min(id.len()))
    }

    /// One command by its id (or a unique prefix of it).
    pub fn find(&self, id_prefix: &str) -> Result<Vec<CommandRow>, StoreError> {
        let sql = format!("SELECT {} FROM commands c WHERE c.id >= ?1 AND c.id < ?1 || 'g' LIMIT 2", select_list());
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([id_prefix.to_ascii_lowercase()], CommandRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
