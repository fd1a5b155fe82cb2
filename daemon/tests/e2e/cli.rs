//! The command line as a person meets it: output piped into other tools,
//! messages that say what to do.

use std::process::Stdio;

use anyhow::{Context, Result};

use super::env;

#[test]
fn every_subcommand_exits_quietly_when_its_reader_closes_the_pipe() -> Result<()> {
    // `lcd status | head -1`: the reader is gone before lcd writes. Each
    // write then fails with EPIPE; lcd must end at once, exit 0, say nothing
    // (a panic printed "failed printing to stdout" and exited 134).
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let history = env.home().join("history");
    std::fs::write(&history, ": 1700000000:0;terraform plan\n: 1700000100:2;git push\n")?;
    env.lcd(&["import", "zsh", &history.display().to_string()])?;
    for args in [
        &["status"][..],
        &["status", "--format", "json"],
        &["doctor"],
        &["completions", "zsh"],
        &["completions", "bash"],
        &["man"],
        &["init", "zsh"],
        &["init", "bash"],
        &["query"],
        &["stats"],
        &["config", "path"],
        &["config", "show"],
        &["forward", "failed"],
        &["service", "status"],
        &["--help"],
        &["--version"],
    ] {
        let (reader, writer) = std::io::pipe()?;
        drop(reader);
        let out = env
            .lcd_command(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running lcd {args:?}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "lcd {args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(134), "lcd {args:?} aborted: {stderr}");
        assert!(out.status.code().is_some(), "lcd {args:?} died by a signal: {:?}", out.status);
    }
    Ok(())
}

#[test]
fn zsh_completion_of_type_offers_tool_names_not_file_names() -> Result<()> {
    let script = env()?.lcd(&["completions", "zsh"])?;
    let type_specs: Vec<&str> = script
        .lines()
        .filter(|l| l.trim_start().starts_with("'--type=") || l.trim_start().starts_with("'-t+"))
        .collect();
    // query, stats and prune, each with -t and --type.
    assert_eq!(type_specs.len(), 6, "{script}");
    for spec in type_specs {
        assert!(spec.contains(":TYPE:(terraform git wrangler"), "{spec}");
        assert!(!spec.contains("_default") && !spec.contains("_files"), "{spec}");
    }
    Ok(())
}

/// The pages a man page refers to (`lcd-query(1)` written `lcd\-query(1)` in roff).
pub fn pages_referred_to(roff: &str) -> Vec<String> {
    let text = roff.replace("\\-", "-");
    let mut names: Vec<String> = text
        .match_indices("(1)")
        .filter_map(|(at, _)| {
            let name = text[..at].rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).next()?;
            name.starts_with("lcd-").then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn lcd_man_prints_the_page_of_every_subcommand_lcd_1_refers_to() -> Result<()> {
    let env = env()?;
    let main = env.lcd(&["man"])?;
    let referred = pages_referred_to(&main);
    assert!(referred.len() >= 10 && referred.contains(&"lcd-query".to_string()), "{referred:?}");
    for name in referred {
        let words: Vec<&str> = name.trim_start_matches("lcd-").split('-').collect();
        let page = env.lcd(&[&["man"], &words[..]].concat())?;
        assert!(page.contains(&format!(".TH {name} 1")), "lcd man {words:?}:\n{page}");
        // A page of subcommands refers to theirs, which exist too.
        for nested in pages_referred_to(&page) {
            let words: Vec<&str> = nested.trim_start_matches("lcd-").split('-').collect();
            env.lcd(&[&["man"], &words[..]].concat())?;
        }
    }
    assert!(env.lcd(&["man", "query"])?.contains("\\-\\-session"));
    let unknown = env.lcd_output(&["man", "nope"])?;
    assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("config edit"));
    let dir = env.home().join("man1");
    env.lcd(&["man", "--out", &dir.display().to_string()])?;
    assert!(dir.join("lcd.1").exists() && dir.join("lcd-config-edit.1").exists());
    Ok(())
}

#[test]
fn the_wording_a_newcomer_reads_says_each_thing_once_and_right() -> Result<()> {
    let env = env()?;
    let reload = env.lcd_output(&["daemon", "reload"])?;
    let said = String::from_utf8_lossy(&reload.stderr);
    assert!(!reload.status.success() && said.contains("not running") && !said.contains("lcd: lcd "), "{said}");
    let _daemon = env.start_daemon()?;
    let history = env.home().join("history");
    std::fs::write(&history, format!(": {}:0;git status\n", lcd::time::now_micros() / 1_000_000))?;
    env.lcd(&["import", "zsh", &history.display().to_string()])?;
    let today = env.lcd(&["stats", "--since", "today"])?;
    let first = today.lines().next().unwrap_or_default();
    assert_eq!(first.matches("today").count(), 1, "{today}");
    assert!(env.lcd(&["stats", "--since", "7d"])?.lines().next().unwrap_or_default().contains("; today: 1"));
    let forward = env.lcd(&["forward", "--help"])?;
    assert!(forward.starts_with("List the records a sink set aside") && !forward.contains("Put them"), "{forward}");
    assert!(env.lcd(&["forward", "failed", "--help"])?.contains("Which sink"));
    // The unit's comment names the packaged path; only ExecStart gets this lcd's.
    let units = env.lcd(&["service", "print", "systemd"])?;
    assert!(units.contains("in place of /usr/bin/lcd;"), "{units}");
    assert!(units.contains(&format!("ExecStart={} daemon run", env!("CARGO_BIN_EXE_lcd"))), "{units}");
    Ok(())
}

#[test]
fn lcd_setup_links_nowhere_dead_and_its_daemon_shows_in_ps_as_lcd_daemon_run() -> Result<()> {
    let env = env()?;
    let out = env.lcd_output(&["setup"])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result = (|| -> Result<()> {
        let bashrc = std::fs::read_to_string(env.home().join(".bashrc"))?;
        assert!(bashrc.contains("# lcd: records every command") && !bashrc.contains("https://"), "{bashrc}");
        let pid = env.status()?["daemon"]["pid"].as_u64().context("no daemon pid")?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
        let argv: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        assert_eq!(argv.get(1..3), Some(&["daemon".to_string(), "run".to_string()][..]), "ps shows {argv:?}");
        Ok(())
    })();
    env.lcd(&["daemon", "stop"])?;
    result
}
