//! What the store takes in: events enriched and redacted, ready to become
//! rows. Enrichment makes them; the write path merges them.

use lcd_protocol::protocol::ImportedCommand;
use lcd_protocol::protocol::SessionGap;
use lcd_protocol::{CommandEnd, CommandStart, Event, Session};

use super::record::{CommandRow, Pipestatus, RecordStatus, Time};

/// An event ready to store, its command lines redacted.
#[derive(Debug, Clone)]
pub enum Record {
    /// A start, and the start half of its row (enrichment filled it in).
    Start(CommandStart, Box<CommandRow>),
    /// A start the never-record rules match: nothing of it is stored, and its
    /// end is dropped too. Only its identity is left in the event.
    Ignored(CommandStart),
    /// An end, or with [`RecordStatus::Suspended`] a stop (Ctrl-Z).
    End(CommandEnd, RecordStatus),
    /// Records of a session lost on the way: a row of its own.
    Gap(SessionGap, Box<CommandRow>),
}

impl Record {
    /// The session it belongs to.
    pub fn session(&self) -> &str {
        match self {
            Record::Start(start, _) | Record::Ignored(start) => &start.session.id,
            Record::End(end, _) => &end.session.id,
            Record::Gap(gap, _) => &gap.session.id,
        }
    }

    /// The event to keep in a spool (enriching it again gives this record).
    pub fn into_event(self) -> Event {
        match self {
            Record::Start(start, _) | Record::Ignored(start) => Event::Start(start),
            Record::End(end, RecordStatus::Suspended) => Event::Suspend(end),
            Record::End(end, _) => Event::End(end),
            Record::Gap(gap, _) => Event::Gap(gap),
        }
    }
}

impl CommandRow {
    /// The columns a session fills, whichever half of a record brings them.
    fn of_session(id: String, session: &Session, seq: u64, status: RecordStatus) -> CommandRow {
        CommandRow {
            id,
            session: session.id.clone(),
            seq: seq as i64,
            hostname: session.host.clone(),
            user: session.user.clone(),
            shell: session.shell.clone(),
            shell_pid: Some(i64::from(session.pid)),
            tty: session.tty.clone(),
            status,
            ..CommandRow::default()
        }
    }

    /// The start half of a command's row, as the shell reported it;
    /// enrichment adds what it learns.
    pub fn from_start(start: &CommandStart) -> CommandRow {
        CommandRow {
            command: start.command.clone(),
            expanded: start.expanded.clone(),
            cwd: Some(start.cwd.clone()),
            started_at: Some(Time(start.started_at)),
            ..CommandRow::of_session(start.id.to_string(), &start.session, start.seq, RecordStatus::Running)
        }
    }

    /// The end half of a command's row: `status` finished, or suspended.
    pub fn from_end(end: &CommandEnd, status: RecordStatus) -> CommandRow {
        CommandRow {
            ended_at: Some(Time(end.ended_at)),
            // A stopped job has not exited: the shell's 148 is no exit status.
            exit_code: (status != RecordStatus::Suspended).then_some(end.exit_code),
            pipestatus: Pipestatus(if status == RecordStatus::Suspended { Vec::new() } else { end.pipestatus.clone() }),
            git_commit_after: end.git_commit_after.clone(),
            ..CommandRow::of_session(end.id.to_string(), &end.session, end.seq, status)
        }
    }

    /// The row that says a session lost records: whole at once, its text
    /// says what was lost, and it sits after command `seq` of the session.
    pub fn from_gap(gap: &SessionGap) -> CommandRow {
        let events = match gap.events {
            1 => "1 event".to_string(),
            n => format!("{n} events"),
        };
        CommandRow {
            command: format!("[lcd: {events} of this shell lost: {}]", gap.reason),
            cwd: Some(String::new()),
            started_at: Some(Time(gap.first_at)),
            ended_at: Some(Time(gap.last_at.max(gap.first_at))),
            ..CommandRow::of_session(gap.id.to_string(), &gap.session, gap.seq, RecordStatus::Gap)
        }
    }

    /// A command read from a shell's history file; enrichment adds the rest.
    pub fn from_import(imported: &ImportedCommand) -> CommandRow {
        CommandRow {
            id: imported.id.to_string(),
            session: format!("import:{}", imported.shell),
            command: imported.command.clone(),
            started_at: Some(Time(imported.started_at)),
            ended_at: imported.duration_ms.map(|ms| Time(imported.started_at + ms * 1000)),
            hostname: imported.host.clone(),
            user: imported.user.clone(),
            shell: imported.shell.clone(),
            status: RecordStatus::Finished,
            imported: true,
            ..CommandRow::default()
        }
    }
}
