//! `lcd query`, `show`, `stats`, `import`, `prune`: every filter and format,
//! against a database filled through the real daemon.

use std::collections::BTreeSet;
use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use lcd_protocol::sender::{record_frames, Sender};
use lcd_protocol::GitSnapshot;
use lcd_protocol::{CommandEnd, CommandStart, Event, RecordId, Session};
use lcd_testkit::env::create_private_dir;
use lcd_testkit::{ShellKind, TestEnv};
use serde_json::Value;

use super::{env, hooked};

const HOUR: i64 = 3_600_000_000;

/// One command of the fixture.
struct Cmd {
    command: &'static str,
    session: &'static str,
    host: &'static str,
    cwd: &'static str,
    repo: Option<(&'static str, &'static str, &'static str)>, // remote, branch, commit
    hours_ago: i64,
    duration_ms: i64,
    exit: Option<i32>, // None: still running
}

const S1: &str = "0190f3c2-7a4e-7b21-8c3d-000000000001";
// The two sessions share their first four characters, not their fifth.
const S2: &str = "0190a3c2-7a4e-7b21-8c3d-000000000002";
const INFRA: Option<(&str, &str, &str)> =
    Some(("git@github.com:acme/infra.git", "main", "aaaa1111bbbb2222cccc3333dddd4444eeee5555"));
const APP: Option<(&str, &str, &str)> =
    Some(("https://github.com/acme/app.git", "feature/x", "ffff6666aaaa7777bbbb8888cccc9999dddd0000"));

fn fixture() -> Vec<Cmd> {
    let c = |command, session, host, cwd, repo, hours_ago, duration_ms, exit| Cmd {
        command,
        session,
        host,
        cwd,
        repo,
        hours_ago,
        duration_ms,
        exit,
    };
    vec![
        c("terraform plan", S1, "ws1", "/home/a/infra", INFRA, 72, 4_000, Some(0)),
        c("terraform apply -auto-approve", S1, "ws1", "/home/a/infra", INFRA, 71, 45_000, Some(1)),
        c("terraform apply -auto-approve", S1, "ws1", "/home/a/infra/envs/prod", INFRA, 30, 50_000, Some(0)),
        c("git push origin main", S1, "ws1", "/home/a/infra", INFRA, 29, 2_000, Some(0)),
        c("wrangler deploy --env production", S2, "ws2", "/home/a/app", APP, 5, 12_000, Some(0)),
        c("npm run build", S2, "ws2", "/home/a/app", APP, 4, 31_000, Some(2)),
        c("grep -rn needle src", S2, "ws2", "/home/a/app", APP, 3, 100, Some(1)),
        c("echo Unique-Marker-Zebra", S2, "ws2", "/tmp", None, 2, 5, Some(0)),
        c("kubectl get pods -n prod", S1, "ws1", "/home/a/infrastructure", None, 1, 800, Some(0)),
        c("sleep 600", S1, "ws1", "/home/a", None, 0, 0, None),
    ]
}

fn events(now: i64) -> Vec<Event> {
    fixture()
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            let session = Session {
                id: c.session.into(),
                shell: "zsh".into(),
                pid: 1,
                host: c.host.into(),
                user: if c.host == "ws1" { "alice" } else { "bob" }.into(),
                tty: None,
            };
            let seq = i as u64 + 1;
            let id = RecordId::derive(c.session, seq);
            let started_at = now - c.hours_ago * HOUR - 60_000_000;
            let git = c.repo.map(|(remote, branch, commit)| GitSnapshot {
                root: "/home/a".into(),
                branch: Some(branch.into()),
                commit: Some(commit.into()),
                remote_url: Some(remote.into()),
            });
            let start = Event::Start(CommandStart {
                id,
                session: session.clone(),
                seq,
                started_at,
                cwd: c.cwd.into(),
                command: c.command.into(),
                expanded: None,
                env: vec![],
                git,
            });
            let end = c.exit.map(|exit| {
                Event::End(CommandEnd {
                    id,
                    session,
                    seq,
                    ended_at: started_at + c.duration_ms * 1000,
                    exit_code: exit,
                    pipestatus: vec![exit],
                    git_commit_after: None,
                })
            });
            std::iter::once(start).chain(end)
        })
        .collect()
}

