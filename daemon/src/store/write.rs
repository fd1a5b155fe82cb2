//! The write path: records merged into rows, many per transaction.

use std::collections::{HashMap, HashSet};

use lcd_client::protocol::ImportedCommand;
use lcd_client::{CommandEnd, CommandStart, RecordId, Session};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Transaction};

use super::{Record, StartFacts};
use super::{Store, StoreError};
use crate::time::now_micros;

/// A start fills the command half of its row; fields an earlier copy of the
/// same start already set are kept, so replays change nothing.
const UPSERT_START: &str = "
    INSERT INTO commands (id, session, seq, command, expanded, cwd, started_at,
                          hostname, user, shell, shell_pid, tty, status, recorded_at,
                          command_type, subcommand, environment, git_root, git_host,
                          git_repo, git_branch, git_commit, env)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'running', ?13,
            ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)
    ON CONFLICT (id) DO UPDATE SET
        command = excluded.command, expanded = excluded.expanded,
        cwd = excluded.cwd, started_at = excluded.started_at,
        command_type = excluded.command_type, subcommand = excluded.subcommand,
        environment = excluded.environment, git_root = excluded.git_root,
        git_host = excluded.git_host, git_repo = excluded.git_repo,
        git_branch = excluded.git_branch, git_commit = excluded.git_commit, env = excluded.env
    WHERE commands.command IS NULL";

/// An end fills the outcome half; it may arrive before its start. The end of
/// a never-recorded command is dropped.
const UPSERT_END: &str = "
    INSERT INTO commands (id, session, seq, ended_at, exit_code, pipestatus,
                          hostname, user, shell, shell_pid, tty, status, recorded_at, git_commit_after)
    SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'finished', ?12, ?13
    WHERE NOT EXISTS (SELECT 1 FROM ignored WHERE id = ?1)
    ON CONFLICT (id) DO UPDATE SET
        ended_at = excluded.ended_at, exit_code = excluded.exit_code,
        pipestatus = excluded.pipestatus, status = 'finished',
        git_commit_after = excluded.git_commit_after
    WHERE commands.ended_at IS NULL";

/// A start and its end in the same batch: the whole row at once (the end of a
/// never-recorded command never gets here: its start is `Record::Ignored`).
const UPSERT_WHOLE: &str = "
    INSERT INTO commands (id, session, seq, command, expanded, cwd, started_at,
                          hostname, user, shell, shell_pid, tty, status, recorded_at,
                          command_type, subcommand, environment, git_root, git_host,
                          git_repo, git_branch, git_commit, env,
                          ended_at, exit_code, pipestatus, git_commit_after)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'finished', ?13,
            ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)
    ON CONFLICT (id) DO UPDATE SET
        command = coalesce(commands.command, excluded.command),
        expanded = CASE WHEN commands.command IS NULL THEN excluded.expanded ELSE commands.expanded END,
        cwd = coalesce(commands.cwd, excluded.cwd),
        started_at = coalesce(commands.started_at, excluded.started_at),
        command_type = coalesce(commands.command_type, excluded.command_type),
        subcommand = CASE WHEN commands.command IS NULL THEN excluded.subcommand ELSE commands.subcommand END,
        environment = CASE WHEN commands.command IS NULL THEN excluded.environment ELSE commands.environment END,
        git_root = CASE WHEN commands.command IS NULL THEN excluded.git_root ELSE commands.git_root END,
        git_host = CASE WHEN commands.command IS NULL THEN excluded.git_host ELSE commands.git_host END,
        git_repo = CASE WHEN commands.command IS NULL THEN excluded.git_repo ELSE commands.git_repo END,
        git_branch = CASE WHEN commands.command IS NULL THEN excluded.git_branch ELSE commands.git_branch END,
        git_commit = CASE WHEN commands.command IS NULL THEN excluded.git_commit ELSE commands.git_commit END,
        env = coalesce(commands.env, excluded.env),
        ended_at = coalesce(commands.ended_at, excluded.ended_at),
        exit_code = CASE WHEN commands.ended_at IS NULL THEN excluded.exit_code ELSE commands.exit_code END,
        pipestatus = coalesce(commands.pipestatus, excluded.pipestatus),
        git_commit_after = CASE WHEN commands.ended_at IS NULL THEN excluded.git_commit_after ELSE commands.git_commit_after END,
        status = 'finished'";

