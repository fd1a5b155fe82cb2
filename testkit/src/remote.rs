//! The team store as tests meet it: the real Worker under `wrangler dev
//! --local` (workerd with a local D1, offline), and a proxy between the
//! daemon and it that fails on purpose.

use std::io::Write;

use crate::http::read_message;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The deprecated shared token (`LCD_API_TOKEN`) the test Worker accepts: a
/// writer named `shared`.
pub const TOKEN: &str = "test-token-0123456789";
/// The test Worker's bootstrap admin secret (`LCD_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "test-admin-token-9876543210";

fn remote_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../remote")
}

fn wrangler() -> Result<PathBuf> {
    let bin = remote_dir().join("node_modules/.bin/wrangler");
    if !bin.exists() {
        bail!("{} is missing: the tests need node and wrangler; run `npm ci` in remote/ (.ci/run does)", bin.display());
    }
    Ok(bin)
}

fn wrangler_command(args: &[&str]) -> Result<Command> {
    let mut cmd = Command::new(wrangler()?);
    cmd.args(args)
        .current_dir(remote_dir())
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "1")
        .env("NO_COLOR", "1")
        .env("FORCE_COLOR", "0");
    Ok(cmd)
}

/// A free loopback port (bound then released).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `wrangler dev --local` on a port of its own, with its own D1 state,
/// behind a [`ContractCheck`]: everything the Worker accepts and returns is
/// checked against the committed record schema, and a test whose Worker
/// broke the contract fails when the Worker is dropped.
pub struct RemoteWorker {
    /// Where clients connect: the contract check in front of the Worker.
    pub port: u16,
    pub state_dir: PathBuf,
    /// Where workerd itself listens (the contract check reads it at each
    /// request: a port taken by someone else is replaced at start).
    worker_port: Arc<AtomicU16>,
    contract: ContractCheck,
    child: Option<Child>,
    log: PathBuf,
    /// `--var NAME:VALUE` for each, beside the two tokens.
    vars: Vec<(String, String)>,
}

impl RemoteWorker {
    /// Applies the D1 migrations to a fresh local database in `state_dir`
    /// and starts the Worker with [`TOKEN`] and [`ADMIN_TOKEN`]; returns
    /// once it answers.
    pub fn start(state_dir: &Path) -> Result<RemoteWorker> {
        RemoteWorker::start_with_vars(state_dir, &[])
    }

