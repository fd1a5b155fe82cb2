//! Ingest: 8 clients send 200k records (start and end each) over the socket
//! to a running daemon, which decodes, enriches, batches and commits them;
//! the floor is a raw batched insert of the same rows through rusqlite into
//! the same schema, in the same run. Also enrichment's own cost per record.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lcd::config::CaptureConfig;
use lcd::enrich::Enricher;
use lcd::store::Record;
use lcd::store::Store;
use lcd_protocol::sender::{record_frames, Sender};
use lcd_protocol::Event;
use lcd_testkit::records::{command_events, realistic_command, session, session_id};
use lcd_testkit::TestEnv;

use crate::footprint::{hwm_kb, rss_kb};
use crate::Scale;

const CLIENTS: u64 = 8;

pub fn run(lcd: &Path, scale: Scale) -> Result<()> {
    let per_client = scale.pick(25_000, 250) as u64;
    let total = CLIENTS * per_client;
    let env = TestEnv::new(&lcd.display().to_string())?;
    env.lcd(&["daemon", "start", "--quiet"])?;
    let pid: u32 = std::fs::read_to_string(env.paths().pid_file())?.trim().parse()?;
    let idle_kb = rss_kb(pid)?;

    let events: Vec<Vec<Event>> = (0..CLIENTS).map(|c| client_events(c + 1, per_client)).collect();
    let frames: Vec<Vec<Vec<u8>>> = events.iter().map(|e| record_frames(e.clone(), 256)).collect();
    let socket = env.paths().socket;
    let start = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = frames
            .iter()
            .map(|frames| {
                let socket = socket.clone();
                s.spawn(move || -> Result<()> {
                    let mut sender = Sender::new(socket);
                    for frame in frames {
                        sender.deliver(frame).context("the daemon did not take a frame")?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("client thread")?;
        }
        Ok(())
    })?;
    let lcd_time = start.elapsed();
    let peak_kb = hwm_kb(pid)?;
    env.lcd(&["daemon", "stop"])?;

    let enricher = Enricher::new(&CaptureConfig::default())?;
    let all: Vec<Event> = events.into_iter().flatten().collect();
    let enrich_start = Instant::now();
    let records = enricher.enrich(all);
    let enrich_time = enrich_start.elapsed();
    let raw_time = raw_insert(&env.root.join("raw.db"), &records)?;

    let lcd_rate = total as f64 / lcd_time.as_secs_f64();
    let raw_rate = total as f64 / raw_time.as_secs_f64();
    let ratio = lcd_rate / raw_rate;
    let verdict = if lcd_rate >= 50_000.0 && ratio >= 0.4 { "meets" } else { "MISSES" };
    println!(
        "ingest {CLIENTS} clients, {total} records: lcd {lcd_rate:.0} records/s ({lcd_time:.2?}); raw rusqlite batched insert {raw_rate:.0} records/s ({raw_time:.2?}); ratio {:.0}% ({verdict} goal >= 50000/s and >= 40%)",
        ratio * 100.0
    );
    let per_record = enrich_time.as_secs_f64() * 1e6 / total as f64;
    let share = enrich_time.as_secs_f64() / lcd_time.as_secs_f64() * 100.0;
    println!(
        "enrichment {per_record:.2} µs per record (classify, redact, environment; {share:.0}% of the ingest time if it ran on one core; it runs on connection tasks in parallel)"
    );
    println!(
        "footprint daemon RSS idle {:.1} MB, peak during ingest {:.1} MB (goals <= 15 MB idle, <= 40 MB loaded)",
        idle_kb as f64 / 1024.0,
        peak_kb as f64 / 1024.0
    );
    Ok(())
}

/// Start and end of `n` commands of one client's session.
fn client_events(client: u64, n: u64) -> Vec<Event> {
    let session = session(&session_id(client));
    (1..=n)
        .flat_map(|seq| command_events(&session, seq, &realistic_command(seq + client * 1000), (seq % 7 == 0) as i32))
        .collect()
}

/// The floor: the same rows (one per command, as lcd ends up storing them)
/// inserted in transactions of 2000 through rusqlite, WAL and synchronous=FULL
/// like the daemon's connection.
fn raw_insert(path: &Path, records: &[Record]) -> Result<Duration> {
    drop(Store::open_writer(path)?); // the same schema
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // The variables' JSON is made before the clock starts: the floor stores
    // text it already has.
    type Row<'a> = (&'a lcd_protocol::CommandStart, &'a lcd::store::CommandRow, &'a lcd_protocol::CommandEnd, String);
    let rows: Vec<Row> = records
        .chunks(2)
        .filter_map(|pair| match pair {
            [Record::Start(s, f), Record::End(e, _)] => Some((s, f.as_ref(), e, serde_json::to_string(&f.env).ok()?)),
            _ => None,
        })
        .collect();
    let start = Instant::now();
    for chunk in rows.chunks(2000) {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO commands (id, session, seq, command, cwd, started_at, ended_at, exit_code, pipestatus, status,
                                       hostname, user, shell, shell_pid, recorded_at, command_type, subcommand, environment, env)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'finished', ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?;
            for (s, f, e, env) in chunk {
                stmt.execute(rusqlite::params![
                    s.id.to_string(),
                    s.session.id,
                    s.seq as i64,
                    s.command,
                    s.cwd,
                    s.started_at,
                    e.ended_at,
                    e.exit_code,
                    serde_json::to_string(&e.pipestatus)?,
                    s.session.host,
                    s.session.user,
                    s.session.shell,
                    s.session.pid,
                    0,
                    f.command_type,
                    f.subcommand,
                    f.environment,
                    env,
                ])?;
            }
        }
        tx.commit()?;
    }
    Ok(start.elapsed())
}
