//! The hash chain of each session (`docs/INTEGRITY.md` specifies it for a
//! third party): every settled record gets its place in its session's chain,
//! the hash of the record before it, and its own hash over its hashed fields.
//! Which fields are hashed is decided by their [`Phase`] in the record's
//! declaration (`record.rs`), so a field added later follows the rule.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::record::{select_list, CommandRow, RemoteRecord, RowReader};
use super::{Store, StoreError};

/// SQL over `commands c`: the record is settled (both halves, or its end
/// will never come) and has no link yet.
const SETTLED_UNCHAINED: &str = "c.hash IS NULL AND c.status != 'running' AND c.command IS NOT NULL";

/// The version of the encoding, hashed with every record.
pub const CHAIN_VERSION: i64 = 1;

/// Fields of the team store's record that are derived from hashed fields
/// and stored there too: hashed, so that changing them there is seen.
const DERIVED: &[&str] = &["arguments", "duration_ms"];

/// Compact JSON, object members sorted by name (UTF-8 byte order), members
/// whose value is null left out at any depth: the text that is hashed.
pub fn canonical(value: &Value) -> String {
    fn strip(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                Value::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), strip(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    // serde_json's map is ordered by key (no `preserve_order`), and it
    // escapes only what JSON requires, as Python's json.dumps does.
    serde_json::to_string(&strip(value)).expect("JSON values serialize")
}

fn sha256_hex(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest.as_ref() {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 15)] as char);
    }
    hex
}

/// The hashed fields the team store keeps, by their names there, as it
/// shows them.
pub fn record_part(record: &RemoteRecord) -> Map<String, Value> {
    static HASHED: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let hashed = HASHED.get_or_init(|| {
        CommandRow::COLUMNS
            .iter()
            .filter(|c| c.phase.hashed())
            .filter_map(|c| c.remote)
            .chain(DERIVED.iter().copied())
            .collect()
    });
    let Value::Object(all) = serde_json::to_value(record).expect("records serialize") else { unreachable!() };
    all.into_iter().filter(|(k, v)| !v.is_null() && hashed.contains(&k.as_str())).collect()
}

/// SHA-256 (hex) of a part's canonical text: the record part's is what a
/// link hashes of the record (so that a copy shown with parts hidden can
/// still be linked), the local part's is the `local_digest`.
pub fn part_digest(part: &Map<String, Value>) -> String {
    sha256_hex(&canonical(&Value::Object(part.clone())))
}

/// The team store's copy of `row`, made from `hidden` when `[capture]
/// redact_remote` hid something of it on the way out: such a copy carries
/// the digest of the record part as it was hashed, since its own fields no
/// longer give it.
pub fn remote_copy(row: &CommandRow, hidden: Option<&CommandRow>) -> RemoteRecord {
    match hidden {
        None => RemoteRecord::from(row),
        Some(out) => RemoteRecord {
            record_digest: Some(part_digest(&record_part(&RemoteRecord::from(row)))),
            ..RemoteRecord::from(out)
        },
    }
}

/// The hashed fields the team store does not keep, by column name.
pub fn local_part(row: &CommandRow) -> Map<String, Value> {
    CommandRow::COLUMNS
        .iter()
        .zip(row.json_values())
        .filter(|(c, v)| c.phase.hashed() && c.remote.is_none() && !v.is_null())
        .map(|(c, v)| (c.name.to_string(), v))
        .collect()
}

/// A record's hash: over the version, the digests of its record part and
/// of its local part, its place and the hash before it.
pub fn link_hash(record_digest: &str, local_digest: &str, chain_seq: i64, prev_hash: Option<&str>) -> String {
    let input = serde_json::json!({
        "v": CHAIN_VERSION,
        "record_digest": record_digest,
        "local_digest": local_digest,
        "chain_seq": chain_seq,
        "prev_hash": prev_hash,
    });
    sha256_hex(&canonical(&input))
}

/// (local digest, hash) of a stored row at this place of its chain.
pub fn row_hashes(row: &CommandRow, chain_seq: i64, prev_hash: Option<&str>) -> (String, String) {
    let digest = part_digest(&local_part(row));
    let hash = link_hash(&part_digest(&record_part(&RemoteRecord::from(row))), &digest, chain_seq, prev_hash);
    (digest, hash)
}

