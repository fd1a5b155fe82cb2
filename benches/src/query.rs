//! Queries at a million records: whole `lcd query` / `lcd stats` processes
//! against the same SQL run by the sqlite3 CLI, in the same run, on a
//! database filled through the store's own batch insert.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lcd::config::CaptureConfig;
use lcd::enrich::Enricher;
use lcd::store::{HistoryQuery, Outcome, Store, DEPLOY_SQL};
use lcd_protocol::GitSnapshot;
use lcd_protocol::{CommandEnd, CommandStart, Event, RecordId, Session};
use lcd_testkit::records::realistic_command;
use lcd_testkit::TestEnv;

use crate::stats::Summary;
use crate::Scale;

const DAY: i64 = 86_400_000_000;
/// A word only a few records contain.
const RARE: &str = "canary-xq7";

pub fn run(lcd: &Path, scale: Scale) -> Result<()> {
    let n = scale.pick(1_000_000, 20_000);
    let runs = scale.pick(15, 3);
    let env = TestEnv::new(&lcd.display().to_string())?;
    let db = env.paths().database();
    let started = Instant::now();
    generate(&db, n as u64)?;
    println!("query: generated {n} records (500 repos, 50 sessions a day over two years) in {:.1?}", started.elapsed());

    let now = lcd::time::now_micros();
    let cases: Vec<(&str, Vec<&str>, HistoryQuery)> = vec![
        (
            "--type terraform --limit 50",
            vec!["--type", "terraform", "--limit", "50"],
            HistoryQuery { command_type: Some("terraform".into()), limit: Some(50), ..Default::default() },
        ),
        (
            "--failed --repo acme/repo-042",
            vec!["--failed", "--repo", "acme/repo-042"],
            HistoryQuery {
                outcome: Some(Outcome::Failed),
                repo: Some("acme/repo-042".into()),
                limit: Some(20),
                ..Default::default()
            },
        ),
        ("rare word", vec![RARE], HistoryQuery { text: Some(RARE.into()), limit: Some(20), ..Default::default() }),
        (
            "common word",
            vec!["terraform"],
            HistoryQuery { text: Some("terraform".into()), limit: Some(20), ..Default::default() },
        ),
    ];
    for (label, args, query) in cases {
        let mut lcd_args = vec!["query", "--format", "json"];
        lcd_args.extend(args);
        let lcd_time = median(runs, || time(env.lcd_command(&lcd_args).stdout(Stdio::null())))?;
        let sqlite_time = median(runs, || time(&mut sqlite(&db, &query.to_sql())))?;
        report(&format!("lcd query {label}"), lcd_time, sqlite_time);
    }
    let since = now - 30 * DAY;
    let filter = HistoryQuery { since: Some(since), ..Default::default() }.where_sql();
    let stats_sql = [
        format!("SELECT count(*), count(*) FILTER (WHERE c.exit_code != 0) FROM commands c WHERE {filter}"),
        format!("SELECT date(c.started_at / 1000000, 'unixepoch', 'localtime') AS day, count(*), count(*) FILTER (WHERE c.exit_code != 0) FROM commands c WHERE {filter} GROUP BY day ORDER BY day"),
        format!("SELECT coalesce(c.command_type, 'other'), c.subcommand, count(*), count(*) FILTER (WHERE c.exit_code != 0) FROM commands c WHERE {filter} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20"),
        format!("SELECT c.id, c.command, c.ended_at - c.started_at FROM commands c WHERE {filter} AND c.ended_at IS NOT NULL ORDER BY c.ended_at - c.started_at DESC LIMIT 10"),
        format!("SELECT c.command, count(*) FROM commands c WHERE {filter} GROUP BY c.command ORDER BY 2 DESC, 1 LIMIT 10"),
        format!("SELECT c.id, c.command FROM commands c WHERE {filter} AND {DEPLOY_SQL} ORDER BY c.started_at DESC LIMIT 20"),
    ]
    .join(";\n");
    let lcd_time =
        median(runs, || time(env.lcd_command(&["stats", "--since", "30d", "--format", "json"]).stdout(Stdio::null())))?;
    let sqlite_time = median(runs, || time(&mut sqlite(&db, &stats_sql)))?;
    report("lcd stats --since 30d", lcd_time, sqlite_time);
    Ok(())
}

