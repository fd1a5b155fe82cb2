//! The team store, for real: the Worker under `wrangler dev --local` (workerd
//! and a local D1), the daemon forwarding to it, faults in between.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lcd_protocol::sender::{record_frames, Sender};
use lcd_testkit::records::{command_events, session, session_id};
use lcd_testkit::remote::{free_port, Fault, FaultProxy, RemoteWorker, TOKEN};
use lcd_testkit::{DaemonProcess, InProcessDaemon, ShellKind, TestEnv};
use serde_json::{json, Value};

use super::env;

/// The daemon, in-process, forwarding to `url`.
pub(crate) fn daemon(env: &TestEnv, url: &str, token: &str) -> Result<InProcessDaemon> {
    env.start_daemon_with_config(&format!(
        "[remote]\nurl = '{url}'\ntoken = '{token}'\nbatch_size = 50\nretry_max_s = 2\n"
    ))
}

/// The config file `lcd query --remote` and a daemon process read.
pub(crate) fn write_config(env: &TestEnv, url: &str, token: &str) -> Result<()> {
    env.write_config(&format!("[remote]\nurl = '{url}'\ntoken = '{token}'\n"))
}

/// How many records the Worker holds, and how many distinct ids.
fn stored(worker: &RemoteWorker) -> Result<(u64, u64)> {
    let rows = worker.d1("SELECT count(*) AS n, count(DISTINCT uuid) AS d FROM command_history")?;
    Ok((rows[0]["n"].as_u64().unwrap_or(0), rows[0]["d"].as_u64().unwrap_or(0)))
}

pub(crate) fn wait_stored(worker: &RemoteWorker, want: u64, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let (n, distinct) = stored(worker)?;
        anyhow::ensure!(n == distinct, "{n} rows but {distinct} distinct ids: something was stored twice");
        if n == want {
            return Ok(());
        }
        anyhow::ensure!(n < want, "{n} records stored, more than the {want} sent");
        anyhow::ensure!(Instant::now() < deadline, "only {n} of {want} records reached the Worker");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Sends `n` git records (a tracked tool, so forwarded) straight to the daemon.
pub(crate) fn send(env: &TestEnv, client: u64, n: u64) -> Result<()> {
    let session = session(&session_id(client));
    let events: Vec<_> =
        (1..=n).flat_map(|seq| command_events(&session, seq, &format!("git push origin b{seq}"), 0)).collect();
    let mut sender = Sender::new(env.paths().socket);
    for frame in record_frames(events, 256) {
        sender.deliver(&frame)?;
    }
    Ok(())
}

#[test]
fn commands_typed_in_a_shell_reach_d1() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let _daemon = daemon(&env, &worker.url(), TOKEN)?;
    let mut sh = env.hooked_shell(ShellKind::Zsh)?;
    sh.run("git log -n1 >/dev/null 2>&1")?;
    sh.run("terraform -version >/dev/null 2>&1")?;
    sh.run("ls >/dev/null")?;
    wait_stored(&worker, 2, Duration::from_secs(30))?;
    let rows = worker.d1("SELECT command, command_type, executed_by, session FROM command_history ORDER BY id")?;
    assert_eq!(rows[0]["command"], "git log -n1 >/dev/null 2>&1");
    assert_eq!(rows[1]["command_type"], "terraform");
    assert!(rows.iter().all(|r| r["command_type"] != "other"), "`ls` is not forwarded: {rows:?}");
    let (status, body) = worker.request("GET", "/api/commands/history?type=git", Some(TOKEN), None)?;
    assert_eq!(status, 200);
    assert_eq!(body["records"].as_array().unwrap().len(), 1);
    // And through lcd itself.
    write_config(&env, &worker.url(), TOKEN)?;
    let remote: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--remote", "--format", "json"])?)?;
    let commands: Vec<&str> = remote.iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert_eq!(commands, ["terraform -version >/dev/null 2>&1", "git log -n1 >/dev/null 2>&1"]);
    let status = env.status()?;
    let sink = &status["sinks"][0];
    assert_eq!(
        (sink["name"].as_str(), sink["backlog"].as_u64(), sink["state"].as_str()),
        (Some("remote"), Some(0), Some("ok")),
        "{status}"
    );
    assert!(sink["last_success"].is_string());
    Ok(())
}

