//! The daemon: a local socket in a private folder, one task per client
//! connection, the batcher behind them and the spool replayer beside them.
//!
//! [`run`] is the whole daemon; `lcd daemon run` calls it with the signals as
//! its shutdown, and tests call it in-process and wait for its ready signal.

mod connection;
mod listener;
mod lock;
mod registry;
mod sessions;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use interprocess::local_socket::tokio::prelude::*;
use lcd_protocol::spool::Spool;
use lcd_protocol::{ConfigStatus, DaemonStatus, SinkHealth};
use tokio::sync::oneshot;

use crate::config::{keep_last_good, Config, ConfigProblem, DaemonConfig, Fallback, Loaded, TokenSource};
use crate::enrich::Enricher;
use crate::forward::github::GithubSink;
use crate::forward::remote::RemoteSink;
use crate::forward::{Driver, Outgoing, Sink, SinkState};
use crate::ingest::{self, BatchConfig, Ingest};
use crate::paths::{check_private_dir, Paths};
use crate::store::Store;
use crate::time::now_micros;

pub use lock::{running_daemon_pid, PidLock};
use registry::Registry;
use sessions::Sessions;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub paths: Paths,
    pub config: Config,
    /// Why `config` is not the config file's, when it is broken.
    pub problem: Option<ConfigProblem>,
}

impl DaemonOptions {
    /// Options from the user's config file (and `LCD_*` variables); when
    /// the file is broken, its last good version or the defaults, and what
    /// is wrong: a broken file never keeps the daemon from recording.
    pub fn load(paths: Paths) -> DaemonOptions {
        let Loaded { config, problem } = Config::load_or_last_good(&paths.config_file(), &paths.last_good_config());
        if let Some(problem) = &problem {
            tracing::error!(
                "the config file is broken; running with {}: {}",
                problem.fallback,
                one_line_text(&problem.error)
            );
        }
        DaemonOptions { paths, config, problem }
    }

    /// Options with the default configuration, whatever the environment says.
    pub fn new(paths: Paths) -> DaemonOptions {
        DaemonOptions { paths, config: Config::default(), problem: None }
    }
}

/// Sent once the socket accepts connections.
#[derive(Debug, Clone)]
pub struct Ready {
    pub socket: PathBuf,
    pub pid: u32,
}

/// What connections share.
pub(crate) struct Shared {
    pub ingest: Ingest,
    /// The `[daemon]` settings; replaced on SIGHUP.
    pub settings: RwLock<DaemonConfig>,
    /// Enrichment rules from `[capture]`; replaced on SIGHUP.
    pub enricher: RwLock<Arc<Enricher>>,
    pub own_uid: u32,
    pub status: StatusInfo,
    pub connections: Registry,
    /// The forwarding tasks and their status; replaced on SIGHUP.
    pub forwarders: Mutex<Vec<(SinkState, tokio::task::JoinHandle<()>)>>,
    /// Whether the config file is in effect; updated on SIGHUP.
    pub config: RwLock<ConfigState>,
    /// The shells heard from.
    pub sessions: Sessions,
}

/// What `lcd status` and `lcd daemon reload` learn of the config file.
pub(crate) struct ConfigState {
    pub problem: Option<ConfigProblem>,
    /// Times the file was read (at start, then per SIGHUP), good or not:
    /// `lcd daemon reload` waits for it to grow.
    pub loads: u64,
}

