//! One client connection: check who it is, then read frames, store what they
//! carry and answer, until the client goes away or misbehaves. A bad frame
//! closes this connection only, with one log line that names the problem.

use std::time::Duration;

use interprocess::local_socket::tokio::{prelude::*, Stream};
use lcd_client::frame::{self, FrameError, HEADER_LEN};
use lcd_client::protocol::{RefusalReason, PROTOCOL_VERSION};
use lcd_client::{Reply, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Context_;
use crate::ingest::{validate, IngestError};
use crate::store::now_micros;

/// Bounds on what one connection may cost the daemon.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; further ones are refused.
    pub max_connections: usize,
    /// A new connection must send its first frame within this time.
    pub first_frame: Duration,
    /// An established connection may stay silent this long between frames
    /// (lcd-hook keeps one per shell and writes only when a command runs).
    pub idle: Duration,
    /// Once a header arrived, its payload must follow within this time.
    pub payload: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            first_frame: Duration::from_secs(10),
            idle: Duration::from_secs(3600),
            payload: Duration::from_secs(10),
        }
    }
}

/// Why a connection was closed early.
enum Close {
    /// The client hung up between frames: the normal end.
    Done,
    /// Something worth one log line.
    Because(String),
}

pub(super) async fn serve(stream: Stream, ctx: &Context_) {
    let creds = stream.peer_creds().ok();
    let peer_pid = creds.as_ref().and_then(|c| c.pid()).unwrap_or(0);
    let peer_uid = creds.as_ref().and_then(|c| c.euid());
    if peer_uid != Some(ctx.own_uid) {
        let who = peer_uid.map_or("an unknown user".to_string(), |u| format!("uid {u}"));
        tracing::warn!(peer_pid, "refused a connection from {who}: only uid {} may use this daemon", ctx.own_uid);
        return;
    }
    match serve_frames(stream, ctx).await {
        Close::Done => {}
        Close::Because(reason) => tracing::warn!(peer_pid, "closed a connection: {reason}"),
    }
}

async fn serve_frames(stream: Stream, ctx: &Context_) -> Close {
    // `&Stream` reads and writes; one task does both in turn.
    let (mut rx, mut tx) = (&stream, &stream);
    let mut first = true;
    loop {
        let wait = if first { ctx.limits.first_frame } else { ctx.limits.idle };
        let mut head = [0u8; HEADER_LEN];
        match tokio::time::timeout(wait, read_header(&mut rx, &mut head)).await {
            Err(_) if first => return Close::Because(format!("nothing sent within {} s", wait.as_secs())),
            Err(_) | Ok(Ok(false)) => return Close::Done,
            Ok(Err(e)) => return Close::Because(format!("reading a frame header: {}", FrameError::from(e))),
            Ok(Ok(true)) => {}
        }
        first = false;
        let header = match frame::parse_header(&head) {
            Ok(header) => header,
            Err(e) => return Close::Because(e.to_string()),
        };
        if header.version > PROTOCOL_VERSION {
            // Tell the client in a form it can read, so it spools for a newer
            // daemon. Take the payload first (it is under the cap): closing
            // with unread bytes would reset the connection and lose the answer.
            let mut skip = vec![0u8; header.len as usize];
            let _ = tokio::time::timeout(ctx.limits.payload, rx.read_exact(&mut skip)).await;
            let reply = Reply::Refused { reason: RefusalReason::UnsupportedVersion { supported: PROTOCOL_VERSION } };
            let _ = send(&mut tx, &reply).await;
            return Close::Because(FrameError::UnsupportedVersion(header.version).to_string());
        }
        let mut payload = vec![0u8; header.len as usize];
        match tokio::time::timeout(ctx.limits.payload, rx.read_exact(&mut payload)).await {
            Err(_) => {
                return Close::Because(format!(
                    "frame payload of {} bytes not sent within {} s",
                    header.len,
                    ctx.limits.payload.as_secs()
                ))
            }
            Ok(Err(e)) => return Close::Because(FrameError::from(e).to_string()),
            Ok(Ok(_)) => {}
        }
        let reply = match frame::decode_payload::<Request>(header, &payload) {
            Ok(request) => answer(request, ctx).await,
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

async fn answer(request: Request, ctx: &Context_) -> Reply {
    match request {
        Request::Record(events) => {
            if let Err(detail) = validate(&events, now_micros()) {
                return Reply::Refused { reason: RefusalReason::Invalid { detail } };
            }
            let count = events.len() as u32;
            match ctx.ingest.store(events).await {
                Ok(()) => Reply::Stored { events: count },
                Err(IngestError::Storage(detail)) => {
                    Reply::Refused { reason: RefusalReason::StorageUnavailable { detail } }
                }
                Err(IngestError::ShuttingDown) => Reply::Refused { reason: RefusalReason::ShuttingDown },
            }
        }
        Request::Status => {
            let mut status = serde_json::to_value(&ctx.status).expect("status serializes");
            status["uptime_s"] = ((now_micros() - ctx.status.started_at) / 1_000_000).into();
            Reply::Status { json: status.to_string() }
        }
    }
}

async fn send(tx: &mut (impl AsyncWriteExt + Unpin), reply: &Reply) -> std::io::Result<()> {
    let bytes = frame::encode(reply).map_err(std::io::Error::other)?;
    tx.write_all(&bytes).await
}