#[test]
fn the_team_store_learns_how_many_secrets_a_record_hides() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let _daemon = daemon(&env, &worker.url(), TOKEN)?;
    let mut sh = env.hooked_shell(ShellKind::Zsh)?;
    sh.run("git push https://alice:hunter2@example.com/acme/infra >/dev/null 2>&1")?;
    sh.run("git status >/dev/null 2>&1")?;
    wait_stored(&worker, 2, Duration::from_secs(30))?;
    let rows = worker.d1("SELECT command, redacted FROM command_history ORDER BY id")?;
    assert_eq!(rows[0]["command"], "git push https://alice:[REDACTED]@example.com/acme/infra >/dev/null 2>&1");
    assert_eq!((rows[0]["redacted"].as_i64(), rows[1]["redacted"].as_i64()), (Some(1), Some(0)), "{rows:?}");
    write_config(&env, &worker.url(), TOKEN)?;
    let remote: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--remote", "--format", "json"])?)?;
    assert_eq!(remote.iter().map(|r| r["redacted"].as_i64()).collect::<Vec<_>>(), [Some(0), Some(1)], "{remote:?}");
    Ok(())
}

/// `[capture] redact_remote` hides more in the team store's copy, and its
/// `redacted` count says so; the local record keeps the text.
#[test]
fn redact_remote_rules_hide_more_in_the_team_store_only() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let url = worker.url();
    let _daemon = env.start_daemon_with_config(&format!(
        "[capture]\nredact_remote = ['\\bcustomer-(?P<s>[a-z]+)']\n[remote]\nurl = '{url}'\ntoken = '{TOKEN}'\nretry_max_s = 2\n"
    ))?;
    let mut sh = env.hooked_shell(ShellKind::Zsh)?;
    let typed = "git push https://alice:hunter2@example.com/customer-globex/infra >/dev/null 2>&1";
    sh.run(typed)?;
    wait_stored(&worker, 1, Duration::from_secs(30))?;
    let rows = worker.d1("SELECT command, redacted FROM command_history")?;
    assert_eq!(
        rows[0]["command"],
        "git push https://alice:[REDACTED]@example.com/customer-[REDACTED]/infra >/dev/null 2>&1"
    );
    assert_eq!(rows[0]["redacted"].as_i64(), Some(2), "{rows:?}");
    let local =
        env.wait_finished("git push https://alice:[REDACTED]@example.com/customer-globex/infra >/dev/null 2>&1")?;
    assert_eq!(local.iter().map(|r| r["redacted"].as_i64()).collect::<Vec<_>>(), [Some(1)], "{local:?}");
    Ok(())
}

#[test]
fn the_seeds_single_record_shape_is_accepted() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let seed = json!({
        "command": "terraform apply -auto-approve",
        "command_type": "terraform",
        "arguments": "apply -auto-approve",
        "working_directory": "/home/alice/infra",
        "exit_code": 0,
        "duration_ms": 45210,
        "stdout": "Apply complete! Resources: 1 added.",
        "stderr": "",
        "executed_by": "alice",
        "repo_full_name": "acme/infra"
    });
    let (status, body) = worker.request("POST", "/api/commands/log", Some(TOKEN), Some(seed.to_string()))?;
    assert_eq!(status, 201, "{body}");
    let (_, history) = worker.request("GET", "/api/commands/history?repo=acme/infra", Some(TOKEN), None)?;
    let record = &history["records"][0];
    assert_eq!(
        (record["executed_by"].as_str(), record["stdout"].as_str()),
        (Some("alice"), Some("Apply complete! Resources: 1 added."))
    );
    let (_, stats) = worker.request("GET", "/api/commands/stats", Some(TOKEN), None)?;
    assert_eq!((stats["terraform_runs"].as_u64(), stats["deployments"].as_u64()), (Some(1), Some(0)), "{stats}");
    Ok(())
}

#[test]
fn a_worker_down_for_500_commands_gets_all_of_them_once() -> Result<()> {
    let env = env()?;
    let mut worker = RemoteWorker::start(&env.root.join("d1"))?;
    let _daemon = daemon(&env, &worker.url(), TOKEN)?;
    let mut sh = env.hooked_shell(ShellKind::Bash)?;
    worker.stop();
    for n in 1..=500 {
        sh.run(&format!("git log -n{n} >/dev/null 2>&1"))?;
    }
    env.wait_finished_count(500, Duration::from_secs(30))?;
    worker.restart()?;
    wait_stored(&worker, 500, Duration::from_secs(120))?;
    Ok(())
}

