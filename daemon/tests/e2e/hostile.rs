//! Bad input gets a clear reason and harms nobody else: a broken frame closes
//! its own connection, with one log line, and the daemon keeps serving a
//! good client right after.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use lcd_protocol::frame::{self, HEADER_LEN};
use lcd_protocol::protocol::{RefusalReason, Reply, Request, MAX_FRAME_LEN, PROTOCOL_VERSION};
use lcd_protocol::sender::Sender;
use lcd_protocol::Event;
use lcd_testkit::records::{command_events, session, session_id};
use lcd_testkit::{DaemonProcess, TestEnv};

use super::env;

/// A well-behaved client stores a record: proof the daemon still serves.
fn good_client_stores(env: &TestEnv, seq: u64) -> Result<()> {
    let command = format!("echo good {seq}");
    let events = command_events(&session(&session_id(1)), seq, &command, 0).to_vec();
    let frame = frame::encode(&Request::Record(events))?;
    Sender::new(env.paths().socket).deliver(&frame).context("the good client was not served")?;
    env.wait_records(Duration::from_secs(5), |r| r.iter().any(|r| r["command"] == command.as_str()))?;
    Ok(())
}

fn connect(env: &TestEnv) -> Result<UnixStream> {
    let stream = UnixStream::connect(env.paths().socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// Reads until the daemon closes the connection; returns what it sent.
fn read_until_closed(mut stream: UnixStream) -> Result<Vec<u8>> {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        // Closing with our bytes unread makes the kernel reset the connection.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(answer),
        Err(e) => Err(e).context("the daemon did not close the connection"),
        Ok(_) => Ok(answer),
    }
}

/// Sends raw bytes and reads until the daemon closes the connection.
fn send_raw(env: &TestEnv, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut stream = connect(env)?;
    stream.write_all(bytes)?;
    read_until_closed(stream)
}

fn nothing_stored(env: &TestEnv) -> Result<()> {
    assert!(env.records()?.is_empty(), "something was stored from bad input");
    Ok(())
}

#[test]
fn garbage_bytes_close_only_that_connection() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    assert!(send_raw(&env, &garbage)?.is_empty());
    daemon.wait_log("bad magic")?;
    nothing_stored(&env)?;
    good_client_stores(&env, 1)
}

#[test]
fn a_frame_with_the_wrong_magic_closes_only_that_connection() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    let mut bytes = frame::encode(&Request::Status)?;
    bytes[..4].copy_from_slice(b"HTTP");
    assert!(send_raw(&env, &bytes)?.is_empty());
    daemon.wait_log("bad magic")?;
    good_client_stores(&env, 1)
}

#[test]
fn a_frame_of_a_newer_protocol_is_refused_in_a_form_the_client_reads() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    let events = command_events(&session(&session_id(2)), 1, "from the future", 0).to_vec();
    let bytes = frame::encode_version(PROTOCOL_VERSION + 1, &Request::Record(events))?;
    let answer = send_raw(&env, &bytes)?;
    let reply: Reply = frame::read_message(&mut &answer[..])?.context("no answer")?;
    assert!(
        matches!(reply, Reply::Refused { reason: RefusalReason::UnsupportedVersion { supported } } if supported == PROTOCOL_VERSION)
    );
    daemon.wait_log(&format!("unsupported protocol version {}", PROTOCOL_VERSION + 1))?;
    nothing_stored(&env)?;
    good_client_stores(&env, 2)
}

#[test]
fn a_frame_declaring_more_than_the_cap_is_refused_before_its_payload() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    let mut header = frame::encode(&Request::Status)?[..HEADER_LEN].to_vec();
    header[8..12].copy_from_slice(&(MAX_FRAME_LEN + 1).to_le_bytes());
    assert!(send_raw(&env, &header)?.is_empty());
    daemon.wait_log("over the")?;
    good_client_stores(&env, 3)
}

#[test]
fn a_truncated_frame_is_dropped_when_the_client_hangs_up() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    let events = command_events(&session(&session_id(3)), 1, "cut short", 0).to_vec();
    let bytes = frame::encode(&Request::Record(events))?;
    let mut stream = connect(&env)?;
    stream.write_all(&bytes[..bytes.len() / 2])?;
    stream.shutdown(std::net::Shutdown::Write)?;
    read_until_closed(stream)?;
    daemon.wait_log("stream ended inside a frame")?;
    nothing_stored(&env)?;
    good_client_stores(&env, 4)
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_a_timeout() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[("LCD_DAEMON_FIRST_FRAME_TIMEOUT_MS", "300")])?;
    let silent = connect(&env)?;
    let closed = read_until_closed(silent)?;
    assert!(closed.is_empty());
    daemon.wait_log("nothing sent within 300 ms")?;
    good_client_stores(&env, 5)
}

