//! The hash chain of each session: `lcd verify` on the local database names
//! each record that was changed, deleted or put in, and checks across a
//! prune; the Python verifier of docs/ agrees on a real export.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use lcd_protocol::sender::{deliver_or_spool, record_frames, Sender};
use lcd_protocol::spool::Spool;
use lcd_protocol::{Event, RecordId};
use lcd_testkit::records::{command_events, session, session_id};
use lcd_testkit::{DaemonProcess, TestEnv};
use serde_json::Value;

use super::{env, WAIT};

/// Sends `events` to the daemon, one frame each when `apart`.
pub(crate) fn deliver(env: &TestEnv, events: Vec<Event>, apart: bool) -> Result<()> {
    let mut sender = Sender::new(env.paths().socket);
    let per_frame = if apart { 1 } else { 256 };
    for frame in record_frames(events, per_frame) {
        sender.deliver(&frame)?;
    }
    Ok(())
}

/// Commands 1..=n of client `client`'s session, both halves of each.
pub(crate) fn commands(client: u64, n: u64, command: &str) -> Vec<Event> {
    let sess = session(&session_id(client));
    (1..=n).flat_map(|seq| command_events(&sess, seq, &format!("{command} {seq}"), 0)).collect()
}

/// The id of command `seq` of client `client`.
pub(crate) fn id_of(client: u64, seq: u64) -> String {
    RecordId::derive(&session_id(client), seq).to_string()
}

/// `lcd verify ARGS`: (exit code, stdout).
pub(crate) fn verify(env: &TestEnv, args: &[&str]) -> Result<(i32, String)> {
    let out = env.lcd_output(&[&["verify"], args].concat())?;
    let stdout = String::from_utf8(out.stdout)?;
    ensure!(
        out.stderr.is_empty() || out.status.success(),
        "lcd verify failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code().unwrap_or(-1), stdout))
}

/// Asserts `lcd verify ARGS` finds everything intact; returns its line.
pub(crate) fn assert_intact(env: &TestEnv, args: &[&str]) -> Result<String> {
    let (code, out) = verify(env, args)?;
    ensure!(
        code == 0 && out.starts_with("intact: ") && out.lines().count() == 1,
        "lcd verify {args:?} ({code}):\n{out}"
    );
    Ok(out)
}

fn wait_chained(env: &TestEnv, n: usize) -> Result<()> {
    let db = env.paths().database();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let chained: i64 =
            sql(&db)?.query_row("SELECT count(*) FROM commands WHERE hash IS NOT NULL", [], |r| r.get(0))?;
        if chained as usize >= n {
            return Ok(());
        }
        ensure!(std::time::Instant::now() < deadline, "only {chained} of {n} records chained");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sql(db: &Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// `python3 docs/verify_chain.py` over `export`.
fn python_verifier(export: &str) -> Result<Output> {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/verify_chain.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("python3 is needed for this test (scripts/test-deps installs it)")?;
    child.stdin.take().context("stdin")?.write_all(export.as_bytes())?;
    Ok(child.wait_with_output()?)
}

shell_test!(commands_typed_in_a_shell_form_an_intact_chain, |env, mut sh: Shell| {
    sh.run("echo one >/dev/null")?;
    sh.run("false || true")?;
    sh.run("printf 'two\\n' | cat >/dev/null")?;
    env.wait_finished("printf 'two\\n' | cat >/dev/null")?;
    let line = assert_intact(env, &[])?;
    assert!(line.contains("3 records in 1 sessions"), "{line}");
    let links: Vec<(i64, Option<String>, String)> = sql(&env.paths().database())?
        .prepare("SELECT chain_seq, prev_hash, hash FROM commands ORDER BY chain_seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    assert_eq!(links.iter().map(|l| l.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(links[0].1, None);
    assert_eq!(links[1].1.as_ref(), Some(&links[0].2));
    assert_eq!(links[2].1.as_ref(), Some(&links[1].2));
    Ok(())
});

#[test]
fn an_update_on_the_sqlite_file_is_named_by_lcd_verify() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    deliver(&env, commands(1, 5, "terraform plan"), false)?;
    wait_chained(&env, 5)?;
    assert_intact(&env, &[])?;
    let db = env.paths().database();
    sql(&db)?.execute("UPDATE commands SET command = 'terraform plan -innocent' WHERE id = ?1", [id_of(1, 3)])?;
    sql(&db)?.execute("UPDATE commands SET exit_code = 0, status = 'finished' WHERE id = ?1", [id_of(1, 4)])?;
    let (code, out) = verify(&env, &[])?;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("record {} (place 3) was changed", id_of(1, 3))), "{out}");
    assert!(!out.contains(&id_of(1, 4)), "an UPDATE that sets the same values changes nothing: {out}");
    assert!(!out.contains(&id_of(1, 2)) && !out.contains(&id_of(1, 5)), "only the changed record is named: {out}");
    // Rewriting its hash too breaks the link of the record after it.
    sql(&db)?.execute("UPDATE commands SET hash = 'ab' || substr(hash, 3) WHERE id = ?1", [id_of(1, 3)])?;
    let (_, out) = verify(&env, &[])?;
    assert!(out.contains(&format!("record {} (place 4) does not link", id_of(1, 4))), "{out}");
    Ok(())
}

#[test]
fn a_record_deleted_in_the_middle_of_a_session_is_a_gap() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    deliver(&env, commands(1, 6, "git push origin"), false)?;
    deliver(&env, commands(2, 2, "ls"), false)?;
    wait_chained(&env, 8)?;
    sql(&env.paths().database())?.execute("DELETE FROM commands WHERE id IN (?1, ?2)", [id_of(1, 3), id_of(1, 4)])?;
    let (code, out) = verify(&env, &[])?;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "session {}: gap: places 3..4 are missing, before record {}",
            session_id(1),
            id_of(1, 5)
        )),
        "{out}"
    );
    assert!(!out.contains(&session_id(2)), "the other session is intact: {out}");
    Ok(())
}

