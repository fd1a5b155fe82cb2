//! Who is who at the team store, for real: per-user tokens and roles, the
//! bootstrap admin secret, revocation, `received_from` set by the Worker,
//! the deprecated shared token, Cloudflare Access JWTs, and `lcd team token`,
//! all against the Worker under `wrangler dev --local`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use lcd_testkit::access::{AccessCerts, AccessKey};
use lcd_testkit::remote::{RemoteWorker, StaticServer, ADMIN_TOKEN, TOKEN};
use lcd_testkit::{DaemonProcess, ShellKind, TestEnv};
use serde_json::{json, Value};

use super::env;
use super::remote::{daemon, send, wait_stored, write_config};

fn post_batch(worker: &RemoteWorker, token: &str, records: Value) -> Result<(u16, Value)> {
    worker.request("POST", "/api/commands/batch", Some(token), Some(json!({ "records": records }).to_string()))
}

fn history(worker: &RemoteWorker, token: &str, query: &str) -> Result<Vec<Value>> {
    let (status, body) = worker.request("GET", &format!("/api/commands/history?{query}"), Some(token), None)?;
    anyhow::ensure!(status == 200, "history answered {status}: {body}");
    Ok(body["records"].as_array().cloned().unwrap_or_default())
}

fn uuids(records: &[Value]) -> Vec<&str> {
    let mut ids: Vec<&str> = records.iter().filter_map(|r| r["uuid"].as_str()).collect();
    ids.sort();
    ids
}

#[test]
fn alices_token_cannot_write_a_record_that_reads_received_from_bob() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let alice = worker.create_token("alice", "writer")?;
    let bob = worker.create_token("bob", "writer")?;
    let reader = worker.create_token("carol", "reader")?;
    // Naming the sender in the body is refused, by name, in a batch and alone;
    // the honest record beside it is written.
    let (status, answer) = post_batch(
        &worker,
        &alice,
        json!([
            {"uuid": "forged-1", "command": "terraform destroy", "received_from": "bob"},
            {"uuid": "honest-1", "command": "git push"},
            {"uuid": "forged-null", "command": "ls", "received_from": null}
        ]),
    )?;
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)), "{answer}");
    let refused: Vec<(u64, u64)> = answer["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(refused, [(0, 400), (2, 400)], "{answer}");
    assert!(answer["refused"][0]["error"]
        .as_str()
        .unwrap()
        .contains("records[0].received_from is set by the team store"));
    let single = json!({"command": "terraform destroy", "received_from": "bob"}).to_string();
    let (status, answer) = worker.request("POST", "/api/commands/log", Some(&alice), Some(single))?;
    assert!(status == 400 && answer["error"].as_str().unwrap().contains("received_from"), "{answer}");
    // What the client says it ran as is kept, beside who delivered it.
    let (status, answer) =
        post_batch(&worker, &alice, json!([{"uuid": "claims-bob", "command": "git push", "executed_by": "bob"}]))?;
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)), "{answer}");
    // Bob's own record, then alice replaying its id: another sender's id is refused.
    post_batch(&worker, &bob, json!([{"uuid": "bobs-1", "command": "git pull", "executed_by": "bob"}]))?;
    let (_, answer) =
        post_batch(&worker, &alice, json!([{"uuid": "bobs-1", "command": "git pull", "executed_by": "bob"}]))?;
    assert_eq!(answer["refused"][0]["status"], 409, "{answer}");
    let rows = worker.d1("SELECT uuid, executed_by, received_from FROM command_history ORDER BY uuid")?;
    let stored: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("NULL").to_string();
            (text("uuid"), text("executed_by"), text("received_from"))
        })
        .collect();
    assert_eq!(
        stored,
        [
            ("bobs-1".into(), "bob".into(), "bob".into()),
            ("claims-bob".into(), "bob".into(), "alice".into()),
            ("honest-1".into(), "NULL".into(), "alice".into()),
        ],
        "only bob's token wrote a record that reads received_from = bob"
    );
    // The history API and `lcd query --remote` show both where they differ.
    let team = history(&worker, &reader, "")?;
    let claims = team.iter().find(|r| r["uuid"] == "claims-bob").unwrap();
    assert_eq!((&claims["executed_by"], &claims["received_from"]), (&json!("bob"), &json!("alice")));
    write_config(&env, &worker.url(), &reader)?;
    let table = env.lcd(&["query", "--remote"])?;
    assert!(table.lines().next().unwrap().contains("USER"), "{table}");
    let line = table.lines().find(|l| l.contains("git push") && l.contains("bob")).context(table.clone())?;
    assert!(line.contains("bob (sent by alice)"), "{table}");
    let own = table.lines().find(|l| l.contains("git pull")).unwrap();
    assert!(own.contains("bob") && !own.contains("sent by"), "{table}");
    let remote: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--remote", "--format", "json"])?)?;
    let claims = remote.iter().find(|r| r["id"] == "claims-bob").unwrap();
    assert_eq!((&claims["user"], &claims["received_from"]), (&json!("bob"), &json!("alice")), "{claims}");
    Ok(())
}

