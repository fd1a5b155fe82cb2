//! What each sink (remote store, GitHub) has been given: a cursor below which
//! everything is settled, and the commands past it handled out of order.

use rusqlite::{params, OptionalExtension};

use super::record::{select_list, CommandRow, RowReader};
use super::sql_text::sql_text;
use super::{Store, StoreError};
use crate::time::now_micros;

sql_text! {
    /// What became of a command a sink handled past its cursor (`outbox.state`).
    pub enum OutboxState {
        /// Delivered; forgotten once the cursor passes it.
        Sent,
        /// Refused for good, with the server's reason; waits for `lcd forward retry`.
        Failed,
    }
}

/// Which commands a sink takes.
#[derive(Debug, Clone)]
pub struct SinkFilter {
    pub sink: String,
    /// Command types to take; `None`: every tracked tool (not `other`).
    pub types: Option<Vec<String>>,
    pub include_imported: bool,
    /// Whether the sink also takes the chain links of the commands it does
    /// not want, without their content (the team store, so that its copy of
    /// each chain has no holes).
    pub links: bool,
}

impl SinkFilter {
    /// SQL over `commands c` for "this sink takes this command": its content,
    /// or (for a sink of links) its link.
    fn takes(&self) -> String {
        match self.links {
            true => format!("({} OR (c.hash IS NOT NULL{}))", self.wants(), self.origin()),
            false => self.wants(),
        }
    }

    /// The same for a command still running: the link of any command will
    /// be wanted once it is settled, so one still running holds the cursor.
    fn will_take(&self) -> String {
        match self.links {
            true => format!("(1{})", self.origin()),
            false => self.wants(),
        }
    }

    fn origin(&self) -> &'static str {
        if self.include_imported {
            ""
        } else {
            " AND c.imported = 0"
        }
    }

    /// SQL over `commands c` for "this sink wants this command" (type and
    /// origin only, and for the team store every gap record; whether it is
    /// finished is asked separately).
    fn wants(&self) -> String {
        let types = match &self.types {
            Some(types) => {
                let quoted: Vec<String> = types.iter().map(|t| format!("'{}'", t.replace('\'', "''"))).collect();
                format!("coalesce(c.command_type, 'other') IN ({})", quoted.join(", "))
            }
            None => "coalesce(c.command_type, 'other') != 'other'".into(),
        };
        // The team store keeps a session's gap records whole: what was lost
        // is part of its copy of the trail.
        let gaps = if self.links { " OR c.status = 'gap'" } else { "" };
        format!("(({types}{gaps}){})", self.origin())
    }
}

/// A command a sink still needs.
#[derive(Debug, Clone)]
pub struct Pending {
    pub pk: i64,
    /// Whether the sink wants the command itself, or only its chain link.
    pub content: bool,
    pub row: CommandRow,
}

/// An end whose start never came stops holding the cursor back after this long.
const HEADLESS_WAIT_US: i64 = 3600 * 1_000_000;

impl Store {
    fn settled_upto(&self, sink: &str) -> Result<i64, StoreError> {
        let found: Option<i64> = self
            .conn
            .query_row("SELECT settled_upto FROM outbox_cursor WHERE sink = ?1", [sink], |r| r.get(0))
            .optional()?;
        Ok(found.unwrap_or(0))
    }