#[test]
fn a_row_put_into_the_sqlite_file_is_named() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    deliver(&env, commands(1, 2, "kubectl apply -f x"), false)?;
    wait_chained(&env, 2)?;
    let db = env.paths().database();
    // A forged finished row, as someone writing the file would add it ...
    sql(&db)?.execute(
        "INSERT INTO commands (id, session, seq, command, status, hostname, user, shell, recorded_at)
         VALUES ('forged-1', ?1, 9, 'rm -rf /tmp/evidence', 'finished', 'h', 'u', 'zsh', 0)",
        [session_id(1)],
    )?;
    // ... and one that claims the next place with a made-up hash.
    sql(&db)?.execute(
        "INSERT INTO commands (id, session, seq, command, status, hostname, user, shell, recorded_at, chain_seq, prev_hash, hash, local_digest)
         SELECT 'forged-2', session, 10, 'curl evil.example', 'finished', hostname, user, shell, 0, 3, hash, 'beef', local_digest
         FROM commands WHERE id = ?1",
        [id_of(1, 2)],
    )?;
    let (code, out) = verify(&env, &[])?;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("record forged-1 is in no chain"), "{out}");
    assert!(out.contains("record forged-2 (place 3) was changed"), "{out}");
    Ok(())
}

#[test]
fn a_prune_leaves_the_chain_verifying_across_the_cut() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    deliver(&env, commands(1, 6, "terraform apply"), false)?;
    wait_chained(&env, 6)?;
    // The test records started in June 2025: cut the first three.
    let fourth: i64 = sql(&env.paths().database())?.query_row(
        "SELECT started_at FROM commands WHERE id = ?1",
        [id_of(1, 4)],
        |r| r.get(0),
    )?;
    let before = lcd::time::rfc3339_ms(fourth);
    env.lcd(&["prune", "--before", &before, "--yes"])?;
    let line = assert_intact(&env, &[])?;
    assert!(line.contains("3 records in 1 sessions, across 1 cuts"), "{line}");
    // New records of the session go on from the cut.
    deliver(&env, commands(1, 7, "terraform apply").split_off(12), false)?;
    wait_chained(&env, 4)?;
    assert_intact(&env, &[])?;
    Ok(())
}