#[test]
fn a_revoked_token_is_refused_on_the_next_request() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let token = worker.create_token("alice", "writer")?;
    let (_, list) = worker.request("GET", "/api/admin/tokens", Some(ADMIN_TOKEN), None)?;
    let id = list["tokens"][0]["id"].as_u64().unwrap();
    let (status, _) = post_batch(&worker, &token, json!([{"uuid": "before", "command": "git push"}]))?;
    assert_eq!(status, 200);
    let (status, revoked) = worker.request("DELETE", &format!("/api/admin/tokens/{id}"), Some(ADMIN_TOKEN), None)?;
    assert!(status == 200 && revoked["revoked_at"].is_string(), "{revoked}");
    let (status, answer) = post_batch(&worker, &token, json!([{"uuid": "after", "command": "git push"}]))?;
    assert!(status == 401 && answer["error"].as_str().unwrap().contains("revoked"), "{answer}");
    let (status, _) = worker.request("GET", "/api/commands/history", Some(&token), None)?;
    assert_eq!(status, 401);
    let (status, _) = worker.request("GET", "/api/whoami", Some(&token), None)?;
    assert_eq!(status, 401);
    assert_eq!(worker.d1("SELECT uuid FROM command_history")?, [json!({"uuid": "before"})]);
    // Revoking again keeps the first time; the list shows it.
    let (_, again) = worker.request("DELETE", &format!("/api/admin/tokens/{id}"), Some(ADMIN_TOKEN), None)?;
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    let (_, list) = worker.request("GET", "/api/admin/tokens", Some(ADMIN_TOKEN), None)?;
    assert_eq!(list["tokens"][0]["revoked_at"], revoked["revoked_at"]);
    Ok(())
}

#[test]
fn a_reader_cannot_post_and_cannot_manage_tokens() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let reader = worker.create_token("carol", "reader")?;
    let writer = worker.create_token("alice", "writer")?;
    post_batch(&worker, &writer, json!([{"uuid": "a-1", "command": "git push"}]))?;
    let (status, answer) = post_batch(&worker, &reader, json!([{"uuid": "r-1", "command": "git push"}]))?;
    assert!(status == 403 && answer["error"].as_str().unwrap().contains("carol is a reader"), "{answer}");
    let (status, _) =
        worker.request("POST", "/api/commands/log", Some(&reader), Some(json!({"command": "ls"}).to_string()))?;
    assert_eq!(status, 403);
    // It reads the team's records.
    assert_eq!(uuids(&history(&worker, &reader, "")?), ["a-1"]);
    let (status, _) = worker.request("GET", "/api/commands/record/a-1", Some(&reader), None)?;
    assert_eq!(status, 200);
    // Neither a reader nor a writer manages tokens.
    let make = json!({"user": "mallory", "role": "admin"}).to_string();
    for token in [&reader, &writer] {
        let (status, answer) = worker.request("POST", "/api/admin/tokens", Some(token), Some(make.clone()))?;
        assert!(status == 403 && answer["error"].as_str().unwrap().contains("managing tokens"), "{answer}");
        assert_eq!(worker.request("GET", "/api/admin/tokens", Some(token), None)?.0, 403);
        assert_eq!(worker.request("DELETE", "/api/admin/tokens/1", Some(token), None)?.0, 403);
    }
    let tokens = worker.d1("SELECT user, revoked_at FROM tokens ORDER BY id")?;
    assert_eq!(tokens, [json!({"user": "carol", "revoked_at": null}), json!({"user": "alice", "revoked_at": null})]);
    assert_eq!(worker.d1("SELECT count(*) AS n FROM command_history")?[0]["n"], 1);
    Ok(())
}

