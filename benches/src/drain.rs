//! Forwarding drain: a backlog of records already in the database, delivered
//! by the daemon to the real Worker (wrangler dev --local, D1); the floor is
//! the same Worker taking the same records as direct batch POSTs, in the same
//! run.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use lcd::config::CaptureConfig;
use lcd::enrich::Enricher;
use lcd::store::RemoteRecord;
use lcd::store::{HistoryQuery, Store};
use lcd_testkit::records::{command_events, session, session_id};
use lcd_testkit::remote::{RemoteWorker, TOKEN};
use lcd_testkit::TestEnv;
use serde_json::json;

use crate::Scale;

const BATCH: usize = 500;

pub fn run(lcd: &Path, scale: Scale) -> Result<()> {
    let n = scale.pick(100_000, 2_000) as u64;
    let env = TestEnv::new(&lcd.display().to_string())?;
    // The backlog: n git commands, stored through the store's batch insert.
    let mut store = Store::open_writer(&env.paths().database())?;
    let enricher = Enricher::new(&CaptureConfig::default())?;
    let s = session(&session_id(1));
    for first in (1..=n).step_by(10_000) {
        let events: Vec<_> = (first..(first + 10_000).min(n + 1))
            .flat_map(|seq| command_events(&s, seq, &format!("git push origin b{seq}"), 0))
            .collect();
        store.apply(&enricher.enrich(events))?;
    }
    let rows = store.history(&HistoryQuery { order: lcd::store::Order::OldestFirst, ..Default::default() })?;
    drop(store);

    // The floor: direct POSTs of the same records to a Worker of its own.
    let direct = RemoteWorker::start(&env.root.join("d1-direct"))?;
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let started = Instant::now();
    for chunk in rows.chunks(BATCH) {
        let body = json!({ "records": chunk.iter().map(RemoteRecord::from).collect::<Vec<_>>() });
        let response =
            client.post(format!("{}/api/commands/batch", direct.url())).bearer_auth(TOKEN).json(&body).send()?;
        if !response.status().is_success() {
            bail!("direct POST failed: {}", response.text()?);
        }
    }
    let direct_time = started.elapsed();
    drop(direct);

    // lcd: the daemon drains the backlog to another Worker.
    let worker = RemoteWorker::start(&env.root.join("d1-lcd"))?;
    let config = env.paths().config_file();
    std::fs::create_dir_all(config.parent().unwrap())?;
    std::fs::write(&config, format!("[remote]\nurl = '{}'\ntoken = '{TOKEN}'\nbatch_size = {BATCH}\n", worker.url()))?;
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let started = Instant::now();
    env.lcd(&["daemon", "start", "--quiet"])?;
    loop {
        let (_, stats) = worker.request("GET", "/api/commands/stats", Some(TOKEN), None)?;
        if stats["total"].as_u64() == Some(n) {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("the daemon delivered {} of {n} records in 30 minutes", stats["total"]);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let lcd_time = started.elapsed();
    env.lcd(&["daemon", "stop"])?;

    let (l, d) = (n as f64 / lcd_time.as_secs_f64(), n as f64 / direct_time.as_secs_f64());
    let ratio = l / d;
    let verdict = if ratio >= 0.5 { "meets" } else { "MISSES" };
    println!(
        "drain {n} records to the local Worker, {BATCH} per POST: lcd {l:.0} records/s ({lcd_time:.1?}, daemon start included); direct batch POSTs {d:.0} records/s ({direct_time:.1?}); ratio {:.0}% ({verdict} goal >= 50%)",
        ratio * 100.0
    );
    Ok(())
}
