//! `lcd verify [--remote | --export]`: checks the hash chain of every
//! session (`docs/INTEGRITY.md`), in the local database or in the team
//! store; or writes the local chains for a verifier of one's own.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::json;

use super::open_history;
use super::remote::StoreClient;
use crate::config::Config;
use crate::enrich::Enricher;
use crate::paths::Paths;
use crate::store::{chain_record_part, remote_copy, Cut, Finding, Link, RemoteRecord, Verdict};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check the team store's copy instead (and compare it with this machine's).
    #[arg(long)]
    pub remote: bool,
    /// Write every link with its hashed fields and every cut as JSON lines,
    /// for an independent check (docs/verify_chain.py).
    #[arg(long, conflicts_with = "remote")]
    pub export: bool,
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    if args.export {
        return export(paths);
    }
    let (verdict, unsettled, place) = if args.remote {
        (remote(paths)?, 0, "the team store")
    } else {
        let Some(store) = open_history(paths)? else {
            println!("intact: no database yet at {}", paths.database().display());
            return Ok(ExitCode::SUCCESS);
        };
        (store.verify()?, store.unsettled()?, "the local database")
    };
    Ok(report(&verdict, unsettled, place))
}

/// One line per finding, then a summary; exit 1 when anything was found.
fn report(verdict: &Verdict, unsettled: u64, place: &str) -> ExitCode {
    let cuts = match verdict.cuts {
        0 => String::new(),
        n => format!(", across {n} cuts"),
    };
    let waiting = match unsettled {
        0 => String::new(),
        n => format!("; {n} still running or incomplete, not chained yet"),
    };
    let hidden = match verdict.by_digest {
        0 => String::new(),
        n => format!("; {n} shown with parts hidden (redact_remote), linked by their digest"),
    };
    let counted = format!("{} records in {} sessions{cuts}{waiting}{hidden}", verdict.records, verdict.sessions);
    if verdict.findings.is_empty() {
        println!("intact: {counted} in {place}");
        return ExitCode::SUCCESS;
    }
    for finding in &verdict.findings {
        println!("{finding}");
    }
    println!("NOT intact: {} problems in {counted} in {place}", verdict.findings.len());
    ExitCode::FAILURE
}

fn export(paths: &Paths) -> Result<ExitCode> {
    let Some(store) = open_history(paths)? else { return Ok(ExitCode::SUCCESS) };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for link in store.chain_links()? {
        writeln!(out, "{}", json!({ "link": link }))?;
    }
    for cut in store.chain_cuts()? {
        writeln!(out, "{}", json!({ "cut": cut }))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One page of `GET /api/chain`.
#[derive(Deserialize)]
struct ChainPage {
    links: Vec<RemoteLink>,
    #[serde(default)]
    cuts: Vec<Cut>,
    /// Records the store holds outside any chain: (uuid, session).
    #[serde(default)]
    unlinked: Vec<Unlinked>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct RemoteLink {
    session: String,
    chain_seq: i64,
    uuid: String,
    prev_hash: Option<String>,
    hash: String,
    /// The record itself, when the store holds more than its link.
    record: Option<RemoteRecord>,
}

#[derive(Deserialize)]
struct Unlinked {
    uuid: String,
    session: Option<String>,
}

/// Checks the team store's chains, and each of its links against this
/// machine's copy of the same place where there is one.
fn remote(paths: &Paths) -> Result<Verdict> {
    let store = StoreClient::open(paths)?;
    let (mut links, mut cuts, mut unlinked) = (Vec::new(), Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("limit", "1000".to_string())];
        params.extend(cursor.take().map(|c| ("cursor", c)));
        let page: ChainPage = store.get("/api/chain", &params)?;
        links.extend(page.links.into_iter().map(|l| Link {
            local_digest: l.record.as_ref().map(|r| r.local_digest.clone().unwrap_or_default()),
            record_digest: l.record.as_ref().and_then(|r| r.record_digest.clone()),
            record: l.record.as_ref().map(chain_record_part),
            session: l.session,
            chain_seq: l.chain_seq,
            id: l.uuid,
            prev_hash: l.prev_hash,
            hash: l.hash,
            local: None,
        }));
        cuts.extend(page.cuts);
        unlinked.extend(page.unlinked);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // This machine's hash at each place, and the copy it sends of the
    // record there. A copy shown with parts hidden is linked by the digest
    // it carries, which only this side can hold against what it hashed and
    // what it would send (under today's redact_remote).
    let local: HashMap<(String, i64), (Option<String>, RemoteRecord)> =
        match open_history(paths).context("reading the local database to compare")? {
            Some(history) => {
                let enricher = Enricher::new(&Config::load(&paths.config_file())?.capture)?;
                history
                    .chained_rows()?
                    .into_iter()
                    .map(|row| {
                        let copy = remote_copy(&row, enricher.outgoing(&row).as_ref());
                        ((row.session.clone(), row.chain_seq.unwrap_or_default()), (row.hash, copy))
                    })
                    .collect()
            }
            None => HashMap::new(),
        };
    let differ: Vec<Finding> = links
        .iter()
        .filter(|l| {
            local.get(&(l.session.clone(), l.chain_seq)).is_some_and(|(hash, copy)| {
                hash.as_deref() != Some(l.hash.as_str())
                    || (l.record_digest.is_some()
                        && (l.record_digest != copy.record_digest
                            || l.record.as_ref() != Some(&chain_record_part(copy))))
            })
        })
        .map(|l| Finding::Differs { session: l.session.clone(), id: l.id.clone(), chain_seq: l.chain_seq })
        .collect();
    let mut verdict = crate::store::check_chains(links, cuts);
    verdict.records += unlinked.len();
    verdict.findings.extend(differ);
    verdict.findings.extend(
        unlinked.into_iter().map(|u| Finding::Unchained { session: u.session.unwrap_or_default(), id: u.uuid }),
    );
    Ok(verdict)
}
