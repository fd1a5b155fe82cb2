//! Group commit: events from every connection are written together, one
//! transaction per batch, and each sender is told once its events are durable.
//!
//! The batcher runs on its own thread because SQLite calls block; it owns the
//! daemon's only writer connection. When the database cannot be written (disk
//! full, locked, removed), events from clients go to the daemon's spool
//! instead, which is durable too: the client is answered, and the spool is
//! replayed once the database works again.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lcd_protocol::sender::record_frames;
use lcd_protocol::spool::{Appended, Spool};

use crate::store::Record;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Maintenance, Store, WriteError, Writer};

/// When a batch is written: at `max_events` events or `max_wait` after its
/// first event, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    pub max_events: usize,
    pub max_wait: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_events: 2000, max_wait: Duration::from_millis(5) }
    }
}

enum Work {
    /// `spill`: on storage failure, keep the events in the daemon's spool
    /// (events from clients) rather than fail (events replayed from there).
    Records {
        records: Vec<Record>,
        spill: bool,
        done: oneshot::Sender<Result<(), WriteError>>,
    },
    Maintenance {
        task: Maintenance,
        done: oneshot::Sender<Result<u64, WriteError>>,
    },
}

/// The handle connections use to store events.
#[derive(Clone)]
pub struct Ingest {
    work: mpsc::Sender<Work>,
}

impl Ingest {
    /// Starts the batcher thread. It stops once every `Ingest` clone is
    /// dropped, after writing what it holds.
    pub fn start(store: Store, spool: Spool, config: BatchConfig, runtime: Handle) -> (Ingest, JoinHandle<()>) {
        let (work, rx) = mpsc::channel(4096);
        let thread = std::thread::Builder::new()
            .name("lcd-batcher".into())
            .spawn(move || Batcher { store, spool, config, runtime, failing: None }.run(rx))
            .expect("spawn the batcher thread");
        (Ingest { work }, thread)
    }

    /// Stores events from a client; returns once they are durable (committed,
    /// or in the daemon's spool when the database cannot be written).
    pub async fn store(&self, records: Vec<Record>) -> Result<(), WriteError> {
        self.send(records, true).await
    }

    /// Stores events replayed from the spool; fails when the database cannot
    /// be written, so that the spool file is kept for a later try.
    pub async fn store_replayed(&self, records: Vec<Record>) -> Result<(), WriteError> {
        self.send(records, false).await
    }

    async fn send(&self, records: Vec<Record>, spill: bool) -> Result<(), WriteError> {
        let (done, wait) = oneshot::channel();
        self.work.send(Work::Records { records, spill, done }).await.map_err(|_| WriteError::ShuttingDown)?;
        wait.await.map_err(|_| WriteError::ShuttingDown)?
    }

    /// Runs `task` on the writer connection between batches.
    pub async fn maintain(&self, task: Maintenance) -> Result<u64, WriteError> {
        let (done, wait) = oneshot::channel();
        self.work.send(Work::Maintenance { task, done }).await.map_err(|_| WriteError::ShuttingDown)?;
        wait.await.map_err(|_| WriteError::ShuttingDown)?
    }
}

impl Writer for Ingest {
    async fn write(&self, task: Maintenance) -> Result<u64, WriteError> {
        self.maintain(task).await
    }
}

struct Batcher {
    store: Store,
    spool: Spool,
    config: BatchConfig,
    runtime: Handle,
    /// The storage error being reported, so that it is logged once.
    failing: Option<String>,
}

type Pending = (Vec<Record>, bool, oneshot::Sender<Result<(), WriteError>>);

/// Rows indexed for search in one go, between batches.
const SEARCH_SLICE: usize = 1000;
/// How often an idle batcher looks for rows to index.
const SEARCH_CHECK: Duration = Duration::from_secs(1);

