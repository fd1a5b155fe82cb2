//! Spool replay: frames lcd-hook (or the daemon itself) could not hand over
//! are stored when the daemon starts and on a timer while it runs.

use std::sync::Arc;

use lcd_protocol::frame::{self, FrameError};
use lcd_protocol::protocol::PROTOCOL_VERSION;
use lcd_protocol::spool::Spool;
use lcd_protocol::{Event, Request};

use super::{Ingest, Source};
use crate::enrich::Enricher;

/// What one replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub files: usize,
    pub events: usize,
    /// Frames and records dropped because they can never be stored (garbage, invalid).
    pub dropped: usize,
    /// Frames of a newer protocol, kept for a newer daemon.
    pub kept_for_newer: usize,
}

/// Claims every spool file, stores its events and removes the file. A file
/// whose events cannot be stored now stays claimed and is tried again later.
pub async fn replay_spool(spool: &Spool, ingest: &Ingest, enricher: &Arc<Enricher>) -> anyhow::Result<ReplayReport> {
    let claimer = spool.clone();
    let claimed = tokio::task::spawn_blocking(move || claimer.claim()).await??;
    let mut report = ReplayReport::default();
    for file in claimed {
        let (frames, errors) = file.frames();
        for e in &errors {
            tracing::warn!(file = %file.path().display(), "skipping unreadable bytes in the spool: {e}");
        }
        report.dropped += errors.len();
        let mut events: Vec<Event> = Vec::new();
        let mut future = Vec::new();
        for (header, payload) in frames {
            match frame::decode_payload::<Request>(header, payload) {
                Ok(Request::Record(batch)) => events.extend(batch),
                Ok(_) => report.dropped += 1,
                Err(FrameError::UnsupportedVersion(v)) if v > PROTOCOL_VERSION => {
                    future.push((header, payload.to_vec()));
                }
                Err(e) => {
                    tracing::warn!(file = %file.path().display(), "dropping a spooled frame: {e}");
                    report.dropped += 1;
                }
            }
        }
        let mut count = 0;
        // Chunks well under a request's limit: each is validated, enriched
        // and stored as a client's request would be.
        for chunk in events.chunks(5000) {
            let taken = ingest.take(chunk.to_vec(), enricher, Source::Spool).await?;
            count += taken.stored;
            report.dropped += taken.left_out;
        }
        if !future.is_empty() {
            keep_for_newer_daemon(spool, &future)?;
            report.kept_for_newer += future.len();
        }
        tokio::task::spawn_blocking(move || file.finish()).await??;
        report.files += 1;
        report.events += count;
    }
    Ok(report)
}

/// The folder where frames of a newer protocol wait for a newer daemon: one
/// beside the spool, which is also where they go back when that folder itself
/// is replayed (never `future/future/`).
pub fn future_spool(spool: &Spool) -> Spool {
    if spool.dir().file_name().is_some_and(|n| n == FUTURE) {
        return spool.clone();
    }
    Spool::new(spool.dir().join(FUTURE))
}

const FUTURE: &str = "future";

/// Frames from a newer lcd-hook wait in `future/` until a newer daemon runs.
fn keep_for_newer_daemon(spool: &Spool, frames: &[(frame::Header, Vec<u8>)]) -> anyhow::Result<()> {
    let future = future_spool(spool);
    for (header, payload) in frames {
        tracing::warn!(version = header.version, "keeping a spooled frame of a newer protocol for a newer lcd");
        let mut bytes = frame::encode_raw_header(*header);
        bytes.extend_from_slice(payload);
        future.append(&bytes)?;
    }
    Ok(())
}
