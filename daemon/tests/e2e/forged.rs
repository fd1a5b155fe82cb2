//! Forged and broken records: what a token holder or a broken client sends
//! is checked one record at a time, at the daemon and at the team store, and
//! never costs the records around it.

use std::time::Duration;

use anyhow::{Context, Result};
use lcd_protocol::frame;
use lcd_protocol::protocol::{Reply, Request};
use lcd_protocol::sender::Sender;
use lcd_protocol::Event;
use lcd_protocol::RecordId;
use lcd_testkit::records::{command_events, session, session_id};
use lcd_testkit::remote::{RemoteWorker, TOKEN};
use lcd_testkit::TestEnv;
use serde_json::{json, Value};

use super::{env, record};

/// Delivers `events` in one frame; the daemon's answer.
fn deliver(env: &TestEnv, events: Vec<Event>) -> Result<Reply> {
    let frame = frame::encode(&Request::Record(events))?;
    Ok(Sender::new(env.paths().socket).exchange(&frame)?)
}

/// Moves an end `by` microseconds.
fn shift_end(event: &mut Event, by: i64) {
    if let Event::End(end) = event {
        end.ended_at += by;
    }
}

#[test]
fn an_end_before_its_start_is_stored_clamped_and_flagged_in_any_order() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let session = session(&session_id(90));
    // Start and end in separate frames, in both orders, and in one frame:
    // each time the end says it came 5 s before the start.
    let [start, mut end] = command_events(&session, 1, "terraform apply # start first", 0);
    shift_end(&mut end, -6_000_000);
    deliver(&env, vec![start])?;
    deliver(&env, vec![end])?;
    let [start, mut end] = command_events(&session, 2, "terraform apply # end first", 0);
    shift_end(&mut end, -6_000_000);
    deliver(&env, vec![end])?;
    deliver(&env, vec![start])?;
    let [start, mut end] = command_events(&session, 3, "terraform apply # one frame", 0);
    shift_end(&mut end, -6_000_000);
    assert!(matches!(deliver(&env, vec![start, end])?, Reply::Stored { events: 2 }));
    let [start, end] = command_events(&session, 4, "terraform apply # on time", 0);
    deliver(&env, vec![start, end])?;
    let records =
        env.wait_records(Duration::from_secs(5), |r| r.iter().filter(|r| r["status"] == "finished").count() == 4)?;
    for command in ["terraform apply # start first", "terraform apply # end first", "terraform apply # one frame"] {
        let r = record(&records, command);
        assert_eq!((&r["duration_ms"], &r["end_clamped"]), (&json!(0), &json!(true)), "{command}: {r}");
        assert_eq!(r["ended_at"], r["started_at"], "{command}: {r}");
    }
    let on_time = record(&records, "terraform apply # on time");
    assert_eq!((&on_time["duration_ms"], &on_time["end_clamped"]), (&json!(1000), &json!(false)));
    Ok(())
}

#[test]
fn one_bad_record_in_a_batch_is_refused_by_name_and_its_neighbours_are_written() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let mut records: Vec<Value> =
        (0..100).map(|i| json!({"uuid": format!("n-{i}"), "command": format!("git push origin b{i}")})).collect();
    records[41]["duration_ms"] = json!(-5000);
    records[77]["command"] = json!(null);
    let (status, body) =
        worker.request("POST", "/api/commands/batch", Some(TOKEN), Some(json!({ "records": records }).to_string()))?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 98, "{body}");
    let refused = body["refused"].as_array().context("no list of refused records")?;
    let named: Vec<(u64, &str, u64)> = refused
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["uuid"].as_str().unwrap_or(""), r["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(named, [(41, "n-41", 400), (77, "n-77", 400)], "{body}");
    assert!(refused[0]["error"].as_str().unwrap().contains("duration_ms"), "{body}");
    let rows = worker.d1("SELECT count(*) AS n FROM command_history WHERE uuid IN ('n-41', 'n-77')")?;
    assert_eq!(rows[0]["n"], 0);
    let rows = worker.d1("SELECT count(*) AS n FROM command_history")?;
    assert_eq!(rows[0]["n"], 98);
    Ok(())
}

