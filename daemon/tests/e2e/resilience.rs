//! Nothing lost, nothing twice: daemon killed, stopped, frozen, shut down
//! mid-burst, its database locked or removed; files private; one daemon.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lcd_protocol::sender::{deliver_or_spool, record_frames, Sender};
use lcd_protocol::spool::Spool;
use lcd_testkit::env::create_private_dir;
use lcd_testkit::records::{command_events, session, session_id};
use lcd_testkit::{DaemonProcess, ShellKind, TestEnv};
use serde_json::Value;

use super::{count, env, record};

/// (all rows, finished rows, rows without a start) in the database.
fn counts(db: &Path) -> Result<(u64, u64, u64)> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row(
        "SELECT count(*), count(*) FILTER (WHERE status = 'finished'), count(*) FILTER (WHERE command IS NULL) FROM commands",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
    )?)
}

/// Waits until `total` finished records are stored; returns how long it took.
fn wait_all_stored(env: &TestEnv, total: u64, timeout: Duration) -> Result<Duration> {
    let start = Instant::now();
    let db = env.paths().database();
    loop {
        let (all, finished, headless) = counts(&db).unwrap_or((0, 0, 0));
        if finished == total {
            assert_eq!((all, headless), (total, 0), "rows beyond the records sent, or ends without starts");
            return Ok(start.elapsed());
        }
        anyhow::ensure!(start.elapsed() < timeout, "only {finished} of {total} records stored ({all} rows)");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `records` commands as client `n`, like lcd-hook: each frame to the
/// daemon, or to the spool when the daemon does not take it.
fn client(env: &TestEnv, n: u64, records: u64, progress: &AtomicU64) -> Result<()> {
    let session = session(&session_id(n));
    let mut sender = Sender::new(env.paths().socket);
    let spool = Spool::new(env.paths().spool_dir());
    for first in (1..=records).step_by(50) {
        let events: Vec<_> = (first..(first + 50).min(records + 1))
            .flat_map(|seq| command_events(&session, seq, &format!("cmd {n} {seq}"), 0))
            .collect();
        let sent = events.len() as u64 / 2;
        for frame in record_frames(events, 256) {
            deliver_or_spool(Some(&mut sender), &spool, &frame)?;
        }
        progress.fetch_add(sent, Ordering::SeqCst);
    }
    Ok(())
}

/// Runs `clients` senders of `per_client` records each while `during` runs,
/// then waits for them all; `progress` counts the records sent so far.
fn with_clients<T>(
    env: &TestEnv,
    clients: u64,
    per_client: u64,
    progress: &AtomicU64,
    during: impl FnOnce() -> Result<T>,
) -> Result<T> {
    std::thread::scope(|s| {
        let senders: Vec<_> = (1..=clients).map(|n| s.spawn(move || client(env, n, per_client, progress))).collect();
        let outcome = during();
        for sender in senders {
            sender.join().expect("client thread")?;
        }
        outcome
    })
}

/// A pseudo-random fraction in [lo, hi), different each run.
fn jitter(lo: f64, hi: f64) -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    lo + (hi - lo) * (nanos % 1000) as f64 / 1000.0
}

#[test]
fn records_survive_three_daemon_kills_exactly_once() -> Result<()> {
    const CLIENTS: u64 = 8;
    const PER_CLIENT: u64 = 12_500;
    let total = CLIENTS * PER_CLIENT;
    let env = env()?;
    let progress = AtomicU64::new(0);
    let mut daemon = Some(DaemonProcess::start(&env, &[])?);
    let mut last_restart = Instant::now();
    with_clients(&env, CLIENTS, PER_CLIENT, &progress, || {
        for (lo, hi) in [(0.1, 0.3), (0.4, 0.6), (0.7, 0.9)] {
            let at = (jitter(lo, hi) * total as f64) as u64;
            while progress.load(Ordering::SeqCst) < at {
                std::thread::sleep(Duration::from_millis(2));
            }
            // Killed and reaped (so its lock is free), then a new one.
            daemon.take().expect("a daemon runs").end_with(libc::SIGKILL)?;
            daemon = Some(DaemonProcess::start(&env, &[])?);
            last_restart = Instant::now();
            eprintln!("killed the daemon at {} of {total} records sent", progress.load(Ordering::SeqCst));
        }
        Ok(())
    })?;
    let spooled = Spool::new(env.paths().spool_dir()).backlog_bytes();
    let recovery = wait_all_stored(&env, total, Duration::from_secs(120))?;
    eprintln!(
        "all {total} records stored exactly once, {:?} after the last restart ({spooled} spool bytes waiting when the clients finished, {recovery:?} to drain)",
        last_restart.elapsed(),
    );
    // And a kill with a spool to replay: time from restart to every record visible.
    daemon.take().expect("a daemon runs").end_with(libc::SIGKILL)?;
    let extra = Spool::new(env.paths().spool_dir());
    let sess = session(&session_id(99));
    for first in (1..=5000).step_by(100) {
        let events: Vec<_> = (first..first + 100).flat_map(|seq| command_events(&sess, seq, "spooled", 0)).collect();
        for frame in record_frames(events, 256) {
            extra.append(&frame)?;
        }
    }
    let restarted = Instant::now();
    let _daemon = DaemonProcess::start(&env, &[])?;
    wait_all_stored(&env, total + 5000, Duration::from_secs(60))?;
    eprintln!("recovery: 5000 spooled records visible {:?} after the restart began", restarted.elapsed());
    Ok(())
}

#[test]
fn commands_typed_while_the_daemon_is_stopped_arrive_in_order_once() -> Result<()> {
    let env = env()?;
    let daemon = env.start_daemon()?;
    let mut sh = env.hooked_shell(ShellKind::Zsh)?;
    // Once the helper is connected (else it would start a daemon of its own).
    sh.run("echo 0")?;
    env.wait_finished_count(1, Duration::from_secs(10))?;
    daemon.stop()?;
    for n in 1..=200 {
        sh.run(&format!("echo {n}"))?;
    }
    let _daemon = env.start_daemon()?;
    let records = env.wait_finished_count(201, Duration::from_secs(20))?;
    assert_eq!(records.len(), 201);
    // Newest first: echo 200 ... echo 0.
    let commands: Vec<String> = records.iter().rev().map(|r| r["command"].as_str().unwrap().to_string()).collect();
    let expected: Vec<String> = (0..=200).map(|n| format!("echo {n}")).collect();
    assert_eq!(commands, expected);
    Ok(())
}

#[test]
fn a_frozen_daemon_never_holds_up_the_prompt_and_loses_nothing() -> Result<()> {
    let env = env()?;
    let daemon = DaemonProcess::start(&env, &[])?;
    let mut plain = env.shell(ShellKind::Zsh)?;
    let mut sh = env.hooked_shell(ShellKind::Zsh)?;
    sh.run("echo warm")?;
    daemon.signal(libc::SIGSTOP);
    let (mut worst, mut worst_plain) = (Duration::ZERO, Duration::ZERO);
    for n in 1..=500 {
        sh.type_line(&format!("echo {n}"))?;
        worst = worst.max(sh.wait_prompt_for(Duration::from_secs(10))?);
        plain.type_line(&format!("echo {n}"))?;
        worst_plain = worst_plain.max(plain.wait_prompt_for(Duration::from_secs(10))?);
    }
    daemon.signal(libc::SIGCONT);
    eprintln!("slowest prompt with the daemon frozen: {worst:?} (a shell without lcd: {worst_plain:?})");
    // Held up, a prompt waits for a timeout or for ever (seconds); a loaded
    // machine's hiccup is a few tens of ms. What a prompt costs is measured
    // by `lcd-bench prompt`, not here.
    assert!(worst <= Duration::from_millis(250).max(worst_plain * 2), "a prompt waited {worst:?}");
    let records = env.wait_finished_count(501, Duration::from_secs(30))?;
    for n in 1..=500 {
        assert_eq!(count(&records, &format!("echo {n}")), 1);
    }
    Ok(())
}

#[test]
fn sigterm_during_a_burst_loses_nothing() -> Result<()> {
    const CLIENTS: u64 = 4;
    const PER_CLIENT: u64 = 5000;
    let env = env()?;
    let progress = AtomicU64::new(0);
    let daemon = DaemonProcess::start(&env, &[])?;
    let log = with_clients(&env, CLIENTS, PER_CLIENT, &progress, || {
        while progress.load(Ordering::SeqCst) < CLIENTS * PER_CLIENT / 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        daemon.stop()
    })?;
    assert!(log.contains("SIGTERM received") && log.contains("stopped"), "{log}");
    assert!(!env.paths().socket.exists(), "the socket outlived the daemon");
    let _daemon = DaemonProcess::start(&env, &[])?;
    wait_all_stored(&env, CLIENTS * PER_CLIENT, Duration::from_secs(60))?;
    Ok(())
}

#[test]
fn a_locked_database_costs_nothing_and_is_reported_once() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    let db = rusqlite::Connection::open(env.paths().database())?;
    db.execute_batch("BEGIN EXCLUSIVE")?;
    let session = session(&session_id(1));
    let mut sender = Sender::new(env.paths().socket);
    for seq in 1..=20 {
        let frame =
            record_frames(command_events(&session, seq, &format!("while locked {seq}"), 0).to_vec(), 256).remove(0);
        // Acknowledged: the daemon keeps it in its own spool meanwhile.
        sender.deliver(&frame).with_context(|| format!("record {seq} was not acknowledged"))?;
    }
    daemon.wait_log("cannot write to the database")?;
    db.execute_batch("COMMIT")?;
    drop(db);
    wait_all_stored(&env, 20, Duration::from_secs(20))?;
    daemon.wait_log("database writes work again")?;
    let log = daemon.log();
    assert_eq!(log.matches("cannot write to the database").count(), 1, "{log}");
    Ok(())
}