fn report(label: &str, lcd: Duration, sqlite: Duration) {
    let (l, s) = (lcd.as_secs_f64() * 1000.0, sqlite.as_secs_f64() * 1000.0);
    let ratio = l / s;
    let verdict = if l <= 50.0 && ratio <= 2.0 { "meets" } else { "MISSES" };
    println!("query {label:<34} lcd {l:7.1} ms; sqlite3 CLI, same SQL {s:7.1} ms; ratio {ratio:.2}x ({verdict} goal <= 50 ms and <= 2x)");
}

fn sqlite(db: &Path, sql: &str) -> Command {
    let mut cmd = Command::new("sqlite3");
    cmd.arg("-readonly").arg(db).arg(sql).stdout(Stdio::null());
    cmd
}

fn time(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd.stderr(Stdio::piped()).output().context("running the command")?;
    let elapsed = start.elapsed();
    anyhow::ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(elapsed)
}

fn median(runs: usize, mut f: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    f()?; // warm the page cache
    let samples: Vec<Duration> = (0..runs).map(|_| f()).collect::<Result<_>>()?;
    Ok(Duration::from_secs_f64(Summary::of(&samples).median / 1000.0))
}

/// Fills `db` with `n` records through the store's batch insert, then lets
/// the search index catch up as the daemon would.
fn generate(db: &Path, n: u64) -> Result<()> {
    let mut store = Store::open_writer(db)?;
    let enricher = Enricher::new(&CaptureConfig::default())?;
    let now = lcd::time::now_micros();
    let days = 730u64;
    let per_day = 50u64;
    let per_session = n.div_ceil(days * per_day).max(1);
    let mut made = 0u64;
    let mut events = Vec::new();
    'outer: for day in 0..days {
        for s in 0..per_day {
            let k = day * per_day + s;
            let session = Session {
                id: format!("0190f3c2-7a4e-7b21-8c3d-{k:012x}"),
                shell: if k.is_multiple_of(3) { "bash" } else { "zsh" }.into(),
                pid: 1000 + (k % 30000) as u32,
                host: format!("host-{}", k % 7),
                user: format!("user-{}", k % 11),
                tty: None,
            };
            let repo = (k % 10 >= 3).then(|| format!("git@github.com:acme/repo-{:03}.git", (k * 7919) % 500));
            let day_start = now - (days - day) as i64 * DAY + (s as i64) * 1_500_000_000;
            for seq in 1..=per_session {
                if made == n {
                    break 'outer;
                }
                made += 1;
                let id = RecordId::derive(&session.id, seq);
                let started_at = day_start + seq as i64 * 20_000_000;
                let mut command = realistic_command(made);
                if made.is_multiple_of(100_003) {
                    command = format!("./deploy.sh --{RARE}");
                }
                let git = repo.as_ref().map(|r| GitSnapshot {
                    root: "/src".into(),
                    branch: Some("main".into()),
                    commit: Some(format!("{made:040x}")),
                    remote_url: Some(r.clone()),
                });
                let exit = if made.is_multiple_of(10) { 1 } else { 0 };
                events.push(Event::Start(CommandStart {
                    id,
                    session: session.clone(),
                    seq,
                    started_at,
                    cwd: "/src".into(),
                    command,
                    expanded: None,
                    env: vec![],
                    git,
                }));
                events.push(Event::End(CommandEnd {
                    id,
                    session: session.clone(),
                    seq,
                    ended_at: started_at + (made % 60_000) as i64 * 1000,
                    exit_code: exit,
                    pipestatus: vec![exit],
                    git_commit_after: None,
                }));
                if events.len() >= 20_000 {
                    store.apply(&enricher.enrich(std::mem::take(&mut events)))?;
                }
            }
        }
    }
    store.apply(&enricher.enrich(events))?;
    while store.index_search(50_000)? == 50_000 {}
    Ok(())
}