impl Shared {
    pub fn settings(&self) -> DaemonConfig {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn enricher(&self) -> Arc<Enricher> {
        Arc::clone(&self.enricher.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// What `lcd status` shows of the daemon, as it is now.
    pub fn daemon_status(&self) -> DaemonStatus {
        let StatusInfo { pid, version, protocol, started_at, ref socket, ref database } = self.status;
        DaemonStatus {
            pid,
            version: version.into(),
            protocol,
            started_at,
            uptime_s: (now_micros().saturating_sub(started_at) / 1_000_000).max(0) as u64,
            socket: socket.clone(),
            database: database.clone(),
            connections: self.connections.count() as u64,
            sinks: self.forwarders.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(s, _)| s.get()).collect(),
            config: {
                let state = self.config.read().unwrap_or_else(|e| e.into_inner());
                ConfigStatus {
                    loads: state.loads,
                    error: state.problem.as_ref().map(|p| p.error.clone()),
                    running_with: state.problem.as_ref().map(|p| p.fallback.to_string()),
                }
            },
            shells: self.sessions.open(self.settings().stuck_after_s),
        }
    }

    /// Stops the forwarders running and starts those `config` asks for.
    pub fn start_forwarders(&self, config: &Config) {
        let mut forwarders = self.forwarders.lock().unwrap_or_else(|e| e.into_inner());
        for (_, task) in forwarders.drain(..) {
            task.abort();
        }
        // The rules of the enricher in force (a reload swaps it first).
        let enricher = self.enricher();
        let outgoing: Outgoing = Arc::new(move |row| enricher.outgoing(row));
        if let Some(remote) = &config.remote {
            let outgoing = Arc::clone(&outgoing);
            forwarders.push(
                self.spawn_sink(&remote.url, remote.auth(), |token| RemoteSink::new(remote.clone(), token, outgoing)),
            );
        }
        if let Some(github) = &config.github {
            let remote_url = config.remote.as_ref().map(|r| r.url.clone());
            forwarders.push(self.spawn_sink(&github.api_url, github.auth(), |token| {
                GithubSink::new(github.clone(), token, remote_url, outgoing)
            }));
        }
    }

    /// Starts one sink's driver, or records in its status why it cannot run.
    fn spawn_sink<S: Sink>(
        &self,
        target: &str,
        auth: TokenSource,
        sink: impl FnOnce(String) -> S,
    ) -> (SinkState, tokio::task::JoinHandle<()>) {
        let state = SinkState::new(S::NAME, target);
        let stopped = |why: String| {
            state.failed(SinkHealth::Stopped, why);
            tokio::spawn(async {})
        };
        let task = match (auth.resolve(S::NAME), Store::open_reader(&self.status.database)) {
            (Ok(Some(token)), Ok(Some(reader))) => {
                let driver =
                    Driver { writer: self.ingest.clone(), reader: Arc::new(Mutex::new(reader)), state: state.clone() };
                tokio::spawn(driver.run(sink(token)))
            }
            (Ok(None), _) => stopped(format!("[{}] has no token, token_env or token_command", S::NAME)),
            (Err(e), _) => stopped(format!("{e:#}")),
            (_, Err(e)) => stopped(format!("cannot read the database: {e}")),
            (_, Ok(None)) => tokio::spawn(async {}),
        };
        (state, task)
    }
}

/// What the daemon knows of itself from the start: the fixed part of its
/// [`DaemonStatus`].
#[derive(Debug, Clone)]
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
/// what it holds and removes its socket. SIGHUP re-reads the config file.
pub async fn run(
    options: DaemonOptions,
    ready: oneshot::Sender<Ready>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let DaemonOptions { paths, config, problem } = options;
    check_private_dir(&paths.socket_dir())?;
    check_private_dir(&paths.data_dir)?;
    check_private_dir(&paths.state_dir)?;
    let _lock = PidLock::acquire(&paths.pid_file())?;
    raise_open_file_limit();
    let store =
        Store::open_writer(&paths.database()).with_context(|| format!("opening {}", paths.database().display()))?;
    let listener = listener::bind(&paths.socket)?;

    let spool = Spool::new(paths.spool_dir()).with_max_bytes(config.daemon.spool_max_bytes);
    let batch =
        BatchConfig { max_events: config.daemon.batch_max_events.max(1), max_wait: config.daemon.batch_max_wait() };
    let (ingest, batcher) = Ingest::start(store, spool.clone(), batch, tokio::runtime::Handle::current());
    let pid = std::process::id();
    let shared = Arc::new(Shared {
        ingest,
        settings: RwLock::new(config.daemon.clone()),
        enricher: RwLock::new(Arc::new(Enricher::new(&config.capture)?)),
        own_uid: unsafe { libc::geteuid() },
        status: StatusInfo {
            pid,
            version: env!("CARGO_PKG_VERSION"),
            protocol: lcd_protocol::protocol::PROTOCOL_VERSION,
            started_at: now_micros(),
            socket: paths.socket.clone(),
            database: paths.database(),
        },
        connections: Registry::default(),
        forwarders: Mutex::new(Vec::new()),
        config: RwLock::new(ConfigState { problem, loads: 1 }),
        sessions: Sessions::new(),
    });
    shared.start_forwarders(&config);
    // Installed before "ready": a SIGHUP must never find its default (exit).
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let background = [
        tokio::spawn(replay_forever(spool, Arc::clone(&shared))),
        tokio::spawn(check_orphans_forever(Arc::clone(&shared))),
        tokio::spawn(apply_retention_daily(Arc::clone(&shared))),
        tokio::spawn(reload_on_hangup(hangups, paths.clone(), Arc::clone(&shared))),
    ];
    tracing::info!(socket = %paths.socket.display(), pid, "lcd daemon ready");
    let _ = ready.send(Ready { socket: paths.socket.clone(), pid });

    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    let shared = Arc::clone(&shared);
                    connections.spawn(async move { connection::serve(stream, &shared).await });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    tracing::info!("shutting down");
    drop(listener); // removes the socket file: no new clients
                    // Let connections finish the request they are in; idle ones are told to go.
    shared.connections.close_all();
    let _ =
        tokio::time::timeout(Duration::from_secs(2), async { while connections.join_next().await.is_some() {} }).await;
    connections.abort_all();
    for task in background {
        task.abort();
        let _ = task.await;
    }
    for (_, task) in shared.forwarders.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        task.abort();
    }
    drop(shared);
    // The batcher writes what it holds and stops once every handle is gone.
    tokio::task::spawn_blocking(move || batcher.join()).await.ok();
    tracing::info!("stopped");
    Ok(())
}

async fn replay_forever(spool: Spool, shared: Arc<Shared>) {
    // Frames from a newer lcd-hook, set aside by an older daemon, first.
    let future = ingest::future_spool(&spool);
    for spool in [&future, &spool] {
        report_replay(ingest::replay_spool(spool, &shared.ingest, &shared.enricher()).await);
    }
    loop {
        tokio::time::sleep(Duration::from_millis(shared.settings().replay_interval_ms.max(10))).await;
        if spool.backlog_bytes() > 0 {
            report_replay(ingest::replay_spool(&spool, &shared.ingest, &shared.enricher()).await);
        }
    }
}

fn report_replay(result: Result<ingest::ReplayReport>) {
    match result {
        Ok(report) if report.files > 0 => {
            tracing::info!(
                files = report.files,
                events = report.events,
                dropped = report.dropped,
                kept_for_newer = report.kept_for_newer,
                "replayed the spool"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::debug!("spool replay failed, will retry: {e:#}"),
    }
}

async fn check_orphans_forever(shared: Arc<Shared>) {
    let host = lcd_protocol::sys::hostname();
    loop {
        match shared.ingest.maintain(ingest::mark_orphans(host.clone())).await {
            Ok(count) => tracing::debug!("{count} orphaned commands marked unknown"),
            Err(e) => tracing::debug!("orphan check failed: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(shared.settings().orphan_check_s.max(1))).await;
    }
}

/// `retention_days`: when the daemon starts and every day after, commands
/// older than that are deleted.
async fn apply_retention_daily(shared: Arc<Shared>) {
    loop {
        let days = shared.settings().retention_days;
        if days > 0 {
            let before = now_micros() - i64::from(days) * 86_400 * 1_000_000;
            match connection::prune(&shared, before, None, false).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("retention: deleted {n} commands older than {days} days"),
                Err(e) => tracing::warn!("retention not applied, will retry: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    }
}

/// SIGHUP: read the config file again; keep the settings in effect if it
/// is broken, and say so in the status until it is fixed.
async fn reload_on_hangup(mut hangups: tokio::signal::unix::Signal, paths: Paths, shared: Arc<Shared>) {
    while hangups.recv().await.is_some() {
        let problem = match Config::load(&paths.config_file()) {
            Ok(config) => match Enricher::new(&config.capture) {
                Ok(enricher) => {
                    *shared.enricher.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(enricher);
                    shared.start_forwarders(&config);
                    *shared.settings.write().unwrap_or_else(|e| e.into_inner()) = config.daemon;
                    // What loaded is what a restart falls back to.
                    if let Err(e) = keep_last_good(&paths.config_file(), &paths.last_good_config()) {
                        tracing::warn!("could not keep a copy of the good config: {e:#}");
                    }
                    tracing::info!("configuration reloaded (batch sizes apply after a restart)");
                    None
                }
                Err(e) => Some(format!("{e:#}")),
            },
            Err(e) => Some(format!("{e:#}")),
        };
        let mut state = shared.config.write().unwrap_or_else(|e| e.into_inner());
        state.loads += 1;
        match problem {
            None => state.problem = None,
            Some(error) => {
                tracing::error!("configuration not reloaded, keeping the current one: {}", one_line_text(&error));
                // Still running with what ran before: the fallback of the
                // start if it had one, else the file as it last loaded.
                let fallback = state.problem.as_ref().map(|p| p.fallback).unwrap_or_else(|| Fallback::LastGood {
                    saved: std::fs::metadata(paths.last_good_config())
                        .and_then(|m| m.modified())
                        .unwrap_or_else(|_| std::time::SystemTime::now()),
                });
                state.problem = Some(ConfigProblem { error, fallback });
            }
        }
    }
}

/// An error and its causes on one log line (TOML errors span several).
fn one_line_text(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Many shells mean many connections: allow as many descriptors as we may.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