#[test]
fn thousands_of_idle_connections_do_not_lock_out_a_shell() -> Result<()> {
    let env = env()?;
    raise_fd_limit();
    let mut daemon = DaemonProcess::start(&env, &[("LCD_DAEMON_MAX_CONNECTIONS", "256")])?;
    let idle: Vec<UnixStream> = (0..2000).map(|_| connect(&env)).collect::<Result<_>>()?;
    good_client_stores(&env, 6)?;
    daemon.wait_log("too many connections")?;
    // The daemon answered while holding at most its limit.
    let status: serde_json::Value = serde_json::from_str(&Sender::new(env.paths().socket).status()?)?;
    assert!(status["connections"].as_u64().unwrap() <= 256, "{status}");
    drop(idle);
    Ok(())
}

#[test]
fn absurd_field_values_are_refused_with_the_reason() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    let session = session(&session_id(4));
    type Spoil = fn(&mut [Event; 2]);
    // An end before its start is no longer refused: it is clamped and
    // flagged (forged::an_end_before_its_start_is_stored_clamped_and_flagged_in_any_order).
    let cases: [(&str, Spoil); 3] = [
        ("started_at 1970", |e| {
            if let Event::Start(s) = &mut e[0] {
                s.started_at = 1_000_000;
            }
        }),
        ("ended_at 2300", |e| {
            if let Event::End(end) = &mut e[1] {
                end.ended_at = 10_413_792_000_000_000;
            }
        }),
        ("cwd of 1000000 bytes", |e| {
            if let Event::Start(s) = &mut e[0] {
                s.cwd = "/".repeat(1_000_000);
            }
        }),
    ];
    for (n, (reason, spoil)) in cases.into_iter().enumerate() {
        let mut events = command_events(&session, n as u64 + 1, "absurd", 0);
        spoil(&mut events);
        let bytes = frame::encode(&Request::Record(events.to_vec()))?;
        let answer = send_raw(&env, &bytes)?;
        let reply: Reply = frame::read_message(&mut &answer[..])?.context("no answer")?;
        assert!(matches!(reply, Reply::Refused { reason: RefusalReason::Invalid { .. } }), "{reply:?}");
        daemon.wait_log(reason)?;
    }
    nothing_stored(&env)?;
    good_client_stores(&env, 7)
}

#[test]
fn another_user_is_refused_even_when_the_socket_is_reachable() -> Result<()> {
    let env = env()?;
    let mut daemon = DaemonProcess::start(&env, &[])?;
    // Open the way (test only): the private folder is what normally stops them.
    let paths = env.paths();
    for (path, mode) in [
        (env.root.as_path(), 0o711),
        (paths.runtime_dir.parent().unwrap(), 0o711),
        (&paths.runtime_dir, 0o711),
        (&paths.socket, 0o666),
    ] {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    }
    let events = command_events(&session(&session_id(5)), 1, "echo intruder", 0).to_vec();
    let frame_path = env.root.join("frame.bin");
    std::fs::write(&frame_path, frame::encode(&Request::Record(events))?)?;
    std::fs::set_permissions(&frame_path, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    let send = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n\
        try:\n  s.sendall(open(sys.argv[2],'rb').read())\n  print(len(s.recv(100)))\n\
        except (ConnectionResetError, BrokenPipeError):\n  print(0)";
    let out = Command::new("setpriv")
        // The system's python3, which another user may run (not a per-user install).
        .env("PATH", "/usr/bin:/bin")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "python3", "-c", send])
        .arg(&paths.socket)
        .arg(&frame_path)
        .stdin(Stdio::null())
        .output()
        .context("running setpriv and python3")?;
    assert!(out.status.success(), "the intruder could not even connect: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "the daemon answered another user");
    daemon.wait_log("refused a connection from uid 65534")?;
    nothing_stored(&env)?;
    good_client_stores(&env, 8)
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
        let out = Command::new(&env.lcd_hook).args(args).stdin(Stdio::null()).output()?;
        assert!(out.status.success(), "lcd-hook {args:?} exited with {}", out.status);
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "lcd-hook {args:?} printed something");
    }
    Ok(())
}

fn raise_fd_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain rlimit calls on this test process.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max.min(65536);
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}