#[test]
fn halves_across_batches_and_out_of_order_ends_chain_in_the_shells_order() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let mut events = commands(1, 4, "wrangler deploy");
    // End of 2 before its start; start of 4 before the end of 3; 1 last.
    let order = [3, 2, 4, 6, 5, 7, 0, 1];
    let shuffled: Vec<Event> = order.iter().map(|&i| events[i].clone()).collect();
    events.clear();
    deliver(&env, shuffled, true)?;
    wait_chained(&env, 4)?;
    assert_intact(&env, &[])?;
    // Sent again, as a replay would: nothing changes.
    deliver(&env, commands(1, 4, "wrangler deploy"), false)?;
    std::thread::sleep(Duration::from_millis(300));
    assert_intact(&env, &[])?;
    let ids: Vec<String> = sql(&env.paths().database())?
        .prepare("SELECT id FROM commands ORDER BY chain_seq")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    assert_eq!(ids.len(), 4);
    Ok(())
}

#[test]
fn imported_history_is_a_chain_of_its_own() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    deliver(&env, commands(1, 2, "git status"), false)?;
    let history = env.home().join("zsh_history");
    std::fs::write(&history, ": 1700000000:0;terraform init\n: 1700000005:2;terraform plan\n")?;
    let path = history.display().to_string();
    env.lcd(&["import", "zsh", &path])?;
    wait_chained(&env, 4)?;
    let line = assert_intact(&env, &[])?;
    assert!(line.contains("4 records in 2 sessions"), "{line}");
    Ok(())
}

#[test]
fn the_chain_is_intact_after_kill_9_and_replay() -> Result<()> {
    let env = env()?;
    let daemon = DaemonProcess::start(&env, &[])?;
    let sender = {
        let paths = env.paths();
        std::thread::spawn(move || -> Result<()> {
            // As lcd-hook does: what the daemon does not take is spooled.
            let mut sender = Sender::new(paths.socket.clone());
            let spool = Spool::new(paths.spool_dir());
            let sess = session(&session_id(1));
            for first in (1..=2000).step_by(50) {
                let events: Vec<Event> =
                    (first..first + 50).flat_map(|seq| command_events(&sess, seq, "git fetch", 0)).collect();
                for frame in record_frames(events, 16) {
                    deliver_or_spool(Some(&mut sender), &spool, &frame)?;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    daemon.end_with(libc::SIGKILL)?;
    let _daemon = DaemonProcess::start(&env, &[])?;
    sender.join().expect("the sender thread")?;
    wait_chained(&env, 2000).or_else(|_| wait_chained(&env, 2000)).or_else(|_| wait_chained(&env, 2000))?;
    let line = assert_intact(&env, &[])?;
    assert!(line.contains("2000 records in 1 sessions"), "{line}");
    Ok(())
}

#[test]
fn the_python_verifier_agrees_with_lcd_verify_on_a_real_export() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let mut events = commands(1, 4, "terraform apply");
    events.extend(commands(2, 3, "echo 'é\u{1}\t\"quoted\"' \\\\ ✓"));
    deliver(&env, events, false)?;
    wait_chained(&env, 7)?;
    env.lcd(&["prune", "--before", &lcd::time::rfc3339_ms(1_750_000_000_000_000 + 25_000_000), "--yes"])?;
    let export = env.lcd(&["verify", "--export"])?;
    let lines: Vec<Value> = export.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert!(lines.iter().any(|l| l.get("cut").is_some()), "{export}");
    let out = python_verifier(&export)?;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.starts_with("intact: 3 records"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A changed field in the export: both name the record.
    let tampered = export.replacen("terraform apply 4", "terraform apply 5", 1);
    let out = python_verifier(&tampered)?;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && said.contains(&format!("record {} (place", id_of(1, 4))), "{said}");
    Ok(())
}
