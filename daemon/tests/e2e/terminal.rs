//! Record text never drives the terminal it is printed on: a folder name or
//! a command holding `ESC ] 0 ; … BEL` (the window title), `ESC [ 2 J` (clear
//! the screen), a C1 CSI or a bidirectional override prints as visible
//! escapes in tables, `lcd show` and `lcd stats`, locally and through
//! `lcd query --remote`; JSON keeps the exact text.

use anyhow::{ensure, Result};
use lcd_protocol::frame;
use lcd_protocol::protocol::Request;
use lcd_protocol::sender::Sender;
use lcd_testkit::records::{command_events, session, session_id};
use lcd_testkit::remote::{RemoteWorker, TOKEN};
use lcd_testkit::TestEnv;
use serde_json::{json, Value};

use super::{env, record};

/// A folder name that sets the window title, rings the bell and clears the screen.
const HOSTILE_FOLDER: &str = "\x1b]0;owned\x07\x1b[2J";
/// How a table shows it.
const HOSTILE_FOLDER_SHOWN: &str = "\\x1b]0;owned\\x07\\x1b[2J";
/// A command line with the same, a C1 CSI and a right-to-left override.
const HOSTILE_COMMAND: &str = "git push \x1b]0;owned\x07\x1b[2J \u{9b}31mred \u{202e}txt.exe";
const HOSTILE_COMMAND_SHOWN: &str = "git push \\x1b]0;owned\\x07\\x1b[2J \\u{9b}31mred \\u{202e}txt.exe";

/// Fails when `text` holds anything a terminal would act on rather than show.
fn ensure_inert(what: &str, text: &str) -> Result<()> {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect();
    ensure!(bad.is_empty(), "{what} prints {bad:?} raw:\n{}", text.escape_debug());
    Ok(())
}

shell_test!(a_folder_named_with_terminal_escapes_prints_as_visible_escapes, |env, mut sh: Shell| {
    let shell = sh.kind.name();
    // The shell makes the folder and runs a command in it; what is typed
    // holds no raw escape, the folder's name does.
    sh.run("mkdir -- \"$(printf '\\033]0;owned\\007\\033[2J')\"")?;
    sh.run("cd -- \"$(printf '\\033]0;owned\\007\\033[2J')\" && echo inside")?;
    sh.run("echo in the folder")?;
    let records = env.wait_finished("echo in the folder")?;
    let cwd = format!("{}/{HOSTILE_FOLDER}", env.home().display());
    ensure!(record(&records, "echo in the folder")["cwd"] == cwd.as_str(), "{shell}: JSON keeps the exact folder");
    let table = env.lcd(&["query", "--fields", "cwd,command"])?;
    ensure_inert(&format!("{shell}: lcd query"), &table)?;
    ensure!(table.contains(&format!("~/{HOSTILE_FOLDER_SHOWN}")), "{shell}: the folder is not shown escaped:\n{table}");
    Ok(())
});

/// Stores a record of `command` run in `cwd` the way lcd-hook hands it over.
fn store(env: &TestEnv, command: &str, cwd: &str) -> Result<String> {
    let mut events = command_events(&session(&session_id(1)), 1, command, 0).to_vec();
    if let lcd_protocol::Event::Start(start) = &mut events[0] {
        start.cwd = cwd.into();
    }
    Sender::new(env.paths().socket).deliver(&frame::encode(&Request::Record(events))?)?;
    let records = env.wait_records(super::WAIT, |r| r.iter().any(|r| r["status"] == "finished"))?;
    Ok(records[0]["id"].as_str().unwrap_or_default().to_string())
}

#[test]
fn record_text_with_terminal_escapes_prints_as_visible_escapes_in_query_show_and_stats() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    let id = store(&env, HOSTILE_COMMAND, &format!("/srv/{HOSTILE_FOLDER}"))?;
    let json: Value = serde_json::from_str(&env.lcd(&["query", "--format", "json"])?)?;
    ensure!(json[0]["command"] == HOSTILE_COMMAND, "JSON keeps the exact command: {json}");
    let table = env.lcd(&["query", "--fields", "cwd,command"])?;
    ensure_inert("lcd query", &table)?;
    ensure!(
        table.contains(HOSTILE_COMMAND_SHOWN) && table.contains(&format!("/srv/{HOSTILE_FOLDER_SHOWN}")),
        "lcd query does not show the escapes:\n{table}"
    );
    let shown = env.lcd(&["show", &id])?;
    ensure_inert("lcd show", &shown)?;
    ensure!(shown.contains(HOSTILE_COMMAND_SHOWN), "lcd show does not show the escapes:\n{shown}");
    let stats = env.lcd(&["stats", "--since", "100000d"])?;
    ensure_inert("lcd stats", &stats)?;
    ensure!(stats.contains(HOSTILE_COMMAND_SHOWN), "lcd stats does not show the escapes:\n{stats}");
    Ok(())
}

#[test]
fn team_store_text_with_terminal_escapes_prints_as_visible_escapes_through_query_remote() -> Result<()> {
    let env = env()?;
    let worker = RemoteWorker::start(&env.root.join("d1"))?;
    let record = json!({
        "command": HOSTILE_COMMAND,
        "command_type": "git",
        "working_directory": format!("/srv/{HOSTILE_FOLDER}"),
        "exit_code": 0,
        "duration_ms": 10,
        "executed_by": "mallory",
    });
    let (status, body) = worker.request("POST", "/api/commands/log", Some(TOKEN), Some(record.to_string()))?;
    ensure!(status == 201, "the Worker did not take the record: {body}");
    env.write_config(&format!("[remote]\nurl = '{}'\ntoken = '{TOKEN}'\n", worker.url()))?;
    let json: Value = serde_json::from_str(&env.lcd(&["query", "--remote", "--format", "json"])?)?;
    ensure!(json[0]["command"] == HOSTILE_COMMAND, "JSON keeps the exact command: {json}");
    let table = env.lcd(&["query", "--remote", "--fields", "cwd,command"])?;
    ensure_inert("lcd query --remote", &table)?;
    ensure!(
        table.contains(HOSTILE_COMMAND_SHOWN) && table.contains(&format!("/srv/{HOSTILE_FOLDER_SHOWN}")),
        "lcd query --remote does not show the escapes:\n{table}"
    );
    Ok(())
}