    /// Up to `limit` finished commands the sink still needs, oldest first,
    /// with their `pk` and whether it wants their content (or only their link).
    pub fn outbox_pending(&self, filter: &SinkFilter, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let settled = self.settled_upto(&filter.sink)?;
        let sql = format!(
            "SELECT c.pk AS pk, {} AS content, {} FROM commands c
             WHERE c.pk > ?1 AND c.status != 'running' AND c.command IS NOT NULL AND {}
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.sink = ?2 AND o.pk = c.pk)
             ORDER BY c.pk LIMIT ?3",
            filter.wants(),
            select_list(),
            filter.takes()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let reader = RowReader::new(&stmt)?;
        let rows = stmt.query_map(params![settled, filter.sink, limit as i64], |r| {
            Ok(Pending { pk: r.get("pk")?, content: r.get("content")?, row: reader.read(r)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records the outcome for these commands (with the server's reason when
    /// it refused them), then moves the cursor as far as it can go.
    pub fn outbox_mark(
        &mut self,
        filter: &SinkFilter,
        pks: &[i64],
        state: OutboxState,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO outbox (sink, pk, state, detail, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sink, pk) DO UPDATE SET state = excluded.state, detail = excluded.detail, updated_at = excluded.updated_at",
            )?;
            let now = now_micros();
            for pk in pks {
                stmt.execute(params![filter.sink, pk, state, detail, now])?;
            }
        }
        tx.commit()?;
        self.outbox_advance(filter)
    }

    /// Moves the sink's cursor past every settled command: up to the first
    /// one it wants that is not delivered (or still runs).
    pub fn outbox_advance(&mut self, filter: &SinkFilter) -> Result<(), StoreError> {
        let settled = self.settled_upto(&filter.sink)?;
        let (will_take, takes) = (filter.will_take(), filter.takes());
        let sql = format!(
            "SELECT min(c.pk) FROM commands c
             WHERE c.pk > ?1 AND (
                 ((c.status = 'running' OR c.command IS NULL) AND (c.command IS NOT NULL AND {will_take} OR c.recorded_at > ?3))
                 OR (c.status != 'running' AND c.command IS NOT NULL AND {takes}
                     AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.sink = ?2 AND o.pk = c.pk)))"
        );
        let tx = self.conn.transaction()?;
        let first_open: Option<i64> =
            tx.query_row(&sql, params![settled, filter.sink, now_micros() - HEADLESS_WAIT_US], |r| r.get(0))?;
        let upto = match first_open {
            Some(pk) => pk - 1,
            None => tx.query_row("SELECT coalesce(max(pk), 0) FROM commands", [], |r| r.get(0))?,
        };
        if upto > settled {
            tx.execute(
                "INSERT INTO outbox_cursor (sink, settled_upto) VALUES (?1, ?2)
                 ON CONFLICT (sink) DO UPDATE SET settled_upto = excluded.settled_upto",
                params![filter.sink, upto],
            )?;
            tx.execute(
                "DELETE FROM outbox WHERE sink = ?1 AND pk <= ?2 AND state = ?3",
                params![filter.sink, upto, OutboxState::Sent],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// How many commands the sink still has to take (running ones included).
    pub fn outbox_backlog(&self, filter: &SinkFilter) -> Result<u64, StoreError> {
        let settled = self.settled_upto(&filter.sink)?;
        let sql = format!(
            "SELECT count(*) FROM commands c WHERE c.pk > ?1 AND c.command IS NOT NULL AND {}
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.sink = ?2 AND o.pk = c.pk)",
            filter.takes()
        );
        Ok(self.conn.query_row(&sql, params![settled, filter.sink], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Commands put aside as failed: (pk, reason).
    pub fn outbox_failed(&self, sink: &str) -> Result<Vec<(i64, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT pk, coalesce(detail, '') FROM outbox WHERE sink = ?1 AND state = ?2 ORDER BY pk")?;
        let rows = stmt.query_map(params![sink, OutboxState::Failed], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Puts failed commands back in the queue; returns how many.
    pub fn outbox_requeue(&mut self, sink: &str) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let failed = params![sink, OutboxState::Failed];
        let first: Option<i64> =
            tx.query_row("SELECT min(pk) FROM outbox WHERE sink = ?1 AND state = ?2", failed, |r| r.get(0))?;
        let count = tx.execute("DELETE FROM outbox WHERE sink = ?1 AND state = ?2", failed)?;
        if let Some(first) = first {
            tx.execute(
                "UPDATE outbox_cursor SET settled_upto = min(settled_upto, ?2) WHERE sink = ?1",
                params![sink, first - 1],
            )?;
        }
        tx.commit()?;
        Ok(count as u64)
    }
}
