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

/// The team store's half: the real Worker under `wrangler dev --local`.
mod remote {
    use super::*;
    use lcd_testkit::remote::{RemoteWorker, ADMIN_TOKEN, TOKEN};
    use lcd_testkit::InProcessDaemon;
    use serde_json::json;

    /// The daemon delivers with the shared writer token; the CLI reads the
    /// team's chain as an auditor would, with a reader's.
    fn forwarding(env: &TestEnv, worker: &RemoteWorker) -> Result<InProcessDaemon> {
        forwarding_with(env, worker, "")
    }

    /// [`forwarding`], both configs beginning with `extra`.
    fn forwarding_with(env: &TestEnv, worker: &RemoteWorker, extra: &str) -> Result<InProcessDaemon> {
        let url = worker.url();
        let reader = worker.create_token("auditor", "reader")?;
        env.write_config(&format!("{extra}[remote]\nurl = '{url}'\ntoken = '{reader}'\n"))?;
        env.start_daemon_with_config(&format!(
            "{extra}[remote]\nurl = '{url}'\ntoken = '{TOKEN}'\nbatch_size = 50\nretry_max_s = 2\n"
        ))
    }

    fn wait_links(worker: &RemoteWorker, n: u64) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let rows = worker.d1("SELECT count(*) AS n FROM chain_links")?;
            let held = rows[0]["n"].as_u64().unwrap_or(0);
            if held >= n {
                return Ok(());
            }
            ensure!(std::time::Instant::now() < deadline, "the Worker holds {held} of {n} links");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    #[test]
    fn an_update_on_the_local_d1_is_named_by_lcd_verify_remote() -> Result<()> {
        let env = env()?;
        let worker = RemoteWorker::start(&env.root.join("d1"))?;
        let _daemon = forwarding(&env, &worker)?;
        // Tracked commands go whole; `ls` only as its link.
        let sess = session(&session_id(1));
        let mut events = Vec::new();
        for seq in 1..=6 {
            let command = if seq % 2 == 0 { format!("ls {seq}") } else { format!("terraform apply {seq}") };
            events.extend(command_events(&sess, seq, &command, 0));
        }
        deliver(&env, events, false)?;
        wait_links(&worker, 6)?;
        let held = worker.d1("SELECT count(*) AS n FROM command_history")?;
        assert_eq!(held[0]["n"], 3, "only the tracked commands leave the machine whole");
        assert_intact(&env, &["--remote"])?;
        // The whole team's chain is an auditor's to read, not a writer's.
        let (status, answer) = worker.request("GET", "/api/chain", Some(TOKEN), None)?;
        assert!(status == 403 && answer["error"].as_str().unwrap().contains("reader or admin"), "{answer}");
        // Every record the store holds says its link checked out.
        let (status, body) = worker.request("GET", "/api/commands/history", Some(TOKEN), None)?;
        assert_eq!(status, 200);
        let states: Vec<&Value> = body["records"].as_array().unwrap().iter().map(|r| &r["chain"]).collect();
        assert_eq!(states, [&json!("ok"), &json!("ok"), &json!("ok")], "{body}");
        let shown: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--remote", "--format", "json"])?)?;
        assert!(shown.iter().all(|r| r["chain"] == "ok"), "{shown:?}");

        worker
            .d1(&format!("UPDATE command_history SET command = 'terraform plan 3' WHERE uuid = '{}'", id_of(1, 3)))?;
        let (code, out) = verify(&env, &["--remote"])?;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("record {} (place 3) was changed", id_of(1, 3))), "{out}");
        assert!(out.ends_with("in the team store\n"), "{out}");
        // The local database is untouched and says so.
        assert_intact(&env, &[])?;
        Ok(())
    }

    #[test]
    fn a_link_rewritten_in_d1_differs_from_this_machine_and_breaks_the_next() -> Result<()> {
        let env = env()?;
        let worker = RemoteWorker::start(&env.root.join("d1"))?;
        let _daemon = forwarding(&env, &worker)?;
        deliver(&env, commands(1, 4, "git push origin"), false)?;
        wait_links(&worker, 4)?;
        let fake = "0".repeat(64);
        worker.d1(&format!("UPDATE chain_links SET hash = '{fake}' WHERE uuid = '{}'", id_of(1, 2)))?;
        worker.d1(&format!("DELETE FROM command_history WHERE uuid = '{}'", id_of(1, 2)))?;
        let (code, out) = verify(&env, &["--remote"])?;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("record {} (place 2) differs in the team store", id_of(1, 2))), "{out}");
        assert!(out.contains(&format!("record {} (place 3) does not link", id_of(1, 3))), "{out}");
        Ok(())
    }

    /// `redact_remote` hides more in the team store's copy than the local
    /// record hides: the copy is linked by the digest it carries, counted as
    /// such, and a made-up digest there is named against this machine's.
    #[test]
    fn a_record_hidden_in_part_for_the_team_store_still_verifies_and_a_forged_digest_is_named() -> Result<()> {
        let env = env()?;
        let worker = RemoteWorker::start(&env.root.join("d1"))?;
        let _daemon = forwarding_with(&env, &worker, "[capture]\nredact_remote = ['customer-(?P<s>[a-z]+)']\n")?;
        deliver(&env, commands(1, 3, "terraform apply -var name=customer-globex"), false)?;
        wait_links(&worker, 3)?;
        let held = worker.d1("SELECT command, record_digest FROM command_history ORDER BY chain_seq")?;
        assert_eq!(held.len(), 3, "{held:?}");
        for row in &held {
            let command = row["command"].as_str().unwrap();
            assert!(command.contains("customer-[REDACTED]") && !command.contains("globex"), "{row}");
            assert_eq!(row["record_digest"].as_str().map(str::len), Some(64), "{row}");
        }
        let line = assert_intact(&env, &["--remote"])?;
        assert!(line.contains("3 shown with parts hidden (redact_remote), linked by their digest"), "{line}");
        // The local records keep the text; their chain checks as ever.
        assert!(!assert_intact(&env, &[])?.contains("hidden"));
        // Someone with the store rewrites a copy's text and keeps its digest:
        // the chain alone cannot tell, this machine's copy can.
        worker.d1(&format!(
            "UPDATE command_history SET command = 'terraform apply -var name=customer-[REDACTED] -destroy' WHERE uuid = '{}'",
            id_of(1, 2)
        ))?;
        let (code, out) = verify(&env, &["--remote"])?;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("record {} (place 2) differs in the team store", id_of(1, 2))), "{out}");
        Ok(())
    }

    /// A teammate's writer token cannot take places in someone else's
    /// session: a session's chain takes links from the sender of its first.
    #[test]
    fn a_teammate_cannot_put_links_into_another_senders_chain() -> Result<()> {
        let env = env()?;
        let worker = RemoteWorker::start(&env.root.join("d1"))?;
        let _daemon = forwarding(&env, &worker)?;
        deliver(&env, commands(1, 2, "terraform apply"), false)?;
        wait_links(&worker, 2)?;
        let held = worker.d1(&format!("SELECT hash FROM chain_links WHERE uuid = '{}'", id_of(1, 2)))?;
        let last = held[0]["hash"].as_str().unwrap().to_string();
        let mallory = worker.create_token("mallory", "writer")?;
        let links = json!({ "records": [], "links": [
            { "uuid": "m-3", "session": session_id(1), "chain_seq": 3, "prev_hash": last, "hash": "3".repeat(64) },
        ] });
        let (status, _) = worker.request("POST", "/api/commands/batch", Some(&mallory), Some(links.to_string()))?;
        assert_eq!(status, 200, "taken quietly, kept nowhere");
        let rows = worker.d1("SELECT uuid, received_from FROM chain_links ORDER BY chain_seq")?;
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows.iter().all(|r| r["received_from"] == "shared"), "{rows:?}");
        assert_intact(&env, &["--remote"])?;
        Ok(())
    }

    #[test]
    fn a_record_deleted_from_d1_mid_session_is_a_gap() -> Result<()> {
        let env = env()?;
        let worker = RemoteWorker::start(&env.root.join("d1"))?;
        let _daemon = forwarding(&env, &worker)?;
        deliver(&env, commands(1, 5, "kubectl apply -f"), false)?;
        wait_links(&worker, 5)?;
        let id = id_of(1, 3);
        worker.d1(&format!(
            "DELETE FROM command_history WHERE uuid = '{id}'; DELETE FROM chain_links WHERE uuid = '{id}'"
        ))?;
        let (code, out) = verify(&env, &["--remote"])?;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("gap: place 3 is missing, before record {}", id_of(1, 4))), "{out}");
        Ok(())
    }

    #[test]
    fn a_retention_cut_leaves_verify_remote_passing() -> Result<()> {
        let env = env()?;
        let worker = RemoteWorker::start(&env.root.join("d1"))?;
        let _daemon = forwarding(&env, &worker)?;
        // The test records start on 2025-06-15, 10 s apart: 9000 of them
        // cover 2025-06-15 to 06-16; cut before the 16th.
        let sess = session(&session_id(1));
        let events: Vec<Event> = (1..=9000)
            .filter(|seq| seq % 1000 == 1 || seq % 1000 == 2)
            .flat_map(|seq| command_events(&sess, seq, &format!("terraform apply {seq}"), 0))
            .collect();
        deliver(&env, events, false)?;
        wait_links(&worker, 18)?;
        let days: Vec<Value> =
            worker.d1("SELECT substr(started_at, 1, 10) AS day, count(*) AS n FROM chain_links GROUP BY day")?;
        assert!(days.len() >= 2, "{days:?}");
        let cut_day = days[1]["day"].as_str().unwrap().to_string();
        // Not with a writer's token, nor with garbage.
        let body = json!({ "before": cut_day }).to_string();
        let (status, _) = worker.request("POST", "/api/admin/retention", Some(TOKEN), Some(body.clone()))?;
        assert_eq!(status, 403);
        for garbage in
            [r#"{"before": "2025-06-16T12:00:00Z"}"#, r#"{"before": "yesterday"}"#, "[]", r#"{"before": "2999-01-01"}"#]
        {
            let (status, answer) =
                worker.request("POST", "/api/admin/retention", Some(ADMIN_TOKEN), Some(garbage.into()))?;
            assert_eq!(status, 400, "{garbage}: {answer}");
        }
        let (status, answer) = worker.request("POST", "/api/admin/retention", Some(ADMIN_TOKEN), Some(body))?;
        assert_eq!(status, 200, "{answer}");
        let deleted = answer["deleted"].as_u64().unwrap();
        assert_eq!(deleted, days[0]["n"].as_u64().unwrap(), "{answer}");
        let cuts = worker.d1("SELECT count, cut_by FROM chain_cuts")?;
        assert_eq!(cuts[0]["count"].as_u64(), Some(deleted));
        let line = assert_intact(&env, &["--remote"])?;
        assert!(line.contains("across 1 cuts"), "{line}");
        // Later records of the session still link across the cut.
        deliver(&env, commands(1, 9002, "git fetch").split_off(2 * 9001), false)?;
        wait_links(&worker, 19 - deleted)?;
        assert_intact(&env, &["--remote"])?;
        Ok(())
    }

    #[test]
    fn a_teammate_cannot_change_or_delete_a_stored_record_through_the_api() -> Result<()> {
        let env = env()?;
        let worker = RemoteWorker::start(&env.root.join("d1"))?;
        let _daemon = forwarding(&env, &worker)?;
        deliver(&env, commands(1, 2, "terraform apply"), false)?;
        wait_links(&worker, 2)?;
        let (_, stored) = worker.request("GET", &format!("/api/commands/record/{}", id_of(1, 1)), Some(TOKEN), None)?;
        // The same uuid with another body: refused, the stored one stays.
        let mut changed = stored.clone();
        changed["command"] = json!("terraform apply -target=nothing");
        for key in ["id", "created_at", "chain", "received_from", "stdout", "stderr"] {
            changed.as_object_mut().unwrap().remove(key);
        }
        let body = json!({ "records": [changed] }).to_string();
        let (status, answer) = worker.request("POST", "/api/commands/batch", Some(TOKEN), Some(body))?;
        assert_eq!(status, 200);
        assert_eq!(answer["refused"][0]["status"], 409, "{answer}");
        // A made-up link for a place already held is not taken either.
        let fake = json!({ "records": [], "links": [{ "uuid": "x-1", "session": session_id(1), "chain_seq": 2, "prev_hash": "1".repeat(64), "hash": "2".repeat(64) }] });
        let (status, _) = worker.request("POST", "/api/commands/batch", Some(TOKEN), Some(fake.to_string()))?;
        assert_eq!(status, 200);
        // A link that claims the next place with a wrong prev_hash is kept as broken.
        let forged = json!({ "records": [], "links": [{ "uuid": "x-3", "session": session_id(1), "chain_seq": 3, "prev_hash": "1".repeat(64), "hash": "3".repeat(64) }] });
        worker.request("POST", "/api/commands/batch", Some(TOKEN), Some(forged.to_string()))?;
        let states = worker.d1("SELECT uuid, state FROM chain_links ORDER BY chain_seq")?;
        assert_eq!(states.len(), 3, "{states:?}");
        assert_eq!(
            (states[1]["uuid"].as_str(), states[2]["state"].as_str()),
            (Some(id_of(1, 2).as_str()), Some("broken"))
        );
        // Garbage links are refused with a reason, and nothing is stored.
        for garbage in [
            json!({"records": [], "links": {}}),
            json!({"records": [], "links": [{"uuid": "y", "session": "s", "chain_seq": 0, "hash": "a"}]}),
        ] {
            let (status, answer) =
                worker.request("POST", "/api/commands/batch", Some(TOKEN), Some(garbage.to_string()))?;
            assert_eq!(status, 400, "{answer}");
        }
        for (method, path) in [
            ("DELETE", format!("/api/commands/record/{}", id_of(1, 1))),
            ("PUT", "/api/commands/batch".into()),
            ("POST", "/api/chain".into()),
        ] {
            let (status, _) = worker.request(method, &path, Some(TOKEN), Some("{}".into()))?;
            // 403 for the chain: a writer may not even read it.
            assert!([403, 404, 405].contains(&status), "{method} {path}: {status}");
        }
        let (_, after) = worker.request("GET", &format!("/api/commands/record/{}", id_of(1, 1)), Some(TOKEN), None)?;
        assert_eq!(after["command"], stored["command"]);
        let (code, out) = verify(&env, &["--remote"])?;
        assert_eq!(code, 1, "the forged link is named: {out}");
        assert!(out.contains("record x-3 (place 3) does not link"), "{out}");
        Ok(())
    }
}