/// An environment whose database holds the fixture, stored by the daemon.
fn filled() -> Result<(TestEnv, lcd_testkit::InProcessDaemon)> {
    let env = env()?;
    let daemon = env.start_daemon()?;
    let mut sender = Sender::new(env.paths().socket);
    for frame in record_frames(events(lcd::time::now_micros()), 256) {
        sender.deliver(&frame)?;
    }
    Ok((env, daemon))
}

/// The commands `lcd query --all --format json ARGS` returns, newest first.
fn query(env: &TestEnv, args: &[&str]) -> Result<Vec<String>> {
    let mut all = vec!["query", "--all", "--format", "json"];
    all.extend_from_slice(args);
    let records: Vec<Value> = serde_json::from_str(&env.lcd(&all)?)?;
    Ok(records.iter().map(|r| r["command"].as_str().unwrap_or_default().to_string()).collect())
}

fn set(commands: &[&str]) -> BTreeSet<String> {
    commands.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_filter_selects_what_it_says() -> Result<()> {
    let (env, _daemon) = filled()?;
    let q = |args: &[&str]| -> Result<BTreeSet<String>> { Ok(query(&env, args)?.into_iter().collect()) };
    assert_eq!(q(&["--type", "terraform"])?, set(&["terraform plan", "terraform apply -auto-approve"]));
    assert_eq!(query(&env, &["--type", "terraform", "--sub", "apply"])?.len(), 2);
    assert_eq!(q(&["--failed"])?, set(&["terraform apply -auto-approve", "npm run build", "grep -rn needle src"]));
    assert_eq!(q(&["--exit", "2"])?, set(&["npm run build"]));
    assert_eq!(query(&env, &["--succeeded"])?.len(), 6);
    assert_eq!(q(&["--running"])?, set(&["sleep 600"]));
    // That folder and below, not a sibling that shares its prefix.
    assert_eq!(query(&env, &["--cwd", "/home/a/infra"])?.len(), 4);
    assert!(!q(&["--cwd", "/home/a/infra/"])?.contains("kubectl get pods -n prod"));
    assert_eq!(
        q(&["--repo", "acme/app"])?,
        set(&["wrangler deploy --env production", "npm run build", "grep -rn needle src"])
    );
    assert_eq!(query(&env, &["--branch", "feature/x"])?.len(), 3);
    assert_eq!(query(&env, &["--commit", "aaaa11"])?.len(), 4);
    assert_eq!(query(&env, &["--session", S2])?.len(), 4);
    assert_eq!(query(&env, &["--host", "ws2"])?.len(), 4);
    assert_eq!(query(&env, &["--user", "alice"])?.len(), 6);
    // Each fixture command started a minute before its hour.
    assert_eq!(
        q(&["--since", "6h", "--until", "3h"])?,
        set(&["wrangler deploy --env production", "npm run build", "grep -rn needle src"])
    );
    assert!(query(&env, &["--since", "yesterday"])?.len() >= 6);
    assert_eq!(q(&["--min-duration", "40s"])?, set(&["terraform apply -auto-approve"]));
    assert_eq!(query(&env, &["--min-duration", "40s"])?.len(), 2);
    // Combined.
    assert_eq!(
        q(&["--type", "terraform", "--failed", "--repo", "acme/infra"])?,
        set(&["terraform apply -auto-approve"])
    );
    // Free text, case-insensitive, before the search index caught up...
    assert_eq!(query(&env, &["unique-marker"])?, ["echo Unique-Marker-Zebra"]);
    assert_eq!(query(&env, &["ZEB"])?, ["echo Unique-Marker-Zebra"]);
    assert_eq!(query(&env, &["Ze"])?, ["echo Unique-Marker-Zebra"], "two-letter patterns are searched too");
    // ... and after (the daemon indexes when idle).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(query(&env, &["unique-marker"])?, ["echo Unique-Marker-Zebra"]);
    assert_eq!(query(&env, &["auto-APPROVE"])?.len(), 2);
    // Limits and order.
    assert_eq!(query(&env, &[])?.first().map(String::as_str), Some("sleep 600"));
    assert_eq!(query(&env, &["--reverse"])?.first().map(String::as_str), Some("terraform plan"));
    let limited: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--limit", "3", "--format", "json"])?)?;
    assert_eq!(limited.len(), 3);
    Ok(())
}

#[test]
fn this_session_comes_from_the_shell() -> Result<()> {
    hooked(ShellKind::Zsh, |env, mut sh| {
        sh.run("echo mine")?;
        env.wait_finished("echo mine")?;
        sh.run("lcd query --this-session --format jsonl --fields command > mine.jsonl")?;
        let text = std::fs::read_to_string(env.home().join("mine.jsonl"))?;
        assert!(text.contains("\"echo mine\""), "{text}");
        let out = env.lcd_output(&["query", "--this-session"])?;
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("LCD_SESSION"));
        Ok(())
    })
}

