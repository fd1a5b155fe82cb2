//! `lcd query --remote`: the team's history from the remote store, with the
//! same filters (those it supports) and formats; and the blocking client
//! every subcommand that asks the team store uses.

use anyhow::{bail, Context, Result};
use reqwest::{Method, StatusCode};
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

/// Fetches the records `query` selects from `GET /api/commands/history`.
pub fn history(paths: &Paths, query: &HistoryQuery) -> Result<Vec<CommandRow>> {
    let store = StoreClient::open(paths)?;
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
        let page: HistoryPage = store.get("/api/commands/history", &page)?;
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

/// The team store, asked one blocking request at a time with a bearer token.
pub(super) struct StoreClient {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
    token: String,
}

/// An answer of the team store, read whole.
pub(super) struct StoreAnswer {
    pub path: String,
    pub status: StatusCode,
    pub text: String,
}

impl StoreAnswer {
    /// The reason an error answer gives (its JSON `error`), safe to show.
    pub fn reason(&self) -> String {
        let body: Value = serde_json::from_str(&self.text).unwrap_or_default();
        super::output::visible(body["error"].as_str().unwrap_or("no reason given")).into_owned()
    }
}

impl StoreClient {
    pub fn new(base: &str, token: String) -> Result<StoreClient> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = {
            let _inside = runtime.enter();
            crate::forward::http_client()
        };
        Ok(StoreClient { runtime, client, base: base.trim_end_matches('/').to_string(), token })
    }

    /// The store of the config's `[remote]` section, with its token.
    pub fn open(paths: &Paths) -> Result<StoreClient> {
        let config = Config::load(&paths.config_file())?;
        let remote = config
            .remote
            .context("no remote store is configured: add a [remote] section (url, token) to the config")?;
        let token = remote.auth().resolve("remote")?.context("[remote] has no token, token_env or token_command")?;
        StoreClient::new(&remote.url, token)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One request; its answer whatever the status.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<StoreAnswer> {
        let url = self.url(path);
        let _inside = self.runtime.enter();
        let mut request = self.client.request(method, &url).bearer_auth(&self.token).query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.runtime.block_on(request.send()).with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text =
            self.runtime.block_on(response.text()).with_context(|| format!("the answer from {url} broke off"))?;
        Ok(StoreAnswer { path: path.to_string(), status, text })
    }

    /// The body of a 2xx answer; any other is an error naming the status and the reason.
    pub fn expect_success(&self, answer: StoreAnswer) -> Result<String> {
        if !answer.status.is_success() {
            bail!("{} answered {}: {}", self.url(&answer.path), answer.status, answer.reason());
        }
        Ok(answer.text)
    }

    /// GETs `path` with `params`: the answer's JSON, or why there is none.
    pub fn get<T: serde::de::DeserializeOwned>(&self, path: &str, params: &[(&str, String)]) -> Result<T> {
        let text = self.expect_success(self.send(Method::GET, path, params, None)?)?;
        serde_json::from_str(&text).with_context(|| format!("{} did not answer as lcd expects", self.url(path)))
    }
}