/// A shell runs one foreground command at a time: once a later command of the
/// same session starts, an earlier one still `running` lost its end.
const ORPHAN_EARLIER: &str = "
    UPDATE commands SET status = 'unknown'
    WHERE session = ?1 AND seq < ?2 AND status = 'running'";

impl Store {
    /// Stores `records` in one transaction. Start and end of a command may
    /// come in either order and any number of times: each lands once.
    pub fn apply(&mut self, records: &[Record]) -> Result<(), StoreError> {
        // Ends whose start is in this batch too are written with it, in one row.
        let ends: HashMap<RecordId, &CommandEnd> =
            records.iter().filter_map(|r| if let Record::End(e) = r { Some((e.id, e)) } else { None }).collect();
        let mut merged: HashSet<RecordId> = HashSet::new();
        // The newest start of each session, to settle its earlier commands once.
        let mut newest: HashMap<&str, i64> = HashMap::new();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_micros();
        for record in records {
            match record {
                Record::Start(start, facts) => {
                    match ends.get(&start.id) {
                        Some(end) if merged.insert(start.id) => insert_whole(&tx, start, facts, end, now)?,
                        _ => insert_start(&tx, start, facts, now)?,
                    }
                    let seq = newest.entry(start.session.id.as_str()).or_insert(0);
                    *seq = (*seq).max(start.seq as i64);
                }
                Record::Ignored(start) => ignore(&tx, start, now)?,
                Record::End(end) if merged.contains(&end.id) => {}
                Record::End(end) => insert_end(&tx, end, now)?,
            }
        }
        for (session, seq) in newest {
            tx.prepare_cached(ORPHAN_EARLIER)?.execute(params![session, seq])?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// The values of a start's columns, in the order UPSERT_START and
/// UPSERT_WHOLE list them (?1 to ?22).
fn start_values(s: &CommandStart, f: &StartFacts, now: i64) -> Vec<Value> {
    let Session { id: session, shell, pid, host, user, tty } = &s.session;
    let text = |t: &Option<String>| t.clone().map_or(Value::Null, Value::Text);
    vec![
        Value::Text(s.id.to_string()),
        Value::Text(session.clone()),
        Value::Integer(s.seq as i64),
        Value::Text(s.command.clone()),
        text(&s.expanded),
        Value::Text(s.cwd.clone()),
        Value::Integer(s.started_at),
        Value::Text(host.clone()),
        Value::Text(user.clone()),
        Value::Text(shell.clone()),
        Value::Integer(i64::from(*pid)),
        text(tty),
        Value::Integer(now),
        Value::Text(f.command_type.clone()),
        text(&f.subcommand),
        text(&f.environment),
        text(&f.git_root),
        text(&f.git_host),
        text(&f.git_repo),
        text(&f.git_branch),
        text(&f.git_commit),
        Value::Text(f.env_json.clone()),
    ]
}

fn insert_start(tx: &Transaction, s: &CommandStart, f: &StartFacts, now: i64) -> Result<(), StoreError> {
    tx.prepare_cached(UPSERT_START)?.execute(params_from_iter(start_values(s, f, now)))?;
    Ok(())
}

fn insert_whole(
    tx: &Transaction,
    s: &CommandStart,
    f: &StartFacts,
    e: &CommandEnd,
    now: i64,
) -> Result<(), StoreError> {
    let mut values = start_values(s, f, now);
    values.extend([
        Value::Integer(e.ended_at),
        Value::Integer(e.exit_code.into()),
        Value::Text(serde_json::to_string(&e.pipestatus).expect("integers serialize")),
        e.git_commit_after.clone().map_or(Value::Null, Value::Text),
    ]);
    tx.prepare_cached(UPSERT_WHOLE)?.execute(params_from_iter(values))?;
    Ok(())
}

/// Remembers the id only, and forgets an end that came first.
fn ignore(tx: &Transaction, s: &CommandStart, now: i64) -> Result<(), StoreError> {
    let id = s.id.to_string();
    tx.prepare_cached("INSERT OR IGNORE INTO ignored (id, ignored_at) VALUES (?1, ?2)")?.execute(params![id, now])?;
    tx.prepare_cached("DELETE FROM commands WHERE id = ?1")?.execute([id])?;
    Ok(())
}

fn insert_end(tx: &Transaction, e: &CommandEnd, now: i64) -> Result<(), StoreError> {
    let Session { id: session, shell, pid, host, user, tty } = &e.session;
    let pipestatus = serde_json::to_string(&e.pipestatus).expect("integers serialize");
    tx.prepare_cached(UPSERT_END)?.execute(params![
        e.id.to_string(),
        session,
        e.seq as i64,
        e.ended_at,
        e.exit_code,
        pipestatus,
        host,
        user,
        shell,
        pid,
        tty,
        now,
        e.git_commit_after,
    ])?;
    Ok(())
}

impl Store {
    /// (id, shell pid) of the commands still running that were typed on `host`.
    pub fn running_on(&self, host: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, shell_pid FROM commands WHERE status = 'running' AND hostname = ?1 AND shell_pid IS NOT NULL",
        )?;
        let rows = stmt.query_map([host], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks these still-running commands as ended with an unknown outcome.
    pub fn mark_unknown(&mut self, ids: &[String]) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut count = 0;
        for id in ids {
            count += tx.execute("UPDATE commands SET status = 'unknown' WHERE id = ?1 AND status = 'running'", [id])?;
        }
        tx.commit()?;
        Ok(count)
    }
}

impl Store {
    /// Indexes up to `max` more rows for text search, in rowid order; returns
    /// how many rows it went past (fewer than `max`: caught up).
    pub fn index_search(&mut self, max: usize) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let last: i64 = tx.query_row("SELECT last_rowid FROM search_progress", [], |r| r.get(0))?;
        let (upto, count): (Option<i64>, i64) = tx.query_row(
            "SELECT max(rowid), count(*) FROM (SELECT rowid FROM commands WHERE rowid > ?1 ORDER BY rowid LIMIT ?2)",
            params![last, max as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if let Some(upto) = upto {
            tx.execute(
                "INSERT INTO commands_fts (rowid, command)
                 SELECT rowid, command FROM commands WHERE rowid > ?1 AND rowid <= ?2 AND command IS NOT NULL",
                params![last, upto],
            )?;
            tx.execute("UPDATE search_progress SET last_rowid = ?1", [upto])?;
        }
        tx.commit()?;
        Ok(count as usize)
    }
}

impl Store {
    /// Adds imported history; entries already there (same id) are left as
    /// they are. Returns how many were added.
    pub fn import(&mut self, rows: &[(ImportedCommand, StartFacts)]) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let now = now_micros();
        let mut added = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO commands (id, session, seq, command, started_at, ended_at, status,
                     hostname, user, shell, recorded_at, command_type, subcommand, env, imported)
                 VALUES (?1, ?2, 0, ?3, ?4, ?5, 'finished', ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1)",
            )?;
            for (c, f) in rows {
                let ended_at = c.duration_ms.map(|ms| c.started_at + ms * 1000);
                added += stmt.execute(params![
                    c.id.to_string(),
                    format!("import:{}", c.shell),
                    c.command,
                    c.started_at,
                    ended_at,
                    c.host,
                    c.user,
                    c.shell,
                    now,
                    f.command_type,
                    f.subcommand,
                    f.env_json,
                ])? as u64;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Deletes (or counts, on a dry run) up to `max` commands started before
    /// `before`, of `command_type` if given. The search index follows.
    pub fn prune(
        &mut self,
        before: i64,
        command_type: Option<&str>,
        dry_run: bool,
        max: usize,
    ) -> Result<u64, StoreError> {
        // Rows without a start (an end whose start never came) go by their end.
        let mut filter = String::from("(started_at < ?1 OR (started_at IS NULL AND ended_at < ?1))");
        if command_type.is_some() {
            filter.push_str(" AND command_type = ?2");
        }
        let args: Vec<rusqlite::types::Value> =
            std::iter::once(before.into()).chain(command_type.map(|t| t.to_string().into())).collect();
        if dry_run {
            let sql = format!("SELECT count(*) FROM commands WHERE {filter}");
            let count: i64 = self.conn.query_row(&sql, rusqlite::params_from_iter(&args), |r| r.get(0))?;
            return Ok(count as u64);
        }
        let tx = self.conn.transaction()?;
        let sql =
            format!("DELETE FROM commands WHERE rowid IN (SELECT rowid FROM commands WHERE {filter} LIMIT {max})");
        let deleted = tx.execute(&sql, rusqlite::params_from_iter(&args))?;
        tx.execute("DELETE FROM ignored WHERE ignored_at < ?1", [before])?;
        tx.commit()?;
        Ok(deleted as u64)
    }
}
