//! Group commit: events from every connection are written together, one
//! transaction per batch, and each sender is told once its events are durable.
//!
//! The batcher runs on its own thread because SQLite calls block; it owns the
//! daemon's only writer connection.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lcd_client::Event;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::store::Store;

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

/// Why events were not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("storage unavailable: {0}")]
    Storage(String),
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

struct Job {
    events: Vec<Event>,
    done: oneshot::Sender<Result<(), IngestError>>,
}

/// The handle connections use to store events.
#[derive(Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
}

impl Ingest {
    /// Starts the batcher thread. It stops once every `Ingest` clone is
    /// dropped, after writing what it holds.
    pub fn start(store: Store, config: BatchConfig, runtime: Handle) -> (Ingest, JoinHandle<()>) {
        let (jobs, rx) = mpsc::channel(4096);
        let thread = std::thread::Builder::new()
            .name("lcd-batcher".into())
            .spawn(move || run(store, config, rx, runtime))
            .expect("spawn the batcher thread");
        (Ingest { jobs }, thread)
    }

    /// Stores `events`; returns once they are committed.
    pub async fn store(&self, events: Vec<Event>) -> Result<(), IngestError> {
        let (done, wait) = oneshot::channel();
        self.jobs.send(Job { events, done }).await.map_err(|_| IngestError::ShuttingDown)?;
        wait.await.map_err(|_| IngestError::ShuttingDown)?
    }
}

fn run(mut store: Store, config: BatchConfig, mut rx: mpsc::Receiver<Job>, runtime: Handle) {
    let mut failing: Option<String> = None;
    while let Some(first) = rx.blocking_recv() {
        let deadline = Instant::now() + config.max_wait;
        let mut count = first.events.len();
        let mut jobs = vec![first];
        while count < config.max_events {
            let next = runtime.block_on(async { tokio::time::timeout_at(deadline.into(), rx.recv()).await });
            match next {
                Ok(Some(job)) => {
                    count += job.events.len();
                    jobs.push(job);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let events: Vec<Event> = jobs.iter().flat_map(|j| j.events.iter().cloned()).collect();
        let result = store.apply(&events).map_err(|e| IngestError::Storage(e.to_string()));
        // One line when storage starts failing and one when it recovers, not
        // one per batch.
        match (&result, &failing) {
            (Err(IngestError::Storage(e)), None) => {
                tracing::error!("cannot write to the database, clients will spool: {e}");
                failing = Some(e.clone());
            }
            (Ok(()), Some(_)) => {
                tracing::info!("database writes work again");
                failing = None;
            }
            _ => {}
        }
        tracing::debug!(events = events.len(), ok = result.is_ok(), "batch written");
        for job in jobs {
            let _ = job.done.send(result.clone());
        }
    }
}
