//! The daemon's one writer connection as the rest of the daemon reaches it.
//! Whoever owns the connection (the ingest batcher) implements [`Writer`];
//! those who only need to write a little (the forwarders' bookkeeping) ask
//! through it, and so depend on the store, not on the batcher.

use std::future::Future;

use super::{Store, StoreError};

/// Work for the writer connection that is not a batch of events (orphan
/// checks, imports, pruning, what a sink delivered): it runs between
/// batches and answers with a count.
pub type Maintenance = Box<dyn FnOnce(&mut Store) -> Result<u64, StoreError> + Send>;

/// Why work for the writer was not done.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("storage unavailable: {0}")]
    Storage(String),
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

/// Runs [`Maintenance`] on the one writer connection.
pub trait Writer: Clone + Send + Sync + 'static {
    /// Runs `task` between batches; answers with its count.
    fn write(&self, task: Maintenance) -> impl Future<Output = Result<u64, WriteError>> + Send;
}
