//! The open connections, so that a flood of idle ones cannot lock out a
//! shell: when the daemon is full, the connection silent the longest goes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

#[derive(Default)]
pub(crate) struct Registry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Entry>>,
    /// Connections closed to make room, for an occasional log line.
    evictions: AtomicU64,
}

struct Entry {
    last_active: Instant,
    close: Arc<Notify>,
}

/// A connection's place in the registry; dropping it frees the place.
pub(crate) struct Admitted {
    inner: Arc<Inner>,
    id: u64,
    /// Notified when the daemon wants this connection closed.
    pub close: Arc<Notify>,
}

impl Inner {
    fn open(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Registry {
    /// Registers a new connection, first closing the one silent the longest
    /// when `max` are open.
    pub fn admit(&self, max: usize) -> Admitted {
        let mut open = self.inner.open();
        if open.len() >= max.max(1) {
            if let Some(id) = open.iter().min_by_key(|(_, e)| e.last_active).map(|(id, _)| *id) {
                if let Some(entry) = open.remove(&id) {
                    entry.close.notify_one();
                }
                let n = self.inner.evictions.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(limit = max, "too many connections: closed the one idle longest ({n} so far)");
                }
            }
        }
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let close = Arc::new(Notify::new());
        open.insert(id, Entry { last_active: Instant::now(), close: Arc::clone(&close) });
        Admitted { inner: Arc::clone(&self.inner), id, close }
    }

    /// Tells every connection to close (shutdown).
    pub fn close_all(&self) {
        for entry in self.inner.open().values() {
            entry.close.notify_one();
        }
    }

    pub fn count(&self) -> usize {
        self.inner.open().len()
    }
}

impl Admitted {
    /// Marks the connection as just active (it sent a frame).
    pub fn touch(&self) {
        if let Some(entry) = self.inner.open().get_mut(&self.id) {
            entry.last_active = Instant::now();
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.inner.open().remove(&self.id);
    }
}