#[test]
fn the_admin_secret_bootstraps_tokens_and_the_list_never_shows_one() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let admin = |method: &str, path: &str, body: Option<Value>| {
        worker.request(method, path, Some(ADMIN_TOKEN), body.map(|b| b.to_string()))
    };
    let (status, made) = admin("POST", "/api/admin/tokens", Some(json!({"user": "dana", "role": "admin"})))?;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("lcd_") && token.len() == 47, "{token}");
    assert!(token[4..].chars().all(|c| c.is_ascii_alphanumeric()), "{token}");
    // An admin token made by the bootstrap secret manages tokens too.
    let (status, _) = worker.request(
        "POST",
        "/api/admin/tokens",
        Some(&token),
        Some(json!({"user": "erin", "role": "writer"}).to_string()),
    )?;
    assert_eq!(status, 201);
    let (status, list) = admin("GET", "/api/admin/tokens", None)?;
    assert_eq!(status, 200);
    let text = list.to_string();
    let users: Vec<&str> = list["tokens"].as_array().unwrap().iter().map(|t| t["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["dana", "erin"]);
    assert!(!text.contains("lcd_") && !text.contains("\"token\"") && !text.contains("hash"), "{text}");
    // D1 keeps only the SHA-256 of each token.
    let stored = worker.d1("SELECT * FROM tokens WHERE user = 'dana'")?;
    assert!(!stored[0].to_string().contains(&token), "{stored:?}");
    assert_eq!(stored[0]["hash"].as_str().unwrap(), sha256_hex(&token)?);
    // An admin reads everything but posts nothing.
    let (status, _) = post_batch(&worker, &token, json!([{"uuid": "x", "command": "ls"}]))?;
    assert_eq!(status, 403);
    // Bad requests are named and make nothing.
    for (body, says) in [
        (json!({"user": "frank", "role": "root"}), "role must be one of writer, reader, admin"),
        (json!({"user": "", "role": "writer"}), "user must be a non-empty string"),
        (json!({"role": "writer"}), "user must be a non-empty string"),
        (json!({"user": "shared", "role": "writer"}), "deprecated LCD_API_TOKEN"),
        (json!({"user": "eve\u{1b}[2J", "role": "writer"}), "without control characters"),
        (json!({"user": " eve", "role": "writer"}), "surrounding spaces"),
        (json!(["eve"]), "body must be"),
    ] {
        let (status, answer) = admin("POST", "/api/admin/tokens", Some(body.clone()))?;
        assert!(status == 400 && answer["error"].as_str().unwrap().contains(says), "{body}: {status} {answer}");
    }
    let (status, answer) =
        worker.request("POST", "/api/admin/tokens", Some(ADMIN_TOKEN), Some("{not json".to_string()))?;
    assert!(status == 400 && answer["error"].as_str().unwrap().contains("not JSON"), "{answer}");
    assert_eq!(admin("DELETE", "/api/admin/tokens/abc", None)?.0, 400);
    let (status, answer) = admin("DELETE", "/api/admin/tokens/999", None)?;
    assert!(status == 404 && answer["error"] == "no token 999", "{answer}");
    assert_eq!(admin("PUT", "/api/admin/tokens", None)?.0, 405);
    assert_eq!(worker.d1("SELECT count(*) AS n FROM tokens")?[0]["n"], 2);
    // A wrong admin secret is a wrong token.
    let (status, _) = worker.request("GET", "/api/admin/tokens", Some("test-admin-token-000"), None)?;
    assert_eq!(status, 401);
    let (_, who) = admin("GET", "/api/whoami", None)?;
    assert_eq!((&who["user"], &who["role"], &who["via"]), (&json!("admin"), &json!("admin"), &json!("admin-secret")));
    Ok(())
}

/// SHA-256 in hex, by coreutils: an oracle independent of the Worker.
fn sha256_hex(text: &str) -> Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running sha256sum")?;
    child.stdin.take().unwrap().write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    Ok(String::from_utf8(out.stdout)?.split_whitespace().next().unwrap_or_default().to_string())
}

