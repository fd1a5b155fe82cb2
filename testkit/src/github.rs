//! A stand-in for api.github.com on loopback. It checks every request body
//! against GitHub's own OpenAPI description (the npm package
//! @octokit/openapi, installed in remote/), answers like GitHub would, and
//! keeps what it saw. Faults on demand: unknown commits (422), an exhausted
//! rate limit (403), repositories closed to the token (403, 404), server
//! errors (500), being down.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::http::{read_message, Request};

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub status: u16,
    pub at: Instant,
    /// What is wrong with it by GitHub's description (empty: nothing).
    pub problems: Vec<String>,
}

/// How the fake behaves; change it while it runs.
#[derive(Debug, Clone, Default)]
pub struct Behavior {
    pub token: String,
    /// Deployments whose `ref` is one of these get 422 (GitHub does not know it).
    pub unknown_refs: HashSet<String>,
    /// The next this-many writes get 500.
    pub fail_next: u32,
    /// The next write gets 403 with the rate limit exhausted until this many
    /// seconds from then.
    pub rate_limit_for: Option<u64>,
    /// Drop every connection at once, as if GitHub were unreachable.
    pub down: bool,
    /// Writes to these repositories (`owner/name`) get this status: 403 as
    /// for a token without access, 404 as for a repository it cannot see.
    pub refusing: HashMap<String, u16>,
}

pub struct FakeGithub {
    pub port: u16,
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub behavior: Arc<Mutex<Behavior>>,
}

impl FakeGithub {
    pub fn start(token: &str) -> Result<FakeGithub> {
        schemas()?; // fail early when the description is missing
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let behavior = Arc::new(Mutex::new(Behavior { token: token.into(), ..Default::default() }));
        let (c, b) = (Arc::clone(&calls), Arc::clone(&behavior));
        std::thread::spawn(move || {
            let next_id = Arc::new(Mutex::new(1000i64));
            for stream in listener.incoming().flatten() {
                let (c, b, n) = (Arc::clone(&c), Arc::clone(&b), Arc::clone(&next_id));
                std::thread::spawn(move || {
                    let _ = serve(stream, &c, &b, &n);
                });
            }
        });
        Ok(FakeGithub { port, calls, behavior })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn set(&self, f: impl FnOnce(&mut Behavior)) {
        f(&mut self.behavior.lock().unwrap());
    }
}

/// (method, path pattern) of the endpoints lcd uses, and their request schemas.
const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
];

/// The request-body schemas of [`ENDPOINTS`], read once from @octokit/openapi.
fn schemas() -> Result<&'static HashMap<&'static str, Value>> {
    static SCHEMAS: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    if let Some(s) = SCHEMAS.get() {
        return Ok(s);
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../remote/node_modules/@octokit/openapi/generated/api.github.com.deref.json");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("reading GitHub's OpenAPI description {} (run npm ci in remote/)", file.display()))?;
    let description: Value = serde_json::from_str(&text)?;
    let mut map = HashMap::new();
    for (method, path) in ENDPOINTS {
        let schema =
            description["paths"][*path][*method]["requestBody"]["content"]["application/json"]["schema"].clone();
        anyhow::ensure!(schema.is_object(), "no request schema for {method} {path} in {}", file.display());
        map.insert(*path, schema);
    }
    Ok(SCHEMAS.get_or_init(|| map))
}

/// The status `refusing` gives the repository in `path`, if any.
fn refused<'a>(path: &str, refusing: &'a HashMap<String, u16>) -> Option<&'a u16> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["repos", owner, name, ..] => refusing.get(&format!("{owner}/{name}")),
        _ => None,
    }
}

/// Which endpoint a path is, if any.
fn endpoint(path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["repos", _, _, "deployments"] => Some(ENDPOINTS[0].1),
        ["repos", _, _, "deployments", id, "statuses"] if id.parse::<i64>().is_ok() => Some(ENDPOINTS[1].1),
        ["repos", _, _, "issues", n, "comments"] if n.parse::<i64>().is_ok() => Some(ENDPOINTS[2].1),
        _ => None,
    }
}