#[test]
fn a_full_disk_loses_nothing_and_is_reported_once() -> Result<()> {
    let env = env()?;
    // Create the database first, then let no file grow past 96 KiB.
    drop(DaemonProcess::start(&env, &[])?.stop()?);
    let mut daemon = DaemonProcess::start_with_file_limit(&env, &[], Some(96 * 1024))?;
    // 2000 records from a client that spools what the daemon does not take,
    // as lcd-hook does.
    client(&env, 1, 2000, &AtomicU64::new(0))?;
    daemon.wait_log("cannot write to the database")?;
    assert!(Sender::new(env.paths().socket).status().is_ok(), "the daemon stopped serving");
    daemon.lift_file_limit()?;
    wait_all_stored(&env, 2000, Duration::from_secs(60))?;
    // Reported when it started (and when the reason changed), not per batch.
    let log = daemon.log();
    assert!(log.matches("cannot write to the database").count() < 5, "{log}");
    Ok(())
}

#[test]
fn a_database_removed_underneath_is_recreated() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    let session = session(&session_id(1));
    let mut sender = Sender::new(env.paths().socket);
    let send = |sender: &mut Sender, seq: u64| -> Result<()> {
        let frame = record_frames(command_events(&session, seq, &format!("cmd {seq}"), 0).to_vec(), 256).remove(0);
        Ok(sender.deliver(&frame)?)
    };
    send(&mut sender, 1)?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.paths().database().display()));
    }
    send(&mut sender, 2)?;
    daemon.wait_log("removed or replaced")?;
    let records = env.wait_records(Duration::from_secs(5), |r| !r.is_empty())?;
    assert_eq!(records[0]["command"], "cmd 2");
    Ok(())
}

