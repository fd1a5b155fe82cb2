//! The GitHub sink: each deploy run (terraform apply, wrangler deploy, ...)
//! in a GitHub repository becomes a deployment, created when the run starts
//! (with the commit it started at) and given a status when it ends.
//!
//! GitHub's rules for integrators are kept: one request at a time, a second
//! between writes, `Retry-After` and the rate-limit headers honoured.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{classify, Backoff, SinkState, Verdict};
use crate::config::GithubConfig;
use crate::ingest::Ingest;
use crate::store::{CommandRow, DeployFilter, GithubProgress, RecordStatus, Store};
use crate::time::human_duration;

pub const SINK: &str = "github";
const POLL: Duration = Duration::from_millis(500);
const STOPPED_RETRY: Duration = Duration::from_secs(300);
const API_VERSION: &str = "2022-11-28";

pub struct GithubSink {
    pub config: GithubConfig,
    pub token: String,
    pub ingest: Ingest,
    pub reader: Arc<Mutex<Store>>,
    pub state: SinkState,
    /// The team store's base URL, for `log_url`.
    pub remote_url: Option<String>,
}

/// What happened to a request, once GitHub's own rules are applied.
enum Answer {
    Ok(Value),
    /// 422: the request is understood but refused (unknown ref, ...).
    Unprocessable(String),
    Other(Verdict),
}

impl GithubSink {
    fn filter(&self) -> DeployFilter {
        let mut hosts = vec!["github.com".to_string()];
        hosts.extend(self.config.enterprise.keys().cloned());
        DeployFilter {
            rules: self.config.deploy.iter().map(|r| (r.command_type.clone(), r.subcommands.clone())).collect(),
            hosts,
        }
    }

    /// The API base for a repository on `host`.
    fn api_for(&self, host: &str) -> String {
        self.config
            .enterprise
            .get(host)
            .cloned()
            .unwrap_or_else(|| self.config.api_url.clone())
            .trim_end_matches('/')
            .to_string()
    }