#[test]
fn the_forwarder_sets_aside_only_the_record_the_team_store_refused() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    env.write_config(&format!("[remote]\nurl = '{}'\ntoken = '{TOKEN}'\nbatch_size = 50\n", worker.url()))?;
    let _daemon = env.start_daemon_with_config(&format!(
        "[remote]\nurl = '{}'\ntoken = '{TOKEN}'\nbatch_size = 50\nretry_max_s = 2\n",
        worker.url()
    ))?;
    // The team store takes shell names of up to 64 characters; the daemon
    // takes longer ones, so this one record reaches the Worker and is refused.
    let mut odd = session(&session_id(91));
    odd.shell = "z".repeat(100);
    let good = session(&session_id(92));
    let mut events: Vec<Event> = Vec::new();
    for seq in 1..=9 {
        events.extend(command_events(&good, seq, &format!("git push origin b{seq}"), 0));
    }
    events.extend(command_events(&odd, 1, "git push origin odd", 0));
    assert!(matches!(deliver(&env, events)?, Reply::Stored { events: 20 }));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let failed = env.lcd(&["forward", "failed"])?;
        if failed.contains("HTTP") || std::time::Instant::now() > deadline {
            break failed;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(failed.lines().count(), 1, "{failed}");
    assert!(failed.contains("shell is longer than 64"), "{failed}");
    let rows = worker.d1("SELECT command FROM command_history ORDER BY command")?;
    assert_eq!(rows.len(), 9, "{rows:?}");
    assert!(rows.iter().all(|r| r["command"] != "git push origin odd"), "{rows:?}");
    Ok(())
}

shell_test!(record_ids_cannot_be_computed_from_the_session_and_the_counter, |env, mut sh: Shell| {
    for line in ["echo one", "echo two", "echo three"] {
        sh.run(line)?;
    }
    let records = env.wait_finished("echo three")?;
    // Session and command counter are forwarded with every record: an id
    // that follows from them lets a token holder take the next ones first.
    for r in &records {
        let session = r["session"].as_str().context("a session")?;
        let id = r["id"].as_str().context("an id")?;
        for seq in 0..64 {
            assert_ne!(id, RecordId::derive(session, seq).to_string(), "{} has the predictable id {id}", r["command"]);
        }
        assert_eq!(&id[14..15], "4", "not a random (version 4) uuid: {id}");
    }
    let ids: std::collections::HashSet<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), records.len());
    Ok(())
});

#[test]
fn a_known_uuid_with_different_content_is_answered_409_not_taken_as_a_duplicate() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let post = |path: &str, body: Value| worker.request("POST", path, Some(TOKEN), Some(body.to_string()));
    let real =
        json!({"uuid": "u-1", "command": "terraform apply", "session": "s", "started_at": "2025-06-01T10:00:00.000Z"});
    let forged = json!({"uuid": "u-1", "command": "echo nothing to see", "session": "s", "started_at": "2025-06-01T10:00:00.000Z"});
    let (s, b) = post("/api/commands/batch", json!({ "records": [forged] }))?;
    assert_eq!((s, &b["accepted"]), (200, &json!(1)), "{b}");
    // The real record comes second, in a batch with a new neighbour.
    let (s, b) = post("/api/commands/batch", json!({ "records": [{"uuid": "u-2", "command": "ls"}, real] }))?;
    assert_eq!((s, &b["accepted"], &b["duplicates"]), (200, &json!(1), &json!(0)), "{b}");
    assert_eq!((&b["refused"][0]["index"], &b["refused"][0]["status"]), (&json!(1), &json!(409)), "{b}");
    assert!(b["refused"][0]["error"].as_str().unwrap().contains("different command"), "{b}");
    // The same record again is a plain duplicate.
    let (s, b) = post("/api/commands/batch", json!({ "records": [forged] }))?;
    assert_eq!((s, &b["duplicates"], &b["refused"]), (200, &json!(1), &json!([])), "{b}");
    let (s, b) = post("/api/commands/log", real)?;
    assert_eq!(s, 409, "{b}");
    let (s, _) = post("/api/commands/log", forged)?;
    assert_eq!(s, 200);
    Ok(())
}

