//! Forwarding: every record delivered once to each configured sink (the
//! team's remote store; GitHub), in order, from a persistent outbox, with
//! retries that survive anything but a refused token.

pub mod github;
pub mod remote;
mod retry;

use std::sync::{Arc, Mutex};

use serde::Serialize;

pub use retry::{classify, Backoff, Verdict};

/// What `lcd status` shows about a sink.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SinkStatus {
    pub name: String,
    /// Where it sends (never with a token).
    pub target: String,
    /// `ok`, `retrying` or `stopped`.
    pub state: String,
    pub backlog: u64,
    pub failed: u64,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
}

/// A sink's status, shared between its task and `lcd status`.
#[derive(Clone, Default)]
pub struct SinkState(Arc<Mutex<SinkStatus>>);

impl SinkState {
    pub fn new(name: &str, target: &str) -> SinkState {
        SinkState(Arc::new(Mutex::new(SinkStatus {
            name: name.into(),
            target: target.into(),
            state: "ok".into(),
            ..Default::default()
        })))
    }

    pub fn get(&self) -> SinkStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut SinkStatus)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Notes a failure; logs it when it differs from the last one (not once
    /// per attempt).
    pub fn failed(&self, state: &str, error: String) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if s.last_error.as_deref() != Some(error.as_str()) || s.state != state {
            tracing::warn!(sink = %s.name, "{error}");
        }
        s.state = state.into();
        s.last_error = Some(error);
    }

    pub fn succeeded(&self) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if s.state != "ok" {
            tracing::info!(sink = %s.name, "delivering again");
        }
        s.state = "ok".into();
        s.last_success = Some(crate::time::rfc3339_ms(crate::time::now_micros()));
    }
}
