//! What a record says beyond what the shell reported: the tool and its
//! subcommand, the environment it targets, the repository and commit, with
//! secrets redacted and never-record rules applied. Runs in the daemon, for
//! connection tasks (in parallel) on tokio's blocking threads, since it may
//! read a file in the command's folder, before records reach the batcher.

mod classify;
mod environment;
mod redact;
mod remote;
mod words;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use lcd_protocol::protocol::ImportedCommand;
use lcd_protocol::Event;
use regex::Regex;

pub use classify::{tracked_types, Classification, Classifier};
pub use redact::{hidden_in, Redactor, REDACTED};
pub use remote::parse_remote;

use crate::config::CaptureConfig;
use crate::store::{CommandRow, CommandType, EnvVars, Record, RecordStatus};

/// Enrichment with the rules of one configuration.
pub struct Enricher {
    classifier: Classifier,
    redactor: Redactor,
    /// `[capture] redact_remote`, for the copies that leave the machine.
    remote_redactor: Option<Redactor>,
    ignore_commands: Vec<Regex>,
    ignore_dirs: Vec<PathBuf>,
}

impl Enricher {
    /// Compiles the rules; a bad pattern is named in the error.
    pub fn new(config: &CaptureConfig) -> Result<Enricher> {
        let redactor = Redactor::new(&config.redact).context("in [capture] redact")?;
        let remote_redactor = (!config.redact_remote.is_empty())
            .then(|| Redactor::only(&config.redact_remote).context("in [capture] redact_remote"))
            .transpose()?;
        let ignore_commands = config.ignore_command_patterns()?;
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        let ignore_dirs = config.ignore_dirs.iter().map(|d| expand_home(d, &home)).collect();
        Ok(Enricher {
            classifier: Classifier::new(config.tools.clone()),
            redactor,
            remote_redactor,
            ignore_commands,
            ignore_dirs,
        })
    }

    /// Enriches events on this thread; it may read files in their folders.
    pub fn enrich(&self, events: Vec<Event>) -> Vec<Record> {
        events.into_iter().map(|event| self.enrich_one(event)).collect()
    }

    /// [`Enricher::enrich`] on a blocking thread, so that a slow file in a
    /// command's folder never holds an async worker. Fails only when the
    /// runtime is shutting down.
    pub async fn enrich_off_runtime(
        self: Arc<Self>,
        events: Vec<Event>,
    ) -> Result<Vec<Record>, tokio::task::JoinError> {
        tokio::task::spawn_blocking(move || self.enrich(events)).await
    }

    fn enrich_one(&self, event: Event) -> Record {
        let mut start = match event {
            Event::Start(start) => start,
            Event::End(end) => return Record::End(end, RecordStatus::Finished),
            Event::Suspend(end) => return Record::End(end, RecordStatus::Suspended),
            Event::Gap(gap) => {
                let row = CommandRow::from_gap(&gap);
                return Record::Gap(gap, Box::new(row));
            }
        };
        if self.never_record(&start.command, start.expanded.as_deref(), &start.cwd) {
            // Keep nothing that could tell what it was.
            start.command.clear();
            start.expanded = None;
            start.cwd.clear();
            start.env.clear();
            start.git = None;
            return Record::Ignored(start);
        }
        // zsh's alias-expanded text shows the real tool behind an alias.
        let classification = self.classifier.classify(start.expanded.as_deref().unwrap_or(&start.command));
        // The workspace file and the branch name come from whoever made the
        // folder: redacted like the command line.
        let environment =
            environment::environment(&classification, &start.cwd, &start.env).map(|e| self.redactor.redact(&e));
        start.command = self.redactor.redact(&start.command);
        start.expanded = start.expanded.map(|x| self.redactor.redact(&x));
        for (_, value) in &mut start.env {
            *value = self.redactor.redact(value);
        }
        let git = start.git.clone().unwrap_or_default();
        let remote = git.remote_url.as_deref().and_then(parse_remote);
        let row = CommandRow {
            command_type: CommandType(classification.command_type),
            subcommand: classification.subcommand.map(|s| self.redactor.redact(&s)),
            environment,
            git_root: start.git.as_ref().map(|g| g.root.clone()),
            git_host: remote.as_ref().map(|(host, _)| host.clone()),
            git_repo: remote.map(|(_, repo)| repo),
            git_branch: git.branch.map(|b| self.redactor.redact(&b)),
            git_commit: git.commit,
            env: EnvVars::from_pairs(&start.env),
            redacted: hidden_count(
                [start.command.as_str()].into_iter().chain(start.env.iter().map(|(_, v)| v.as_str())),
            ),
            ..CommandRow::from_start(&start)
        };
        Record::Start(start, Box::new(row))
    }

