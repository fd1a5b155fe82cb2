//! Schema migrations, tracked by `PRAGMA user_version`. Each file under
//! `sql/local/` is applied once, in order, inside one transaction with the
//! version bump. Released files are never edited.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../sql/local/0001_commands.sql"),
    include_str!("../../../sql/local/0002_enrichment.sql"),
    include_str!("../../../sql/local/0003_search.sql"),
    include_str!("../../../sql/local/0004_outbox.sql"),
    include_str!("../../../sql/local/0005_github.sql"),
    include_str!("../../../sql/local/0006_redacted.sql"),
    include_str!("../../../sql/local/0007_end_clamped.sql"),
    include_str!("../../../sql/local/0008_chain.sql"),
    include_str!("../../../sql/local/0009_suspended_and_gaps.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found = check_readable(conn, path)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        // Another writer may have migrated while we waited for the lock.
        if user_version(&tx)? > index as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Refuses a database written by a newer lcd; returns its version.
pub(super) fn check_readable(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { path: path.into(), found, supported: SCHEMA_VERSION });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_database_is_refused_with_both_versions() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        let err = migrate(&mut conn, Path::new("h.db")).unwrap_err().to_string();
        assert!(err.contains(&format!("schema version {}", SCHEMA_VERSION + 1)), "{err}");
        assert!(err.contains("upgrade lcd"), "{err}");
    }
}