    pub async fn run(self) {
        let filter = self.filter();
        let start = match self.ingest.maintain(Box::new(|store| store.github_start().map(|s| s as u64))).await {
            Ok(start) => start as i64,
            Err(e) => {
                self.state.failed("stopped", format!("cannot start: {e}"));
                return;
            }
        };
        let client = super::remote::http_client();
        let mut writer =
            Writer { last_write: None, interval: Duration::from_millis(self.config.min_write_interval_ms) };
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(self.config.retry_max_s.max(1)));
        loop {
            self.refresh_counts(start, &filter).await;
            let next = {
                let (reader, filter) = (Arc::clone(&self.reader), filter.clone());
                tokio::task::spawn_blocking(move || {
                    reader.lock().unwrap_or_else(|e| e.into_inner()).github_next(start, &filter)
                })
                .await
            };
            let (pk, row, progress) = match next {
                Ok(Ok(Some(step))) => step,
                Ok(Ok(None)) => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Ok(Err(e)) => {
                    self.state.failed("retrying", format!("reading deploy runs: {e}"));
                    tokio::time::sleep(backoff.next(None)).await;
                    continue;
                }
                Err(_) => return,
            };
            match self.step(&client, &mut writer, pk, &row, &progress).await {
                Verdict::Done => {
                    self.state.succeeded();
                    backoff.reset();
                }
                Verdict::Retry { after, reason } => {
                    self.state.failed("retrying", reason);
                    tokio::time::sleep(backoff.next(after)).await;
                }
                Verdict::Reject { reason } => {
                    // Recorded on the run; the others go on.
                    self.state.failed("ok", format!("deploy run #{pk} not reported: {reason}"));
                    self.mark(pk, &row, progress.deployment_id, "failed", Some(reason)).await;
                }
                Verdict::Stop { reason } => {
                    self.refresh_counts(start, &filter).await;
                    self.state.failed(
                        "stopped",
                        format!(
                            "GitHub refused the token ({reason}); fix [github] in the config, then: lcd daemon reload"
                        ),
                    );
                    tokio::time::sleep(STOPPED_RETRY).await;
                }
            }
        }
    }

    /// Takes the next step of one deploy run.
    async fn step(
        &self,
        client: &reqwest::Client,
        writer: &mut Writer,
        pk: i64,
        row: &CommandRow,
        progress: &GithubProgress,
    ) -> Verdict {
        let repo = row.git_repo.clone().unwrap_or_default();
        let base = self.api_for(row.git_host.as_deref().unwrap_or("github.com"));
        let running = row.status == RecordStatus::Running;
        match (progress.stage.as_deref(), progress.deployment_id) {
            (None, _) => {
                let url = format!("{base}/repos/{repo}/deployments");
                let mut body = self.deployment(row);
                let mut answer = writer.post(client, &url, &self.token, &body).await;
                // A commit GitHub does not have (not pushed): once more with the branch.
                if let (Answer::Unprocessable(first), Some(branch)) = (&answer, row.git_branch.as_deref()) {
                    tracing::info!(
                        pk,
                        "GitHub does not know commit {}: {first}; trying branch {branch}",
                        row.git_commit.as_deref().unwrap_or("?")
                    );
                    body["ref"] = branch.into();
                    answer = writer.post(client, &url, &self.token, &body).await;
                }
                match answer {
                    Answer::Ok(created) => match created["id"].as_i64() {
                        Some(id) => {
                            self.mark(pk, row, Some(id), "created", None).await;
                            Verdict::Done
                        }
                        None => Verdict::Reject {
                            reason: format!(
                                "GitHub created no deployment: {}",
                                created["message"].as_str().unwrap_or("no id in the answer")
                            ),
                        },
                    },
                    Answer::Unprocessable(reason) => Verdict::Reject { reason: format!("HTTP 422: {reason}") },
                    Answer::Other(verdict) => verdict,
                }
            }
            (Some("created"), Some(id)) if running => {
                let url = format!("{base}/repos/{repo}/deployments/{id}/statuses");
                let body = self.status_body(row, "in_progress", "running");
                self.after(writer.post(client, &url, &self.token, &body).await, pk, row, Some(id), "in_progress").await
            }
            (Some("created" | "in_progress"), Some(id)) => {
                let url = format!("{base}/repos/{repo}/deployments/{id}/statuses");
                let (state, description) = outcome(row);
                let body = self.status_body(row, state, &description);
                let next = if self.issue_to_comment(row).is_some() { "final" } else { "done" };
                self.after(writer.post(client, &url, &self.token, &body).await, pk, row, Some(id), next).await
            }
            (Some("final"), id) => {
                let Some(issue) = self.issue_to_comment(row) else {
                    self.mark(pk, row, id, "done", None).await;
                    return Verdict::Done;
                };
                let url = format!("{base}/repos/{repo}/issues/{issue}/comments");
                let body = json!({ "body": comment(row, &self.environment(row)) });
                self.after(writer.post(client, &url, &self.token, &body).await, pk, row, id, "done").await
            }
            (stage, _) => Verdict::Reject { reason: format!("deploy run in an unexpected state ({stage:?})") },
        }
    }

    async fn after(&self, answer: Answer, pk: i64, row: &CommandRow, id: Option<i64>, stage: &str) -> Verdict {
        match answer {
            Answer::Ok(_) => {
                self.mark(pk, row, id, stage, None).await;
                Verdict::Done
            }
            Answer::Unprocessable(reason) => Verdict::Reject { reason: format!("HTTP 422: {reason}") },
            Answer::Other(verdict) => verdict,
        }
    }

    async fn mark(&self, pk: i64, row: &CommandRow, id: Option<i64>, stage: &str, detail: Option<String>) {
        let api = self.api_for(row.git_host.as_deref().unwrap_or("github.com"));
        let repo = row.git_repo.clone().unwrap_or_default();
        let stage = stage.to_string();
        let result = self
            .ingest
            .maintain(Box::new(move |store| {
                store.github_mark(pk, &api, &repo, id, &stage, detail.as_deref()).map(|_| 0)
            }))
            .await;
        if let Err(e) = result {
            self.state.failed("retrying", format!("noting a GitHub step: {e}"));
        }
    }

    /// The environment GitHub is told: the record's, renamed by the config.
    fn environment(&self, row: &CommandRow) -> String {
        let env = row.environment.clone().unwrap_or_else(|| "production".into());
        self.config.environments.get(&env).cloned().unwrap_or(env)
    }

    fn deployment(&self, row: &CommandRow) -> Value {
        let environment = self.environment(row);
        let task = self
            .config
            .deploy
            .iter()
            .find(|r| {
                r.command_type == row.command_type.as_str()
                    && r.subcommands.iter().any(|s| Some(s.as_str()) == row.subcommand.as_deref())
            })
            .map(|r| r.task.clone())
            .unwrap_or_else(|| "deploy".into());
        let what = format!("{} {}", row.command_type.as_str(), row.subcommand.as_deref().unwrap_or(""));
        json!({
            "ref": row.git_commit,
            "task": task,
            "auto_merge": false,
            "required_contexts": [],
            "environment": environment,
            "description": clip(&format!("{} by {}@{}", what.trim(), row.user, row.hostname), 140),
            "payload": {
                "record_id": row.id,
                "command": row.command,
                "host": row.hostname,
                "user": row.user,
                "session": row.session,
            },
            "production_environment": self.config.production_environments.contains(&environment),
            "transient_environment": self.config.transient_environments.contains(&environment),
        })
    }

    fn status_body(&self, row: &CommandRow, state: &str, description: &str) -> Value {
        let mut body =
            json!({ "state": state, "description": clip(description, 140), "environment": self.environment(row) });
        if let Some(remote) = &self.remote_url {
            body["log_url"] = format!("{}/api/commands/record/{}", remote.trim_end_matches('/'), row.id).into();
        }
        body
    }

    /// The issue number the branch names, when comments are on.
    fn issue_to_comment(&self, row: &CommandRow) -> Option<u64> {
        self.config.issue_comments.then(|| row.git_branch.as_deref().and_then(issue_of_branch)).flatten()
    }

    async fn refresh_counts(&self, start: i64, filter: &DeployFilter) {
        let (reader, filter) = (Arc::clone(&self.reader), filter.clone());
        let counts = tokio::task::spawn_blocking(move || {
            reader.lock().unwrap_or_else(|e| e.into_inner()).github_backlog(start, &filter)
        })
        .await;
        if let Ok(Ok((backlog, failed))) = counts {
            self.state.update(|s| {
                s.backlog = backlog;
                s.failed = failed;
            });
        }
    }
}