#[test]
fn a_writer_reads_only_its_own_records() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let alice = worker.create_token("alice", "writer")?;
    let bob = worker.create_token("bob", "writer")?;
    let reader = worker.create_token("carol", "reader")?;
    post_batch(&worker, &alice, json!([{"uuid": "a-1", "command": "terraform apply", "command_type": "terraform"}]))?;
    post_batch(&worker, &bob, json!([{"uuid": "b-1", "command": "terraform apply", "command_type": "terraform"}]))?;
    post_batch(&worker, &bob, json!([{"uuid": "b-2", "command": "git push", "command_type": "git"}]))?;
    assert_eq!(uuids(&history(&worker, &alice, "")?), ["a-1"]);
    assert_eq!(uuids(&history(&worker, &bob, "")?), ["b-1", "b-2"]);
    // Asking for another's records by filter gets nothing more.
    assert!(history(&worker, &alice, "from=bob")?.is_empty());
    assert!(history(&worker, &alice, "user=bob")?.is_empty());
    let (status, _) = worker.request("GET", "/api/commands/record/b-1", Some(&alice), None)?;
    assert_eq!(status, 404, "another sender's record is as if absent");
    let (_, stats) = worker.request("GET", "/api/commands/stats", Some(&alice), None)?;
    assert_eq!((stats["total"].as_u64(), stats["terraform_runs"].as_u64()), (Some(1), Some(1)), "{stats}");
    // The team's reader sees all, and can pick by sender.
    assert_eq!(uuids(&history(&worker, &reader, "")?), ["a-1", "b-1", "b-2"]);
    assert_eq!(uuids(&history(&worker, &reader, "from=bob")?), ["b-1", "b-2"]);
    let (_, stats) = worker.request("GET", "/api/commands/stats", Some(&reader), None)?;
    assert_eq!(stats["total"].as_u64(), Some(3), "{stats}");
    // And so through lcd.
    write_config(&env, &worker.url(), &alice)?;
    let remote: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--remote", "--format", "json"])?)?;
    assert_eq!(remote.iter().map(|r| r["id"].as_str().unwrap()).collect::<Vec<_>>(), ["a-1"]);
    Ok(())
}

#[test]
fn the_forwarder_delivers_with_a_per_user_writer_token_and_a_reader_token_stops_it() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let alice = worker.create_token("alice", "writer")?;
    {
        let _daemon = daemon(&env, &worker.url(), &alice)?;
        let mut sh = env.hooked_shell(ShellKind::Zsh)?;
        sh.run("git log -n1 >/dev/null 2>&1")?;
        sh.run("git status >/dev/null 2>&1")?;
        wait_stored(&worker, 2, Duration::from_secs(30))?;
    }
    let rows = worker.d1("SELECT received_from, executed_by FROM command_history")?;
    let local: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--format", "json"])?)?;
    let user = local[0]["user"].as_str().context("a local record names its user")?;
    assert!(rows.iter().all(|r| r["received_from"] == "alice" && r["executed_by"] == user), "{rows:?}");
    // A reader's token in [remote]: the store refuses the batch (403), the
    // sink stops and says so, the records wait.
    let env = super::env()?;
    let reader = worker.create_token("carol", "reader")?;
    write_config(&env, &worker.url(), &reader)?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    send(&env, 7, 5)?;
    daemon.wait_log("refused the token")?;
    let status = env.status()?;
    let sink = &status["sinks"][0];
    assert_eq!((sink["state"].as_str(), sink["backlog"].as_u64()), (Some("stopped"), Some(5)), "{status}");
    assert!(sink["last_error"].as_str().unwrap().contains("403"), "{status}");
    assert_eq!(worker.d1("SELECT count(*) AS n FROM command_history")?[0]["n"], 2);
    // doctor asks the store whose token it is.
    drop(daemon);
    let doctor = String::from_utf8(env.lcd_output(&["doctor"])?.stdout)?;
    assert!(doctor.contains("(carol, reader)") && doctor.contains("the token is a reader's"), "{doctor}");
    Ok(())
}