#[test]
fn every_format_parses_back() -> Result<()> {
    let (env, _daemon) = filled()?;
    let json: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--all", "--format", "json"])?)?;
    assert_eq!(json.len(), 10);
    for key in [
        "id",
        "command",
        "status",
        "exit_code",
        "pipestatus",
        "started_at",
        "ended_at",
        "duration_ms",
        "cwd",
        "session",
        "hostname",
        "user",
        "shell",
        "command_type",
        "subcommand",
        "git_repo",
        "git_host",
        "git_branch",
        "git_commit",
        "env",
    ] {
        assert!(json[0].get(key).is_some(), "JSON lacks {key}");
    }
    let jsonl = env.lcd(&["query", "--all", "--format", "jsonl"])?;
    let lines: Vec<Value> = jsonl.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(lines, json);
    let csv_text =
        env.lcd(&["query", "--all", "--format", "csv", "--fields", "id,command,exit_code,git_repo,pipestatus"])?;
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(reader.headers()?.iter().collect::<Vec<_>>(), ["id", "command", "exit_code", "git_repo", "pipestatus"]);
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 10);
    for (row, record) in rows.iter().zip(&json) {
        assert_eq!(&row[1], record["command"].as_str().unwrap());
        assert_eq!(&row[2], record["exit_code"].as_i64().map(|c| c.to_string()).unwrap_or_default());
    }
    let picked: Vec<Value> =
        serde_json::from_str(&env.lcd(&["query", "--format", "json", "--fields", "command,exit", "-n", "1"])?)?;
    assert_eq!(picked[0].as_object().unwrap().keys().collect::<Vec<_>>(), ["command", "exit"]);
    // A table in a pipe: header, aligned, no colour codes.
    let table = env.lcd(&["query", "--all"])?;
    assert!(table.starts_with("ID") && table.contains("COMMAND") && !table.contains('\x1b'), "{table}");
    assert_eq!(table.lines().count(), 11);
    let bad = env.lcd_output(&["query", "--fields", "command,nope"])?;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown field \"nope\""));
    Ok(())
}

#[test]
fn a_broken_pipe_ends_quietly() -> Result<()> {
    let (env, _daemon) = filled()?;
    let mut child = env
        .lcd_command(&["query", "--all", "--format", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first)?; // then the pipe closes
    let status = child.wait()?;
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err)?;
    assert!(status.success(), "lcd exited with {status}: {err}");
    assert!(err.is_empty(), "{err}");
    Ok(())
}

#[test]
fn show_prints_everything_about_one_record() -> Result<()> {
    let (env, _daemon) = filled()?;
    let first: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--format", "json", "--type", "wrangler"])?)?;
    let id = first[0]["id"].as_str().unwrap();
    let shown = env.lcd(&["show", &id[..8]])?;
    assert!(
        shown.contains("wrangler deploy --env production")
            && shown.contains("acme/app")
            && shown.contains("production"),
        "{shown}"
    );
    let json: Value = serde_json::from_str(&env.lcd(&["show", id, "--json"])?)?;
    assert_eq!(json, first[0]);
    let out = env.lcd_output(&["show", "ffffffff"])?;
    assert!(String::from_utf8_lossy(&out.stderr).contains("no record"));
    Ok(())
}