/// The last place of a session's chain and its hash: the newest chained row,
/// or the end of what was pruned, whichever is later.
fn head(conn: &Connection, session: &str) -> Result<(i64, Option<String>), StoreError> {
    let row: Option<(i64, Option<String>)> = conn
        .prepare_cached(
            "SELECT chain_seq, hash FROM commands WHERE session = ?1 AND chain_seq IS NOT NULL
             ORDER BY chain_seq DESC LIMIT 1",
        )?
        .query_row([session], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let cut: Option<(i64, Option<String>)> = conn
        .prepare_cached("SELECT last_seq, last_hash FROM chain_cuts WHERE session = ?1 ORDER BY last_seq DESC LIMIT 1")?
        .query_row([session], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match (row, cut) {
        (Some(row), Some(cut)) if cut.0 > row.0 => cut,
        (row, cut) => row.or(cut).unwrap_or((0, None)),
    })
}

/// Gives every settled, unchained record of `session` its link, in the
/// shell's order; returns how many. Runs in the transaction that settled
/// them, so that a crash leaves both or neither.
pub(crate) fn chain_session(conn: &Connection, session: &str) -> Result<u64, StoreError> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!(
            "SELECT c.pk AS pk, {} FROM commands c WHERE c.session = ?1 AND {SETTLED_UNCHAINED} ORDER BY c.seq, c.pk",
            select_list()
        )
    });
    let rows: Vec<(i64, CommandRow)> = {
        let mut stmt = conn.prepare_cached(sql)?;
        let reader = RowReader::new(&stmt)?;
        let rows = stmt.query_map([session], |r| Ok((r.get("pk")?, reader.read(r)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    if rows.is_empty() {
        return Ok(0);
    }
    let (mut seq, mut prev) = head(conn, session)?;
    let mut update = conn.prepare_cached(
        "UPDATE commands SET chain_seq = ?1, prev_hash = ?2, hash = ?3, local_digest = ?4 WHERE pk = ?5",
    )?;
    for (pk, row) in &rows {
        seq += 1;
        let (digest, hash) = row_hashes(row, seq, prev.as_deref());
        update.execute(params![seq, prev, hash, digest, pk])?;
        prev = Some(hash);
    }
    Ok(rows.len() as u64)
}

/// Chains what is settled but unchained in every session: rows stored
/// before this version, and any a crash left.
pub(crate) fn chain_all(conn: &Connection) -> Result<u64, StoreError> {
    let sessions: Vec<String> = conn
        .prepare(&format!("SELECT DISTINCT c.session FROM commands c WHERE {SETTLED_UNCHAINED}"))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut count = 0;
    for session in sessions {
        count += chain_session(conn, &session)?;
    }
    Ok(count)
}

/// Records what `DELETE ... WHERE pk IN (doomed)` is about to remove from
/// each chain, as runs of consecutive places.
pub(crate) fn record_cuts(
    conn: &Connection,
    doomed: &str,
    args: &[rusqlite::types::Value],
    now: i64,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT session, chain_seq, prev_hash, hash FROM commands
         WHERE chain_seq IS NOT NULL AND pk IN ({doomed}) ORDER BY session, chain_seq"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, String>(3)?))
    })?;
    let mut cuts: Vec<Cut> = Vec::new();
    for row in rows {
        let (session, seq, prev, hash) = row?;
        match cuts.last_mut() {
            Some(cut) if cut.session == session && cut.last_seq + 1 == seq => {
                cut.last_seq = seq;
                cut.count += 1;
                cut.last_hash = hash;
            }
            _ => cuts.push(Cut {
                session,
                first_seq: seq,
                last_seq: seq,
                count: 1,
                first_prev_hash: prev,
                last_hash: hash,
            }),
        }
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO chain_cuts (session, first_seq, last_seq, count, first_prev_hash, last_hash, cut_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for c in cuts {
        insert.execute(params![c.session, c.first_seq, c.last_seq, c.count, c.first_prev_hash, c.last_hash, now])?;
    }
    Ok(())
}

/// A run of places deleted from a session's chain, on purpose (`lcd prune`,
/// the team store's retention): what the chain needs to check across it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    pub session: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub count: i64,
    pub first_prev_hash: Option<String>,
    pub last_hash: String,
}

/// One link of a chain as stored, and the fields to recompute its hash from
/// (`None` where the store holds the link without the record).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    pub session: String,
    pub chain_seq: i64,
    #[serde(rename = "uuid")]
    pub id: String,
    pub prev_hash: Option<String>,
    pub hash: String,
    /// The record's hashed fields as the team store names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Map<String, Value>>,
    /// Given by the team store for a record it shows with parts hidden
    /// (`redact_remote`): the digest of the record part as it was hashed,
    /// which its fields there no longer give. Otherwise computed from `record`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_digest: Option<String>,
    /// Recomputed from `local` by whoever holds it; as stored otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<Map<String, Value>>,
}

/// What is wrong with a chain, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The record's fields do not give its hash: it was changed.
    Changed { session: String, id: String, chain_seq: i64 },
    /// Its `prev_hash` is not the hash of the record before it: that one
    /// was replaced, or this one was put in.
    Broken { session: String, id: String, chain_seq: i64 },
    /// A cut whose first `prev_hash` is not the hash of the record before
    /// it: that one was replaced after the cut was made.
    CutBroken { session: String, first_seq: i64, last_seq: i64 },
    /// Places missing from the chain that no cut accounts for.
    Gap { session: String, from: i64, to: i64, before: Option<String> },
    /// A settled record that no chain holds: put in by someone else.
    Unchained { session: String, id: String },
    /// The team store's link at this place is not this machine's: one of
    /// the two copies was rewritten.
    Differs { session: String, id: String, chain_seq: i64 },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Changed { session, id, chain_seq } => {
                write!(f, "session {session}: record {id} (place {chain_seq}) was changed: its fields do not give its hash")
            }
            Finding::CutBroken { session, first_seq, last_seq } => write!(
                f,
                "session {session}: the cut of places {first_seq}..{last_seq} does not link to the record before it: that one was replaced"
            ),
            Finding::Broken { session, id, chain_seq } => write!(
                f,
                "session {session}: record {id} (place {chain_seq}) does not link to the record before it: that one was replaced or this one inserted"
            ),
            Finding::Gap { session, from, to, before } => {
                let places = if from == to { format!("place {from} is") } else { format!("places {from}..{to} are") };
                let next = before.as_ref().map(|id| format!(", before record {id}")).unwrap_or_default();
                write!(f, "session {session}: gap: {places} missing{next} (deleted, or never arrived)")
            }
            Finding::Unchained { session, id } => {
                write!(f, "session {session}: record {id} is in no chain: inserted outside lcd")
            }
            Finding::Differs { session, id, chain_seq } => write!(
                f,
                "session {session}: record {id} (place {chain_seq}) differs in the team store from this machine's copy: one of them was rewritten"
            ),
        }
    }
}

