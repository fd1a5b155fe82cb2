//! Deploy runs become GitHub deployments, against a fake GitHub API that
//! checks every request against GitHub's published OpenAPI description.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lcd_testkit::env::write_script;
use lcd_testkit::git::repo_with_origin;
use lcd_testkit::github::{Call, FakeGithub};
use lcd_testkit::remote::RemoteWorker;
use lcd_testkit::{InProcessDaemon, Shell, ShellKind, TestEnv};
use serde_json::Value;

use super::env;

const TOKEN: &str = "ghp_testtesttesttesttesttesttesttesttest";

/// A repository with one commit whose origin is `origin`, on `branch`.
fn repo(env: &TestEnv, name: &str, origin: &str, branch: &str) -> Result<(PathBuf, String)> {
    let dir = env.home().join(name);
    let commit = repo_with_origin(&dir, origin, branch)?;
    Ok((dir, commit))
}

/// A stand-in `terraform` that takes TF_SLEEP seconds and exits TF_EXIT.
fn fake_terraform(env: &TestEnv) -> Result<PathBuf> {
    let bin = env.root.join("bin");
    std::fs::create_dir_all(&bin)?;
    write_script(&bin.join("terraform"), "#!/bin/sh\nsleep \"${TF_SLEEP:-0}\"\nexit \"${TF_EXIT:-0}\"\n")?;
    Ok(bin)
}

/// The daemon reporting to `github`, with `extra` in the [github] section.
fn daemon(env: &TestEnv, github: &FakeGithub, extra: &str) -> Result<InProcessDaemon> {
    daemon_with(env, github, extra, "")
}

/// [`daemon`], with `before` ahead of the [github] section.
fn daemon_with(env: &TestEnv, github: &FakeGithub, extra: &str, before: &str) -> Result<InProcessDaemon> {
    let text = format!("{before}\n[github]\napi_url = '{}'\ntoken = '{TOKEN}'\nretry_max_s = 2\n{extra}\n[github.environments]\ndefault = 'production'\n", github.url());
    env.start_daemon_with_config(&text)
}

/// A hooked shell in `dir` with the stand-in terraform first on PATH.
fn shell(env: &TestEnv, dir: &Path) -> Result<Shell> {
    let bin = fake_terraform(env)?;
    let mut sh = env.hooked_shell(ShellKind::Zsh)?;
    sh.run(&format!("export PATH={}:$PATH; cd {}", bin.display(), dir.display()))?;
    Ok(sh)
}

/// Waits until the fake has seen `n` writes.
fn wait_writes(github: &FakeGithub, n: usize, timeout: Duration) -> Result<Vec<Call>> {
    let deadline = Instant::now() + timeout;
    loop {
        let writes: Vec<Call> = github.calls().into_iter().filter(|c| c.method == "POST").collect();
        if writes.len() >= n {
            for c in &writes {
                anyhow::ensure!(
                    c.problems.is_empty(),
                    "{} {} does not match GitHub's description: {:?}\n{}",
                    c.method,
                    c.path,
                    c.problems,
                    c.body
                );
            }
            return Ok(writes);
        }
        anyhow::ensure!(Instant::now() < deadline, "only {} of {n} writes reached GitHub: {writes:#?}", writes.len());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn successful(writes: &[Call]) -> Vec<&Call> {
    writes.iter().filter(|c| c.status == 201).collect()
}

#[test]
fn deploy_runs_become_deployments_with_their_outcome() -> Result<()> {
    let env = env()?;
    let github = FakeGithub::start(TOKEN)?;
    let _daemon = daemon(&env, &github, "")?;
    let (dir, sha) = repo(&env, "infra", "git@github.com:acme/infra.git", "main")?;
    let mut sh = shell(&env, &dir)?;
    sh.run("TF_SLEEP=4 terraform apply -auto-approve")?;
    sh.run("TF_SLEEP=4 TF_EXIT=1 terraform apply -auto-approve")?;
    let writes = wait_writes(&github, 6, Duration::from_secs(30))?;
    let paths: Vec<&str> = writes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/repos/acme/infra/deployments",
            "/repos/acme/infra/deployments/1001/statuses",
            "/repos/acme/infra/deployments/1001/statuses",
            "/repos/acme/infra/deployments",
            "/repos/acme/infra/deployments/1004/statuses",
            "/repos/acme/infra/deployments/1004/statuses",
        ]
    );
    let create = &writes[0].body;
    assert_eq!(create["ref"], sha.as_str());
    assert_eq!(create["environment"], "production", "default renamed by [github.environments]");
    assert_eq!(
        (create["auto_merge"].as_bool(), create["required_contexts"].as_array().map(Vec::len)),
        (Some(false), Some(0))
    );
    assert_eq!(create["task"], "deploy");
    assert_eq!(create["production_environment"], true);
    assert!(create["description"].as_str().unwrap().starts_with("terraform apply by "));
    assert_eq!(create["payload"].get("command"), None, "the command line stays off GitHub by default: {create}");
    let states: Vec<&str> = writes.iter().filter_map(|c| c.body["state"].as_str()).collect();
    assert_eq!(states, ["in_progress", "success", "in_progress", "failure"]);
    assert!(writes[5].body["description"].as_str().unwrap().starts_with("exit 1 after 4."), "{}", writes[5].body);
    // One request at a time, a second apart.
    for pair in writes.windows(2) {
        assert!(
            pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(990),
            "writes closer than a second apart"
        );
    }
    Ok(())
}

