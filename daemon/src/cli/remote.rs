//! `lcd query --remote`: the team's history from the remote store, with the
//! same filters (those it supports) and formats.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::config::Config;
use crate::paths::Paths;
use crate::store::{CommandRow, HistoryQuery, Order, Outcome, RemoteRecord};

/// One answer of `GET /api/commands/history`.
#[derive(serde::Deserialize)]
struct HistoryPage {
    records: Vec<RemoteRecord>,
    next_cursor: Option<String>,
}

/// The team store as the CLI reads it, with the URL and token of the config.
pub(super) struct RemoteReader {
    base: String,
    token: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl RemoteReader {
    pub fn open(paths: &Paths) -> Result<RemoteReader> {
        let config = Config::load(&paths.config_file())?;
        let remote = config
            .remote
            .context("no remote store is configured: add a [remote] section (url, token) to the config")?;
        let token = remote.auth().resolve("remote")?.context("[remote] has no token, token_env or token_command")?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = {
            let _inside = runtime.enter();
            crate::forward::http_client()
        };
        Ok(RemoteReader { base: remote.url.trim_end_matches('/').to_string(), token, runtime, client })
    }

    /// GETs `path` with `params`; the answer's JSON, or why there is none.
    pub fn get<T: serde::de::DeserializeOwned>(&self, path: &str, params: &[(&str, String)]) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let _inside = self.runtime.enter();
        let response = self
            .runtime
            .block_on(self.client.get(&url).bearer_auth(&self.token).query(params).send())
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text =
            self.runtime.block_on(response.text()).with_context(|| format!("the answer from {url} broke off"))?;
        if !status.is_success() {
            let body: Value = serde_json::from_str(&text).unwrap_or_default();
            let reason = body["error"].as_str().unwrap_or("no reason given");
            bail!("{url} answered {status}: {}", super::output::visible(reason));
        }
        serde_json::from_str(&text).with_context(|| format!("{url} did not answer as lcd expects"))
    }
}

/// Fetches the records `query` selects from `GET /api/commands/history`.
pub fn history(paths: &Paths, query: &HistoryQuery) -> Result<Vec<CommandRow>> {
    let reader = RemoteReader::open(paths)?;
    let unsupported = [
        ("--cwd/--here", query.cwd.is_some()),
        ("--commit", query.commit.is_some()),
        ("--min-duration", query.min_duration_ms.is_some()),
        (
            "--succeeded, --exit, --running",
            matches!(query.outcome, Some(Outcome::Succeeded | Outcome::Exit(_) | Outcome::Running)),
        ),
    ];
    for (flag, used) in unsupported {
        if used {
            bail!("{flag} is not available with --remote");
        }
    }
    let mut params: Vec<(&str, String)> = Vec::new();
    let text = |v: &Option<String>| v.clone();
    for (name, value) in [
        ("type", text(&query.command_type)),
        ("sub", text(&query.subcommand)),
        ("repo", text(&query.repo)),
        ("host", text(&query.host)),
        ("user", text(&query.user)),
        ("session", text(&query.session)),
        ("branch", text(&query.branch)),
        ("q", text(&query.text)),
        ("since", query.since.map(crate::time::rfc3339_ms)),
        ("until", query.until.map(crate::time::rfc3339_ms)),
        ("failed", matches!(query.outcome, Some(Outcome::Failed)).then(|| "true".to_string())),
    ] {
        if let Some(v) = value {
            params.push((name, v));
        }
    }
    let want = query.limit.unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    while rows.len() < want {
        let mut page = params.clone();
        page.push(("limit", want.saturating_sub(rows.len()).min(1000).to_string()));
        if let Some(c) = &cursor {
            page.push(("cursor", c.clone()));
        }
        let page: HistoryPage = reader.get("/api/commands/history", &page)?;
        rows.extend(page.records.into_iter().map(CommandRow::from));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    if query.order == Order::OldestFirst {
        rows.reverse();
    }
    Ok(rows)
}