/// What GitHub's description says is wrong with `body` for `endpoint`,
/// plus properties it does not define (a typo would pass silently otherwise).
fn check(endpoint: &str, body: &Value) -> Vec<String> {
    let schema = &schemas().expect("loaded at start")[endpoint];
    let mut problems: Vec<String> = match jsonschema::validator_for(schema) {
        Ok(validator) => validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect(),
        Err(e) => vec![format!("the schema does not compile: {e}")],
    };
    if let (Some(given), Some(known)) = (body.as_object(), schema["properties"].as_object()) {
        problems.extend(given.keys().filter(|k| !known.contains_key(*k)).map(|k| format!("unknown property {k:?}")));
    }
    problems
}

fn serve(
    mut stream: TcpStream,
    calls: &Mutex<Vec<Call>>,
    behavior: &Mutex<Behavior>,
    next_id: &Mutex<i64>,
) -> Result<()> {
    if behavior.lock().unwrap().down {
        return Ok(()); // dropped: the client sees the connection close
    }
    let raw = read_message(&mut stream)?;
    let request = Request::parse(&raw)?;
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let mut problems = Vec::new();
    for (header, want) in
        [("x-github-api-version", None), ("user-agent", None), ("accept", Some("application/vnd.github+json"))]
    {
        match (request.header(header), want) {
            (None, _) => problems.push(format!("no {header} header")),
            (Some(v), Some(w)) if v != w => problems.push(format!("{header}: {v}")),
            _ => {}
        }
    }
    let mut b = behavior.lock().unwrap();
    let authorized = request.header("authorization") == Some(&format!("Bearer {}", b.token));
    let write = request.method == "POST";
    let (status, headers, answer): (u16, Vec<(String, String)>, Value) = if !authorized {
        (401, vec![], json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}))
    } else if write && b.rate_limit_for.is_some() {
        let reset = jiff::Timestamp::now().as_second() + b.rate_limit_for.take().unwrap_or(1) as i64;
        let headers =
            vec![("x-ratelimit-remaining".into(), "0".into()), ("x-ratelimit-reset".into(), reset.to_string())];
        (403, headers, json!({"message": "API rate limit exceeded"}))
    } else if let Some(&code) = refused(&request.path, &b.refusing).filter(|_| write) {
        let message = if code == 404 { "Not Found" } else { "Resource not accessible by personal access token" };
        (code, vec![], json!({"message": message, "status": code.to_string()}))
    } else if write && b.fail_next > 0 {
        b.fail_next -= 1;
        (500, vec![], json!({"message": "Server Error"}))
    } else if request.method == "GET" && request.path.starts_with("/rate_limit") {
        (200, vec![], json!({"resources": {"core": {"limit": 5000, "remaining": 4999}}}))
    } else {
        match endpoint(&request.path) {
            Some(which) if write => {
                problems.extend(check(which, &body));
                let mut id = next_id.lock().unwrap();
                *id += 1;
                if which == ENDPOINTS[0].1 && body["ref"].as_str().is_some_and(|r| b.unknown_refs.contains(r)) {
                    (
                        422,
                        vec![],
                        json!({"message": format!("No ref found for: {}", body["ref"].as_str().unwrap_or(""))}),
                    )
                } else {
                    (
                        201,
                        vec![],
                        json!({"id": *id, "ref": body["ref"], "sha": body["ref"], "environment": body["environment"], "state": body["state"]}),
                    )
                }
            }
            _ => (404, vec![], json!({"message": "Not Found"})),
        }
    };
    drop(b);
    calls.lock().unwrap().push(Call {
        method: request.method.clone(),
        path: request.path.clone(),
        body,
        status,
        at: Instant::now(),
        problems,
    });
    let text = answer.to_string();
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        text.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(text.as_bytes())?;
    Ok(())
}