impl Batcher {
    fn run(mut self, mut rx: mpsc::Receiver<Work>) {
        // The search index is filled when there is nothing else to do.
        let mut search_behind = true;
        loop {
            let first = if search_behind {
                match rx.try_recv() {
                    Ok(work) => work,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        search_behind = self.index_search();
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                match self.runtime.block_on(async { tokio::time::timeout(SEARCH_CHECK, rx.recv()).await }) {
                    Ok(Some(work)) => work,
                    Ok(None) => break,
                    Err(_) => {
                        search_behind = self.index_search();
                        continue;
                    }
                }
            };
            let mut batch: Vec<Pending> = Vec::new();
            let mut count = 0;
            let mut next = Some(first);
            let deadline = Instant::now() + self.config.max_wait;
            while let Some(work) = next.take() {
                match work {
                    Work::Records { records, spill, done } => {
                        count += records.len();
                        batch.push((records, spill, done));
                    }
                    Work::Maintenance { task, done } => {
                        // Keep order: what came before the task is written first.
                        self.write(std::mem::take(&mut batch));
                        count = 0;
                        self.reopen_if_replaced();
                        let _ = done.send(task(&mut self.store).map_err(|e| WriteError::Storage(e.to_string())));
                    }
                }
                if count >= self.config.max_events {
                    break;
                }
                next = self
                    .runtime
                    .block_on(async { tokio::time::timeout_at(deadline.into(), rx.recv()).await })
                    .ok()
                    .flatten();
            }
            self.write(batch);
        }
    }

    /// Indexes one slice of rows for text search; whether more are waiting.
    fn index_search(&mut self) -> bool {
        match self.store.index_search(SEARCH_SLICE) {
            Ok(n) => n >= SEARCH_SLICE,
            Err(e) => {
                tracing::debug!("search indexing failed: {e}");
                false
            }
        }
    }

    fn write(&mut self, batch: Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        self.reopen_if_replaced();
        let records: Vec<Record> = batch.iter().flat_map(|(r, _, _)| r.iter().cloned()).collect();
        let result = self.store.apply(&records);
        tracing::debug!(records = records.len(), ok = result.is_ok(), "batch written");
        match result {
            Ok(()) => {
                if self.failing.take().is_some() {
                    tracing::info!("database writes work again");
                }
                for (_, _, done) in batch {
                    let _ = done.send(Ok(()));
                }
            }
            Err(e) => {
                let reason = e.to_string();
                if self.failing.as_deref() != Some(reason.as_str()) {
                    tracing::error!(
                        "cannot write to the database, keeping records in the spool until it works: {reason}"
                    );
                    self.failing = Some(reason.clone());
                }
                for (records, spill, done) in batch {
                    let result = if spill { self.spill(records) } else { Err(WriteError::Storage(reason.clone())) };
                    let _ = done.send(result);
                }
            }
        }
    }

    /// Keeps events in the daemon's spool; durable, so the client may let go.
    /// When the spool is full they are dropped and counted there (the client
    /// is answered all the same: its own spool is that same full folder).
    fn spill(&self, records: Vec<Record>) -> Result<(), WriteError> {
        for frame in record_frames(records.into_iter().map(Record::into_event).collect(), usize::MAX) {
            let appended = self
                .spool
                .append(&frame)
                .map_err(|e| WriteError::Storage(format!("database and spool both failed: {e}")))?;
            if let Appended::Dropped { gap, first: true } = appended {
                tracing::error!(dropped_events = gap.events, "{}", self.spool.full_message());
            }
        }
        Ok(())
    }

    /// A database file removed or replaced underneath us would swallow every
    /// later write into an unlinked file: open the one at the path instead.
    fn reopen_if_replaced(&mut self) {
        if !self.store.file_replaced() {
            return;
        }
        tracing::warn!(path = %self.store.path().display(), "the database file was removed or replaced; opening it anew");
        match Store::open_writer(self.store.path()) {
            Ok(store) => self.store = store,
            Err(e) => tracing::error!("cannot reopen the database: {e}"),
        }
    }
}