#[test]
fn query_shows_short_ids_that_lcd_show_finds() -> Result<()> {
    let (env, _daemon) = filled()?;
    let table = env.lcd(&["query", "--all"])?;
    assert!(table.starts_with("ID "), "{table}");
    let ids: Vec<&str> = table.lines().skip(1).map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(ids.len(), 10);
    let json: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--all", "--format", "json"])?)?;
    for (id, record) in ids.iter().zip(&json) {
        assert!(id.len() >= 7 && id.len() < 36, "{id} is not a short id");
        assert!(record["id"].as_str().unwrap().starts_with(id));
        let shown: Value = serde_json::from_str(&env.lcd(&["show", id, "--json"])?)?;
        assert_eq!(shown["id"], record["id"], "lcd show {id}");
    }
    Ok(())
}

#[test]
fn query_session_takes_a_unique_prefix_of_the_session_id() -> Result<()> {
    let (env, _daemon) = filled()?;
    assert_eq!(query(&env, &["--session", &S2[..5]])?.len(), 4);
    assert_eq!(query(&env, &["--session", &S1[..8]])?.len(), 6);
    assert_eq!(query(&env, &["--session", S1])?.len(), 6);
    let both = env.lcd_output(&["query", "--session", &S1[..4]])?;
    assert!(!both.status.success(), "an ambiguous prefix picked one session");
    assert!(String::from_utf8_lossy(&both.stderr).contains("more than one session starts with"), "{both:?}");
    Ok(())
}

#[test]
fn a_filter_that_matches_nothing_says_so_and_suggests_the_nearest_tool_or_repository() -> Result<()> {
    let (env, _daemon) = filled()?;
    let stderr = |args: &[&str]| -> Result<String> {
        let out = env.lcd_output(args)?;
        assert!(out.status.success(), "lcd {args:?}: {out:?}");
        Ok(String::from_utf8(out.stderr)?)
    };
    let typo = stderr(&["query", "--type", "terrafrom"])?;
    assert!(typo.contains("No commands match") && typo.contains("did you mean terraform?"), "{typo}");
    let repo = stderr(&["query", "--repo", "infra"])?;
    assert!(repo.contains("did you mean acme/infra?"), "{repo}");
    let json = env.lcd_output(&["query", "--repo", "infra", "--format", "json"])?;
    assert_eq!(String::from_utf8_lossy(&json.stdout).trim(), "[]");
    // Filters that exist but do not meet: said, with nothing to suggest.
    let none = stderr(&["query", "--type", "terraform", "--repo", "acme/app"])?;
    assert!(none.contains("No commands match") && !none.contains("did you mean"), "{none}");
    let far = stderr(&["query", "--type", "zzzzzzzz"])?;
    assert!(far.contains("no record has --type zzzzzzzz") && !far.contains("did you mean"), "{far}");
    assert!(stderr(&["query", "--type", "terraform"])?.is_empty());
    Ok(())
}

#[test]
fn a_long_command_wraps_on_a_terminal_and_is_whole_with_wide() -> Result<()> {
    let (env, _daemon) = filled()?;
    let mut sh = env.shell(ShellKind::Bash)?;
    sh.run("stty cols 64; export NO_COLOR=1")?;
    sh.run("lcd query --type wrangler; echo end-of-narrow")?;
    sh.run("lcd query --type wrangler --wide; echo end-of-wide")?;
    let screen = sh.screen().replace('\r', "");
    let narrow = &screen[screen.find("lcd query --type wrangler;").unwrap()..screen.find("\nend-of-narrow").unwrap()];
    let lines: Vec<&str> = narrow.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "header, then the command on two lines:\n{narrow}");
    assert!(lines.iter().all(|l| l.chars().count() <= 64), "{narrow}");
    let at = lines[1].find("wrangler deploy").expect("the command's first part");
    assert_eq!(lines[2], format!("{}--env production", " ".repeat(at)), "{narrow}");
    let wide = &screen[screen.find("--wide; echo").unwrap()..screen.find("\nend-of-wide").unwrap()];
    assert!(wide.contains("wrangler deploy --env production"), "{wide}");
    Ok(())
}

