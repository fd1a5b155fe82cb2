//! The write path: records merged into rows, many per transaction.

use std::collections::{HashMap, HashSet};

use lcd_protocol::{CommandEnd, CommandStart, RecordId};
use rusqlite::{params, OptionalExtension, Transaction};

use super::chain;
use super::record::{CommandRow, RecordStatus, Statement, Statements};
use super::Record;
use super::{Store, StoreError};
use crate::time::now_micros;

/// A shell runs one foreground command at a time: once a later command of the
/// same session starts, an earlier one still `running` lost its end.
const ORPHAN_EARLIER: &str = "
    UPDATE commands SET status = 'unknown'
    WHERE session = ?1 AND seq < ?2 AND status = 'running'";

/// An end before its start (the clock stepped back between them, or a forged
/// end) cannot be refused when the halves come in different frames, so it is
/// settled where they meet: the row keeps a zero duration and is flagged.
const CLAMP_END: &str = "
    UPDATE commands SET ended_at = started_at, end_clamped = 1
    WHERE id = ?1 AND ended_at < started_at";

/// An `fg` or `bg` (or `%`, `%1`, ...) not chained yet continues the
/// session's newest suspended job before it that nothing continues yet. With
/// several jobs stopped, `fg %2` may name an older one than this picks: the
/// daemon does not see the shell's job numbers.
const LINK_RESUMES: &str = "
    UPDATE commands SET resumes = (
        SELECT s.id FROM commands s
        WHERE s.session = commands.session AND s.status = 'suspended' AND s.seq < commands.seq
          AND NOT EXISTS (SELECT 1 FROM commands r WHERE r.session = s.session AND r.resumes = s.id)
        ORDER BY s.seq DESC LIMIT 1)
    WHERE session = ?1 AND hash IS NULL AND resumes IS NULL AND command IS NOT NULL
      AND (command IN ('fg', 'bg', '%') OR command GLOB 'fg *' OR command GLOB 'bg *' OR command GLOB '%[0-9%+-]*')";

/// Whether `record` may take part in a job's continuation: a stop, or a
/// start that looks like `fg`, `bg` or `%…` (LINK_RESUMES has the exact
/// rule), so that the statement runs only for the batches that need it.
fn may_resume(record: &Record) -> bool {
    match record {
        Record::End(_, status) => *status == RecordStatus::Suspended,
        Record::Start(start, _) => ["fg", "bg", "%"].iter().any(|p| start.command.starts_with(p)),
        Record::Ignored(_) | Record::Gap(..) => false,
    }
}

impl Store {
    /// Stores `records` in one transaction. Start and end of a command may
    /// come in either order and any number of times: each lands once.
    pub fn apply(&mut self, records: &[Record]) -> Result<(), StoreError> {
        // Ends whose start is in this batch too are written with it, in one row.
        let ends: HashMap<RecordId, (&CommandEnd, RecordStatus)> = records
            .iter()
            .filter_map(|r| if let Record::End(e, status) = r { Some((e.id, (e, *status))) } else { None })
            .collect();
        let mut merged: HashSet<RecordId> = HashSet::new();
        // The newest start of each session, to settle its earlier commands once.
        let mut newest: HashMap<&str, i64> = HashMap::new();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_micros();
        for record in records {
            match record {
                Record::Start(start, row) => {
                    match ends.get(&start.id) {
                        Some((end, status)) if merged.insert(start.id) => insert_whole(&tx, row, end, *status, now)?,
                        _ => insert_start(&tx, row, now)?,
                    }
                    let seq = newest.entry(start.session.id.as_str()).or_insert(0);
                    *seq = (*seq).max(start.seq as i64);
                }
                Record::Ignored(start) => ignore(&tx, start, now)?,
                Record::End(end, _) if merged.contains(&end.id) => {}
                Record::End(end, status) => insert_end(&tx, end, *status, now)?,
                Record::Gap(_, row) => write_row(&tx, &Statements::get().whole, row, None, now)?,
            }
        }
        for (session, seq) in &newest {
            tx.prepare_cached(ORPHAN_EARLIER)?.execute(params![session, seq])?;
        }
        // Where a record's halves met, an end before its start is clamped.
        // A start and its end of this batch are compared here and cost no
        // statement unless clamped: that is most records under load.
        for record in records {
            match record {
                Record::Start(start, _) if merged.contains(&start.id) => {
                    if ends.get(&start.id).is_some_and(|(end, _)| end.ended_at < start.started_at) {
                        clamp_end(&tx, start.id)?;
                    }
                }
                Record::End(end, _) if merged.contains(&end.id) => {}
                Record::Start(start, _) => clamp_end(&tx, start.id)?,
                Record::End(end, _) => clamp_end(&tx, end.id)?,
                Record::Ignored(_) | Record::Gap(..) => {}
            }
        }
        // Records this batch settled get their links, in this transaction;
        // an fg or bg first learns which job it continues (that is hashed).
        let sessions: HashSet<&str> = records.iter().map(Record::session).collect();
        let resuming: HashSet<&str> = records.iter().filter(|r| may_resume(r)).map(Record::session).collect();
        for session in sessions {
            if resuming.contains(session) {
                tx.prepare_cached(LINK_RESUMES)?.execute([session])?;
            }
            chain::chain_session(&tx, session)?;
        }
        tx.commit()?;
        Ok(())
    }
}