#[test]
fn the_shared_token_still_writes_as_shared_and_doctor_says_to_move_off_it() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let (status, _) =
        post_batch(&worker, TOKEN, json!([{"uuid": "s-1", "command": "git push", "executed_by": "dave"}]))?;
    assert_eq!(status, 200);
    assert_eq!(
        worker.d1("SELECT received_from, executed_by FROM command_history")?,
        [json!({"received_from": "shared", "executed_by": "dave"})]
    );
    let (_, who) = worker.request("GET", "/api/whoami", Some(TOKEN), None)?;
    assert_eq!((&who["user"], &who["role"]), (&json!("shared"), &json!("writer")), "{who}");
    assert!(who["deprecated"].as_str().unwrap().contains("lcd team token create"), "{who}");
    // The shared writer reads what it sent, as before.
    assert_eq!(uuids(&history(&worker, TOKEN, "")?), ["s-1"]);
    write_config(&env, &worker.url(), TOKEN)?;
    let doctor = String::from_utf8(env.lcd_output(&["doctor"])?.stdout)?;
    let line = doctor.lines().find(|l| l.contains("deprecated")).context(doctor.clone())?;
    assert!(line.starts_with("warn") && line.contains("lcd team token create"), "{doctor}");
    assert!(doctor.contains("answers and takes the token (shared, writer)"), "{doctor}");
    // With a token of one's own, doctor names it and says nothing of the shared one.
    let alice = worker.create_token("alice", "writer")?;
    write_config(&env, &worker.url(), &alice)?;
    let doctor = String::from_utf8(env.lcd_output(&["doctor"])?.stdout)?;
    assert!(doctor.contains("answers and takes the token (alice, writer)"), "{doctor}");
    assert!(!doctor.contains("deprecated"), "{doctor}");
    Ok(())
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn access_jwts_are_checked_for_key_audience_expiry_and_issuer() -> Result<()> {
    let env = env()?;
    let key = AccessKey::generate("team-key-1")?;
    let certs = AccessCerts::serve(&[&key])?;
    let (aud, team) = ("aud-0123456789abcdef", "acme.cloudflareaccess.com");
    let certs_url = certs.url();
    let worker = RemoteWorker::start_with_vars(
        &env.root.join("d1"),
        &[("ACCESS_AUD", aud), ("ACCESS_TEAM_DOMAIN", team), ("ACCESS_CERTS_URL", &certs_url)],
    )?;
    let claims = |email: &str, aud: &str, exp: u64| json!({"email": email, "aud": [aud], "iss": format!("https://{team}"), "iat": now_s(), "exp": exp});
    let ask = |jwt: &str| worker.request_with_headers("GET", "/api/whoami", &[("cf-access-jwt-assertion", jwt)], None);
    let good = key.sign(&claims("alice@acme.example", aud, now_s() + 600))?;
    let (status, who) = ask(&good)?;
    assert_eq!(status, 200, "{who}");
    assert_eq!(
        (&who["user"], &who["role"], &who["via"]),
        (&json!("alice@acme.example"), &json!("reader"), &json!("access"))
    );
    // A reader by default: reads, does not post.
    let access = [("cf-access-jwt-assertion", good.as_str())];
    assert_eq!(worker.request_with_headers("GET", "/api/commands/history", &access, None)?.0, 200);
    let body = json!({"records": [{"uuid": "j-1", "command": "ls"}]}).to_string();
    assert_eq!(worker.request_with_headers("POST", "/api/commands/batch", &access, Some(body))?.0, 403);
    let other = AccessKey::generate("team-key-1")?;
    let unknown = AccessKey::generate("not-the-teams")?;
    let expired = key.sign(&claims("alice@acme.example", aud, now_s() - 5))?;
    let wrong_aud = key.sign(&claims("alice@acme.example", "another-app", now_s() + 600))?;
    let wrong_key = other.sign(&claims("alice@acme.example", aud, now_s() + 600))?;
    let unknown_key = unknown.sign(&claims("alice@acme.example", aud, now_s() + 600))?;
    let mut wrong_issuer = claims("alice@acme.example", aud, now_s() + 600);
    wrong_issuer["iss"] = json!("https://evil.cloudflareaccess.com");
    let wrong_issuer = key.sign(&wrong_issuer)?;
    let no_email = key.sign(&json!({"aud": aud, "iss": format!("https://{team}"), "exp": now_s() + 600}))?;
    let hs256 =
        key.sign_with_header(&json!({"alg": "HS256", "kid": "team-key-1"}), &claims("a@b", aud, now_s() + 600))?;
    // The good token's payload swapped for one naming someone else.
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    let mallory = claims("mallory@acme.example", aud, now_s() + 600).to_string();
    parts[1] = base64url(mallory.as_bytes());
    let tampered = parts.join(".");
    for (jwt, says) in [
        (expired.as_str(), "expired"),
        (wrong_aud.as_str(), "another application"),
        (wrong_key.as_str(), "signature does not verify"),
        (unknown_key.as_str(), "not one of the team's"),
        (wrong_issuer.as_str(), "issuer"),
        (no_email.as_str(), "no email"),
        (hs256.as_str(), "only RS256"),
        (tampered.as_str(), "signature does not verify"),
        ("not-a-jwt", "not a JWT"),
        ("eyJhbGciOiJSUzI1NiJ9.b!.c", "not base64url"),
        ("", "not a JWT"),
    ] {
        let (status, answer) = ask(jwt)?;
        assert!(status == 401, "{says}: {status} {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("Cf-Access-Jwt-Assertion refused") && error.contains(says), "{says}: {error}");
    }
    // A wrong bearer token is not rescued by a good JWT beside it.
    let both = [("cf-access-jwt-assertion", good.as_str()), ("authorization", "Bearer lcd_wrong")];
    assert_eq!(worker.request_with_headers("GET", "/api/whoami", &both, None)?.0, 401);
    assert!(certs.fetches() > 0, "the Worker never read the team's keys");
    Ok(())
}

fn base64url(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn without_access_configured_a_jwt_identifies_nobody() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let key = AccessKey::generate("k")?;
    let jwt =
        key.sign(&json!({"email": "alice@acme.example", "aud": "x", "iss": "https://x", "exp": now_s() + 600}))?;
    let (status, answer) =
        worker.request_with_headers("GET", "/api/whoami", &[("cf-access-jwt-assertion", &jwt)], None)?;
    assert!(status == 401 && answer["error"].as_str().unwrap().contains("missing Authorization"), "{answer}");
    Ok(())
}

/// `lcd team token` with the admin token from `LCD_ADMIN_TOKEN`.
fn team(env: &TestEnv, admin: &str, args: &[&str]) -> Result<std::process::Output> {
    let mut all = vec!["team", "token"];
    all.extend_from_slice(args);
    Ok(env.lcd_command(&all).env("LCD_ADMIN_TOKEN", admin).output()?)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn lcd_team_token_creates_lists_and_revokes_end_to_end() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    // A config others may read: the admin token comes from the environment, so it is not refused.
    env.write_config(&format!("[remote]\nurl = '{}'\n", worker.url()))?;
    std::fs::set_permissions(env.paths().config_file(), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    let out = team(&env, ADMIN_TOKEN, &["create", "--user", "alice", "--role", "writer"])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("lcd_") && !token.contains(' '), "only the token on stdout: {token:?}");
    assert!(text(&out.stderr).contains("for alice (writer)") && text(&out.stderr).contains("shown only now"));
    let (status, who) = worker.request("GET", "/api/whoami", Some(&token), None)?;
    assert_eq!((status, &who["user"]), (200, &json!("alice")));
    let out = team(&env, ADMIN_TOKEN, &["create", "--user", "carol", "--role", "reader", "--json"])?;
    let made: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!((&made["id"], &made["role"]), (&json!(2), &json!("reader")), "{made}");
    assert!(made["token"].as_str().unwrap().starts_with("lcd_"));
    // The list: a table for people, JSON for programs, never a token.
    let out = team(&env, ADMIN_TOKEN, &["list"])?;
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("USER") && lines[0].contains("REVOKED"), "{table}");
    assert!(lines[1].contains("alice") && lines[1].contains("writer") && lines[1].trim_end().ends_with('-'), "{table}");
    assert!(!table.contains("lcd_"), "{table}");
    let out = team(&env, ADMIN_TOKEN, &["list", "--format", "json"])?;
    let list: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    assert!(list.iter().all(|t| t.get("token").is_none()) && list.len() == 2, "{list:?}");
    // Revoked: refused from the next request on, and the list says since when.
    let out = team(&env, ADMIN_TOKEN, &["revoke", "1"])?;
    assert!(text(&out.stdout).starts_with("token 1 (alice, writer) revoked at"), "{}", text(&out.stdout));
    assert_eq!(worker.request("GET", "/api/whoami", Some(&token), None)?.0, 401);
    let list: Vec<Value> = serde_json::from_slice(&team(&env, ADMIN_TOKEN, &["list", "--json"])?.stdout)?;
    assert!(list[0]["revoked_at"].is_string() && list[1]["revoked_at"].is_null(), "{list:?}");
    let out = team(&env, ADMIN_TOKEN, &["revoke", "99"])?;
    assert!(!out.status.success() && text(&out.stderr).contains("404 Not Found: no token 99"), "{}", text(&out.stderr));
    // Refusals say which: not the admin token, not an admin's.
    let out = team(&env, "lcd_not-a-token", &["list"])?;
    assert!(
        !out.status.success() && text(&out.stderr).contains("refused the admin token (401"),
        "{}",
        text(&out.stderr)
    );
    let reader = made["token"].as_str().unwrap();
    let out = team(&env, reader, &["list"])?;
    assert!(text(&out.stderr).contains("not an admin's (403: carol is a reader"), "{}", text(&out.stderr));
    let out = team(&env, ADMIN_TOKEN, &["create", "--user", "x", "--role", "root"])?;
    assert!(!out.status.success() && text(&out.stderr).contains("possible values"), "{}", text(&out.stderr));
    let out = team(&env, ADMIN_TOKEN, &["create", "--user", "shared", "--role", "writer"])?;
    assert!(text(&out.stderr).contains("400 Bad Request") && text(&out.stderr).contains("deprecated"));
    // No admin token anywhere.
    let out = env.lcd_output(&["team", "token", "list"])?;
    assert!(!out.status.success() && text(&out.stderr).contains("no admin token: set LCD_ADMIN_TOKEN"));
    // An [admin] section with a token command works like every other token.
    env.write_config(&format!("[remote]\nurl = '{}'\n[admin]\ntoken_command = 'echo {ADMIN_TOKEN}'\n", worker.url()))?;
    let out = env.lcd_output(&["team", "token", "list", "--json"])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doctor = text(&env.lcd_output(&["doctor"])?.stdout);
    assert!(doctor.contains("admin token: ") && doctor.contains("takes it as an admin's"), "{doctor}");
    Ok(())
}