    /// Imported history: classified and redacted like live records; entries
    /// the never-record rules match are left out.
    pub fn enrich_imported(&self, commands: Vec<ImportedCommand>) -> Vec<CommandRow> {
        commands
            .into_iter()
            .filter(|c| !self.never_record(&c.command, None, ""))
            .map(|c| {
                let classification = self.classifier.classify(&c.command);
                let command = self.redactor.redact(&c.command);
                CommandRow {
                    redacted: hidden_count([command.as_str()]),
                    command,
                    command_type: CommandType(classification.command_type),
                    subcommand: classification.subcommand.map(|s| self.redactor.redact(&s)),
                    ..CommandRow::from_import(&c)
                }
            })
            .collect()
    }

    fn never_record(&self, command: &str, expanded: Option<&str>, cwd: &str) -> bool {
        let texts = [Some(command), expanded];
        self.ignore_commands.iter().any(|p| texts.iter().flatten().any(|t| p.is_match(t)))
            || (!cwd.is_empty() && self.ignore_dirs.iter().any(|d| Path::new(cwd).starts_with(d)))
    }

    /// The copy of `row` that leaves the machine (team store, GitHub) when
    /// it differs from `row`: the text it sends redacted again with
    /// `[capture] redact_remote`, and `redacted` counting what those rules
    /// hid as well. `None` when they hid nothing (or there are none).
    pub fn outgoing(&self, row: &CommandRow) -> Option<CommandRow> {
        let remote = self.remote_redactor.as_ref()?;
        let mut out = row.clone();
        let mut added = 0;
        let mut hide = |text: &mut String| {
            let hidden = remote.redact(text);
            added += hidden_in(&hidden) - hidden_in(text);
            *text = hidden;
        };
        hide(&mut out.command);
        let texts = [&mut out.cwd, &mut out.subcommand, &mut out.environment, &mut out.git_branch, &mut out.git_repo];
        texts.into_iter().flatten().for_each(hide);
        // Remote rules only add markers: none added, nothing hidden.
        (added > 0).then(|| CommandRow { redacted: row.redacted + added as i64, ..out })
    }

    /// Redacts a free text with this configuration's patterns.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    pub fn classify(&self, line: &str) -> Classification {
        self.classifier.classify(line)
    }
}

/// How many secrets the texts of a record hide, as its `redacted` says.
fn hidden_count<'a>(texts: impl IntoIterator<Item = &'a str>) -> i64 {
    texts.into_iter().map(hidden_in).sum::<usize>() as i64
}

fn expand_home(dir: &str, home: &Path) -> PathBuf {
    match dir.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if dir == "~" => home.to_path_buf(),
        None => PathBuf::from(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_expanded_in_ignored_folders() {
        let home = Path::new("/home/alice");
        assert_eq!(expand_home("~/secrets", home), Path::new("/home/alice/secrets"));
        assert_eq!(expand_home("~", home), home);
        assert_eq!(expand_home("/srv/keys", home), Path::new("/srv/keys"));
    }

    /// Every line of the corpus: realistic commands with the redacted form,
    /// type and subcommand they must get.
    #[test]
    fn the_corpus() {
        let enricher = Enricher::new(&CaptureConfig::default()).unwrap();
        let corpus = include_str!("../../tests/corpus/enrichment.jsonl");
        let mut failures = Vec::new();
        let mut count = 0;
        for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
            count += 1;
            let case: serde_json::Value = serde_json::from_str(line).expect("corpus lines are JSON");
            let command = case["command"].as_str().unwrap();
            let classified = enricher.classify(command);
            let got = serde_json::json!({
                "command": command,
                "redacted": enricher.redact(command),
                "type": classified.command_type,
                "subcommand": classified.subcommand,
            });
            if got != case {
                failures.push(format!("expected {case}\n     got {got}"));
            }
        }
        assert!(count >= 60, "the corpus has {count} lines");
        assert!(failures.is_empty(), "{} of {count} lines differ:\n{}", failures.len(), failures.join("\n"));
    }
}