#[test]
fn errors_retries_and_cut_answers_still_deliver_exactly_once() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let faults = vec![
        Fault::Status(500),
        Fault::Status(503),
        Fault::TooManyRequests(1),
        Fault::CutAnswer,
        Fault::Status(502),
        Fault::CutAnswer,
    ];
    let proxy = FaultProxy::start(worker.port, faults)?;
    let _daemon = daemon(&env, &proxy.url(), TOKEN)?;
    send(&env, 1, 300)?;
    wait_stored(&worker, 300, Duration::from_secs(120))?;
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(seen.iter().filter(|(_, f)| f.is_some()).count() == 6, "every fault was played: {seen:?}");
    // The 429 was honoured: the next attempt came at least a second later is
    // not observable here, but the records arrived exactly once.
    Ok(())
}

#[test]
fn a_wrong_token_stops_the_sink_and_the_backlog_waits() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    write_config(&env, &worker.url(), "not-the-token")?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    send(&env, 2, 20)?;
    daemon.wait_log("refused the token")?;
    let status = env.status()?;
    let sink = &status["sinks"][0];
    assert_eq!(sink["state"], "stopped", "{status}");
    assert_eq!(sink["backlog"], 20, "{status}");
    assert!(sink["last_error"].as_str().unwrap().contains("401"), "{status}");
    assert!(!sink["last_error"].as_str().unwrap().contains("not-the-token"), "the token leaked into the status");
    assert_eq!(stored(&worker)?.0, 0);
    let doctor = String::from_utf8(env.lcd_output(&["doctor"])?.stdout)?;
    assert!(doctor.contains("refuses the token (401"), "{doctor}");
    // Fixed config, reloaded: the backlog goes out.
    write_config(&env, &worker.url(), TOKEN)?;
    env.lcd(&["daemon", "reload"])?;
    wait_stored(&worker, 20, Duration::from_secs(30))?;
    assert!(!daemon.log().contains("not-the-token"), "the token leaked into the log");
    let doctor = String::from_utf8(env.lcd_output(&["doctor"])?.stdout)?;
    assert!(doctor.contains("answers and takes the token"), "{doctor}");
    Ok(())
}

#[test]
fn bad_requests_get_a_reason_and_write_nothing() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let post = |path: &str, token: Option<&str>, body: String| worker.request("POST", path, token, Some(body));
    let (s, b) = post("/api/commands/batch", None, "{}".into())?;
    assert_eq!(s, 401, "{b}");
    let (s, b) = post("/api/commands/batch", Some("wrong"), "{}".into())?;
    assert_eq!((s, b["error"].as_str()), (401, Some("wrong token")));
    let (s, b) = post("/api/commands/batch", Some(TOKEN), "{not json".into())?;
    assert!(s == 400 && b["error"].as_str().unwrap().contains("not JSON"), "{b}");
    // One bad record is refused by name; the good one beside it is written.
    let batch = json!({"records": [{"uuid": "good-1", "command": "git push"}, {"uuid": "bad-1"}]});
    let (s, b) = post("/api/commands/batch", Some(TOKEN), batch.to_string())?;
    assert!(s == 200 && b["accepted"] == 1, "{b}");
    assert!(b["refused"][0]["error"].as_str().unwrap().contains("records[1].command is missing"), "{b}");
    let (s, b) = post(
        "/api/commands/batch",
        Some(TOKEN),
        json!({"records": [{"uuid": "x", "command": "ls", "exit_code": "zero"}]}).to_string(),
    )?;
    assert!(s == 200 && b["refused"][0]["error"].as_str().unwrap().contains("exit_code"), "{b}");
    let many: Vec<Value> = (0..501).map(|i| json!({"uuid": format!("m{i}"), "command": "ls"})).collect();
    let (s, b) = post("/api/commands/batch", Some(TOKEN), json!({ "records": many }).to_string())?;
    assert!(s == 413 && b["error"].as_str().unwrap().contains("501"), "{b}");
    let huge = json!({"command": "x".repeat(600 * 1024)});
    let (s, b) = post("/api/commands/log", Some(TOKEN), huge.to_string())?;
    assert_eq!(s, 413, "{b}");
    assert_eq!(stored(&worker)?.0, 1, "something from a rejected request was written");
    // A re-sent batch is counted as duplicates.
    let batch =
        json!({"records": [{"uuid": "d1", "command": "git push"}, {"uuid": "d2", "command": "git pull"}]}).to_string();
    let (_, first) = post("/api/commands/batch", Some(TOKEN), batch.clone())?;
    let (_, again) = post("/api/commands/batch", Some(TOKEN), batch)?;
    assert_eq!(
        (first["accepted"].as_u64(), again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(2), Some(0), Some(2))
    );
    let (s, _) = worker.request("GET", "/api/commands/history?limit=5000", Some(TOKEN), None)?;
    assert_eq!(s, 400);
    Ok(())
}