#[test]
fn a_shell_that_dies_mid_command_leaves_an_unknown_outcome() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon_with_config("[daemon]\norphan_check_s = 1\n")?;
    let mut sh = env.hooked_shell(ShellKind::Bash)?;
    sh.type_line("sleep 60")?;
    env.wait_records(Duration::from_secs(10), |r| {
        r.iter().any(|r| r["command"] == "sleep 60" && r["status"] == "running")
    })?;
    sh.kill();
    let records = env.wait_records(Duration::from_secs(10), |r| {
        r.iter().any(|r| r["command"] == "sleep 60" && r["status"] == "unknown")
    })?;
    assert!(record(&records, "sleep 60")["exit_code"].is_null());
    Ok(())
}

#[test]
fn every_file_and_folder_lcd_makes_is_private() -> Result<()> {
    let env = env()?;
    env.lcd(&["daemon", "start", "--quiet"])?;
    let mut sh = env.hooked_shell(ShellKind::Zsh)?;
    sh.run("echo private")?;
    env.wait_records(Duration::from_secs(10), |r| !r.is_empty())?;
    env.lcd(&["daemon", "stop"])?;
    // A frame for the spool, with the daemon down.
    sh.run("echo spooled")?;
    std::thread::sleep(Duration::from_millis(300));
    let p = env.paths();
    let mut expected = vec![
        (p.runtime_dir.clone(), 0o700),
        (p.data_dir.clone(), 0o700),
        (p.database(), 0o600),
        (p.state_dir.clone(), 0o700),
        (p.spool_dir(), 0o700),
        (p.spool_dir().join("pending.spool"), 0o600),
        (p.daemon_log(), 0o600),
    ];
    for suffix in ["-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", p.database().display()));
        if path.exists() {
            expected.push((path, 0o600));
        }
    }
    for (path, mode) in expected {
        let meta = std::fs::metadata(&path).with_context(|| format!("{} is missing", path.display()))?;
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{}", path.display());
    }
    // And while running: the socket and the pid file.
    env.lcd(&["daemon", "start", "--quiet"])?;
    for path in [p.socket.clone(), p.pid_file()] {
        assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600, "{}", path.display());
    }
    env.lcd(&["daemon", "stop"])?;
    Ok(())
}

