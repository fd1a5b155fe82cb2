//! `lcd query`: recorded commands, newest first, read straight from the
//! database (the daemon need not run).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Result};
use jiff::Zoned;

use super::output::{parse_fields, write_records, Format, Style, REMOTE_TABLE_FIELDS};
use super::when::{parse_duration_ms, parse_instant};
use crate::paths::Paths;
use crate::store::{HistoryQuery, Order, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only commands containing this text (case-insensitive).
    pub pattern: Vec<String>,
    /// Tool: terraform, git, wrangler, npm, kubectl, ... or other.
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub command_type: Option<String>,
    /// Subcommand, e.g. apply, push, "workspace select".
    #[arg(long = "sub", value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
    /// Only commands that failed (non-zero exit).
    #[arg(long, conflicts_with_all = ["succeeded", "exit", "running"])]
    pub failed: bool,
    /// Only commands that succeeded (exit 0).
    #[arg(long, conflicts_with_all = ["exit", "running"])]
    pub succeeded: bool,
    /// Only commands that exited with this status.
    #[arg(long, value_name = "N", conflicts_with = "running")]
    pub exit: Option<i32>,
    /// Only commands still running.
    #[arg(long)]
    pub running: bool,
    /// Only commands run in this folder or below it.
    #[arg(long, value_name = "DIR", conflicts_with = "here")]
    pub cwd: Option<String>,
    /// Only commands run in the current folder or below it.
    #[arg(long)]
    pub here: bool,
    /// Only commands run in this repository (owner/name).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Only commands run on this git branch.
    #[arg(long)]
    pub branch: Option<String>,
    /// Only commands run at a commit starting with this.
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// Only commands of this shell session.
    #[arg(long, value_name = "ID", conflicts_with = "this_session")]
    pub session: Option<String>,
    /// Only commands of the shell this is typed in.
    #[arg(long)]
    pub this_session: bool,
    /// Only commands run on this host.
    #[arg(long)]
    pub host: Option<String>,
    /// Only commands run by this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only commands started since: 2h, 3d, today, yesterday, 2026-11-21, RFC 3339.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only commands started before: same forms as --since.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only commands that ran at least this long: 30s, 2m, 500ms.
    #[arg(long, value_name = "DURATION")]
    pub min_duration: Option<String>,
    /// How many commands to show (the newest).
    #[arg(long, short = 'n', default_value_t = 20, conflicts_with = "all")]
    pub limit: usize,
    /// Show every matching command.
    #[arg(long)]
    pub all: bool,
    /// Oldest first.
    #[arg(long, short = 'r')]
    pub reverse: bool,
    /// Output format (default: table).
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<Format>,
    /// Columns to show, e.g. time,exit,git_repo,command.
    #[arg(long, value_name = "A,B,C")]
    pub fields: Option<String>,
    /// Read the team's history from the remote store instead.
    #[arg(long)]
    pub remote: bool,
}

impl Args {
    /// The store query these options describe; `now` is read only when a
    /// time is given (finding the local time zone costs a little).
    pub fn to_query(&self, now: impl Fn() -> Zoned) -> Result<HistoryQuery> {
        let outcome = match (self.failed, self.succeeded, self.exit, self.running) {
            (true, ..) => Some(Outcome::Failed),
            (_, true, ..) => Some(Outcome::Succeeded),
            (_, _, Some(code), _) => Some(Outcome::Exit(code)),
            (.., true) => Some(Outcome::Running),
            _ => None,
        };
        let cwd = match (&self.cwd, self.here) {
            (Some(dir), _) => Some(absolute(dir)?),
            (None, true) => Some(std::env::current_dir()?.display().to_string()),
            _ => None,
        };
        let session = match (&self.session, self.this_session) {
            (Some(s), _) => Some(s.clone()),
            (None, true) => match std::env::var("LCD_SESSION") {
                Ok(s) if !s.is_empty() => Some(s),
                _ => bail!("--this-session needs a shell with lcd loaded (LCD_SESSION is not set)"),
            },
            _ => None,
        };
        if let Some(commit) = &self.commit {
            if commit.is_empty() || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
                bail!("--commit {commit:?} is not a commit hash prefix");
            }
        }
        let text = (!self.pattern.is_empty()).then(|| self.pattern.join(" "));
        Ok(HistoryQuery {
            limit: (!self.all).then_some(self.limit),
            order: if self.reverse { Order::OldestFirst } else { Order::NewestFirst },
            command_type: self.command_type.clone(),
            subcommand: self.subcommand.clone(),
            outcome,
            cwd,
            repo: self.repo.clone(),
            branch: self.branch.clone(),
            commit: self.commit.clone(),
            session,
            host: self.host.clone(),
            user: self.user.clone(),
            since: self.since.as_deref().map(|s| parse_instant(s, &now())).transpose()?,
            until: self.until.as_deref().map(|s| parse_instant(s, &now())).transpose()?,
            min_duration_ms: self.min_duration.as_deref().map(parse_duration_ms).transpose()?,
            text,
        })
    }
}

/// `DIR` made absolute against the current folder.
fn absolute(dir: &str) -> Result<String> {
    let path = std::path::Path::new(dir);
    let path = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir()?.join(path) };
    let normal: std::path::PathBuf = path.components().fold(std::path::PathBuf::new(), |mut acc, c| {
        match c {
            std::path::Component::ParentDir => {
                acc.pop();
            }
            std::path::Component::CurDir => {}
            other => acc.push(other),
        }
        acc
    });
    Ok(normal.display().to_string())
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let query = args.to_query(Zoned::now)?;
    let format = args.format.unwrap_or(Format::Table);
    let fields = match args.fields.as_deref().map(parse_fields).transpose()? {
        // The team's history says whose each command is.
        None if args.remote && format == Format::Table => {
            Some(REMOTE_TABLE_FIELDS.iter().map(|f| f.to_string()).collect())
        }
        fields => fields,
    };
    let rows = if args.remote {
        super::remote::history(paths, &query)?
    } else {
        let Some(store) = super::open_history(paths)? else {
            return no_history_yet(format);
        };
        store.history(&query)?
    };
    let mut out = std::io::stdout().lock();
    write_records(&mut out, &rows, format, fields.as_deref(), Style::for_stdout())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// An empty result, and a hint on the terminal, when nothing was recorded yet.
pub fn no_history_yet(format: Format) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "[]")?,
        Format::Jsonl | Format::Csv | Format::Table => {}
    }
    if std::io::stderr().is_terminal() || format == Format::Table {
        eprintln!("No commands recorded yet. Add eval \"$(lcd init zsh)\" (or bash) to your shell's rc file, or run: lcd setup");
    }
    Ok(ExitCode::SUCCESS)
}