#[test]
fn a_rejected_batch_is_set_aside_and_later_records_flow() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    // The proxy refuses the first batch for good (422), then lets all through.
    let proxy = FaultProxy::start(worker.port, vec![Fault::Status(422)])?;
    write_config(&env, &proxy.url(), TOKEN)?;
    let _daemon = DaemonProcess::start(&env, &[])?;
    send(&env, 3, 10)?;
    std::thread::sleep(Duration::from_secs(2));
    send(&env, 4, 10)?;
    wait_stored(&worker, 10, Duration::from_secs(30))?;
    let failed = env.lcd(&["forward", "failed"])?;
    assert_eq!(failed.lines().count(), 10, "{failed}");
    assert!(failed.contains("HTTP 422"), "{failed}");
    assert!(env.lcd(&["forward", "retry"])?.contains("10 records back in the queue"));
    wait_stored(&worker, 20, Duration::from_secs(30)).context("re-queued records were not sent")?;
    Ok(())
}

#[test]
fn a_redirect_elsewhere_is_not_followed_and_the_status_names_its_target() -> Result<()> {
    let env = env()?;
    // Another host that would take anything, and a store that redirects there.
    let elsewhere = FaultProxy::start(free_port()?, vec![Fault::Status(200); 50])?;
    let target = format!("{}/api/commands/batch", elsewhere.url());
    let store = FaultProxy::start(free_port()?, vec![Fault::Redirect(target.clone()); 50])?;
    let _daemon = daemon(&env, &store.url(), TOKEN)?;
    send(&env, 5, 20)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    // Asked again later (not delivered), and never elsewhere.
    while store.seen.lock().unwrap().len() < 2 {
        let followed = elsewhere.seen.lock().unwrap().clone();
        anyhow::ensure!(followed.is_empty(), "the batch followed the redirect: {followed:?}");
        anyhow::ensure!(Instant::now() < deadline, "the store was not asked again after its redirect");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(elsewhere.seen.lock().unwrap().is_empty(), "the batch followed the redirect");
    let status: Value = serde_json::from_str(&env.lcd(&["status", "--format", "json"])?)?;
    let sink = &status["sinks"][0];
    assert_eq!((sink["state"].as_str(), sink["backlog"].as_u64()), (Some("retrying"), Some(20)), "{status}");
    let error = sink["last_error"].as_str().unwrap();
    assert!(error.contains(&format!("redirects to {target}")) && error.contains("307"), "{error}");
    // doctor names the target too.
    write_config(&env, &store.url(), TOKEN)?;
    let doctor = String::from_utf8(env.lcd_output(&["doctor"])?.stdout)?;
    assert!(doctor.contains(&format!("redirects to {}", elsewhere.url())), "{doctor}");
    Ok(())
}

#[test]
fn a_store_over_plain_http_beyond_this_machine_is_refused_and_doctor_says_why() -> Result<()> {
    let env = env()?;
    write_config(&env, "http://lcd.example.com", TOKEN)?;
    let doctor = String::from_utf8(env.lcd_output(&["doctor"])?.stdout)?;
    assert!(doctor.contains("[remote] url: http://lcd.example.com would send the token in clear"), "{doctor}");
    assert!(doctor.contains("use https://"), "{doctor}");
    // A config it must refuse never stops capture: the daemon records with
    // the defaults (no sink, so no token goes anywhere) and says why.
    let _daemon = DaemonProcess::start(&env, &[])?;
    let status = env.status()?;
    assert!(status["sinks"].as_array().is_none_or(|s| s.is_empty()), "{status}");
    let error = status["config"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("would send the token in clear"), "{status}");
    Ok(())
}