#[test]
fn a_folder_others_can_write_to_is_refused_with_the_fix() -> Result<()> {
    let env = env()?;
    let data = env.paths().data_dir;
    std::fs::create_dir_all(&data)?;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777))?;
    let out = env.lcd_output(&["daemon", "run"])?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("writable by other users") && err.contains(&format!("chmod 700 {}", data.display())), "{err}");
    Ok(())
}

#[test]
fn a_second_daemon_refuses_to_start_and_a_stale_socket_is_replaced() -> Result<()> {
    let env = env()?;
    // A socket file nobody listens on, as a killed daemon leaves it.
    let socket = env.paths().socket;
    create_private_dir(&env.paths().runtime_dir)?;
    drop(std::os::unix::net::UnixListener::bind(&socket)?);
    assert!(socket.exists());
    let _daemon = DaemonProcess::start(&env, &[])?;
    let out = env.lcd_output(&["daemon", "run"])?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `start` on a running daemon is a success.
    assert!(env.lcd(&["daemon", "start"])?.contains("already running"));
    Ok(())
}

#[test]
fn sighup_reloads_the_config_and_keeps_the_old_one_when_broken() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    env.write_config("[daemon]\nmax_connections = 64\n")?;
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("configuration reloaded")?;
    env.write_config("[daemon]\nmax_conections = 64\n")?;
    daemon.signal(libc::SIGHUP);
    let line = daemon.wait_log("configuration not reloaded")?;
    assert!(line.contains("max_conections"), "{line}");
    assert!(Sender::new(env.paths().socket).status().is_ok(), "the daemon stopped serving");
    Ok(())
}

