//! The one loop every sink runs: read what is pending on a read-only
//! connection, hand it to the sink to deliver, note the outcome through the
//! writer, back off (with jitter, honouring `Retry-After`) while it fails,
//! wait while the token is refused, and keep the status and counts current.
//!
//! A sink implements [`Sink`]: what it takes, how it delivers one piece of
//! work, and what it writes down afterwards. Nothing here knows HTTP
//! endpoints or tables.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lcd_protocol::SinkHealth;

use super::{http_client, Backoff, SinkState, Verdict};

use crate::store::{Maintenance, Store, StoreError, WriteError, Writer};

/// How often an idle sink looks for new work.
const POLL: Duration = Duration::from_millis(500);
/// How long a stopped sink (token refused) waits before trying again.
const STOPPED_RETRY: Duration = Duration::from_secs(300);
/// The first wait after a failure; it doubles up to the sink's maximum.
pub(super) const FIRST_RETRY: Duration = Duration::from_secs(1);

/// A query a sink asks of the database, run on the driver's read-only
/// connection off the async threads.
pub type ReadTask<T> = Box<dyn FnOnce(&Store) -> Result<T, StoreError> + Send>;

/// What `lcd status` counts for a sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Still to deliver.
    pub backlog: u64,
    /// Refused for good and set aside.
    pub failed: u64,
}

/// What became of a piece of work, for the sink to write down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Refused for good, with the reason; the others go on.
    PutAside(String),
}

/// One destination for records. The [`Driver`] calls these in turn; none of
/// them sleeps or retries on its own.
pub trait Sink: Send + 'static {
    /// One piece of work: a batch of records, the next step of a deploy run.
    type Work: Send + 'static;

    /// Its name in `lcd status`, and its config section without brackets.
    const NAME: &'static str;
    /// Who answers, as messages name it (`the remote store`, `GitHub`).
    const PEER: &'static str;

    /// The longest wait between two attempts while delivery fails.
    fn retry_max(&self) -> Duration;

    /// Done once before the first delivery.
    fn start(&mut self, _writer: &impl Writer) -> impl Future<Output = Result<(), WriteError>> + Send {
        async { Ok(()) }
    }

    /// The next piece of work, if any.
    fn pending(&self) -> ReadTask<Option<Self::Work>>;

    /// Backlog and failures, for `lcd status`.
    fn counts(&self) -> ReadTask<Counts>;

    /// What to write down while there is nothing to do, if anything.
    fn idle(&self) -> Option<Maintenance> {
        None
    }

    /// Delivers `work`; a delivered step may move `work` on (a deploy run's
    /// stage), for [`Sink::note`] to record.
    fn deliver(&mut self, client: &reqwest::Client, work: &mut Self::Work) -> impl Future<Output = Verdict> + Send;

    /// Writes down what became of `work`.
    fn note(&self, work: Self::Work, outcome: Outcome) -> Maintenance;

    /// What the status says when `work` is set aside for `reason`.
    fn put_aside(&self, work: &Self::Work, reason: &str) -> String;

    /// What the status says when `work` was delivered but parts of it were
    /// refused one by one (and so set aside by [`Sink::note`]).
    fn partly_put_aside(&self, _work: &Self::Work) -> Option<String> {
        None
    }
}

/// What every sink's loop shares: the writer, a read-only connection of its
/// own, and the status `lcd status` reads.
pub struct Driver<W> {
    /// The one writer connection, through whoever owns it.
    pub writer: W,
    pub reader: Arc<Mutex<Store>>,
    pub state: SinkState,
}

impl<W: Writer> Driver<W> {
    /// Runs `sink` until aborted.
    pub async fn run<S: Sink>(self, mut sink: S) {
        if let Err(e) = sink.start(&self.writer).await {
            self.state.failed(SinkHealth::Stopped, format!("cannot start: {e}"));
            return;
        }
        let client = http_client();
        let mut backoff = Backoff::new(FIRST_RETRY, sink.retry_max().max(FIRST_RETRY));
        loop {
            self.refresh_counts(sink.counts()).await;
            let mut work = match self.read(sink.pending()).await {
                Some(Ok(Some(work))) => work,
                Some(Ok(None)) => {
                    if let Some(task) = sink.idle() {
                        let _ = self.writer.write(task).await;
                    }
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Some(Err(e)) => {
                    self.state.failed(SinkHealth::Retrying, format!("reading what {} still needs: {e}", S::PEER));
                    tokio::time::sleep(backoff.next(None)).await;
                    continue;
                }
                None => return,
            };
            match sink.deliver(&client, &mut work).await {
                Verdict::Done => {
                    let refused = sink.partly_put_aside(&work);
                    if let Err(e) = self.writer.write(sink.note(work, Outcome::Delivered)).await {
                        // Delivered but not noted: the next attempt is a harmless duplicate.
                        self.state.failed(SinkHealth::Retrying, format!("noting delivery: {e}"));
                    }
                    match refused {
                        Some(message) => self.state.failed(SinkHealth::Ok, message),
                        None => self.state.succeeded(),
                    }
                    backoff.reset();
                }
                Verdict::Retry { after, reason } => {
                    self.state.failed(SinkHealth::Retrying, reason);
                    self.refresh_counts(sink.counts()).await;
                    tokio::time::sleep(backoff.next(after)).await;
                }
                Verdict::Reject { reason } => {
                    self.state.failed(SinkHealth::Ok, sink.put_aside(&work, &reason));
                    let _ = self.writer.write(sink.note(work, Outcome::PutAside(reason))).await;
                }
                Verdict::Stop { reason } => {
                    self.refresh_counts(sink.counts()).await;
                    self.state.failed(
                        SinkHealth::Stopped,
                        format!(
                            "{} refused the token ({reason}); fix [{}] in the config, then: lcd daemon reload",
                            S::PEER,
                            S::NAME
                        ),
                    );
                    // Keep the backlog figure current while waiting.
                    let until = tokio::time::Instant::now() + STOPPED_RETRY;
                    while tokio::time::Instant::now() < until {
                        tokio::time::sleep(POLL * 4).await;
                        self.refresh_counts(sink.counts()).await;
                    }
                }
            }
        }
    }

    /// Runs `task` on the reader; `None` when the runtime is going away.
    async fn read<T: Send + 'static>(&self, task: ReadTask<T>) -> Option<Result<T, StoreError>> {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || task(&reader.lock().unwrap_or_else(|e| e.into_inner()))).await.ok()
    }

    async fn refresh_counts(&self, counts: ReadTask<Counts>) {
        if let Some(Ok(counts)) = self.read(counts).await {
            self.state.update(|s| {
                s.backlog = counts.backlog;
                s.failed = counts.failed;
            });
        }
    }
}