#[test]
fn stats_count_runs_failures_and_deploys() -> Result<()> {
    let (env, _daemon) = filled()?;
    let stats: Value = serde_json::from_str(&env.lcd(&["stats", "--since", "7d", "--format", "json"])?)?;
    assert_eq!(stats["commands"], 10);
    assert_eq!(stats["failed"], 3);
    assert_eq!(stats["terraform_runs"], 3);
    assert_eq!(stats["deployments"], 3); // two terraform applies, one wrangler deploy
    assert_eq!(stats["deploys_failed"], 1);
    assert_eq!(stats["git_operations"], 1);
    assert!(stats["total_commands_today"].as_u64().unwrap() >= 1);
    let terraform = stats["per_type"].as_array().unwrap().iter().find(|k| k["command_type"] == "terraform").unwrap();
    assert_eq!((terraform["runs"].as_u64(), terraform["failed"].as_u64()), (Some(3), Some(1)));
    assert_eq!(stats["slowest"][0]["command"], "terraform apply -auto-approve");
    let repo: Value = serde_json::from_str(&env.lcd(&["stats", "--repo", "acme/app", "--format", "json"])?)?;
    assert_eq!(repo["commands"], 3);
    let table = env.lcd(&["stats"])?;
    assert!(table.contains("Per day") && table.contains("Deploys") && table.contains("terraform"), "{table}");
    Ok(())
}

#[test]
fn prune_counts_first_then_deletes_and_search_follows() -> Result<()> {
    let (env, _daemon) = filled()?;
    std::thread::sleep(Duration::from_millis(1500)); // let the search index catch up
    let dry = env.lcd(&["prune", "--before", "24h"])?;
    assert!(dry.contains("4 commands") && dry.contains("would be deleted"), "{dry}");
    assert_eq!(query(&env, &[])?.len(), 10, "a dry run deletes nothing");
    let typed = env.lcd(&["prune", "--before", "24h", "--type", "git", "--yes"])?;
    assert!(typed.contains("Deleted 1 git commands"), "{typed}");
    env.lcd(&["prune", "--before", "24h", "--yes"])?;
    assert_eq!(query(&env, &[])?.len(), 6);
    assert!(query(&env, &["auto-approve"])?.is_empty(), "the search index still finds deleted rows");
    assert_eq!(query(&env, &["needle"])?, ["grep -rn needle src"]);
    Ok(())
}

#[test]
fn the_read_path_needs_no_daemon_nor_a_database() -> Result<()> {
    let env = env()?;
    let out = env.lcd_output(&["query", "--format", "json"])?;
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let table = env.lcd_output(&["query"])?;
    assert!(String::from_utf8_lossy(&table.stderr).contains("No commands recorded yet"));
    let (env, daemon) = filled()?;
    daemon.stop()?;
    assert_eq!(query(&env, &[])?.len(), 10);
    Ok(())
}

