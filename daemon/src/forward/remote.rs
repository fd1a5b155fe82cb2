//! The remote sink: finished records, in storage order, POSTed in batches to
//! the team store's `/api/commands/batch`, which ignores ids it already has,
//! so that a retry after a lost answer stores nothing twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::{classify, Backoff, SinkState, Verdict};
use crate::config::RemoteConfig;
use crate::ingest::Ingest;
use crate::store::{CommandRow, RemoteRecord, SinkFilter, Store};

pub const SINK: &str = "remote";
/// How often an idle sink looks for new records.
const POLL: Duration = Duration::from_millis(500);
/// How long a stopped sink (token refused) waits before trying again.
const STOPPED_RETRY: Duration = Duration::from_secs(300);

/// Everything the task needs.
pub struct RemoteSink {
    pub config: RemoteConfig,
    pub token: String,
    pub ingest: Ingest,
    /// A read-only connection of its own.
    pub reader: Arc<Mutex<Store>>,
    pub state: SinkState,
}

impl RemoteSink {
    pub fn filter(&self) -> SinkFilter {
        SinkFilter {
            sink: SINK.into(),
            types: self.config.types.clone(),
            include_imported: self.config.include_imported,
        }
    }

    /// Runs until aborted.
    pub async fn run(self) {
        let client = http_client();
        let url = format!("{}/api/commands/batch", self.config.url.trim_end_matches('/'));
        let filter = self.filter();
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(self.config.retry_max_s.max(1)));
        loop {
            self.refresh_counts(&filter).await;
            let pending = {
                let (reader, filter, n) = (Arc::clone(&self.reader), filter.clone(), self.config.batch_size.max(1));
                tokio::task::spawn_blocking(move || {
                    reader.lock().unwrap_or_else(|e| e.into_inner()).outbox_pending(&filter, n)
                })
                .await
            };
            let pending = match pending {
                Ok(Ok(rows)) => rows,
                Ok(Err(e)) => {
                    self.state.failed("retrying", format!("reading the outbox: {e}"));
                    tokio::time::sleep(backoff.next(None)).await;
                    continue;
                }
                Err(_) => return,
            };
            if pending.is_empty() {
                let f = filter.clone();
                let _ = self.ingest.maintain(Box::new(move |store| store.outbox_advance(&f).map(|_| 0))).await;
                tokio::time::sleep(POLL).await;
                continue;
            }
            let body = json!({ "records": pending.iter().map(|(_, row)| to_remote(row)).collect::<Vec<_>>() });
            let (verdict, refused) = post(&client, &url, &self.token, &body).await;
            let mut pks: Vec<i64> = pending.iter().map(|(pk, _)| *pk).collect();
            match verdict {
                Verdict::Done => {
                    let f = filter.clone();
                    // The records the store refused by name are set aside, each
                    // with its reason; the rest of the batch is delivered.
                    let refused: Vec<(i64, String)> =
                        refused.into_iter().filter_map(|(i, reason)| Some((*pks.get(i)?, reason))).collect();
                    pks.retain(|pk| !refused.iter().any(|(r, _)| r == pk));
                    let refused_none = refused.is_empty();
                    if !refused_none {
                        self.state.failed(
                            "ok",
                            format!(
                                "{} records put aside: {} (re-queue with: lcd forward retry)",
                                refused.len(),
                                refused[0].1
                            ),
                        );
                    }
                    if let Err(e) = self
                        .ingest
                        .maintain(Box::new(move |store| {
                            for (pk, reason) in &refused {
                                store.outbox_mark(&f, &[*pk], "failed", Some(reason))?;
                            }
                            store.outbox_mark(&f, &pks, "sent", None).map(|_| 0)
                        }))
                        .await
                    {
                        // Delivered but not noted: the next attempt is a harmless duplicate.
                        self.state.failed("retrying", format!("noting delivery: {e}"));
                    }
                    if refused_none {
                        self.state.succeeded();
                    }
                    backoff.reset();
                }
                Verdict::Retry { after, reason } => {
                    self.state.failed("retrying", reason);
                    self.refresh_counts(&filter).await;
                    tokio::time::sleep(backoff.next(after)).await;
                }
                Verdict::Reject { reason } => {
                    self.state.failed(
                        "ok",
                        format!("{} records put aside: {reason} (re-queue with: lcd forward retry)", pks.len()),
                    );
                    let f = filter.clone();
                    let _ = self
                        .ingest
                        .maintain(Box::new(move |store| {
                            store.outbox_mark(&f, &pks, "failed", Some(&reason)).map(|_| 0)
                        }))
                        .await;
                }
                Verdict::Stop { reason } => {
                    self.refresh_counts(&filter).await;
                    self.state.failed("stopped", format!("the remote store refused the token ({reason}); fix [remote] in the config, then: lcd daemon reload"));
                    // Keep the backlog figure current while waiting.
                    let until = tokio::time::Instant::now() + STOPPED_RETRY;
                    while tokio::time::Instant::now() < until {
                        self.refresh_counts(&filter).await;
                        tokio::time::sleep(POLL * 4).await;
                    }
                }
            }
        }
    }

    async fn refresh_counts(&self, filter: &SinkFilter) {
        let (reader, filter) = (Arc::clone(&self.reader), filter.clone());
        let counts = tokio::task::spawn_blocking(move || {
            let store = reader.lock().unwrap_or_else(|e| e.into_inner());
            Ok::<_, crate::store::StoreError>((
                store.outbox_backlog(&filter)?,
                store.outbox_failed(&filter.sink)?.len() as u64,
            ))
        })
        .await;
        if let Ok(Ok((backlog, failed))) = counts {
            self.state.update(|s| {
                s.backlog = backlog;
                s.failed = failed;
            });
        }
    }
}

/// The HTTP client every sink uses: bounded waits, lcd's User-Agent.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("lcd/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client with default TLS")
}

/// POSTs one batch: the verdict on the request, and for a delivered one the
/// records the store refused one by one (index in the batch, reason).
async fn post(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> (Verdict, Vec<(usize, String)>) {
    let sent = client.post(url).bearer_auth(token).json(body).send().await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            let reason = format!("cannot reach {url}: {}", without_url(&e));
            return (Verdict::Retry { after: None, reason }, Vec::new());
        }
    };
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(String::from);
    match response.text().await {
        Ok(text) => (classify(status, retry_after.as_deref(), &text), refused_records(&text)),
        Err(e) => {
            let reason = format!("the answer from {url} broke off: {}", without_url(&e));
            (Verdict::Retry { after: None, reason }, Vec::new())
        }
    }
}

/// The `refused` list of a batch answer: `[{index, status, error}]`.
fn refused_records(body: &str) -> Vec<(usize, String)> {
    let Ok(answer) = serde_json::from_str::<Value>(body) else { return Vec::new() };
    let refused = answer["refused"].as_array().into_iter().flatten();
    refused
        .filter_map(|r| {
            let index = usize::try_from(r["index"].as_u64()?).ok()?;
            let status = r["status"].as_u64().unwrap_or(400);
            Some((index, format!("HTTP {status}: {}", r["error"].as_str().unwrap_or("refused"))))
        })
        .collect()
}

/// reqwest's message without the URL it repeats (we name it ourselves).
fn without_url(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        deepest = s.to_string();
        source = s.source();
    }
    deepest
}

/// A record in the team store's shape.
pub fn to_remote(row: &CommandRow) -> RemoteRecord {
    RemoteRecord::from(row)
}
