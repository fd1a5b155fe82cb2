//! Spool replay: frames lcd-hook (or the daemon itself) could not hand over
//! are stored when the daemon starts and on a timer while it runs.

use std::path::Path;
use std::sync::Arc;

use lcd_protocol::frame::{self, FrameError};
use lcd_protocol::protocol::PROTOCOL_VERSION;
use lcd_protocol::spool::{Appended, Spool};
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

/// Replay holds at most this many events ...
const CHUNK_EVENTS: usize = 5000;
/// ... or this many payload bytes of a file in memory at once: the spool
/// may hold hundreds of megabytes.
const CHUNK_BYTES: usize = 8 << 20;

/// Claims every spool file and, one file at a time, stores its events in
/// chunks as they are read, then removes the file. A file whose events cannot
/// be stored now stays claimed and is tried again later (the chunks already
/// stored are stored once: records are keyed by their ids).
pub async fn replay_spool(spool: &Spool, ingest: &Ingest, enricher: &Arc<Enricher>) -> anyhow::Result<ReplayReport> {
    let claimer = spool.clone();
    let mut claims = tokio::task::spawn_blocking(move || claimer.claim()).await??;
    let mut report = ReplayReport::default();
    loop {
        // Opening a claimed file waits for a writer half-way through a frame.
        let (next, rest) = tokio::task::spawn_blocking(move || (claims.next(), claims)).await?;
        claims = rest;
        let Some(file) = next else { break };
        let file = file?;
        let mut frames = file.frames()?;
        let path = file.path().to_path_buf();
        loop {
            let (chunk, rest) = tokio::task::spawn_blocking({
                let path = path.clone();
                move || (read_chunk(&mut frames, &path), frames)
            })
            .await?;
            frames = rest;
            report.dropped += chunk.dropped;
            if !chunk.events.is_empty() {
                // Validated, enriched and stored as a client's request would be.
                let taken = ingest.take(chunk.events, enricher, Source::Spool).await?;
                report.events += taken.stored;
                report.dropped += taken.left_out;
            }
            if !chunk.future.is_empty() {
                report.kept_for_newer += chunk.future.len();
                report.dropped += keep_for_newer_daemon(spool, &chunk.future)?;
            }
            if chunk.last {
                break;
            }
        }
        tokio::task::spawn_blocking(move || file.finish()).await??;
        report.files += 1;
    }
    Ok(report)
}

/// Events read from one spool file, up to a chunk's bound.
#[derive(Default)]
struct Chunk {
    events: Vec<Event>,
    /// Frames of a newer protocol, kept for a newer daemon.
    future: Vec<(frame::Header, Vec<u8>)>,
    dropped: usize,
    /// The file has no more frames.
    last: bool,
}

/// Reads frames until a chunk is full or the file ends; logs what it drops.
fn read_chunk(frames: &mut impl Iterator<Item = Result<(frame::Header, Vec<u8>), FrameError>>, path: &Path) -> Chunk {
    let mut chunk = Chunk::default();
    let mut bytes = 0;
    while chunk.events.len() < CHUNK_EVENTS && bytes < CHUNK_BYTES {
        let Some(item) = frames.next() else {
            chunk.last = true;
            break;
        };
        let (header, payload) = match item {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(file = %path.display(), "skipping unreadable bytes in the spool: {e}");
                chunk.dropped += 1;
                continue;
            }
        };
        bytes += payload.len();
        match frame::decode_payload::<Request>(header, &payload) {
            Ok(Request::Record(batch)) => chunk.events.extend(batch),
            Ok(_) => chunk.dropped += 1,
            Err(FrameError::UnsupportedVersion(v)) if v > PROTOCOL_VERSION => chunk.future.push((header, payload)),
            Err(e) => {
                tracing::warn!(file = %path.display(), "dropping a spooled frame: {e}");
                chunk.dropped += 1;
            }
        }
    }
    chunk
}

/// The folder where frames of a newer protocol wait for a newer daemon: one
/// beside the spool, which is also where they go back when that folder itself
/// is replayed (never `future/future/`).
pub fn future_spool(spool: &Spool) -> Spool {
    if spool.dir().file_name().is_some_and(|n| n == FUTURE) {
        return spool.clone();
    }
    spool.subfolder(FUTURE)
}

const FUTURE: &str = "future";

/// Frames from a newer lcd-hook wait in `future/` until a newer daemon runs;
/// returns how many were dropped because that folder is full.
fn keep_for_newer_daemon(spool: &Spool, frames: &[(frame::Header, Vec<u8>)]) -> anyhow::Result<usize> {
    let future = future_spool(spool);
    let mut dropped = 0;
    for (header, payload) in frames {
        tracing::warn!(version = header.version, "keeping a spooled frame of a newer protocol for a newer lcd");
        let mut bytes = frame::encode_raw_header(*header);
        bytes.extend_from_slice(payload);
        if let Appended::Dropped { first, .. } = future.append(&bytes)? {
            if first {
                tracing::error!("{}", future.full_message());
            }
            dropped += 1;
        }
    }
    Ok(dropped)
}
