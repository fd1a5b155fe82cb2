//! `lcd team token create|list|revoke`: the team store's per-user tokens,
//! through its admin API, with the admin token from `[admin]` in the config
//! or `LCD_ADMIN_TOKEN`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::output::{visible, write_plain_table, TableOrJson};
use super::remote::{StoreAnswer, StoreClient};
use crate::config::Config;
use crate::paths::Paths;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Per-user tokens of the team store (needs the admin token).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token for a user; it is shown once, here, and never again.
    Create {
        /// Whose records it delivers (their `received_from`).
        #[arg(long)]
        user: String,
        #[arg(long, value_enum)]
        role: Role,
        #[command(flatten)]
        format: Format,
    },
    /// Every token, revoked ones too (never the tokens themselves).
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Revoke a token: the store refuses it from its next request on.
    Revoke {
        /// The token's id, as `lcd team token list` shows it.
        id: u64,
        #[command(flatten)]
        format: Format,
    },
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Posts records (the daemon's forwarder) and reads only its own.
    Writer,
    /// Reads the team's records; cannot post.
    Reader,
    /// Manages tokens and reads everything; cannot post.
    Admin,
}

/// `--format table|json`, or `--json` for short.
#[derive(Debug, clap::Args)]
pub struct Format {
    #[arg(long, short = 'f', value_enum, default_value_t = TableOrJson::Table)]
    format: TableOrJson,
    /// Same as --format json.
    #[arg(long)]
    json: bool,
}

impl Format {
    fn json(&self) -> bool {
        self.json || self.format == TableOrJson::Json
    }
}

/// A token as the admin API describes it.
#[derive(Debug, Deserialize, Serialize)]
struct TokenInfo {
    id: u64,
    user: String,
    role: String,
    created_at: String,
    revoked_at: Option<String>,
    /// Only in the answer to its creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenList {
    tokens: Vec<TokenInfo>,
}

pub fn run(command: Command, paths: &Paths) -> Result<ExitCode> {
    let Command::Token(command) = command;
    let (url, token) = Config::load(&paths.config_file())?.admin_access()?;
    let store = StoreClient::new(&url, token)?;
    let mut out = std::io::stdout().lock();
    match command {
        TokenCommand::Create { user, role, format } => {
            let body = json!({ "user": user, "role": role });
            let made: TokenInfo = admin(&store, Method::POST, "/api/admin/tokens", Some(&body), "a new token")?;
            let Some(secret) = made.token.as_deref().filter(|t| !t.is_empty()) else {
                bail!("{} made token {} but did not say what it is", store.url("/api/admin/tokens"), made.id);
            };
            if format.json() {
                serde_json::to_writer_pretty(&mut out, &made)?;
                writeln!(out)?;
            } else {
                // The token alone on stdout, so that `> file` keeps only it.
                eprintln!(
                    "token {} for {} ({}); it is shown only now: give it to {} for [remote] token_env or token_command",
                    made.id,
                    visible(&made.user),
                    made.role,
                    visible(&made.user)
                );
                writeln!(out, "{secret}")?;
            }
        }
        TokenCommand::List { format } => {
            let list: TokenList = admin(&store, Method::GET, "/api/admin/tokens", None, "a list of tokens")?;
            if format.json() {
                serde_json::to_writer_pretty(&mut out, &list.tokens)?;
                writeln!(out)?;
            } else {
                let rows: Vec<Vec<String>> = list.tokens.iter().map(table_row).collect();
                write_plain_table(&mut out, &["id", "user", "role", "created", "revoked"], &rows)?;
            }
        }
        TokenCommand::Revoke { id, format } => {
            let path = format!("/api/admin/tokens/{id}");
            let revoked: TokenInfo = admin(&store, Method::DELETE, &path, None, "the revoked token")?;
            if format.json() {
                serde_json::to_writer_pretty(&mut out, &revoked)?;
                writeln!(out)?;
            } else {
                let when = revoked.revoked_at.as_deref().map(shown_time).unwrap_or_else(|| "-".into());
                writeln!(out, "token {} ({}, {}) revoked at {when}", revoked.id, visible(&revoked.user), revoked.role)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One call of the admin API, its answer read as `T`; `what` names what a
/// good answer holds. Refusals and garbage become errors that say so.
fn admin<T: serde::de::DeserializeOwned>(
    store: &StoreClient,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    what: &str,
) -> Result<T> {
    let answer = store.send(method, path, &[], body)?;
    let url = store.url(path);
    match answer.status {
        StatusCode::UNAUTHORIZED => bail!(
            "{url} refused the admin token (401: {}); check LCD_ADMIN_TOKEN or the [admin] token in the config",
            answer.reason()
        ),
        StatusCode::FORBIDDEN => bail!(
            "{url} says the token is not an admin's (403: {}); lcd team token needs the Worker's LCD_ADMIN_TOKEN or an admin token",
            answer.reason()
        ),
        status if !status.is_success() => bail!("{url} answered {status}: {}", reason_or_garbage(&answer)),
        _ => serde_json::from_str(&answer.text).with_context(|| {
            format!("{url} answered {} but not with {what}: {}", answer.status, snippet(&answer.text))
        }),
    }
}

/// An error answer's reason, or what it was when it is no answer of the Worker.
fn reason_or_garbage(answer: &StoreAnswer) -> String {
    match serde_json::from_str::<serde_json::Value>(&answer.text) {
        Ok(body) if body["error"].is_string() => answer.reason(),
        _ => format!("not an answer of lcd's Worker: {}", snippet(&answer.text)),
    }
}

/// The start of a body, safe to show.
fn snippet(text: &str) -> String {
    let start: String = text.chars().take(120).collect();
    let more = if text.chars().count() > 120 { "…" } else { "" };
    format!("{:?}{more}", visible(&start))
}

fn table_row(t: &TokenInfo) -> Vec<String> {
    vec![
        t.id.to_string(),
        visible(&t.user).into_owned(),
        visible(&t.role).into_owned(),
        shown_time(&t.created_at),
        t.revoked_at.as_deref().map(shown_time).unwrap_or_else(|| "-".into()),
    ]
}

/// An RFC 3339 time of the store in local time; shown as given (made safe)
/// when it is not one.
fn shown_time(text: &str) -> String {
    match crate::time::parse_rfc3339(text) {
        Some(micros) => crate::time::local_time(micros),
        None => visible(text).into_owned(),
    }
}
