//! From accepted events to durable rows: [`Ingest::take`], the one path from
//! events to rows (validation, enrichment, storage) that the socket server
//! and the spool replay share; the group-commit batcher that owns the one
//! writer connection; spool replay.

mod batcher;
mod orphans;
mod replay;
mod take;
mod validate;

pub use batcher::{BatchConfig, Ingest};
pub use orphans::mark_orphans;
pub use replay::{future_spool, replay_spool, ReplayReport};
pub use take::{Source, TakeError, Taken};
pub use validate::{validate, validate_imports, Checked};