#[test]
fn history_written_by_zsh_is_imported_once() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    // Extended history, a multi-line entry and a secret.
    let zsh_file = env.home().join("zsh_history");
    let mut zsh = env.shell(ShellKind::Zsh)?;
    zsh.run(&format!(
        "HISTFILE={}; HISTSIZE=100; SAVEHIST=100; setopt EXTENDED_HISTORY INC_APPEND_HISTORY",
        zsh_file.display()
    ))?;
    zsh.run("terraform version >/dev/null 2>&1")?;
    zsh.type_line("for i in 1 2; do")?;
    zsh.type_line("echo $i; done")?;
    zsh.wait_prompt()?;
    zsh.run("export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789")?;
    zsh.exit()?;
    // Every entry zsh wrote (the set-up line and `exit` among them).
    let entries = std::fs::read_to_string(&zsh_file)?.lines().filter(|l| l.starts_with(": ")).count();
    let first = env.lcd(&["import", "zsh", &zsh_file.display().to_string()])?;
    assert!(first.contains(&format!("Imported {entries} commands")), "{first}");
    let again = env.lcd(&["import", "zsh", &zsh_file.display().to_string()])?;
    assert!(
        again.contains("Imported 0 commands") && again.contains(&format!("{entries} were there already")),
        "{again}"
    );
    let records: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--all", "--format", "json"])?)?;
    let commands: Vec<&str> = records.iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert!(commands.contains(&"for i in 1 2; do\necho $i; done"), "{commands:?}");
    assert!(commands.contains(&"export GITHUB_TOKEN=[REDACTED]"), "{commands:?}");
    assert!(records.iter().all(|r| r["imported"] == true && r["shell"] == "zsh"));
    let tf = records.iter().find(|r| r["command_type"] == "terraform").context("terraform classified")?;
    assert_eq!(tf["subcommand"], "version");
    Ok(())
}

#[test]
fn history_written_by_bash_is_imported_once() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    // With timestamps.
    let bash_file = env.home().join("bash_history");
    let mut bash = env.shell(ShellKind::Bash)?;
    bash.run(&format!("HISTFILE={}; HISTTIMEFORMAT='%s '; set -o history", bash_file.display()))?;
    bash.run("git status >/dev/null 2>&1")?;
    bash.run("echo from bash")?;
    bash.exit()?;
    let text = std::fs::read_to_string(&bash_file)?;
    assert!(text.lines().any(|l| l.starts_with('#')), "bash wrote no timestamps: {text}");
    let imported = env.lcd(&["import", "bash", &bash_file.display().to_string()])?;
    assert!(imported.contains("Imported") && !imported.contains("Imported 0"), "{imported}");
    assert!(env.lcd(&["import", "bash", &bash_file.display().to_string()])?.contains("Imported 0 commands"));
    let bash_records: Vec<Value> =
        serde_json::from_str(&env.lcd(&["query", "--all", "--format", "json", "echo from bash"])?)?;
    assert_eq!(bash_records.len(), 1);
    assert_eq!(bash_records[0]["shell"], "bash");
    Ok(())
}

#[test]
fn bash_history_without_timestamps_is_imported_before_everything_timed_and_not_as_today() -> Result<()> {
    let (env, _daemon) = filled()?;
    let before: Value = serde_json::from_str(&env.lcd(&["stats", "--since", "1000d", "--format", "json"])?)?;
    // No HISTTIMEFORMAT: a line each, no times; a CR kept as it was typed.
    let file = env.home().join("bash_history");
    std::fs::write(&file, "echo untimed-one\necho untimed-two\r\n")?;
    let imported = env.lcd(&["import", "bash", &file.display().to_string()])?;
    assert!(imported.contains("Imported 2 commands"), "{imported}");
    let all: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--all", "--format", "json"])?)?;
    let commands: Vec<&str> = all.iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert_eq!(commands.len(), 12);
    assert_eq!(&commands[10..], ["echo untimed-two\r", "echo untimed-one"], "untimed imports go last: {commands:?}");
    let newest: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "-n", "1", "--format", "json"])?)?;
    assert_eq!(newest[0]["command"], "sleep 600", "the newest command is still the newest");
    let after: Value = serde_json::from_str(&env.lcd(&["stats", "--since", "1000d", "--format", "json"])?)?;
    assert_eq!(after["total_commands_today"], before["total_commands_today"], "untimed imports count as today");
    assert_eq!(after["commands"].as_u64(), before["commands"].as_u64().map(|c| c + 2));
    Ok(())
}

#[test]
fn completions_and_man_page_are_generated() -> Result<()> {
    let env = env()?;
    assert!(env.lcd(&["completions", "zsh"])?.contains("#compdef lcd"));
    assert!(env.lcd(&["completions", "bash"])?.contains("_lcd()"));
    assert!(env.lcd(&["completions", "fish"])?.contains("complete -c lcd"));
    let man = env.lcd(&["man"])?;
    assert!(man.contains(".TH") && man.contains("query"), "{man}");
    Ok(())
}

