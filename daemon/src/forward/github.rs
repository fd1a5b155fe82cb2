//! The GitHub sink: each deploy run (terraform apply, wrangler deploy, ...)
//! in a GitHub repository becomes a deployment, created when the run starts
//! (with the commit it started at) and given a status when it ends.
//!
//! GitHub's rules for integrators are kept: one request at a time, a second
//! between writes, `Retry-After` and the rate-limit headers honoured. A
//! repository closed to the token (403, 404, a redirect) fails its own runs
//! and waits; only a token refused outright (401) stops the sink.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::driver::FIRST_RETRY;
use super::http::{exchange, Answer};
use super::{classify, Backoff, Counts, Outcome, Outgoing, ReadTask, Sink, Verdict};
use crate::config::GithubConfig;
use crate::store::{
    CommandRow, DeployFilter, GithubProgress, GithubStage, Maintenance, RecordStatus, WriteError, Writer,
};
use crate::time::human_duration;

const API_VERSION: &str = "2022-11-28";

/// GitHub: which runs are deploys, and how each step of one is reported.
pub struct GithubSink {
    config: GithubConfig,
    token: String,
    /// The team store's base URL, for `log_url`.
    remote_url: Option<String>,
    filter: DeployFilter,
    /// Runs recorded up to this `pk` are history, not deploys to announce.
    start: i64,
    pacer: Pacer,
    /// Repositories that refused the token (`host/owner/name`): their runs
    /// wait, longer each time, while the others go on.
    paused: HashMap<String, Paused>,
    /// What of a record GitHub may see.
    outgoing: Outgoing,
}

/// A repository GitHub refused, and until when its runs wait.
struct Paused {
    backoff: Backoff,
    until: Instant,
}

/// One deploy run and where it is on GitHub; a delivered step moves
/// `progress` on.
pub struct DeployStep {
    pk: i64,
    row: CommandRow,
    progress: GithubProgress,
}

/// GitHub's answer to a request, once its own rules are applied.
type Reply = Result<Value, Refusal>;

/// Why GitHub did not take a request.
enum Refusal {
    /// 422: the request is understood but refused (unknown ref, ...).
    Unprocessable(String),
    /// 403 or 404 (not a rate limit), or a redirect: this repository is
    /// closed to the token (no access, no such repository, no Deployments
    /// permission) or has moved. Only this run fails; a token refused
    /// everywhere answers 401.
    Repository(String),
    Other(Verdict),
}

