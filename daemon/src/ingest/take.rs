//! The one way received events become rows, for a client on the socket and
//! for the spool alike: validate each record, enrich (off the async workers:
//! enrichment reads files in the working folder), store.

use std::sync::Arc;

use lcd_protocol::protocol::ImportedCommand;
use lcd_protocol::Event;

use super::{validate, validate_imports, Ingest};
use crate::enrich::Enricher;
use crate::store::WriteError;
use crate::time::now_micros;

/// Where events come from, which decides what happens to them when the
/// database cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A client on the socket: its events go to the daemon's spool, so that
    /// the client can be answered.
    Client,
    /// The spool itself: the events stay there (the file stays claimed) for
    /// a later try.
    Spool,
}

/// What became of a request's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub stored: usize,
    /// Records left out because they can never be stored (each is logged).
    pub left_out: usize,
}

/// Why a request's events were not taken.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    /// Nothing in the request can ever be stored.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Ingest(#[from] WriteError),
}

impl Ingest {
    /// Validates `events` one record at a time (a record that can never be
    /// stored is left out and logged, its neighbours are kept), enriches
    /// them with `enricher` and stores them; returns once they are durable.
    /// A client's request in which nothing can be stored is refused as a
    /// whole, so that the client hears why.
    pub async fn take(&self, events: Vec<Event>, enricher: &Arc<Enricher>, source: Source) -> Result<Taken, TakeError> {
        let sent = events.len();
        let checked = validate(events, now_micros()).map_err(TakeError::Invalid)?;
        let left_out = sent - checked.events.len();
        if left_out > 0 {
            let reasons = checked.refused.join("; ");
            tracing::warn!(?source, "left out {left_out} of {sent} events that can never be stored: {reasons}");
            if checked.events.is_empty() && source == Source::Client {
                return Err(TakeError::Invalid(reasons));
            }
        }
        let stored = checked.events.len();
        let records = Arc::clone(enricher)
            .enrich_off_runtime(checked.events)
            .await
            .map_err(|_| TakeError::Ingest(WriteError::ShuttingDown))?;
        match source {
            Source::Client => self.store(records).await?,
            Source::Spool => self.store_replayed(records).await?,
        }
        Ok(Taken { stored, left_out })
    }

    /// The same for history read from a shell's file: validated, classified
    /// and redacted, stored unless already there. Returns (added, already).
    pub async fn take_imports(
        &self,
        commands: Vec<ImportedCommand>,
        enricher: &Enricher,
    ) -> Result<(u64, u64), TakeError> {
        validate_imports(&commands, now_micros()).map_err(TakeError::Invalid)?;
        let total = commands.len() as u64;
        let rows = enricher.enrich_imported(commands);
        let added = self.maintain(Box::new(move |store| store.import(&rows))).await?;
        Ok((added, total - added))
    }
}