#[test]
fn a_commit_id_that_is_not_hex_is_dropped_and_cannot_crash_the_github_sink() -> Result<()> {
    use lcd_protocol::GitSnapshot;
    use lcd_testkit::github::FakeGithub;
    let env = env()?;
    let token = "ghp_testtesttesttesttesttesttesttesttest";
    let github = FakeGithub::start(token)?;
    let _daemon = env.start_daemon_with_config(&format!(
        "[github]\napi_url = '{}'\ntoken = '{token}'\nretry_max_s = 2\nmin_write_interval_ms = 200\nissue_comments = true\n[github.environments]\ndefault = 'production'\n",
        github.url()
    ))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros() as i64;
    let deploy = |seq: u64, commit: &str| {
        let mut events = command_events(&session(&session_id(93)), seq, &format!("terraform apply # {seq}"), 0);
        if let Event::Start(start) = &mut events[0] {
            start.started_at = now + seq as i64;
            start.git = Some(GitSnapshot {
                root: "/home/tester/infra".into(),
                branch: Some("123-fix-x".into()),
                commit: Some(commit.into()),
                remote_url: Some("git@github.com:acme/infra.git".into()),
            });
        }
        if let Event::End(end) = &mut events[1] {
            end.ended_at = now + 1_000_000;
            end.git_commit_after = Some(commit.into());
        }
        events.to_vec()
    };
    // Twelve bytes in, a byte index falls inside "é": cutting there panicked.
    assert!(matches!(deliver(&env, deploy(1, &"abcdefghijké".repeat(3)))?, Reply::Stored { events: 2 }));
    // A real deploy after it: the sink reaches it only past the forged one.
    assert!(matches!(
        deliver(&env, deploy(2, "0123456789abcdef0123456789abcdef01234567"))?,
        Reply::Stored { events: 2 }
    ));
    let records = env.wait_finished("terraform apply # 2")?;
    let r = record(&records, "terraform apply # 1");
    assert_eq!((&r["git_commit"], &r["git_commit_after"]), (&Value::Null, &Value::Null), "{r}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !github.calls().iter().any(|c| c.path.ends_with("/comments")) {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no comment: {:#?}", github.calls());
        std::thread::sleep(Duration::from_millis(200));
    }
    let comments: Vec<_> = github.calls().into_iter().filter(|c| c.path.ends_with("/comments")).collect();
    assert!(comments[0].body["body"].as_str().unwrap_or("").contains("`0123456789ab`"), "{:?}", comments[0].body);
    Ok(())
}

/// A process's figure from /proc (VmSize, VmRSS), in KiB.
fn proc_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(field)).context("no such field")?;
    Ok(line.split_whitespace().nth(1).context("no value")?.parse()?)
}

#[test]
fn frames_that_declare_the_cap_and_send_nothing_cost_the_daemon_no_memory() -> Result<()> {
    use lcd_protocol::frame::HEADER_LEN;
    use lcd_protocol::protocol::MAX_FRAME_LEN;
    use std::io::Write;
    let env = env()?;
    // Virtual size counts what was allocated, touched or not; glibc's
    // per-thread arenas (64 MiB each, more threads on a busy machine) would
    // count too, so they are kept to two.
    let daemon =
        lcd_testkit::DaemonProcess::start(&env, &[("LCD_DAEMON_MAX_CONNECTIONS", "2000"), ("MALLOC_ARENA_MAX", "2")])?;
    let before = proc_kib(daemon.pid(), "VmSize:")?;
    let mut header = frame::encode(&Request::Status)?[..HEADER_LEN].to_vec();
    header[8..12].copy_from_slice(&MAX_FRAME_LEN.to_le_bytes());
    let mut held = Vec::new();
    for _ in 0..600 {
        let mut stream = std::os::unix::net::UnixStream::connect(env.paths().socket)?;
        stream.write_all(&header)?;
        held.push(stream);
    }
    std::thread::sleep(Duration::from_secs(1));
    let grown_mib = proc_kib(daemon.pid(), "VmSize:")?.saturating_sub(before) / 1024;
    // 600 declared megabytes: allocating them up front is 600 MiB.
    assert!(grown_mib < 150, "the daemon grew by {grown_mib} MiB for frames that never came");
    drop(held);
    let [start, end] = command_events(&session(&session_id(94)), 1, "echo still here", 0);
    assert!(matches!(deliver(&env, vec![start, end])?, Reply::Stored { events: 2 }));
    Ok(())
}