#[test]
fn a_commit_github_does_not_know_falls_back_to_the_branch_once() -> Result<()> {
    let env = env()?;
    let github = FakeGithub::start(TOKEN)?;
    let _daemon = daemon(&env, &github, "min_write_interval_ms = 200")?;
    let (dir, sha) = repo(&env, "infra", "git@github.com:acme/infra.git", "main")?;
    github.set(|b| {
        b.unknown_refs.insert(sha.clone());
    });
    let mut sh = shell(&env, &dir)?;
    sh.run("terraform destroy -auto-approve")?;
    let writes = wait_writes(&github, 3, Duration::from_secs(30))?;
    assert_eq!((writes[0].status, writes[0].body["ref"].as_str()), (422, Some(sha.as_str())));
    assert_eq!(
        (writes[1].status, writes[1].body["ref"].as_str(), writes[1].body["task"].as_str()),
        (201, Some("main"), Some("destroy"))
    );
    assert_eq!(writes[2].body["state"], "success");
    // Neither ref known: the reason is kept, and nothing is retried forever.
    github.set(|b| {
        b.unknown_refs.insert("main".into());
    });
    sh.run("terraform apply")?;
    let writes = wait_writes(&github, 5, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(github.calls().iter().filter(|c| c.method == "POST").count(), 5, "a refused deployment was retried");
    assert_eq!((writes[3].status, writes[4].status), (422, 422));
    let status = env.status()?;
    let sink = status["sinks"].as_array().unwrap().iter().find(|s| s["name"] == "github").unwrap();
    assert!(sink["last_error"].as_str().unwrap().contains("No ref found"), "{sink}");
    assert_eq!(sink["failed"], 1);
    // The reason is kept on the record.
    let records: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--format", "json", "--sub", "apply"])?)?;
    let shown: Value = serde_json::from_str(&env.lcd(&["show", records[0]["id"].as_str().unwrap(), "--json"])?)?;
    assert_eq!(shown["github"]["stage"], "failed");
    assert!(shown["github"]["reason"].as_str().unwrap().contains("No ref found for: main"), "{shown}");
    Ok(())
}

#[test]
fn an_exhausted_rate_limit_waits_until_reset_and_errors_are_retried() -> Result<()> {
    let env = env()?;
    let github = FakeGithub::start(TOKEN)?;
    let _daemon = daemon(&env, &github, "min_write_interval_ms = 200")?;
    let (dir, _) = repo(&env, "infra", "git@github.com:acme/infra.git", "main")?;
    github.set(|b| {
        b.rate_limit_for = Some(3);
        b.fail_next = 0;
    });
    let mut sh = shell(&env, &dir)?;
    sh.run("terraform apply")?;
    let writes = wait_writes(&github, 3, Duration::from_secs(30))?;
    assert_eq!(writes[0].status, 403);
    let waited = writes[1].at.duration_since(writes[0].at);
    assert!(waited >= Duration::from_millis(2500), "retried {waited:?} after an exhausted rate limit reset in 3 s");
    assert_eq!(successful(&writes).len(), 2);
    github.set(|b| b.fail_next = 3);
    sh.run("terraform apply")?;
    let writes = wait_writes(&github, 8, Duration::from_secs(30))?;
    assert_eq!(writes[3..6].iter().map(|c| c.status).collect::<Vec<_>>(), [500, 500, 500]);
    assert_eq!(successful(&writes).len(), 4);
    Ok(())
}

#[test]
fn github_down_during_the_run_gets_everything_later_in_order() -> Result<()> {
    let env = env()?;
    let github = FakeGithub::start(TOKEN)?;
    github.set(|b| b.down = true);
    let _daemon = daemon(&env, &github, "min_write_interval_ms = 200")?;
    let (dir, sha) = repo(&env, "infra", "git@github.com:acme/infra.git", "main")?;
    let mut sh = shell(&env, &dir)?;
    sh.run("TF_EXIT=2 terraform apply")?;
    sh.run("wrangler deploy --env staging >/dev/null 2>&1")?;
    std::thread::sleep(Duration::from_secs(2));
    assert!(github.calls().is_empty());
    github.set(|b| b.down = false);
    let writes = wait_writes(&github, 4, Duration::from_secs(30))?;
    let summary: Vec<(String, Option<String>)> =
        writes.iter().map(|c| (c.path.clone(), c.body["state"].as_str().map(String::from))).collect();
    assert_eq!(writes[0].body["ref"], sha.as_str(), "the commit at start, even though created later");
    assert_eq!(summary[1].1.as_deref(), Some("failure"), "{summary:?}");
    assert_eq!(writes[2].body["environment"], "staging");
    assert_eq!(summary[3].1.as_deref(), Some("failure"), "wrangler is not installed here: {summary:?}");
    Ok(())
}

#[test]
fn a_refused_token_stops_the_sink_with_a_clear_status() -> Result<()> {
    let env = env()?;
    let github = FakeGithub::start("another-token")?;
    let _daemon = daemon(&env, &github, "")?;
    let (dir, _) = repo(&env, "infra", "git@github.com:acme/infra.git", "main")?;
    let mut sh = shell(&env, &dir)?;
    sh.run("terraform apply")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = env.status()?;
        let sink =
            status["sinks"].as_array().unwrap().iter().find(|s| s["name"] == "github").cloned().unwrap_or_default();
        if sink["state"] == "stopped" {
            let error = sink["last_error"].as_str().unwrap();
            assert!(error.contains("401") && error.contains("[github]"), "{error}");
            assert!(!status.to_string().contains(TOKEN), "the token is in the status");
            assert_eq!(sink["backlog"], 1);
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the sink did not stop: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(github.calls().len(), 1, "it kept knocking with a refused token");
    // doctor says so too (with the same config in the file).
    env.write_config(&format!("[github]\napi_url = '{}'\ntoken = '{TOKEN}'\n", github.url()))?;
    let doctor = String::from_utf8(env.lcd_output(&["doctor"])?.stdout)?;
    assert!(doctor.contains("GitHub") && doctor.contains("refuses the token (401"), "{doctor}");
    Ok(())
}

#[test]
fn a_repository_closed_to_the_token_fails_its_runs_and_the_others_are_reported() -> Result<()> {
    let env = env()?;
    let github = FakeGithub::start(TOKEN)?;
    github.set(|b| {
        b.down = true;
        b.refusing.insert("acme/secret".into(), 403);
        b.refusing.insert("acme/gone".into(), 404);
    });
    let _daemon = daemon(&env, &github, "min_write_interval_ms = 200")?;
    let (secret, _) = repo(&env, "secret", "git@github.com:acme/secret.git", "main")?;
    let (gone, _) = repo(&env, "gone", "git@github.com:acme/gone.git", "main")?;
    let (infra, _) = repo(&env, "infra", "git@github.com:acme/infra.git", "main")?;
    let mut sh = shell(&env, &secret)?;
    // Queued while GitHub is away, oldest first: two for the closed repository.
    // (The repository is the one the command line starts in.)
    for dir in [&secret, &gone, &secret, &infra] {
        sh.run(&format!("cd {}", dir.display()))?;
        sh.run("terraform apply")?;
    }
    env.wait_records(Duration::from_secs(10), |r| r.iter().filter(|r| r["command"] == "terraform apply").count() >= 4)?;
    github.set(|b| b.down = false);
    let writes = wait_writes(&github, 5, Duration::from_secs(30))?;
    let to = |repo: &str| -> Vec<&Call> { writes.iter().filter(|c| c.path.starts_with(repo)).collect() };
    let (closed, missing, open) = (to("/repos/acme/secret/"), to("/repos/acme/gone/"), to("/repos/acme/infra/"));
    assert_eq!(closed.iter().map(|c| c.status).collect::<Vec<_>>(), [403, 403], "{writes:#?}");
    assert_eq!(missing.iter().map(|c| c.status).collect::<Vec<_>>(), [404], "{writes:#?}");
    assert_eq!(open.iter().map(|c| c.status).collect::<Vec<_>>(), [201, 201], "{writes:#?}");
    // The open repository did not wait for the closed one, which waited on its own.
    assert!(open[0].at < closed[1].at, "{writes:#?}");
    let waited = closed[1].at.duration_since(closed[0].at);
    assert!(waited >= Duration::from_millis(750), "the closed repository was asked again after {waited:?}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(github.calls().len(), 5, "a refused run was retried: {:#?}", github.calls());
    let status: Value = serde_json::from_str(&env.lcd(&["status", "--format", "json"])?)?;
    let sink = status["sinks"].as_array().unwrap().iter().find(|s| s["name"] == "github").unwrap();
    assert_eq!(
        (sink["state"].as_str(), sink["failed"].as_u64(), sink["backlog"].as_u64()),
        (Some("ok"), Some(3), Some(0)),
        "{sink}"
    );
    // Each failed run keeps GitHub's reason.
    let records: Vec<Value> =
        serde_json::from_str(&env.lcd(&["query", "--format", "json", "--repo", "acme/secret", "--sub", "apply"])?)?;
    let shown: Value = serde_json::from_str(&env.lcd(&["show", records[0]["id"].as_str().unwrap(), "--json"])?)?;
    assert_eq!(shown["github"]["stage"], "failed", "{shown}");
    let reason = shown["github"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("HTTP 403: Resource not accessible") && reason.contains("Deployments: read and write"),
        "{reason}"
    );
    Ok(())
}

#[test]
fn other_commands_and_other_hosts_make_no_calls() -> Result<()> {
    let env = env()?;
    let github = FakeGithub::start(TOKEN)?;
    let _daemon = daemon(&env, &github, "min_write_interval_ms = 200")?;
    let (dir, _) = repo(&env, "infra", "git@github.com:acme/infra.git", "main")?;
    let (elsewhere, _) = repo(&env, "lab", "git@gitlab.com:acme/infra.git", "main")?;
    let mut sh = shell(&env, &dir)?;
    sh.run("terraform plan")?;
    sh.run("git status >/dev/null")?;
    // (The repository is the one the command line starts in.)
    sh.run(&format!("cd {}", elsewhere.display()))?;
    sh.run("terraform apply")?;
    sh.run("cd /tmp")?;
    sh.run("terraform apply")?;
    env.wait_finished_count(7, Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_secs(2));
    assert!(github.calls().is_empty(), "{:#?}", github.calls());
    Ok(())
}

#[test]
fn a_branch_named_after_an_issue_gets_a_comment() -> Result<()> {
    let env = env()?;
    let github = FakeGithub::start(TOKEN)?;
    let _daemon = daemon(&env, &github, "min_write_interval_ms = 200\nissue_comments = true")?;
    let (dir, _) = repo(&env, "infra", "git@github.com:acme/infra.git", "123-fix-x")?;
    let mut sh = shell(&env, &dir)?;
    sh.run("terraform apply")?;
    let writes = wait_writes(&github, 3, Duration::from_secs(30))?;
    let comment = writes.last().context("a comment")?;
    assert_eq!(comment.path, "/repos/acme/infra/issues/123/comments");
    assert!(comment.body["body"].as_str().unwrap().contains("success"), "{}", comment.body);
    Ok(())
}

/// Deployments and issue comments of a public repository are public: the
/// command line goes there only with `include_command`, and then with
/// `[capture] redact_remote` applied; the local record keeps it whole.
#[test]
fn the_command_line_reaches_github_only_when_asked_and_redacted_for_it() -> Result<()> {
    let capture = "[capture]\nredact_remote = ['customer-(?P<s>[a-z]+)']\n";
    let typed = "terraform apply -var name=customer-globex";
    for include in [false, true] {
        let env = env()?;
        let github = FakeGithub::start(TOKEN)?;
        let github_extra = format!("min_write_interval_ms = 200\nissue_comments = true\ninclude_command = {include}");
        let _daemon = daemon_with(&env, &github, &github_extra, capture)?;
        let (dir, _) = repo(&env, "infra", "git@github.com:acme/infra.git", "123-fix-x")?;
        let mut sh = shell(&env, &dir)?;
        sh.run(typed)?;
        let records = env.wait_finished(typed)?;
        assert_eq!(super::record(&records, typed)["redacted"], 0, "the local record hides nothing");
        let writes = wait_writes(&github, 3, Duration::from_secs(30))?;
        let comment = writes.last().context("a comment")?;
        assert_eq!(comment.path, "/repos/acme/infra/issues/123/comments");
        let sent: String = writes.iter().map(|w| w.body.to_string()).collect();
        assert!(!sent.contains("globex"), "redact_remote applies to GitHub: {sent}");
        let create = &writes[0].body;
        let comment = comment.body["body"].as_str().unwrap_or_default();
        if include {
            assert_eq!(create["payload"]["command"], "terraform apply -var name=customer-[REDACTED]");
            assert!(comment.contains("`terraform apply -var name=customer-[REDACTED]` by "), "{comment}");
        } else {
            assert_eq!(create["payload"].get("command"), None, "{create}");
            assert!(!sent.contains("-var name"), "no command line on GitHub: {sent}");
            assert!(comment.contains("`terraform apply` by "), "{comment}");
        }
    }
    Ok(())
}

#[test]
fn a_deployments_log_url_opens_a_page_that_asks_for_the_token_and_reads_the_record() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("worker"))?;
    let github = FakeGithub::start(TOKEN)?;
    let text = format!(
        "[remote]\nurl = '{}'\ntoken = '{}'\nretry_max_s = 2\n\
         [github]\napi_url = '{}'\ntoken = '{TOKEN}'\nretry_max_s = 2\n[github.environments]\ndefault = 'production'\n",
        worker.url(),
        lcd_testkit::remote::TOKEN,
        github.url()
    );
    let _daemon = env.start_daemon_with_config(&text)?;
    let (dir, _) = repo(&env, "infra", "git@github.com:acme/infra.git", "main")?;
    let mut sh = shell(&env, &dir)?;
    sh.run("terraform apply -auto-approve")?;
    // The deployment, then its outcome.
    let writes = wait_writes(&github, 2, Duration::from_secs(30))?;
    let records = env.wait_finished("terraform apply -auto-approve")?;
    let id = super::record(&records, "terraform apply -auto-approve")["id"].as_str().unwrap().to_string();
    let page_path = format!("/r/{id}");
    let statuses: Vec<&Call> = writes.iter().filter(|c| c.path.ends_with("/statuses")).collect();
    assert!(!statuses.is_empty(), "{writes:#?}");
    for status in statuses {
        assert_eq!(status.body["log_url"], format!("{}{page_path}", worker.url()), "{}", status.body);
    }
    // The page: served without a token, holding no record, running no inline script.
    let page = worker.get_page(&page_path)?;
    let html = &page.body;
    assert_eq!(page.status, 200, "{html}");
    assert!(page.header("content-type").starts_with("text/html"), "{:?}", page.headers);
    assert!(page.header("content-security-policy").contains("script-src 'self'"), "{:?}", page.headers);
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert!(html.contains("<script src=\"/r/assets/record.js\"></script>") && html.matches("<script").count() == 1);
    assert!(!html.contains(&id) && !html.contains("terraform"), "the page itself holds the record:\n{html}");
    // Its script: the token from the fragment or a form, kept per tab, sent to the record API.
    let script = worker.get_page("/r/assets/record.js")?;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").starts_with("text/javascript"), "{:?}", script.headers);
    for needle in
        ["sessionStorage", "location.hash", "\"token\"", "/api/commands/record/", "\"Bearer \"", "textContent"]
    {
        assert!(script.body.contains(needle), "the script lacks {needle}");
    }
    assert!(!script.body.contains("innerHTML"), "record text must not be parsed as HTML");
    // What the script reads: the record, with the token only.
    let record_path = format!("/api/commands/record/{id}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (code, record) = loop {
        let answer = worker.request("GET", &record_path, Some(lcd_testkit::remote::TOKEN), None)?;
        if answer.0 != 404 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!((code, record["command"].as_str()), (200, Some("terraform apply -auto-approve")), "{record}");
    let (code, _) = worker.request("GET", &record_path, None, None)?;
    assert_eq!(code, 401);
    // A hostile link: the id is never written into the page.
    let hostile = worker.get_page("/r/%3Cscript%3Ealert(1)%3C%2Fscript%3E")?;
    assert!(hostile.status == 200 && !hostile.body.contains("alert"), "{}", hostile.body);
    Ok(())
}