#[test]
fn lcd_team_token_names_garbage_answers_of_a_server_that_is_not_the_worker() -> Result<()> {
    let env = env()?;
    for (status, content_type, body, says) in [
        (200, "text/html", "<html>Sign in to continue</html>", "answered 200 OK but not with a list of tokens"),
        (200, "application/json", r#"{"error": "injected"}"#, "but not with a list of tokens"),
        (200, "application/json", r#"{"tokens": [{"id": "one"}]}"#, "but not with a list of tokens"),
        (502, "text/html", "<h1>Bad gateway</h1>", "answered 502 Bad Gateway: not an answer of lcd's Worker"),
        (500, "application/json", r#"{"error": "\u001b[2Jboom"}"#, "answered 500 Internal Server Error: \\x1b[2Jboom"),
    ] {
        let server = StaticServer::start(status, content_type, body)?;
        env.write_config(&format!("[remote]\nurl = '{}'\n", server.url()))?;
        let out = team(&env, ADMIN_TOKEN, &["list"])?;
        let error = text(&out.stderr);
        assert!(!out.status.success() && error.contains(says), "{body}: {error}");
        assert!(!error.contains('\u{1b}'), "a control character reached the terminal: {error:?}");
        assert_eq!(server.requests.lock().unwrap().len(), 1);
    }
    let server = StaticServer::start(
        201,
        "application/json",
        r#"{"id": 3, "user": "alice", "role": "writer", "created_at": "x", "revoked_at": null}"#,
    )?;
    env.write_config(&format!("[remote]\nurl = '{}'\n", server.url()))?;
    let out = team(&env, ADMIN_TOKEN, &["create", "--user", "alice", "--role", "writer"])?;
    assert!(text(&out.stderr).contains("made token 3 but did not say what it is"), "{}", text(&out.stderr));
    Ok(())
}