#[test]
fn the_team_store_refuses_loose_times_long_pipestatus_and_answers_a_bad_escape_with_400() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let records = json!({"records": [
        {"uuid": "t-1", "command": "ls", "started_at": "June 1, 2025"},
        {"uuid": "t-2", "command": "ls", "ended_at": "2025"},
        {"uuid": "t-3", "command": "ls", "pipestatus": vec![0; 257]},
        {"uuid": "t-4", "command": "ls", "pipestatus": [4_294_967_296u64]},
        {"uuid": "t-5", "command": "ls", "started_at": "2025-06-01T10:00:00.123Z", "pipestatus": vec![0; 256]},
    ]});
    let (s, b) = worker.request("POST", "/api/commands/batch", Some(TOKEN), Some(records.to_string()))?;
    assert_eq!((s, &b["accepted"]), (200, &json!(1)), "{b}");
    let refused: Vec<&str> = b["refused"].as_array().unwrap().iter().map(|r| r["uuid"].as_str().unwrap()).collect();
    assert_eq!(refused, ["t-1", "t-2", "t-3", "t-4"], "{b}");
    assert!(b["refused"][0]["error"].as_str().unwrap().contains("RFC 3339"), "{b}");
    let (s, b) = worker.request("GET", "/api/commands/record/%E0%A4%A", Some(TOKEN), None)?;
    assert_eq!(s, 400, "{b}");
    Ok(())
}

#[test]
fn frames_of_a_newer_protocol_stay_in_future_across_restarts_not_future_future() -> Result<()> {
    use lcd_protocol::protocol::PROTOCOL_VERSION;
    use lcd_protocol::spool::Spool;
    let env = env()?;
    let dir = env.paths().spool_dir();
    let events = command_events(&session(&session_id(95)), 1, "from the future", 0).to_vec();
    Spool::new(&dir).append(&frame::encode_version(PROTOCOL_VERSION + 1, &Request::Record(events))?)?;
    for _ in 0..3 {
        let mut daemon = lcd_testkit::DaemonProcess::start(&env, &[])?;
        daemon.wait_log("keeping a spooled frame of a newer protocol")?;
        daemon.stop()?;
    }
    assert!(!dir.join("future/future").exists(), "frames moved one folder deeper at each restart");
    let kept: usize =
        Spool::new(dir.join("future")).claim()?.map(|c| Ok(c?.frames()?.count())).sum::<Result<usize>>()?;
    assert_eq!(kept, 1);
    Ok(())
}

#[test]
fn another_users_connections_cannot_evict_ours() -> Result<()> {
    use std::process::{Command, Stdio};
    let env = env()?;
    let mut daemon = lcd_testkit::DaemonProcess::start(&env, &[("LCD_DAEMON_MAX_CONNECTIONS", "4")])?;
    let paths = env.paths();
    // Open the way (test only): the private folder is what normally stops them.
    for (path, mode) in [
        (env.root.as_path(), 0o711),
        (paths.runtime_dir.parent().unwrap(), 0o711),
        (&paths.runtime_dir, 0o711),
        (&paths.socket, 0o666),
    ] {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    }
    let mut ours = Sender::new(&paths.socket);
    ours.status()?;
    let flood = "import socket,sys,time\nss=[]\nfor i in range(300):\n  s=socket.socket(socket.AF_UNIX)\n  s.connect(sys.argv[1])\n  ss.append(s)\ntime.sleep(1)";
    let out = Command::new("setpriv")
        .env("PATH", "/usr/bin:/bin")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "python3", "-c", flood])
        .arg(&paths.socket)
        .stdin(Stdio::null())
        .output()
        .context("running setpriv and python3")?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    daemon.wait_log("refused a connection from uid 65534")?;
    assert!(!daemon.log().contains("too many connections"), "another user's connections took places");
    // Our connection, idle all along, is still open.
    assert!(ours.is_connected());
    ours.status().context("our connection was closed to make room for another user's")?;
    Ok(())
}

#[test]
fn one_implausible_timestamp_no_longer_drops_its_whole_frame() -> Result<()> {
    let env = env()?;
    let mut daemon = lcd_testkit::DaemonProcess::start(&env, &[])?;
    let session = session(&session_id(96));
    let mut events: Vec<Event> =
        (1..=5).flat_map(|seq| command_events(&session, seq, &format!("echo {seq}"), 0)).collect();
    if let Event::Start(s) = &mut events[4] {
        s.started_at = 1_000_000; // 1970
    }
    assert!(matches!(deliver(&env, events)?, Reply::Stored { events: 8 }));
    daemon.wait_log("started_at 1970")?;
    let records = env.wait_records(Duration::from_secs(5), |r| r.len() == 4)?;
    let mut commands: Vec<&str> = records.iter().filter_map(|r| r["command"].as_str()).collect();
    commands.sort();
    assert_eq!(commands, ["echo 1", "echo 2", "echo 4", "echo 5"]);
    Ok(())
}