    /// [`RemoteWorker::start`] with more vars (`ACCESS_AUD`, ...).
    pub fn start_with_vars(state_dir: &Path, vars: &[(&str, &str)]) -> Result<RemoteWorker> {
        std::fs::create_dir_all(state_dir)?;
        let state = state_dir.display().to_string();
        let out = wrangler_command(&["d1", "migrations", "apply", "lcd", "--local", "--persist-to", &state])?
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!(
                "applying the D1 migrations failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let worker_port = Arc::new(AtomicU16::new(free_port()?));
        let contract = ContractCheck::start(Arc::clone(&worker_port))?;
        let mut worker = RemoteWorker {
            port: contract.port,
            state_dir: state_dir.to_path_buf(),
            worker_port,
            contract,
            child: None,
            log: state_dir.join("wrangler.log"),
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        worker.restart()?;
        Ok(worker)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the Worker on the same state, behind the same port.
    pub fn restart(&mut self) -> Result<()> {
        // A port chosen free can be taken by another test's server before
        // workerd binds it (its log then says so): new ports, and again.
        for attempt in 1.. {
            match self.start_once()? {
                Started::Answering => return Ok(()),
                Started::PortTaken if attempt < 4 => self.worker_port.store(free_port()?, Ordering::Relaxed),
                Started::PortTaken | Started::Silent => break,
            }
        }
        bail!(
            "wrangler dev did not answer within 90 s; its log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }

    fn start_once(&mut self) -> Result<Started> {
        self.stop();
        let worker_port = self.worker_port.load(Ordering::Relaxed);
        // The old workerd may hold the port for a moment after it is gone.
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpListener::bind(("127.0.0.1", worker_port)).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::File::create(&self.log)?;
        let (port, state) = (worker_port.to_string(), self.state_dir.display().to_string());
        let vars: Vec<String> = [("LCD_API_TOKEN", TOKEN), ("LCD_ADMIN_TOKEN", ADMIN_TOKEN)]
            .into_iter()
            .chain(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .flat_map(|(k, v)| ["--var".to_string(), format!("{k}:{v}")])
            .collect();
        // Each Worker its own inspector port: the default (9229) is shared.
        let inspector = free_port()?.to_string();
        let child = wrangler_command(&[
            "dev",
            "--local",
            "--ip",
            "127.0.0.1",
            "--port",
            &port,
            "--inspector-port",
            &inspector,
            "--persist-to",
            &state,
            "--show-interactive-dev-session=false",
        ])?
        .args(&vars)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting wrangler dev")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if client.get(format!("{}/api/health", self.url())).send().is_ok_and(|r| r.status().is_success()) {
                return Ok(Started::Answering);
            }
            if std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains("Address already in use")) {
                return Ok(Started::PortTaken);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(Started::Silent)
    }

    /// Stops the Worker (and workerd under it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = -(child.id() as i32);
            // SAFETY: signalling the process group this harness started.
            unsafe { libc::kill(group, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            unsafe { libc::kill(group, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// Runs SQL against the local D1 with `wrangler d1 execute`.
    pub fn d1(&self, sql: &str) -> Result<Vec<Value>> {
        let state = self.state_dir.display().to_string();
        // The running Worker holds the same SQLite file: on a busy machine
        // it can hold its lock at that moment (SQLITE_BUSY); asked again.
        let mut attempt = 0;
        let out = loop {
            attempt += 1;
            let out = wrangler_command(&[
                "d1",
                "execute",
                "lcd",
                "--local",
                "--persist-to",
                &state,
                "--json",
                "--command",
                sql,
            ])?
            .stdin(Stdio::null())
            .output()?;
            let busy = String::from_utf8_lossy(&out.stderr).contains("SQLITE_BUSY");
            if out.status.success() || !busy || attempt == 5 {
                break out;
            }
            std::thread::sleep(Duration::from_millis(300 * attempt));
        };
        if !out.status.success() {
            bail!("wrangler d1 execute failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let parsed: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("d1 execute printed: {}", String::from_utf8_lossy(&out.stdout)))?;
        Ok(parsed[0]["results"].as_array().cloned().unwrap_or_default())
    }

    /// A GET of a page of the Worker, with no token.
    pub fn get_page(&self, path: &str) -> Result<Page> {
        let response = reqwest::blocking::get(format!("{}{path}", self.url()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), value.to_str().unwrap_or_default().to_string()))
            .collect();
        Ok(Page { status, headers, body: response.text()? })
    }

    /// An HTTP request to the Worker: (status, JSON body).
    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<String>) -> Result<(u16, Value)> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.request_with_headers(method, path, &headers, body)
    }

    /// An HTTP request with these headers: (status, JSON body, or the text
    /// as a JSON string when it is not JSON).
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<(u16, Value)> {
        let client = reqwest::blocking::Client::new();
        let mut req = client.request(method.parse()?, format!("{}{path}", self.url()));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let response = req.send()?;
        let status = response.status().as_u16();
        let text = response.text()?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// A new token for `user` with `role`, made with the admin secret.
    pub fn create_token(&self, user: &str, role: &str) -> Result<String> {
        let body = serde_json::json!({ "user": user, "role": role }).to_string();
        let (status, answer) = self.request("POST", "/api/admin/tokens", Some(ADMIN_TOKEN), Some(body))?;
        anyhow::ensure!(status == 201, "creating a token for {user} answered {status}: {answer}");
        answer["token"].as_str().map(String::from).context("no token in the answer")
    }
}

/// A page the Worker served.
pub struct Page {
    pub status: u16,
    /// Names in lower case, as HTTP/2 and the fetch API give them.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    /// The value of header `name` (lower case), or nothing.
    pub fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }
}

impl Drop for RemoteWorker {
    fn drop(&mut self) {
        self.stop();
        let broken = self.contract.violations.lock().unwrap().clone();
        if !broken.is_empty() && !std::thread::panicking() {
            panic!("the Worker broke the record contract (remote/schema/record.schema.json):\n{}", broken.join("\n"));
        }
    }
}

/// A pass-through proxy that checks each record the Worker accepted
/// (`POST /api/commands/batch` answered 2xx) or returned (history, one
/// record) against the committed JSON Schema of the remote record, that a
/// client sent no property the schema does not define, and that the Worker
/// took none that the schema marks `readOnly` (set by the store, such as
/// `received_from`).
struct ContractCheck {
    port: u16,
    violations: Arc<Mutex<Vec<String>>>,
}

/// How one start of `wrangler dev` went.
enum Started {
    Answering,
    PortTaken,
    Silent,
}

impl ContractCheck {
    fn start(upstream: Arc<AtomicU16>) -> Result<ContractCheck> {
        let path = remote_dir().join("schema/record.schema.json");
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
        )?;
        let validator = Arc::new(jsonschema::validator_for(&schema).context("the record schema does not compile")?);
        let properties = schema["properties"].as_object().cloned().unwrap_or_default();
        let known: Arc<Vec<String>> = Arc::new(properties.keys().cloned().collect());
        let read_only: Arc<Vec<String>> =
            Arc::new(properties.iter().filter(|(_, p)| p["readOnly"] == true).map(|(k, _)| k.clone()).collect());
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let violations = Arc::new(Mutex::new(Vec::new()));
        let found = Arc::clone(&violations);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (validator, known, read_only, found) =
                    (Arc::clone(&validator), Arc::clone(&known), Arc::clone(&read_only), Arc::clone(&found));
                let upstream = upstream.load(Ordering::Relaxed);
                std::thread::spawn(move || {
                    let _ = check_and_pass(client, upstream, &validator, (&known, &read_only), &found);
                });
            }
        });
        Ok(ContractCheck { port, violations })
    }
}

fn check_and_pass(
    mut client: TcpStream,
    upstream: u16,
    validator: &jsonschema::Validator,
    (known, read_only): (&[String], &[String]),
    found: &Mutex<Vec<String>>,
) -> Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = read_message(&mut client)?;
    let answer = forward(&request, upstream)?;
    client.write_all(&answer)?;
    let _ = client.shutdown(std::net::Shutdown::Both);
    let parsed = crate::http::Request::parse(&request)?;
    let path = parsed.path.split('?').next().unwrap_or_default().to_string();
    let status: u16 = String::from_utf8_lossy(&answer).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if !(200..300).contains(&status) {
        return Ok(());
    }
    let mut problems = Vec::new();
    let mut check = |what: String, record: &Value, sent: bool| {
        problems.extend(validator.iter_errors(record).map(|e| format!("{what}: {e} at {}", e.instance_path())));
        if sent {
            let extra = record.as_object().into_iter().flat_map(|o| o.keys()).filter(|k| !known.contains(k));
            problems.extend(extra.map(|k| format!("{what}: unknown property {k:?}")));
            let set = record.as_object().into_iter().flat_map(|o| o.keys()).filter(|k| read_only.contains(k));
            problems.extend(
                set.map(|k| format!("{what}: {k:?} is readOnly (the store sets it) but was taken from the client")),
            );
        }
    };
    match (parsed.method.as_str(), path.as_str()) {
        ("POST", "/api/commands/batch") => {
            let body: Value = serde_json::from_slice(&parsed.body).unwrap_or_default();
            // Records the Worker refused (and named) are not part of what it accepted.
            let answer = crate::http::body_json(&answer)?;
            let refused: Vec<u64> =
                answer["refused"].as_array().into_iter().flatten().filter_map(|r| r["index"].as_u64()).collect();
            for (i, record) in body["records"].as_array().into_iter().flatten().enumerate() {
                if !refused.contains(&(i as u64)) {
                    check(format!("POST {path} accepted records[{i}]"), record, true);
                }
            }
        }
        ("GET", "/api/commands/history") => {
            let body = crate::http::body_json(&answer)?;
            for (i, record) in body["records"].as_array().into_iter().flatten().enumerate() {
                check(format!("GET {path} returned records[{i}]"), record, false);
            }
        }
        ("GET", p) if p.starts_with("/api/commands/record/") => {
            let body = crate::http::body_json(&answer)?;
            check(format!("GET {path} returned"), &body, false);
        }
        _ => {}
    }
    found.lock().unwrap().extend(problems);
    Ok(())
}

/// What the proxy does to the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status without asking the Worker.
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>`.
    TooManyRequests(u64),
    /// Pass the request on, then cut the answer off half-way: the Worker
    /// stored the records but the client never hears so.
    CutAnswer,
    /// Answer 307 Temporary Redirect to this URL, as a server that wants
    /// the batch posted elsewhere would.
    Redirect(String),
}

/// Every request a proxy saw: (request line, fault played or None).
pub type Seen = Arc<Mutex<Vec<(String, Option<Fault>)>>>;

/// A proxy in front of the Worker that plays `faults` in order, then passes
/// everything through. One request per connection.
pub struct FaultProxy {
    pub port: u16,
    pub seen: Seen,
}

impl FaultProxy {
    pub fn start(upstream: u16, faults: Vec<Fault>) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(std::collections::VecDeque::from(faults)));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (faults, log) = (Arc::clone(&faults), Arc::clone(&log));
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &faults, &log);
                });
            }
        });
        Ok(FaultProxy { port, seen })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(
    mut client: TcpStream,
    upstream: u16,
    faults: &Mutex<std::collections::VecDeque<Fault>>,
    log: &Mutex<Vec<(String, Option<Fault>)>>,
) -> Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = read_message(&mut client)?;
    let line = String::from_utf8_lossy(&request[..request.iter().position(|&b| b == b'\r').unwrap_or(0)]).into_owned();
    let fault = faults.lock().unwrap().pop_front();
    log.lock().unwrap().push((line, fault.clone()));
    match fault {
        Some(Fault::Status(code)) => {
            let body = format!("{{\"error\":\"injected {code}\"}}");
            write!(client, "HTTP/1.1 {code} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())?;
        }
        Some(Fault::TooManyRequests(secs)) => {
            write!(client, "HTTP/1.1 429 Too Many Requests\r\nretry-after: {secs}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
        }
        Some(Fault::Redirect(target)) => {
            write!(client, "HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
        }
        Some(Fault::CutAnswer) => {
            let answer = forward(&request, upstream)?;
            client.write_all(&answer[..answer.len() / 2])?;
        }
        None => {
            let answer = forward(&request, upstream)?;
            client.write_all(&answer)?;
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// Sends the request to the Worker (one request, then close) and returns
/// the whole answer.
fn forward(request: &[u8], upstream: u16) -> Result<Vec<u8>> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n").context("no header end")?;
    let head = String::from_utf8_lossy(&request[..end]);
    let mut rewritten: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    rewritten.push_str("connection: close\r\n\r\n");
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    server.write_all(rewritten.as_bytes())?;
    server.write_all(&request[end + 4..])?;
    read_message(&mut server)
}

/// A server that gives every request the same answer: a JSON key set, or
/// the garbage a server that is not lcd's Worker answers with. Counts what
/// it was asked.
pub struct StaticServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl StaticServer {
    pub fn start(status: u16, content_type: &str, body: &str) -> Result<StaticServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let answer = format!(
            "HTTP/1.1 {status} Static\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        std::thread::spawn(move || {
            for mut client in listener.incoming().flatten() {
                let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
                if let Ok(request) = read_message(&mut client) {
                    let line = String::from_utf8_lossy(&request).lines().next().unwrap_or_default().to_string();
                    seen.lock().unwrap().push(line);
                    let _ = client.write_all(answer.as_bytes());
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            }
        });
        Ok(StaticServer { port, requests })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
