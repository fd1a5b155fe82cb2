//! Replaying a large spool costs the memory of one frame, not of the spool:
//! `claim` used to read every spool file into memory at once. Its own test
//! binary, so that no other test's allocations move the process's peak.

use std::fs;
use std::io::Write;

use lcd_protocol::frame::{self, Header};
use lcd_protocol::protocol::{MAX_FRAME_LEN, PROTOCOL_VERSION};
use lcd_protocol::spool::{Appended, Spool};

/// The process's peak resident memory (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/self/status");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).expect("a number of kB") * 1024
}

/// Makes the peak start again from the current resident size.
fn reset_peak_rss() {
    fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/clear_refs")
        .and_then(|mut f| f.write_all(b"5"))
        .expect("clear_refs");
}

#[test]
fn replaying_a_200_mb_spool_of_many_files_holds_one_frame_at_a_time() {
    const FILES: usize = 20;
    const FRAMES_PER_FILE: usize = 10;
    let dir = std::env::temp_dir().join(format!("lcd-spool-memory-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    // The bound raised for the test: 200 MiB is close to the default.
    let spool = Spool::new(&dir).with_max_bytes(1 << 30);
    let mut frame = frame::encode_raw_header(Header { version: PROTOCOL_VERSION, len: MAX_FRAME_LEN });
    frame.resize(frame.len() + MAX_FRAME_LEN as usize, 0xa5);
    for file in 0..FILES {
        for _ in 0..FRAMES_PER_FILE {
            assert_eq!(spool.append(&frame).unwrap(), Appended::Written);
        }
        // Each file of its own, as when several shells spool at once.
        fs::rename(dir.join("pending.spool"), dir.join(format!("pending-{file}.spool"))).unwrap();
    }
    let total = spool.backlog_bytes();
    assert!(total >= 200 << 20, "{total} bytes");

    reset_peak_rss();
    let before = peak_rss();
    let (mut frames, mut bytes) = (0, 0);
    for claimed in spool.claim().unwrap() {
        let claimed = claimed.unwrap();
        for item in claimed.frames().unwrap() {
            let (_, payload) = item.unwrap();
            frames += 1;
            bytes += payload.len();
        }
        claimed.finish().unwrap();
    }
    let grew = peak_rss().saturating_sub(before);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!((frames, bytes), (FILES * FRAMES_PER_FILE, FILES * FRAMES_PER_FILE * MAX_FRAME_LEN as usize));
    eprintln!("replaying {total} spool bytes raised the peak resident memory by {} KiB", grew >> 10);
    assert!(grew < 16 << 20, "replaying {total} bytes took {} MiB of memory", grew >> 20);
}
