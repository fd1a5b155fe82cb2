//! What a well-formed client never sends: checked before anything is stored,
//! so that one broken or hostile client cannot plant absurd rows.

use lcd_protocol::protocol::ImportedCommand;
use lcd_protocol::protocol::{MAX_COMMAND_LEN, MAX_FIELD_LEN, MAX_PIPESTATUS};
use lcd_protocol::{Event, Session};

/// 2000-01-01T00:00:00Z: no shell reports an earlier command.
const EARLIEST: i64 = 946_684_800_000_000;
/// How far ahead of our clock a client's clock may be.
const MAX_CLOCK_SKEW: i64 = 24 * 3600 * 1_000_000;
/// Events in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;

/// A request's events sorted out: those that may be stored, and why the
/// others may not.
#[derive(Debug, Default)]
pub struct Checked {
    pub events: Vec<Event>,
    /// One line per record left out, naming the record and its problem.
    pub refused: Vec<String>,
}

/// Checks a request's events one record at a time: a record with an absurd
/// field is left out (its start and its end), its neighbours are kept. Only
/// a request too large as a whole is an error. An end before its start is
/// not a problem here: the write path clamps and flags it, wherever the two
/// halves meet.
pub fn validate(events: Vec<Event>, now: i64) -> Result<Checked, String> {
    if events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(format!("{} events in one request, at most {MAX_EVENTS_PER_REQUEST}", events.len()));
    }
    let mut checked = Checked::default();
    let mut bad = Vec::new();
    for event in &events {
        if let Err(reason) = check_event(event, now) {
            if !bad.contains(&event.id()) {
                bad.push(event.id());
                checked.refused.push(format!("record {}: {reason}", event.id()));
            }
        }
    }
    checked.events = events.into_iter().filter(|e| !bad.contains(&e.id())).map(without_odd_commits).collect();
    Ok(checked)
}

/// A commit id is hex (SHA-1 or SHA-256); anything else (a forged client,
/// a corrupt `.git`) is no commit at all, rather than text that later code
/// would cut or show as a commit.
fn without_odd_commits(mut event: Event) -> Event {
    let odd = |c: &Option<String>| {
        c.as_deref().is_some_and(|c| !(4..=64).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    match &mut event {
        Event::Start(s) => {
            if let Some(git) = &mut s.git {
                if odd(&git.commit) {
                    git.commit = None;
                }
            }
        }
        Event::End(e) | Event::Suspend(e) => {
            if odd(&e.git_commit_after) {
                e.git_commit_after = None;
            }
        }
        Event::Gap(_) => {}
    }
    event
}

fn check_event(event: &Event, now: i64) -> Result<(), String> {
    check_session(event.session())?;
    match event {
        Event::Start(s) => {
            check_time("started_at", s.started_at, now)?;
            check_len("command", &s.command, MAX_COMMAND_LEN)?;
            check_len("cwd", &s.cwd, MAX_FIELD_LEN)?;
            if let Some(x) = &s.expanded {
                check_len("expanded command", x, MAX_COMMAND_LEN)?;
            }
        }
        Event::End(e) | Event::Suspend(e) => {
            check_time("ended_at", e.ended_at, now)?;
            if e.pipestatus.len() > MAX_PIPESTATUS {
                return Err(format!("pipestatus of {} entries, at most {MAX_PIPESTATUS}", e.pipestatus.len()));
            }
        }
        Event::Gap(g) => {
            check_time("first_at", g.first_at, now)?;
            check_time("last_at", g.last_at, now)?;
            check_len("reason", &g.reason, MAX_FIELD_LEN)?;
        }
    }
    Ok(())
}

/// Checks imported history the same way.
pub fn validate_imports(commands: &[ImportedCommand], now: i64) -> Result<(), String> {
    if commands.len() > MAX_EVENTS_PER_REQUEST {
        return Err(format!("{} commands in one request, at most {MAX_EVENTS_PER_REQUEST}", commands.len()));
    }
    for c in commands {
        check_time("started_at", c.started_at, now)?;
        check_len("command", &c.command, MAX_COMMAND_LEN)?;
        for (name, value) in [("shell", &c.shell), ("host", &c.host), ("user", &c.user)] {
            check_len(name, value, MAX_FIELD_LEN)?;
        }
        if c.duration_ms.is_some_and(|ms| !(0..=366 * 24 * 3_600_000).contains(&ms)) {
            return Err(format!("duration of {} ms is not plausible", c.duration_ms.unwrap_or_default()));
        }
    }
    Ok(())
}

fn check_session(s: &Session) -> Result<(), String> {
    for (name, value) in [("session id", &s.id), ("shell", &s.shell), ("host", &s.host), ("user", &s.user)] {
        if value.is_empty() {
            return Err(format!("empty {name}"));
        }
        check_len(name, value, MAX_FIELD_LEN)?;
    }
    if let Some(tty) = &s.tty {
        check_len("tty", tty, MAX_FIELD_LEN)?;
    }
    Ok(())
}

fn check_time(name: &str, micros: i64, now: i64) -> Result<(), String> {
    if micros < EARLIEST || micros > now + MAX_CLOCK_SKEW {
        let shown =
            jiff::Timestamp::from_microsecond(micros).map(|t| t.to_string()).unwrap_or_else(|_| micros.to_string());
        return Err(format!("{name} {shown} is not a plausible time"));
    }
    Ok(())
}

fn check_len(name: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!("{name} of {} bytes, at most {max}", value.len()));
    }
    Ok(())
}