impl GithubSink {
    pub fn new(config: GithubConfig, token: String, remote_url: Option<String>, outgoing: Outgoing) -> GithubSink {
        let mut hosts = vec!["github.com".to_string()];
        hosts.extend(config.enterprise.keys().cloned());
        let filter = DeployFilter {
            rules: config.deploy.iter().map(|r| (r.command_type.clone(), r.subcommands.clone())).collect(),
            hosts,
        };
        let pacer = Pacer { last_write: None, interval: Duration::from_millis(config.min_write_interval_ms) };
        GithubSink { config, token, remote_url, filter, start: 0, pacer, paused: HashMap::new(), outgoing }
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

    /// Takes the next step of one deploy run: the stage and deployment it
    /// reaches, or why not.
    async fn step(&mut self, client: &reqwest::Client, step: &DeployStep) -> Result<GithubProgress, Refusal> {
        let DeployStep { pk, row, progress } = step;
        let repo = row.git_repo.clone().unwrap_or_default();
        let base = self.api_for(row.git_host.as_deref().unwrap_or("github.com"));
        // A job stopped with Ctrl-Z is not over: its deployment stays in progress.
        let running = matches!(row.status, RecordStatus::Running | RecordStatus::Suspended);
        let reached = |stage, deployment_id| GithubProgress { stage: Some(stage), deployment_id };
        // What GitHub is shown of the record: `redact_remote` applied to
        // every text of it, deployment, statuses and comment alike.
        let hidden = (self.outgoing)(row);
        let shown = hidden.as_ref().unwrap_or(row);
        match (progress.stage, progress.deployment_id) {
            (None, _) => {
                let url = format!("{base}/repos/{repo}/deployments");
                let mut body = self.deployment(row, shown);
                let mut answer = self.pacer.post(client, &url, &self.token, &body).await;
                // A commit GitHub does not have (not pushed): once more with the branch.
                if let (Err(Refusal::Unprocessable(first)), Some(branch)) = (&answer, row.git_branch.as_deref()) {
                    tracing::info!(
                        pk,
                        "GitHub does not know commit {}: {first}; trying branch {branch}",
                        row.git_commit.as_deref().unwrap_or("?")
                    );
                    body["ref"] = branch.into();
                    answer = self.pacer.post(client, &url, &self.token, &body).await;
                }
                let created = answer?;
                match created["id"].as_i64() {
                    Some(id) => Ok(reached(GithubStage::Created, Some(id))),
                    None => Err(Refusal::Other(Verdict::Reject {
                        reason: format!(
                            "GitHub created no deployment: {}",
                            created["message"].as_str().unwrap_or("no id in the answer")
                        ),
                    })),
                }
            }
            (Some(GithubStage::Created), Some(id)) if running => {
                let url = format!("{base}/repos/{repo}/deployments/{id}/statuses");
                let body = self.status_body(shown, "in_progress", "running");
                self.pacer.post(client, &url, &self.token, &body).await?;
                Ok(reached(GithubStage::InProgress, Some(id)))
            }
            (Some(GithubStage::Created | GithubStage::InProgress), Some(id)) => {
                let url = format!("{base}/repos/{repo}/deployments/{id}/statuses");
                let (state, description) = outcome(row);
                let body = self.status_body(shown, state, &description);
                let next = if self.issue_to_comment(row).is_some() { GithubStage::Final } else { GithubStage::Done };
                self.pacer.post(client, &url, &self.token, &body).await?;
                Ok(reached(next, Some(id)))
            }
            (Some(GithubStage::Final), id) => {
                if let Some(issue) = self.issue_to_comment(row) {
                    let url = format!("{base}/repos/{repo}/issues/{issue}/comments");
                    let command = self.config.include_command.then_some(shown.command.as_str());
                    let body = json!({ "body": comment(shown, &self.environment(shown), command) });
                    self.pacer.post(client, &url, &self.token, &body).await?;
                }
                Ok(reached(GithubStage::Done, id))
            }
            (stage, _) => Err(Refusal::Other(Verdict::Reject {
                reason: format!("deploy run in an unexpected state ({stage:?})"),
            })),
        }
    }

    /// Holds back the runs of `repo` for a while, longer each time it
    /// refuses again.
    fn pause(&mut self, repo: String) {
        let max = self.retry_max().max(FIRST_RETRY);
        let paused = self
            .paused
            .entry(repo)
            .or_insert_with(|| Paused { backoff: Backoff::new(FIRST_RETRY, max), until: Instant::now() });
        paused.until = Instant::now() + paused.backoff.next(None);
    }

    /// The environment GitHub is told: the record's, renamed by the config.
    fn environment(&self, row: &CommandRow) -> String {
        let env = row.environment.clone().unwrap_or_else(|| "production".into());
        self.config.environments.get(&env).cloned().unwrap_or(env)
    }

    /// The deployment for a run (`shown`: what GitHub may see of `row`).
    /// The command line goes in the payload only when `include_command`
    /// says so: deployments of a public repository are public.
    fn deployment(&self, row: &CommandRow, shown: &CommandRow) -> Value {
        let environment = self.environment(shown);
        let task = self
            .config
            .deploy
            .iter()
            .find(|r| {
                r.command_type == row.command_type.as_str()
                    && r.subcommands.iter().any(|s| Some(s.as_str()) == row.subcommand.as_deref())
            })
            .map(|r| r.task.clone())
            .unwrap_or_default();
        let mut payload = json!({
            "record_id": row.id,
            "host": row.hostname,
            "user": row.user,
            "session": row.session,
        });
        if self.config.include_command {
            payload["command"] = shown.command.as_str().into();
        }
        json!({
            "ref": row.git_commit,
            "task": task.as_str(),
            "auto_merge": false,
            "required_contexts": [],
            "environment": environment,
            "description": clip(&format!("{} by {}@{}", what(shown), row.user, row.hostname), 140),
            "payload": payload,
            "production_environment": self.config.production_environments.contains(&environment),
            "transient_environment": self.config.transient_environments.contains(&environment),
        })
    }

    fn status_body(&self, row: &CommandRow, state: &str, description: &str) -> Value {
        let mut body =
            json!({ "state": state, "description": clip(description, 140), "environment": self.environment(row) });
        if let Some(remote) = &self.remote_url {
            // A page a person can open (it asks for the team token), not
            // the record API, which answers only a bearer token.
            body["log_url"] = format!("{}/r/{}", remote.trim_end_matches('/'), row.id).into();
        }
        body
    }

    /// The issue number the branch names, when comments are on.
    fn issue_to_comment(&self, row: &CommandRow) -> Option<u64> {
        self.config.issue_comments.then(|| row.git_branch.as_deref().and_then(issue_of_branch)).flatten()
    }
}

impl Sink for GithubSink {
    type Work = DeployStep;
    const NAME: &'static str = "github";
    const PEER: &'static str = "GitHub";

