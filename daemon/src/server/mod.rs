//! The daemon: a local socket in a private folder, one task per client
//! connection, the batcher behind them and the spool replayer beside them.
//!
//! [`run`] is the whole daemon; `lcd daemon run` calls it with the signals as
//! its shutdown, and tests call it in-process and wait for its ready signal.

mod connection;
mod listener;
mod lock;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use interprocess::local_socket::tokio::prelude::*;
use lcd_client::spool::Spool;
use tokio::sync::{oneshot, Semaphore};

use crate::ingest::{self, BatchConfig, Ingest};
use crate::paths::{check_private_dir, Paths};
use crate::store::{now_micros, Store};

pub use connection::Limits;
pub use lock::{running_daemon_pid, PidLock};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub paths: Paths,
    pub batch: BatchConfig,
    /// How often the spool is checked for frames to replay.
    pub replay_every: Duration,
    pub limits: Limits,
}

impl DaemonOptions {
    pub fn new(paths: Paths) -> DaemonOptions {
        DaemonOptions {
            paths,
            batch: BatchConfig::default(),
            replay_every: Duration::from_secs(1),
            limits: Limits::default(),
        }
    }
}

/// Sent once the socket accepts connections.
#[derive(Debug, Clone)]
pub struct Ready {
    pub socket: PathBuf,
    pub pid: u32,
}

/// What connections share.
pub(crate) struct Context_ {
    pub ingest: Ingest,
    pub limits: Limits,
    pub own_uid: u32,
    pub status: StatusInfo,
}

/// The facts `lcd status` asks the daemon for.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusInfo {
    pub pid: u32,
    pub version: &'static str,
    pub protocol: u16,
    /// Microseconds since the epoch when the daemon started.
    pub started_at: i64,
    pub socket: PathBuf,
    pub database: PathBuf,
}

/// Runs the daemon until `shutdown` completes, then stops accepting, commits
/// what it holds and removes its socket.
pub async fn run(
    options: DaemonOptions,
    ready: oneshot::Sender<Ready>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let paths = &options.paths;
    check_private_dir(&paths.socket_dir())?;
    check_private_dir(&paths.data_dir)?;
    check_private_dir(&paths.state_dir)?;
    let _lock = PidLock::acquire(&paths.pid_file())?;
    let store =
        Store::open_writer(&paths.database()).with_context(|| format!("opening {}", paths.database().display()))?;
    let listener = listener::bind(&paths.socket)?;

    let (ingest, batcher) = Ingest::start(store, options.batch, tokio::runtime::Handle::current());
    let spool = Spool::new(paths.spool_dir());
    let replayer = tokio::spawn(replay_forever(spool, ingest.clone(), options.replay_every));

    let pid = std::process::id();
    let ctx = Arc::new(Context_ {
        ingest,
        limits: options.limits,
        own_uid: unsafe { libc::geteuid() },
        status: StatusInfo {
            pid,
            version: env!("CARGO_PKG_VERSION"),
            protocol: lcd_client::protocol::PROTOCOL_VERSION,
            started_at: now_micros(),
            socket: paths.socket.clone(),
            database: paths.database(),
        },
    });
    tracing::info!(socket = %paths.socket.display(), pid, "lcd daemon ready");
    let _ = ready.send(Ready { socket: paths.socket.clone(), pid });

    let slots = Arc::new(Semaphore::new(options.limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    let mut refused_for_load = 0u64;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    // Over the limit: refuse, but say so only now and then.
                    if refused_for_load.is_power_of_two() {
                        tracing::warn!(limit = options.limits.max_connections, "too many connections; refusing new ones ({} so far)", refused_for_load + 1);
                    }
                    refused_for_load += 1;
                    continue;
                };
                let ctx = Arc::clone(&ctx);
                connections.spawn(async move {
                    connection::serve(stream, &ctx).await;
                    drop(slot);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    tracing::info!("shutting down");
    drop(listener); // removes the socket file: no new clients
                    // Give connections a moment to finish the request they are in.
    let _ =
        tokio::time::timeout(Duration::from_secs(2), async { while connections.join_next().await.is_some() {} }).await;
    connections.abort_all();
    replayer.abort();
    let _ = replayer.await;
    drop(ctx);
    // The batcher writes what it holds and stops once every handle is gone.
    tokio::task::spawn_blocking(move || batcher.join()).await.ok();
    tracing::info!("stopped");
    Ok(())
}

async fn replay_forever(spool: Spool, ingest: Ingest, every: Duration) {
    // Frames from a newer lcd-hook, set aside by an older daemon, first.
    let future = Spool::new(spool.dir().join("future"));
    for spool in [&future, &spool] {
        report_replay(ingest::replay_spool(spool, &ingest).await);
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if spool.backlog_bytes() > 0 {
            report_replay(ingest::replay_spool(&spool, &ingest).await);
        }
    }
}

fn report_replay(result: Result<ingest::ReplayReport>) {
    match result {
        Ok(report) if report.files > 0 => {
            tracing::info!(files = report.files, events = report.events, dropped = report.dropped, "replayed the spool")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("spool replay failed, will retry: {e:#}"),
    }
}
