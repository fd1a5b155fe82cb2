//! Bad input gets a clear reason and harms nobody else: a broken frame closes
//! its own connection, with one log line, and the daemon keeps serving.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lcd_client::frame::{self, HEADER_LEN};
use lcd_client::protocol::{Event, Reply, Request, Session, MAX_FRAME_LEN, PROTOCOL_VERSION};
use lcd_client::sender::Sender;
use lcd_client::{CommandStart, RecordId};
use lcd_testkit::TestEnv;

use super::env;

/// `lcd daemon run` as a child process, its log lines collected.
struct LoggedDaemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl LoggedDaemon {
    fn start(env: &TestEnv) -> Result<LoggedDaemon> {
        let mut child = env.lcd_command(&["daemon", "run"]).stderr(Stdio::piped()).spawn()?;
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut daemon = LoggedDaemon { child, lines, seen: Vec::new() };
        daemon.wait_log("lcd daemon ready")?;
        Ok(daemon)
    }

    /// Waits for a log line containing `text`.
    fn wait_log(&mut self, text: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
                return Ok(line.clone());
            }
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(_) => bail!("no log line with {text:?}; the log:\n{}", self.seen.join("\n")),
            }
        }
    }
}

impl Drop for LoggedDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn session() -> Session {
    Session {
        id: "0190f3c2-7a4e-7b21-8c3d-2f1e0a9b8c7d".into(),
        shell: "zsh".into(),
        pid: 1,
        host: "test-host".into(),
        user: "tester".into(),
        tty: None,
    }
}

fn start_event(seq: u64, command: &str) -> Event {
    let session = session();
    Event::Start(CommandStart {
        id: RecordId::derive(&session.id, seq),
        session,
        seq,
        started_at: lcd::store::now_micros(),
        cwd: "/".into(),
        command: command.into(),
        expanded: None,
    })
}

/// A well-behaved client stores a record: proof the daemon still serves.
fn good_client_stores(env: &TestEnv, seq: u64) -> Result<()> {
    let command = format!("echo good {seq}");
    let frame = frame::encode(&Request::Record(vec![start_event(seq, &command)]))?;
    Sender::new(env.paths().socket).deliver(&frame).context("the good client was not served")?;
    env.wait_records(Duration::from_secs(5), |r| r.iter().any(|r| r["command"] == command.as_str()))?;
    Ok(())
}

/// Sends raw bytes and reads until the daemon closes the connection.
fn send_raw(env: &TestEnv, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut stream = UnixStream::connect(env.paths().socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(bytes)?;
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        // Closing with our bytes unread makes the kernel reset the connection.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(answer),
        other => {
            other.context("the daemon did not close the connection")?;
            Ok(answer)
        }
    }
}

#[test]
fn a_frame_with_the_wrong_magic_closes_only_that_connection() -> Result<()> {
    let env = env()?;
    let mut daemon = LoggedDaemon::start(&env)?;
    let mut bytes = frame::encode(&Request::Status)?;
    bytes[..4].copy_from_slice(b"HTTP");
    assert!(send_raw(&env, &bytes)?.is_empty());
    daemon.wait_log("bad magic")?;
    good_client_stores(&env, 1)
}

#[test]
fn a_frame_of_a_newer_protocol_is_refused_in_a_form_the_client_reads() -> Result<()> {
    let env = env()?;
    let mut daemon = LoggedDaemon::start(&env)?;
    let bytes = frame::encode_version(PROTOCOL_VERSION + 1, &Request::Status)?;
    let answer = send_raw(&env, &bytes)?;
    let reply: Reply = frame::read_message(&mut &answer[..])?.context("no answer")?;
    assert!(
        matches!(reply, Reply::Refused { reason: lcd_client::protocol::RefusalReason::UnsupportedVersion { supported } } if supported == PROTOCOL_VERSION)
    );
    daemon.wait_log(&format!("unsupported protocol version {}", PROTOCOL_VERSION + 1))?;
    good_client_stores(&env, 2)
}

#[test]
fn a_frame_declaring_more_than_the_cap_is_refused_before_its_payload() -> Result<()> {
    let env = env()?;
    let mut daemon = LoggedDaemon::start(&env)?;
    let mut header = frame::encode(&Request::Status)?[..HEADER_LEN].to_vec();
    header[8..12].copy_from_slice(&(MAX_FRAME_LEN + 1).to_le_bytes());
    assert!(send_raw(&env, &header)?.is_empty());
    daemon.wait_log("over the")?;
    good_client_stores(&env, 3)
}

#[test]
fn lcd_hook_with_bad_arguments_exits_zero_and_prints_nothing() -> Result<()> {
    let env = env()?;
    for args in [
        &[][..],
        &["bogus"],
        &["serve"],
        &["serve", "--socket"],
        &["serve", "--unknown", "x"],
        &["serve", "--pid", "notanumber"],
    ] {
        let out = std::process::Command::new(&env.lcd_hook).args(args).stdin(Stdio::null()).output()?;
        assert!(out.status.success(), "lcd-hook {args:?} exited with {}", out.status);
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "lcd-hook {args:?} printed something");
    }
    Ok(())
}