#[test]
fn a_database_from_an_older_lcd_is_upgraded_before_it_is_read() -> Result<()> {
    let env = env()?;
    // A database as the first release of lcd left it: schema version 1.
    let db = env.paths().database();
    create_private_dir(&env.paths().data_dir)?;
    let conn = rusqlite::Connection::open(&db)?;
    conn.execute_batch(include_str!("../../../sql/local/0001_commands.sql"))?;
    conn.execute_batch(
        "PRAGMA user_version = 1;
         INSERT INTO commands (id, session, seq, command, started_at, ended_at, exit_code, status, hostname, user, shell, recorded_at)
         VALUES ('1d3702f2-8399-80bc-8190-f3c27a4e7b21', 's', 1, 'git status', 1750000000000000, 1750000001000000, 0, 'finished', 'h', 'u', 'zsh', 0);",
    )?;
    drop(conn);
    assert_eq!(query(&env, &[])?, ["git status"]);
    let upgraded: i64 = rusqlite::Connection::open(&db)?.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(upgraded, lcd::store::SCHEMA_VERSION);
    env.lcd(&["daemon", "stop"])?;
    Ok(())
}

/// A history of `n` lines in zsh's extended format, each a distinct command.
fn long_zsh_history(env: &TestEnv, n: usize) -> Result<std::path::PathBuf> {
    let file = env.home().join("long_history");
    let text: String = (0..n).map(|i| format!(": {}:0;echo line {i}\n", 1_700_000_000 + i)).collect();
    std::fs::write(&file, text)?;
    Ok(file)
}

/// Regression: an import failed part-way with "connection to the daemon
/// broke: ... Resource temporarily unavailable" when the daemon took over a
/// second to answer a chunk. A daemon frozen for three seconds now only slows
/// it; a daemon gone mid-way ends it with a message that says to run it
/// again, and running it again imports the rest, nothing twice.
#[test]
fn an_import_outlasts_a_frozen_daemon_and_resumes_after_a_dead_one() -> Result<()> {
    let env = env()?;
    let file = long_zsh_history(&env, 20_000)?;
    let path = file.display().to_string();
    let daemon = lcd_testkit::DaemonProcess::start(&env, &[])?;
    let mut import =
        env.lcd_command(&["import", "zsh", &path]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    std::thread::sleep(Duration::from_millis(150));
    daemon.signal(libc::SIGSTOP);
    let in_flight = import.try_wait()?.is_none();
    std::thread::sleep(Duration::from_secs(3));
    daemon.signal(libc::SIGCONT);
    let out = import.wait_with_output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(in_flight, "the import ended before the daemon froze: {said}");
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("Imported 20000 commands"), "{said}");

    // Gone mid-way: told to run it again, which adds the rest only.
    let more = long_zsh_history(&env, 40_000)?;
    let path = more.display().to_string();
    let import = env.lcd_command(&["import", "zsh", &path]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    // Killed once it has taken part of the new lines.
    let db = rusqlite::Connection::open(env.paths().database())?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while db.query_row("SELECT count(*) FROM commands", [], |r| r.get::<_, i64>(0))? <= 20_000 {
        anyhow::ensure!(std::time::Instant::now() < deadline, "the import took nothing new");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.end_with(libc::SIGKILL)?;
    let out = import.wait_with_output()?;
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{error}");
    assert!(error.contains("importing stopped after") && error.contains("Run the same `lcd import` again"), "{error}");
    let _daemon = env.start_daemon()?;
    let again = env.lcd(&["import", "zsh", &path])?;
    assert!(again.contains("were there already"), "{again}");
    let total: Vec<Value> = serde_json::from_str(&env.lcd(&["query", "--all", "--format", "json"])?)?;
    assert_eq!(total.len(), 40_000, "{again}");
    Ok(())
}