fn insert_start(tx: &Transaction, row: &CommandRow, now: i64) -> Result<(), StoreError> {
    write_row(tx, &Statements::get().start, row, None, now)
}

fn insert_whole(
    tx: &Transaction,
    row: &CommandRow,
    e: &CommandEnd,
    status: RecordStatus,
    now: i64,
) -> Result<(), StoreError> {
    write_row(tx, &Statements::get().whole, row, Some(&CommandRow::from_end(e, status)), now)
}

fn insert_end(tx: &Transaction, e: &CommandEnd, status: RecordStatus, now: i64) -> Result<(), StoreError> {
    write_row(tx, &Statements::get().end, &CommandRow::from_end(e, status), None, now)
}

/// Runs one of the generated statements with the row's values (the end
/// half from `end` when given).
fn write_row(
    tx: &Transaction,
    statement: &Statement,
    row: &CommandRow,
    end: Option<&CommandRow>,
    now: i64,
) -> Result<(), StoreError> {
    statement.run(&mut tx.prepare_cached(&statement.sql)?, row, end, now)?;
    Ok(())
}

fn clamp_end(tx: &Transaction, id: RecordId) -> Result<(), StoreError> {
    let clamped = tx.prepare_cached(CLAMP_END)?.execute([id.to_string()])?;
    if clamped > 0 {
        tracing::warn!(%id, "a record ended before it started; stored with a zero duration and flagged end_clamped");
    }
    Ok(())
}

/// Remembers the id only, and forgets an end that came first.
fn ignore(tx: &Transaction, s: &CommandStart, now: i64) -> Result<(), StoreError> {
    let id = s.id.to_string();
    tx.prepare_cached("INSERT OR IGNORE INTO ignored (id, ignored_at) VALUES (?1, ?2)")?.execute(params![id, now])?;
    tx.prepare_cached("DELETE FROM commands WHERE id = ?1")?.execute([id])?;
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

    /// Marks these still-running commands as ended with an unknown outcome
    /// (which settles them: they get their links).
    pub fn mark_unknown(&mut self, ids: &[String]) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut count = 0;
        let mut sessions = HashSet::new();
        for id in ids {
            let session: Option<String> = tx
                .query_row(
                    "UPDATE commands SET status = 'unknown' WHERE id = ?1 AND status = 'running' RETURNING session",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            count += usize::from(session.is_some());
            sessions.extend(session);
        }
        for session in sessions {
            chain::chain_session(&tx, &session)?;
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
    pub fn import(&mut self, rows: &[CommandRow]) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let now = now_micros();
        let statement = &Statements::get().import;
        let mut added = 0;
        {
            let mut stmt = tx.prepare_cached(&statement.sql)?;
            for row in rows {
                added += statement.run(&mut stmt, row, None, now)? as u64;
            }
        }
        // Each import session (`import:<shell>`) is a chain of its own,
        // extended by every import in the order it read the history.
        let sessions: HashSet<&str> = rows.iter().map(|r| r.session.as_str()).collect();
        for session in sessions {
            chain::chain_session(&tx, session)?;
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
        let doomed = format!("SELECT pk FROM commands WHERE {filter} LIMIT {max}");
        // What leaves each chain is noted, so that `lcd verify` checks across the cut.
        chain::record_cuts(&tx, &doomed, &args, now_micros())?;
        let sql = format!("DELETE FROM commands WHERE pk IN ({doomed})");
        let deleted = tx.execute(&sql, rusqlite::params_from_iter(&args))?;
        tx.execute("DELETE FROM ignored WHERE ignored_at < ?1", [before])?;
        tx.commit()?;
        Ok(deleted as u64)
    }
}
