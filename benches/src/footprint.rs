//! Memory and size: the daemon's resident set (idle, and its peak), and
//! lcd-hook's binary size and peak resident set over a shell session.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::Scale;

/// VmRSS of a process, in KiB.
pub fn rss_kb(pid: u32) -> Result<u64> {
    status_kb(pid, "VmRSS:")
}

/// VmHWM (peak resident set) of a process, in KiB.
pub fn hwm_kb(pid: u32) -> Result<u64> {
    status_kb(pid, "VmHWM:")
}

fn status_kb(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(key)).with_context(|| format!("no {key} for {pid}"))?;
    Ok(line.split_whitespace().nth(1).context("no value")?.parse()?)
}

/// lcd-hook over a session of `n` commands: binary size and peak RSS, next
/// to the empty binary's.
pub fn hook(lcd: &Path, scale: Scale) -> Result<()> {
    let n = scale.pick(5000, 50);
    let hook = lcd.with_file_name("lcd-hook");
    let empty = crate::sibling("empty")?;
    let dir = std::env::temp_dir().join(format!("lcd-bench-footprint-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut child = Command::new(&hook)
        .args(["serve", "--socket"])
        .arg(dir.join("no-daemon.sock"))
        .arg("--spool")
        .arg(dir.join("spool"))
        .args([
            "--session",
            "0190f3c2-7a4e-7b21-8c3d-2f1e0a9b8c7d",
            "--shell",
            "zsh",
            "--pid",
            &std::process::id().to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut input = child.stdin.take().expect("piped");
    for seq in 1..=n {
        let command = lcd_testkit::records::realistic_command(seq as u64);
        write!(input, "S\0n={seq}\0t=1750000000.{seq:06}\0d=/tmp\0c={command}\0\x1e\0E\0n={seq}\0t=1750000001.0\0s=0\0p=0\0\x1e\0")?;
    }
    // Once everything is in the spool (no daemon here), read the helper's
    // peak; VmHWM, unlike getrusage, does not count what the fork copied.
    let spool = lcd_protocol::spool::Spool::new(dir.join("spool"));
    let mut last = (0, std::time::Instant::now());
    while last.1.elapsed() < std::time::Duration::from_millis(300) {
        let bytes = spool.backlog_bytes();
        if bytes != last.0 {
            last = (bytes, std::time::Instant::now());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let peak = hwm_kb(child.id())?;
    drop(input); // EOF: the helper exits
    child.wait()?;
    let size = std::fs::metadata(&hook)?.len();
    let empty_size = std::fs::metadata(&empty)?.len();
    println!(
        "footprint lcd-hook binary {:.0} KiB (empty binary, same profile: {:.0} KiB); peak RSS over {n} commands {:.1} MB",
        size as f64 / 1024.0,
        empty_size as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
