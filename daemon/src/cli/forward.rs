//! `lcd forward failed|retry`: the records a sink put aside, and putting them
//! back in its queue.

use std::process::ExitCode;

use anyhow::{bail, Result};
use lcd_protocol::protocol::{Reply, Request};

use super::daemon::connect_or_start;
use crate::paths::Paths;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the records a sink set aside, with the server's reason.
    Failed {
        /// Which sink: remote (the team store) or github.
        #[arg(long, default_value = "remote")]
        sink: String,
    },
    /// Put the records a sink set aside back in its queue, to be sent again.
    Retry {
        /// Which sink: remote (the team store) or github.
        #[arg(long, default_value = "remote")]
        sink: String,
    },
}

pub fn run(command: Command, paths: &Paths) -> Result<ExitCode> {
    match command {
        Command::Failed { sink } => {
            let Some(store) = super::open_history(paths)? else {
                outln!("nothing recorded yet")?;
                return Ok(ExitCode::SUCCESS);
            };
            let failed = store.outbox_failed(&sink)?;
            if failed.is_empty() {
                outln!("{sink}: nothing set aside")?;
            }
            for (pk, reason) in failed {
                outln!("{sink}: record #{pk}: {}", super::output::visible(&reason))?;
            }
        }
        Command::Retry { sink } => {
            let mut sender = connect_or_start(paths)?;
            match sender.request(&Request::RetryFailed { sink: sink.clone() })? {
                Reply::Requeued { count } => outln!("{sink}: {count} records back in the queue")?,
                other => bail!("unexpected answer from the daemon: {other:?}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