/// Paces writes and reads GitHub's answers.
struct Writer {
    last_write: Option<Instant>,
    interval: Duration,
}

impl Writer {
    async fn post(&mut self, client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Answer {
        if let Some(last) = self.last_write {
            tokio::time::sleep_until(last + self.interval).await;
        }
        self.last_write = Some(Instant::now());
        let sent = client
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .json(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Answer::Other(Verdict::Retry { after: None, reason: format!("cannot reach {url}: {e}") }),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => {
                return Answer::Other(Verdict::Retry {
                    after: None,
                    reason: format!("the answer from {url} broke off: {e}"),
                })
            }
        };
        read_answer(status, &headers, &text)
    }
}

/// GitHub's answer, with its rate limits read first: an exhausted quota waits
/// until `x-ratelimit-reset`, a secondary limit backs off.
fn read_answer(status: u16, headers: &HeaderMap, text: &str) -> Answer {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if matches!(status, 403 | 429) {
        if header("x-ratelimit-remaining") == Some("0") {
            let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            let wait = (reset - jiff::Timestamp::now().as_second()).max(1) as u64;
            return Answer::Other(Verdict::Retry {
                after: Some(Duration::from_secs(wait)),
                reason: format!("GitHub rate limit exhausted; waiting {wait} s until it resets"),
            });
        }
        let message = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_default();
        if header("retry-after").is_some() || message.to_lowercase().contains("secondary rate limit") || status == 429 {
            let after = header("retry-after").and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
            return Answer::Other(Verdict::Retry { after, reason: format!("GitHub secondary rate limit: {message}") });
        }
    }
    match status {
        200..=299 => Answer::Ok(serde_json::from_str(text).unwrap_or(Value::Null)),
        422 => Answer::Unprocessable(
            serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v["message"].as_str().map(String::from))
                .unwrap_or_else(|| text.chars().take(200).collect()),
        ),
        _ => Answer::Other(classify(status, header("retry-after"), text)),
    }
}

/// The deployment state and description for how a run ended.
fn outcome(row: &CommandRow) -> (&'static str, String) {
    let took = row.duration_ms().map(|ms| format!(" after {}", seconds(ms))).unwrap_or_default();
    match (row.status.as_str(), row.exit_code) {
        (_, Some(0)) => ("success", format!("exit 0{took}")),
        (_, Some(code)) => ("failure", format!("exit {code}{took}")),
        _ => ("error", "ended without an exit status: the shell went away".into()),
    }
}

/// `45.2 s`, as people read a deploy's duration.
fn seconds(ms: i64) -> String {
    if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        human_duration(ms)
    }
}

fn comment(row: &CommandRow, environment: &str) -> String {
    let (state, description) = outcome(row);
    // Cut by characters: a byte index inside a multi-byte character panics.
    let commit: String = row.git_commit.as_deref().map(|c| c.chars().take(12).collect()).unwrap_or("?".into());
    format!(
        "Deploy to **{environment}** at `{commit}`: **{state}** ({description}).\n\n`{}` by {}@{}",
        row.command, row.user, row.hostname
    )
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// The issue a branch is named after: `123-fix-x`, `issue-123`, `gh-123`
/// (also after a prefix such as `feature/`).
pub fn issue_of_branch(branch: &str) -> Option<u64> {
    let name = branch.rsplit('/').next()?.to_ascii_lowercase();
    let leading: String = name.chars().take_while(char::is_ascii_digit).collect();
    if !leading.is_empty() && (name.len() == leading.len() || name[leading.len()..].starts_with(['-', '_'])) {
        return leading.parse().ok();
    }
    for prefix in ["issue-", "issues-", "gh-"] {
        if let Some(at) = name.find(prefix) {
            let digits: String = name[at + prefix.len()..].chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() && (at == 0 || name[..at].ends_with(['-', '_'])) {
                return digits.parse().ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_that_name_issues() {
        assert_eq!(issue_of_branch("123-fix-x"), Some(123));
        assert_eq!(issue_of_branch("feature/issue-45"), Some(45));
        assert_eq!(issue_of_branch("gh-7-retry"), Some(7));
        assert_eq!(issue_of_branch("main"), None);
        assert_eq!(issue_of_branch("v2-release"), None);
        assert_eq!(issue_of_branch("fix-2024"), None);
    }

    #[test]
    fn descriptions_fit_githubs_limit() {
        assert_eq!(clip(&"x".repeat(200), 140).chars().count(), 140);
        assert_eq!(seconds(45_200), "45.2 s");
    }
}
