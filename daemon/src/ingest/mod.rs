//! From accepted events to durable rows: validation, the group-commit batcher
//! that owns the one writer connection, and spool replay.

mod batcher;
mod orphans;
mod replay;
mod validate;

pub use batcher::{BatchConfig, Ingest, IngestError, Maintenance};
pub use orphans::mark_orphans;
pub use replay::{future_spool, replay_spool, ReplayReport};
pub use validate::{validate, validate_imports, Checked};
