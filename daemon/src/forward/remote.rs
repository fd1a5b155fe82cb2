//! The remote sink: finished records, in storage order, POSTed in batches to
//! the team store's `/api/commands/batch`, which ignores ids it already has,
//! so that a retry after a lost answer stores nothing twice. A record the
//! store refuses is named in its answer and set aside alone; its neighbours
//! are delivered.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::exchange;
use super::{classify, Counts, Outcome, Outgoing, ReadTask, Sink, Verdict};
use crate::config::RemoteConfig;
use crate::store::{remote_copy, CommandRow, Maintenance, OutboxState, Pending, RemoteRecord, SinkFilter};

/// The records of one POST, with their `pk` (those the filter leaves out
/// go as their chain links only), and after delivery those the store refused
/// (pk, reason).
pub struct Batch {
    rows: Vec<Pending>,
    refused: Vec<(i64, String)>,
}

impl Batch {
    /// The records sent whole, in the order of the POST's `records`.
    fn records(&self) -> impl Iterator<Item = &Pending> {
        self.rows.iter().filter(|p| p.content)
    }
}

/// The link of a record sent without its content: what the team store
/// needs to keep the chain whole, nothing of the command.
fn link(row: &CommandRow) -> Value {
    json!({
        "uuid": row.id,
        "session": row.session,
        "chain_seq": row.chain_seq,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
        "started_at": row.started_at,
    })
}

/// The team store: what it takes, and how a batch goes there.
pub struct RemoteSink {
    config: RemoteConfig,
    token: String,
    /// `/api/commands/batch` under the configured URL.
    url: String,
    filter: SinkFilter,
    outgoing: Outgoing,
}

impl RemoteSink {
    pub fn new(config: RemoteConfig, token: String, outgoing: Outgoing) -> RemoteSink {
        let url = format!("{}/api/commands/batch", config.url.trim_end_matches('/'));
        let filter = SinkFilter {
            sink: Self::NAME.into(),
            types: config.types.clone(),
            include_imported: config.include_imported,
            links: true,
        };
        RemoteSink { config, token, url, filter, outgoing }
    }
}

impl Sink for RemoteSink {
    type Work = Batch;
    const NAME: &'static str = "remote";
    const PEER: &'static str = "the remote store";

    fn retry_max(&self) -> Duration {
        Duration::from_secs(self.config.retry_max_s)
    }

    fn pending(&self) -> ReadTask<Option<Batch>> {
        let (filter, n) = (self.filter.clone(), self.config.batch_size.max(1));
        Box::new(move |store| {
            let rows = store.outbox_pending(&filter, n)?;
            Ok((!rows.is_empty()).then_some(Batch { rows, refused: Vec::new() }))
        })
    }

    fn counts(&self) -> ReadTask<Counts> {
        let filter = self.filter.clone();
        Box::new(move |store| {
            Ok(Counts {
                backlog: store.outbox_backlog(&filter)?,
                failed: store.outbox_failed(&filter.sink)?.len() as u64,
            })
        })
    }

    /// Moves the cursor past what was settled out of order.
    fn idle(&self) -> Option<Maintenance> {
        let filter = self.filter.clone();
        Some(Box::new(move |store| store.outbox_advance(&filter).map(|_| 0)))
    }

    async fn deliver(&mut self, client: &reqwest::Client, batch: &mut Batch) -> Verdict {
        let records: Vec<RemoteRecord> =
            batch.records().map(|p| remote_copy(&p.row, (self.outgoing)(&p.row).as_ref())).collect();
        let links: Vec<Value> = batch.rows.iter().filter(|p| !p.content).map(|p| link(&p.row)).collect();
        let body = json!({ "records": records, "links": links });
        let request = client.post(&self.url).bearer_auth(&self.token).json(&body);
        let answer = match exchange(request, &self.url).await {
            Ok(answer) => answer,
            Err(verdict) => return verdict,
        };
        match answer.redirect(&self.url) {
            // A wrong URL, or someone who wants the batch elsewhere: it stays
            // here, and the status says where it was sent.
            Some(reason) => Verdict::Retry { after: None, reason },
            None => {
                let verdict = classify(answer.status, answer.header("retry-after"), &answer.text);
                if verdict == Verdict::Done {
                    batch.refused = refused_records(&answer.text)
                        .into_iter()
                        .filter_map(|(index, reason)| Some((batch.records().nth(index)?.pk, reason)))
                        .collect();
                }
                verdict
            }
        }
    }

    fn note(&self, batch: Batch, outcome: Outcome) -> Maintenance {
        let filter = self.filter.clone();
        let Batch { rows, refused } = batch;
        let pks: Vec<i64> = rows.iter().map(|p| p.pk).filter(|pk| !refused.iter().any(|(r, _)| r == pk)).collect();
        Box::new(move |store| {
            for (pk, reason) in &refused {
                store.outbox_mark(&filter, &[*pk], OutboxState::Failed, Some(reason))?;
            }
            match outcome {
                Outcome::Delivered => store.outbox_mark(&filter, &pks, OutboxState::Sent, None),
                Outcome::PutAside(reason) => store.outbox_mark(&filter, &pks, OutboxState::Failed, Some(&reason)),
            }
            .map(|_| 0)
        })
    }

    fn put_aside(&self, batch: &Batch, reason: &str) -> String {
        put_aside_message(batch.rows.len(), reason)
    }

    fn partly_put_aside(&self, batch: &Batch) -> Option<String> {
        let (_, first) = batch.refused.first()?;
        Some(put_aside_message(batch.refused.len(), first))
    }
}

fn put_aside_message(count: usize, reason: &str) -> String {
    format!("{count} records put aside: {reason} (re-queue with: lcd forward retry)")
}

/// The `refused` list of a batch answer, `[{index, status, error}]`: (index
/// in the batch, reason).
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
