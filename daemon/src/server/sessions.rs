//! The shells the daemon hears from, for `lcd status` (which are open, when
//! each last sent a record, whether one seems to have stopped sending) and
//! for `lcd doctor`'s round trip through this shell's own hooks.
//!
//! Only what live clients send counts (not the spool's replays), and only
//! shells of this machine, whose process the daemon can look at.

use std::collections::HashMap;
use std::sync::Mutex;

use lcd_protocol::{Event, ShellStatus};

use crate::time::now_micros;

/// The most shells remembered; past it the one silent longest is forgotten.
const MAX_SESSIONS: usize = 1024;

pub(crate) struct Sessions {
    /// This machine's name, as lcd-hook puts it in a session.
    host: String,
    seen: Mutex<HashMap<String, ShellStatus>>,
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions { host: lcd_protocol::sys::hostname(), seen: Mutex::default() }
    }

    /// Notes what a client's events say of their shells.
    pub fn saw(&self, events: &[Event]) {
        let now = now_micros();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for event in events {
            let session = event.session();
            if session.host != self.host {
                continue;
            }
            let shell = seen.entry(session.id.clone()).or_insert_with(|| ShellStatus {
                session: session.id.clone(),
                shell: session.shell.clone(),
                pid: session.pid,
                tty: session.tty.clone(),
                ..ShellStatus::default()
            });
            shell.last_record_at = now;
            match event {
                Event::Start(start) => shell.running = Some((start.seq, start.started_at)),
                Event::End(end) | Event::Suspend(end) if shell.running.is_some_and(|(seq, _)| seq <= end.seq) => {
                    shell.running = None
                }
                Event::End(_) | Event::Suspend(_) | Event::Gap(_) => {}
            }
        }
        if seen.len() > MAX_SESSIONS {
            if let Some(oldest) = seen.values().min_by_key(|s| s.last_record_at).map(|s| s.session.clone()) {
                seen.remove(&oldest);
            }
        }
    }

    /// The shells still open, newest record first; forgets the closed ones.
    /// A command running `stuck_after_s` in a shell that runs nothing is
    /// suspect.
    pub fn open(&self, stuck_after_s: u64) -> Vec<ShellStatus> {
        let now = now_micros();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, s| lcd_protocol::sys::process_exists(s.pid));
        let mut open: Vec<ShellStatus> = seen
            .values()
            .cloned()
            .map(|mut s| {
                s.suspect = suspect(&s, now, stuck_after_s.saturating_mul(1_000_000) as i64);
                s
            })
            .collect();
        open.sort_by_key(|s| std::cmp::Reverse(s.last_record_at));
        open
    }
}

/// A command reported running for a while in a shell that runs no process
/// at all: the shell went back to its prompt and its end never came (a
/// replaced PROMPT_COMMAND, a hook removed by hand).
fn suspect(shell: &ShellStatus, now: i64, stuck_after: i64) -> Option<String> {
    let (seq, since) = shell.running?;
    if now - since < stuck_after {
        return None;
    }
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", shell.pid)).ok()?;
    // The shell's own lcd-hook is its child too, and runs for good.
    let runs_something = children.split_whitespace().any(|child| {
        std::fs::read_to_string(format!("/proc/{child}/comm")).map_or(true, |name| name.trim() != "lcd-hook")
    });
    (!runs_something).then(|| {
        format!(
            "command #{seq} has been running for {} while the shell runs nothing: its hooks may have stopped \
             (in that shell: eval \"$(lcd init {})\")",
            crate::time::human_duration((now - since) / 1000),
            shell.shell
        )
    })
}