/// What a check of chains found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub sessions: usize,
    pub records: usize,
    pub cuts: usize,
    /// Records whose content could be linked only by the digest they carry
    /// (hidden in part for the team store), not recomputed from their fields.
    pub by_digest: usize,
    pub findings: Vec<Finding>,
}

/// Checks chains: each link's hash against its fields (where the record is
/// held), each link against the one before it, and the places in between
/// against the cuts. `links` in any order.
pub fn check(links: Vec<Link>, cuts: Vec<Cut>) -> Verdict {
    let mut sessions: BTreeMap<String, (Vec<Link>, Vec<Cut>)> = BTreeMap::new();
    let mut verdict = Verdict { records: links.len(), cuts: cuts.len(), ..Verdict::default() };
    for link in links {
        sessions.entry(link.session.clone()).or_default().0.push(link);
    }
    for cut in cuts {
        sessions.entry(cut.session.clone()).or_default().1.push(cut);
    }
    verdict.sessions = sessions.len();
    for (session, (mut links, mut cuts)) in sessions {
        links.sort_by_key(|l| l.chain_seq);
        cuts.sort_by_key(|c| c.first_seq);
        // Walk links and cuts in place order.
        let (mut next, mut last_hash): (i64, Option<String>) = (1, None);
        let (mut li, mut ci) = (0, 0);
        loop {
            let link_at = links.get(li).map(|l| l.chain_seq);
            let cut_at = cuts.get(ci).map(|c| c.first_seq);
            let take_cut = match (link_at, cut_at) {
                (None, None) => break,
                (Some(l), Some(c)) => c <= l,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            let (start, prev, before) = if take_cut {
                let c = &cuts[ci];
                (c.first_seq, c.first_prev_hash.clone(), None)
            } else {
                let l = &links[li];
                (l.chain_seq, l.prev_hash.clone(), Some(l.id.clone()))
            };
            if start > next {
                verdict.findings.push(Finding::Gap { session: session.clone(), from: next, to: start - 1, before });
            } else if prev != last_hash {
                verdict.findings.push(if take_cut {
                    let c = &cuts[ci];
                    Finding::CutBroken { session: session.clone(), first_seq: c.first_seq, last_seq: c.last_seq }
                } else {
                    let l = &links[li];
                    Finding::Broken { session: session.clone(), id: l.id.clone(), chain_seq: l.chain_seq }
                });
            }
            if take_cut {
                let c = &cuts[ci];
                (next, last_hash) = (c.last_seq + 1, Some(c.last_hash.clone()));
                ci += 1;
            } else {
                let l = &links[li];
                if let Some(record) = &l.record {
                    let content = match &l.record_digest {
                        Some(given) => {
                            verdict.by_digest += 1;
                            given.clone()
                        }
                        None => part_digest(record),
                    };
                    let digest = match &l.local {
                        Some(local) => Some(part_digest(local)),
                        None => l.local_digest.clone(),
                    };
                    let held_digest = l.local_digest.as_ref();
                    let fits = digest.as_ref().is_some_and(|d| {
                        held_digest.is_none_or(|h| h == d)
                            && link_hash(&content, d, l.chain_seq, l.prev_hash.as_deref()) == l.hash
                    });
                    if !fits {
                        verdict.findings.push(Finding::Changed {
                            session: session.clone(),
                            id: l.id.clone(),
                            chain_seq: l.chain_seq,
                        });
                    }
                }
                (next, last_hash) = (l.chain_seq + 1, Some(l.hash.clone()));
                li += 1;
            }
        }
    }
    verdict
}

impl Store {
    /// Every chained record, in chain order.
    pub fn chained_rows(&self) -> Result<Vec<CommandRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM commands c WHERE c.chain_seq IS NOT NULL ORDER BY c.session, c.chain_seq",
            select_list()
        ))?;
        let reader = RowReader::new(&stmt)?;
        let rows = stmt.query_map([], |r| reader.read(r))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every chained record as a [`Link`] with its fields, in chain order.
    pub fn chain_links(&self) -> Result<Vec<Link>, StoreError> {
        let mut links = Vec::new();
        for row in self.chained_rows()? {
            links.push(Link {
                session: row.session.clone(),
                chain_seq: row.chain_seq.unwrap_or_default(),
                id: row.id.clone(),
                prev_hash: row.prev_hash.clone(),
                hash: row.hash.clone().unwrap_or_default(),
                record: Some(record_part(&RemoteRecord::from(&row))),
                record_digest: None,
                local_digest: row.local_digest.clone(),
                local: Some(local_part(&row)),
            });
        }
        Ok(links)
    }

    /// What `lcd prune` cut from the chains.
    pub fn chain_cuts(&self) -> Result<Vec<Cut>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT session, first_seq, last_seq, count, first_prev_hash, last_hash FROM chain_cuts ORDER BY session, first_seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Cut {
                session: r.get(0)?,
                first_seq: r.get(1)?,
                last_seq: r.get(2)?,
                count: r.get(3)?,
                first_prev_hash: r.get(4)?,
                last_hash: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Settled records that no chain holds: (session, id).
    pub fn unchained(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT c.session, c.id FROM commands c WHERE {SETTLED_UNCHAINED} ORDER BY c.pk"))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checks every chain of the database.
    pub fn verify(&self) -> Result<Verdict, StoreError> {
        let mut verdict = check(self.chain_links()?, self.chain_cuts()?);
        let unchained = self.unchained()?;
        verdict.records += unchained.len();
        verdict.findings.extend(unchained.into_iter().map(|(session, id)| Finding::Unchained { session, id }));
        Ok(verdict)
    }

    /// How many records are not settled yet (running, or waiting for their
    /// start), so not chained yet.
    pub fn unsettled(&self) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM commands WHERE hash IS NULL AND (status = 'running' OR command IS NULL)",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_that_does_not_follow_the_record_before_it_is_named() {
        let link = |seq: i64, prev: Option<&str>, hash: &str| Link {
            session: "s".into(),
            chain_seq: seq,
            id: format!("r{seq}"),
            prev_hash: prev.map(Into::into),
            hash: hash.into(),
            record: None,
            record_digest: None,
            local_digest: None,
            local: None,
        };
        let cut = |prev: &str| Cut {
            session: "s".into(),
            first_seq: 2,
            last_seq: 3,
            count: 2,
            first_prev_hash: Some(prev.into()),
            last_hash: "h3".into(),
        };
        let check_with = |prev| check(vec![link(1, None, "h1"), link(4, Some("h3"), "h4")], vec![cut(prev)]).findings;
        assert_eq!(check_with("h1"), []);
        assert_eq!(check_with("h0"), [Finding::CutBroken { session: "s".into(), first_seq: 2, last_seq: 3 }]);
    }

    #[test]
    fn canonical_text_sorts_members_and_leaves_out_nulls() {
        let value = serde_json::json!({"b": 1, "a": {"y": null, "x": "é\u{1}\n"}, "c": null, "d": [1, 2]});
        assert_eq!(canonical(&value), r#"{"a":{"x":"é\u0001\n"},"b":1,"d":[1,2]}"#);
    }

    #[test]
    fn every_hashed_field_is_in_one_part_and_chain_fields_in_none() {
        let row = CommandRow {
            id: "i".into(),
            command: "ls".into(),
            chain_seq: Some(3),
            hash: Some("h".into()),
            ..CommandRow::default()
        };
        let record = record_part(&RemoteRecord::from(&row));
        let local = local_part(&row);
        assert_eq!(record["uuid"], "i");
        assert!(local.contains_key("seq") && local.contains_key("env"), "{local:?}");
        for name in ["chain_seq", "prev_hash", "hash", "local_digest", "recorded_at", "chain"] {
            assert!(!record.contains_key(name) && !local.contains_key(name), "{name} is hashed");
        }
    }
}