/// The spool had no bound: a daemon away for long enough filled the disk.
/// Now a spool at its bound (64 KiB here, through `[daemon] spool_max_bytes`
/// as `lcd init` and the daemon read it) drops what the shell sends next,
/// says so once in hook.log, counts it in `lcd status`, and replay stores
/// what it kept.
fn a_spool_at_its_bound_drops_and_counts_new_commands_and_keeps_the_rest(env: &TestEnv, kind: ShellKind) -> Result<()> {
    const BOUND: &str = "65536";
    let daemon = DaemonProcess::start(env, &[("LCD_DAEMON_SPOOL_MAX_BYTES", BOUND)])?;
    let mut vars = env.vars();
    vars.push(("LCD_DAEMON_SPOOL_MAX_BYTES".into(), BOUND.into()));
    let mut sh = lcd_testkit::Shell::start(kind, &vars, &env.home())?;
    sh.run(&format!("eval \"$(lcd init {})\"", kind.name()))?;
    sh.run("echo warm")?;
    env.wait_finished("echo warm")?;
    // Gone (not frozen, which would still read what sat in its socket): the
    // helper's frames go to the spool.
    daemon.end_with(libc::SIGKILL)?;
    let spool = Spool::new(env.paths().spool_dir()).with_max_bytes(BOUND.parse()?);
    let sess = session(&session_id(7));
    let frame_of =
        |seq: u64, command: &str| record_frames(command_events(&sess, seq, command, 0).to_vec(), 256).remove(0);
    let mut kept = 0;
    loop {
        let frame = frame_of(kept + 1, &format!("kept {}", kept + 1));
        // Room left for the padded one below.
        if spool.backlog_bytes() + 2 * frame.len() as u64 > spool.max_bytes() {
            break;
        }
        spool.append(&frame)?;
        kept += 1;
    }
    // Filled to the byte, so that no frame of the helper fits.
    let room = (spool.max_bytes() - spool.backlog_bytes()) as usize;
    let last = (0..room)
        .map(|pad| format!("kept last {}", "x".repeat(pad)))
        .find(|command| frame_of(kept + 1, command).len() == room)
        .context("no padding fills the spool to its bound")?;
    spool.append(&frame_of(kept + 1, &last))?;
    assert_eq!(spool.backlog_bytes(), spool.max_bytes());
    for n in 1..=5 {
        sh.run(&format!("echo dropped {n}"))?;
    }
    let hook_log = env.paths().state_dir.join("hook.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while spool.gap().is_none_or(|g| g.events < 10) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "nothing counted as dropped: {:?}; {} bytes in the spool; hook.log:\n{}",
            spool.gap(),
            spool.backlog_bytes(),
            std::fs::read_to_string(&hook_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _daemon = DaemonProcess::start(env, &[("LCD_DAEMON_SPOOL_MAX_BYTES", BOUND)])?;

    let records = env.wait_records(Duration::from_secs(20), |r| r.iter().any(|r| r["command"] == last.as_str()))?;
    for seq in 1..=kept {
        assert_eq!(count(&records, &format!("kept {seq}")), 1, "kept {seq} was not stored once");
    }
    for n in 1..=5 {
        assert_eq!(count(&records, &format!("echo dropped {n}")), 0);
    }
    sh.run("echo after")?;
    let records = env.wait_finished("echo after")?;
    // The shell's own session says what it lost, in its chain, before the
    // command that came after.
    let gaps: Vec<&Value> = records.iter().filter(|r| r["status"] == "gap").collect();
    assert_eq!(gaps.len(), 1, "{records:#?}");
    let (gap, after) = (gaps[0], super::record(&records, "echo after"));
    assert_eq!(gap["command"], "[lcd: 10 events of this shell lost: the spool was full]", "{gap}");
    assert_eq!(gap["session"], after["session"]);
    assert_eq!(gap["exit_code"], Value::Null);
    let failed = env.lcd(&["query", "--failed", "--format", "json"])?;
    assert!(!failed.contains("lost"), "a gap is no failed command: {failed}");
    let verified = env.lcd(&["verify"])?;
    assert!(verified.starts_with("intact: "), "{verified}");

    let status = env.status()?;
    let dropped = &status["spool_dropped"];
    assert_eq!(dropped["events"], 10, "{status:#}");
    assert_eq!(dropped["full"], false, "replayed, so there is room: {status:#}");
    assert!(dropped["since"].as_str().is_some_and(|s| s.ends_with('Z')), "{status:#}");
    let text = env.lcd(&["status"])?;
    assert!(
        text.contains("10 events (starts and ends of commands, ")
            && text.contains("dropped because the spool was full since"),
        "{text}"
    );
    let log = std::fs::read_to_string(&hook_log)?;
    assert_eq!(log.matches("the spool is full").count(), 1, "one line per episode:\n{log}");
    assert!(Sender::new(env.paths().socket).status().is_ok(), "the daemon stopped serving");
    Ok(())
}

shell_test!(a_spool_at_its_bound_drops_and_counts_new_commands, |env, kind: ShellKind| {
    a_spool_at_its_bound_drops_and_counts_new_commands_and_keeps_the_rest(env, kind)
});
