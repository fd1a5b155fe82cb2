//! From accepted events to durable rows: validation, the group-commit batcher
//! that owns the one writer connection, and spool replay.

mod batcher;
mod replay;
mod validate;

pub use batcher::{BatchConfig, Ingest, IngestError};
pub use replay::{replay_spool, ReplayReport};
pub use validate::validate;
