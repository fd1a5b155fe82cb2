//! Forwarding: every record delivered once to each configured sink (the
//! team's remote store; GitHub), in order, from a persistent outbox, with
//! retries that survive anything but a refused token.
//!
//! [`driver`] is the one loop every sink runs (polling, backoff, status,
//! counts); a sink's own file says only what it takes and how it delivers.

pub mod driver;
pub mod github;
mod http;
pub mod remote;
mod retry;

use std::sync::{Arc, Mutex};

use lcd_protocol::{SinkHealth, SinkStatus};

pub use driver::{Counts, Driver, Outcome, ReadTask, Sink};
pub use http::http_client;
pub use retry::{classify, Backoff, Verdict};

use crate::store::CommandRow;

/// The copy of a record that leaves the machine (`[capture] redact_remote`
/// applied), or `None` when that is the record as stored: given by whoever
/// owns the capture rules, so that forwarding depends on the store only.
pub type Outgoing = Arc<dyn Fn(&CommandRow) -> Option<CommandRow> + Send + Sync>;

/// A sink's status, shared between its task and `lcd status`.
#[derive(Clone, Default)]
pub struct SinkState(Arc<Mutex<SinkStatus>>);

impl SinkState {
    pub fn new(name: &str, target: &str) -> SinkState {
        SinkState(Arc::new(Mutex::new(SinkStatus { name: name.into(), target: target.into(), ..Default::default() })))
    }

    pub fn get(&self) -> SinkStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut SinkStatus)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Notes a failure; logs it when it differs from the last one (not once
    /// per attempt).
    pub fn failed(&self, state: SinkHealth, error: String) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if s.last_error.as_deref() != Some(error.as_str()) || s.state != state {
            tracing::warn!(sink = %s.name, "{error}");
        }
        s.state = state;
        s.last_error = Some(error);
    }

    pub fn succeeded(&self) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if s.state != SinkHealth::Ok {
            tracing::info!(sink = %s.name, "delivering again");
        }
        s.state = SinkHealth::Ok;
        s.last_success = Some(crate::time::rfc3339_ms(crate::time::now_micros()));
    }
}
