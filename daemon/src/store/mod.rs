//! The local SQLite database: one writer (the daemon's ingest thread) in WAL
//! mode, any number of read-only readers (`lcd query`) that never need the
//! daemon.

mod chain;
mod github;
mod incoming;
mod migrations;
mod outbox;
mod read;
mod record;
mod sql_text;
mod stats;
mod write;
mod writer;

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use chain::{check as check_chains, record_part as chain_record_part, remote_copy, Cut, Finding, Link, Verdict};
pub use github::{DeployFilter, GithubProgress, GithubRecord, GithubStage};
pub use incoming::Record;
pub use migrations::SCHEMA_VERSION;
pub use outbox::{OutboxState, Pending, SinkFilter};
pub use read::{HistoryQuery, Known, Order, Outcome};
pub use record::{
    ChainState, Column, CommandRow, CommandType, EnvVars, Phase, Pipestatus, RecordStatus, RemoteRecord, Time,
};
pub use stats::{Stats, DEPLOY_SQL};
pub use writer::{Maintenance, WriteError, Writer};

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database {path} has schema version {found}, newer than this lcd understands ({supported}); upgrade lcd"
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },
    #[error("the database {path} has schema version {found}, older than this lcd's ({current}); the daemon upgrades it when it starts")]
    OlderSchema { path: PathBuf, found: i64, current: i64 },
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A connection to the history database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// (device, inode) of the file when it was opened.
    identity: Option<(u64, u64)>,
}

impl Store {
    /// Opens (creating if needed, mode 0600) the database for writing, in WAL
    /// mode, and brings its schema up to date.
    pub fn open_writer(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            lcd_protocol::spool::ensure_private_dir(dir)
                .map_err(|source| StoreError::Create { path: dir.into(), source })?;
        }
        // Create the file ourselves so that it is 0600 from its first byte.
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|source| StoreError::Create { path: path.into(), source })?;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
        let mut conn = Connection::open(path)?;
        // Short: a batch that waits on another process's lock is spooled
        // instead, well within the client's time budget.
        conn.busy_timeout(Duration::from_millis(500))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // A commit is durable once its WAL frames are synced; checkpoints
        // happen in the background of later commits.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::migrate(&mut conn, path)?;
        // Rows stored before records were chained, or left by a crash.
        let tx = conn.transaction()?;
        let chained = chain::chain_all(&tx)?;
        tx.commit()?;
        if chained > 0 {
            tracing::info!("chained {chained} settled records that had no link yet");
        }
        Ok(Store { conn, path: path.into(), identity: file_identity(path) })
    }

    /// Opens the database read-only. `Ok(None)` when it does not exist yet;
    /// [`StoreError::OlderSchema`] when the daemon has not upgraded it yet
    /// (readers never write, migrations included).
    pub fn open_reader(path: &Path) -> Result<Option<Store>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(Duration::from_secs(2))?;
        let found = migrations::check_readable(&conn, path)?;
        if found < SCHEMA_VERSION {
            return Err(StoreError::OlderSchema { path: path.into(), found, current: SCHEMA_VERSION });
        }
        Ok(Some(Store { conn, path: path.into(), identity: file_identity(path) }))
    }

    /// Whether the file at our path is no longer the one we opened.
    pub fn file_replaced(&self) -> bool {
        file_identity(&self.path) != self.identity
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}