    fn retry_max(&self) -> Duration {
        Duration::from_secs(self.config.retry_max_s)
    }

    async fn start(&mut self, writer: &impl Writer) -> Result<(), WriteError> {
        self.start = writer.write(Box::new(|store| store.github_start().map(|s| s as u64))).await? as i64;
        Ok(())
    }

    fn pending(&self) -> ReadTask<Option<DeployStep>> {
        let (start, filter) = (self.start, self.filter.clone());
        let now = Instant::now();
        let paused: Vec<String> =
            self.paused.iter().filter(|(_, p)| p.until > now).map(|(repo, _)| repo.clone()).collect();
        Box::new(move |store| {
            let next = store.github_next(start, &filter, &paused)?;
            Ok(next.map(|(pk, row, progress)| DeployStep { pk, row, progress }))
        })
    }

    fn counts(&self) -> ReadTask<Counts> {
        let (start, filter) = (self.start, self.filter.clone());
        Box::new(move |store| {
            let (backlog, failed) = store.github_backlog(start, &filter)?;
            Ok(Counts { backlog, failed })
        })
    }

    async fn deliver(&mut self, client: &reqwest::Client, step: &mut DeployStep) -> Verdict {
        let repo = repo_of(&step.row);
        match self.step(client, step).await {
            Ok(reached) => {
                self.paused.remove(&repo);
                step.progress = reached;
                Verdict::Done
            }
            Err(Refusal::Unprocessable(reason)) => Verdict::Reject { reason: format!("HTTP 422: {reason}") },
            Err(Refusal::Repository(reason)) => {
                self.pause(repo);
                Verdict::Reject { reason }
            }
            Err(Refusal::Other(verdict)) => verdict,
        }
    }

    fn note(&self, step: DeployStep, outcome: Outcome) -> Maintenance {
        let api = self.api_for(step.row.git_host.as_deref().unwrap_or("github.com"));
        let repo = step.row.git_repo.clone().unwrap_or_default();
        let (stage, detail) = match (outcome, step.progress.stage) {
            (Outcome::Delivered, Some(reached)) => (reached, None),
            // (A delivered step always reaches a stage.)
            (Outcome::Delivered, None) => return Box::new(|_| Ok(0)),
            (Outcome::PutAside(reason), _) => (GithubStage::Failed, Some(reason)),
        };
        let (pk, id) = (step.pk, step.progress.deployment_id);
        Box::new(move |store| store.github_mark(pk, &api, &repo, id, stage, detail.as_deref()).map(|_| 0))
    }

