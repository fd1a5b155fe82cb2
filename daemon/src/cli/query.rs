//! `lcd query`: recorded commands, newest first, read straight from the
//! database (the daemon need not run).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Result};
use jiff::Zoned;

use super::output::{parse_fields, visible, write_records, Format, Style, REMOTE_TABLE_FIELDS};
use super::when::{parse_duration_ms, parse_instant};
use crate::enrich::tracked_types;
use crate::paths::Paths;
use crate::store::{HistoryQuery, Known, Order, Outcome, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only commands containing this text (case-insensitive).
    pub pattern: Vec<String>,
    /// Tool: terraform, git, wrangler, npm, kubectl, ... or other.
    #[arg(long = "type", short = 't', value_name = "TYPE", value_parser = super::ToolType, hide_possible_values = true)]
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
    /// Only commands of this shell session (a unique beginning of its id is enough).
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
    /// Each command on one line, whole, however wide (a terminal otherwise wraps long ones).
    #[arg(long)]
    pub wide: bool,
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
    let mut query = args.to_query(Zoned::now)?;
    let format = args.format.unwrap_or(Format::Table);
    let fields = match args.fields.as_deref().map(parse_fields).transpose()? {
        // The team's history says whose each command is.
        None if args.remote && format == Format::Table => {
            Some(REMOTE_TABLE_FIELDS.iter().map(|f| f.to_string()).collect())
        }
        fields => fields,
    };
    let mut style = Style::for_stdout(args.wide);
    let rows = if args.remote {
        let rows = super::remote::history(paths, &query)?;
        if rows.is_empty() && query.is_filtered() {
            eprintln!("No commands in the team store match these filters.");
        }
        rows
    } else {
        let Some(store) = super::open_history(paths)? else {
            return no_history_yet(format);
        };
        if let Some(prefix) = &args.session {
            query.session = Some(session_of(&store, prefix)?);
        }
        let rows = store.history(&query)?;
        if rows.is_empty() {
            if !query.is_filtered() {
                return no_history_yet(format);
            }
            nothing_matched(&store, &args)?;
        }
        // As git shortens commits: enough of each id for `lcd show` to find it.
        for row in &rows {
            style.id_chars = style.id_chars.max(store.unique_prefix_len(&row.id)?);
        }
        rows
    };
    let mut out = std::io::stdout().lock();
    write_records(&mut out, &rows, format, fields.as_deref(), style)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The one session whose id starts with `prefix` (or is `prefix`); a prefix
/// no session has is kept, and then matches nothing.
fn session_of(store: &Store, prefix: &str) -> Result<String> {
    let sessions = store.known(Known::Session, prefix, 2)?;
    match sessions.as_slice() {
        [first, ..] if first == prefix => Ok(first.clone()),
        [one] => Ok(one.clone()),
        [] => Ok(prefix.to_string()),
        [..] => bail!("more than one session starts with {prefix:?}; give more of its id"),
    }
}

/// Says on stderr that nothing matched and, for a tool or a repository no
/// record has, the nearest ones that some record has.
fn nothing_matched(store: &Store, args: &Args) -> Result<()> {
    let mut hints = Vec::new();
    let mut check = |flag: &str, given: &Option<String>, column: Known, extra: &[&str]| -> Result<()> {
        let Some(given) = given else { return Ok(()) };
        if store.known(column, given, 1)?.first() == Some(given) {
            return Ok(());
        }
        let mut candidates = store.known(column, "", 10_000)?;
        candidates.extend(extra.iter().map(|c| c.to_string()));
        let hint = match nearest(given, &candidates).as_slice() {
            [] => format!("no record has {flag} {}", visible(given)),
            near => format!(
                "no record has {flag} {}; did you mean {}?",
                visible(given),
                near.iter().map(|n| visible(n).into_owned()).collect::<Vec<_>>().join(" or ")
            ),
        };
        hints.push(hint);
        Ok(())
    };
    check("--type", &args.command_type, Known::CommandType, &tracked_types())?;
    check("--repo", &args.repo, Known::Repo, &[])?;
    eprintln!("No commands match these filters.");
    for hint in hints {
        eprintln!("  {hint}");
    }
    Ok(())
}

/// The candidates closest to `given`, ignoring case: spelled within a third
/// of its length (`terrafrom` → `terraform`), or, for `owner/name`, whose
/// name is it (`infra` → `acme/infra`).
fn nearest(given: &str, candidates: &[String]) -> Vec<String> {
    let given = given.to_lowercase();
    let distance = |candidate: &str| {
        let candidate = candidate.to_lowercase();
        let name = candidate.rsplit('/').next().unwrap_or(&candidate).to_string();
        strsim::osa_distance(&given, &candidate).min(strsim::osa_distance(&given, &name))
    };
    let Some(best) = candidates.iter().map(|c| distance(c)).min() else { return Vec::new() };
    if best > (given.chars().count() / 3).max(1) {
        return Vec::new();
    }
    let mut near: Vec<String> = candidates.iter().filter(|c| distance(c) == best).cloned().collect();
    near.sort();
    near.dedup();
    near
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_tool_or_a_bare_repository_name_finds_the_nearest() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let types = names(&["terraform", "git", "npm", "other"]);
        assert_eq!(nearest("terrafrom", &types), ["terraform"]);
        assert_eq!(nearest("Terraform", &types), ["terraform"]);
        assert!(nearest("zzzzzz", &types).is_empty());
        let repos = names(&["acme/infra", "acme/app", "other/infra"]);
        assert_eq!(nearest("infra", &repos), ["acme/infra", "other/infra"]);
        assert_eq!(nearest("acme/ap", &repos), ["acme/app"]);
    }
}
