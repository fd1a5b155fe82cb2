//! One client connection: check who it is, then read frames, store what they
//! carry and answer, until the client goes away or misbehaves. A bad frame
//! closes this connection only, with one log line that names the problem.

use std::time::Duration;

use interprocess::local_socket::tokio::{prelude::*, Stream};
use lcd_protocol::frame::{self, FrameError, HEADER_LEN};
use lcd_protocol::protocol::{RefusalReason, PROTOCOL_VERSION};
use lcd_protocol::{Reply, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::registry::Admitted;
use super::Shared;
use crate::ingest::{Source, TakeError};
use crate::store::WriteError;

/// Once a header arrived, its payload must follow within this time.
const PAYLOAD_WAIT: Duration = Duration::from_secs(10);

/// Why a connection was closed early.
enum Close {
    /// The client hung up between frames: the normal end.
    Done,
    /// Something worth one log line.
    Because(String),
}

/// Checks who the peer is, and only then gives it a place among the open
/// connections: another user's connections must never evict one of ours.
pub(super) async fn serve(stream: Stream, shared: &Shared) {
    let creds = stream.peer_creds().ok();
    let peer_pid = creds.as_ref().and_then(|c| c.pid()).unwrap_or(0);
    let peer_uid = creds.as_ref().and_then(|c| c.euid());
    let root_allowed = peer_uid == Some(0) && shared.settings().allow_root;
    if peer_uid != Some(shared.own_uid) && !root_allowed {
        let who = peer_uid.map_or("an unknown user".to_string(), |u| format!("uid {u}"));
        tracing::warn!(peer_pid, "refused a connection from {who}: only uid {} may use this daemon", shared.own_uid);
        return;
    }
    let admitted = shared.connections.admit(shared.settings().max_connections);
    match serve_frames(stream, &admitted, shared).await {
        Close::Done => {}
        Close::Because(reason) => tracing::warn!(peer_pid, "closed a connection: {reason}"),
    }
}

async fn serve_frames(stream: Stream, admitted: &Admitted, shared: &Shared) -> Close {
    // `&Stream` reads and writes; one task does both in turn.
    let (mut rx, mut tx) = (&stream, &stream);
    let mut first = true;
    loop {
        let settings = shared.settings();
        let wait = if first {
            Duration::from_millis(settings.first_frame_timeout_ms)
        } else {
            Duration::from_secs(settings.idle_timeout_s)
        };
        let mut head = [0u8; HEADER_LEN];
        let header = tokio::select! {
            read = tokio::time::timeout(wait, read_header(&mut rx, &mut head)) => read,
            _ = admitted.close.notified() => return Close::Done,
        };
        match header {
            Err(_) if first => return Close::Because(format!("nothing sent within {} ms", wait.as_millis())),
            Err(_) | Ok(Ok(false)) => return Close::Done,
            Ok(Err(e)) => return Close::Because(format!("reading a frame header: {}", FrameError::from(e))),
            Ok(Ok(true)) => {}
        }
        first = false;
        admitted.touch();
        let header = match frame::parse_header(&head) {
            Ok(header) => header,
            Err(e) => return Close::Because(e.to_string()),
        };
        if header.version > PROTOCOL_VERSION {
            // Tell the client in a form it can read, so it spools for a newer
            // daemon. Take the payload first (it is under the cap): closing
            // with unread bytes would reset the connection and lose the answer.
            let (mut rest, mut sink) = ((&mut rx).take(u64::from(header.len)), tokio::io::sink());
            let _ = tokio::time::timeout(PAYLOAD_WAIT, tokio::io::copy(&mut rest, &mut sink)).await;
            let reply = Reply::Refused { reason: RefusalReason::UnsupportedVersion { supported: PROTOCOL_VERSION } };
            let _ = send(&mut tx, &reply).await;
            return Close::Because(FrameError::UnsupportedVersion(header.version).to_string());
        }
        // The buffer grows with the bytes that arrive: a peer that declares
        // a large frame and sends nothing costs nothing.
        let mut payload = Vec::new();
        let mut body = (&mut rx).take(u64::from(header.len));
        match tokio::time::timeout(PAYLOAD_WAIT, body.read_to_end(&mut payload)).await {
            Err(_) => {
                return Close::Because(format!(
                    "frame payload of {} bytes not sent within {} s",
                    header.len,
                    PAYLOAD_WAIT.as_secs()
                ))
            }
            Ok(Err(e)) => return Close::Because(FrameError::from(e).to_string()),
            Ok(Ok(n)) if n < header.len as usize => return Close::Because(FrameError::Truncated.to_string()),
            Ok(Ok(_)) => {}
        }
        let reply = match frame::decode_payload::<Request>(header, &payload) {
            Ok(request) => answer(request, shared).await,
            Err(e) => return Close::Because(e.to_string()),
        };
        if let Err(e) = send(&mut tx, &reply).await {
            return Close::Because(format!("answering: {e}"));
        }
        if let Reply::Refused { reason: reason @ RefusalReason::Invalid { .. } } = reply {
            return Close::Because(reason.to_string());
        }
    }
}

/// Reads a whole header; `false` when the client hung up before its first byte.
async fn read_header(rx: &mut (impl AsyncReadExt + Unpin), head: &mut [u8; HEADER_LEN]) -> std::io::Result<bool> {
    if rx.read(&mut head[..1]).await? == 0 {
        return Ok(false);
    }
    rx.read_exact(&mut head[1..]).await?;
    Ok(true)
}

async fn answer(request: Request, shared: &Shared) -> Reply {
    match request {
        Request::Record(events) => {
            shared.sessions.saw(&events);
            match shared.ingest.take(events, &shared.enricher(), Source::Client).await {
                Ok(taken) => Reply::Stored { events: taken.stored as u32 },
                Err(e) => take_refusal(e),
            }
        }
        Request::Import(commands) => match shared.ingest.take_imports(commands, &shared.enricher()).await {
            Ok((added, already)) => Reply::Imported { added, already },
            Err(e) => take_refusal(e),
        },
        Request::Prune { before, command_type, dry_run } => match prune(shared, before, command_type, dry_run).await {
            Ok(count) => Reply::Pruned { count },
            Err(e) => storage_refusal(e),
        },
        Request::RetryFailed { sink } => {
            match shared.ingest.maintain(Box::new(move |store| store.outbox_requeue(&sink))).await {
                Ok(count) => Reply::Requeued { count },
                Err(e) => storage_refusal(e),
            }
        }
        Request::Status => match serde_json::to_string(&shared.daemon_status()) {
            Ok(json) => Reply::Status { json },
            Err(e) => {
                Reply::Refused { reason: RefusalReason::Invalid { detail: format!("describing the daemon: {e}") } }
            }
        },
        Request::DaemonStatus => Reply::DaemonStatus(Box::new(shared.daemon_status())),
    }
}

fn take_refusal(error: TakeError) -> Reply {
    match error {
        TakeError::Invalid(detail) => Reply::Refused { reason: RefusalReason::Invalid { detail } },
        TakeError::Ingest(e) => storage_refusal(e),
    }
}

fn storage_refusal(error: WriteError) -> Reply {
    let reason = match error {
        WriteError::Storage(detail) => RefusalReason::StorageUnavailable { detail },
        WriteError::ShuttingDown => RefusalReason::ShuttingDown,
    };
    Reply::Refused { reason }
}

/// Deletes in slices, so that records keep flowing between them.
pub(super) async fn prune(
    shared: &Shared,
    before: i64,
    command_type: Option<String>,
    dry_run: bool,
) -> Result<u64, WriteError> {
    const SLICE: usize = 5000;
    let mut total = 0;
    loop {
        let kind = command_type.clone();
        let n =
            shared.ingest.maintain(Box::new(move |store| store.prune(before, kind.as_deref(), dry_run, SLICE))).await?;
        total += n;
        if dry_run || n < SLICE as u64 {
            return Ok(total);
        }
    }
}

async fn send(tx: &mut (impl AsyncWriteExt + Unpin), reply: &Reply) -> std::io::Result<()> {
    let bytes = frame::encode(reply).map_err(std::io::Error::other)?;
    tx.write_all(&bytes).await
}