    fn put_aside(&self, step: &DeployStep, reason: &str) -> String {
        format!("deploy run #{} not reported: {reason}", step.pk)
    }
}

/// A repository as [`GithubSink::paused`] names it: `host/owner/name`.
fn repo_of(row: &CommandRow) -> String {
    format!("{}/{}", row.git_host.as_deref().unwrap_or("github.com"), row.git_repo.as_deref().unwrap_or_default())
}

/// Paces writes and reads GitHub's answers.
struct Pacer {
    last_write: Option<Instant>,
    interval: Duration,
}

impl Pacer {
    async fn post(&mut self, client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Reply {
        if let Some(last) = self.last_write {
            tokio::time::sleep_until(last + self.interval).await;
        }
        self.last_write = Some(Instant::now());
        let request = client
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .json(body);
        match exchange(request, url).await {
            Ok(answer) => read_answer(&answer, url),
            Err(verdict) => Err(Refusal::Other(verdict)),
        }
    }
}

/// GitHub's answer, with its rate limits read first: an exhausted quota waits
/// until `x-ratelimit-reset`, a secondary limit backs off. Any other 403 or
/// 404, or a redirect, concerns this repository only.
fn read_answer(answer: &Answer, url: &str) -> Reply {
    let (status, text) = (answer.status, answer.text.as_str());
    let header = |name: &str| answer.header(name);
    let message = serde_json::from_str::<Value>(text).ok().and_then(|v| v["message"].as_str().map(String::from));
    if matches!(status, 403 | 429) {
        if header("x-ratelimit-remaining") == Some("0") {
            let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            let wait = (reset - jiff::Timestamp::now().as_second()).max(1) as u64;
            return Err(Refusal::Other(Verdict::Retry {
                after: Some(Duration::from_secs(wait)),
                reason: format!("GitHub rate limit exhausted; waiting {wait} s until it resets"),
            }));
        }
        let message = message.clone().unwrap_or_default();
        if header("retry-after").is_some() || message.to_lowercase().contains("secondary rate limit") || status == 429 {
            let after = header("retry-after").and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
            return Err(Refusal::Other(Verdict::Retry {
                after,
                reason: format!("GitHub secondary rate limit: {message}"),
            }));
        }
    }
    let message = || message.clone().unwrap_or_else(|| text.chars().take(200).collect());
    match status {
        200..=299 => Ok(serde_json::from_str(text).unwrap_or(Value::Null)),
        422 => Err(Refusal::Unprocessable(message())),
        403 | 404 => Err(Refusal::Repository(format!(
            "HTTP {status}: {} (the token needs access to the repository, with Deployments: read and write)",
            message()
        ))),
        300..=399 => Err(Refusal::Repository(answer.redirect(url).unwrap_or_default())),
        _ => Err(Refusal::Other(classify(status, header("retry-after"), text))),
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

/// The comment on a deploy's issue; `command` is the command line when the
/// config lets it out, else the tool and subcommand stand for it.
fn comment(row: &CommandRow, environment: &str, command: Option<&str>) -> String {
    let (state, description) = outcome(row);
    // Cut by characters: a byte index inside a multi-byte character panics.
    let commit: String = row.git_commit.as_deref().map(|c| c.chars().take(12).collect()).unwrap_or("?".into());
    let what = command.map_or_else(|| what(row), str::to_string);
    format!(
        "Deploy to **{environment}** at `{commit}`: **{state}** ({description}).\n\n`{what}` by {}@{}",
        row.user, row.hostname
    )
}

/// The tool and subcommand, standing for a command line GitHub is not shown.
fn what(row: &CommandRow) -> String {
    format!("{} {}", row.command_type.as_str(), row.subcommand.as_deref().unwrap_or("")).trim().to_string()
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
