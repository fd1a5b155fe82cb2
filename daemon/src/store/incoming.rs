//! What the store takes in: events enriched and redacted, ready to become
//! rows. Enrichment makes them; the write path merges them.

use lcd_client::{CommandEnd, CommandStart, Event};

/// An event ready to store, its command lines redacted.
#[derive(Debug, Clone)]
pub enum Record {
    Start(CommandStart, Box<StartFacts>),
    /// A start the never-record rules match: nothing of it is stored, and its
    /// end is dropped too. Only its identity is left in the event.
    Ignored(CommandStart),
    End(CommandEnd),
}

impl Record {
    /// The event to keep in a spool (enriching it again gives this record).
    pub fn into_event(self) -> Event {
        match self {
            Record::Start(start, _) | Record::Ignored(start) => Event::Start(start),
            Record::End(end) => Event::End(end),
        }
    }
}

/// What enrichment learnt about a command from its start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartFacts {
    pub command_type: String,
    pub subcommand: Option<String>,
    pub environment: Option<String>,
    pub git_root: Option<String>,
    pub git_host: Option<String>,
    pub git_repo: Option<String>,
    pub git_branch: Option<String>,
    pub git_commit: Option<String>,
    /// The allowlisted variables as a JSON object.
    pub env_json: String,
}
