//! `config.toml` in the config folder, with `LCD_<SECTION>_<KEY>` environment
//! overrides. Unknown keys are errors that name the key and its line: a typo
//! must not silently leave a setting at its default.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Everything lcd can be configured with.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub daemon: DaemonConfig,
    pub capture: CaptureConfig,
    /// `[remote]`: the team store; absent means records stay local.
    pub remote: Option<RemoteConfig>,
    /// `[github]`: deploy runs become GitHub deployments; absent means none.
    pub github: Option<GithubConfig>,
    /// `[admin]`: the team store's admin token, for `lcd team token`; the
    /// daemon never reads it.
    pub admin: Option<AdminConfig>,
}

/// A config section with a token: the section's own fields, then where its
/// token comes from (`token`, `token_env`, `token_command`), and `auth()`.
/// (serde's `flatten` cannot join `deny_unknown_fields`, which must name a
/// mistyped key with its line.)
macro_rules! section_with_token {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// The token itself (only in a file nobody else can read) ...
            #[serde(default)]
            pub token: Option<String>,
            /// ... or the environment variable holding it ...
            #[serde(default)]
            pub token_env: Option<String>,
            /// ... or a command that prints it.
            #[serde(default)]
            pub token_command: Option<String>,
            /// Why `token` was not taken from the file (set by [`Config::load`]).
            #[serde(skip)]
            pub token_refused: Option<String>,
        }

        impl $name {
            /// Where this section's token comes from.
            pub fn auth(&self) -> TokenSource {
                TokenSource {
                    token: self.token.clone(),
                    token_env: self.token_env.clone(),
                    token_command: self.token_command.clone(),
                    refused: self.token_refused.clone(),
                }
            }
        }
    };
}

section_with_token! {
/// `[github]`
pub struct GithubConfig {
    /// The API for github.com repositories (or a test server).
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// GitHub Enterprise hosts and their API base URLs:
    /// `"github.acme.corp" = "https://github.acme.corp/api/v3"`.
    #[serde(default)]
    pub enterprise: std::collections::BTreeMap<String, String>,
    /// Which runs are deploys; default: terraform/tofu apply and destroy,
    /// wrangler deploy/publish/versions deploy, pulumi up/destroy, helm
    /// install/upgrade.
    #[serde(default = "default_deploy_rules")]
    pub deploy: Vec<DeployRule>,
    /// Environment names as GitHub should see them: `default = "production"`.
    #[serde(default)]
    pub environments: std::collections::BTreeMap<String, String>,
    /// Environments marked `production_environment`.
    #[serde(default = "default_production")]
    pub production_environments: Vec<String>,
    /// Environments marked `transient_environment`.
    #[serde(default)]
    pub transient_environments: Vec<String>,
    /// Comment on the issue a branch names (`123-fix-x`) when a deploy ends.
    #[serde(default)]
    pub issue_comments: bool,
    /// Put the command line (redacted, `[capture] redact_remote` too) in
    /// deployment payloads and issue comments. Off by default: on a public
    /// repository anyone can read them.
    #[serde(default)]
    pub include_command: bool,
    /// The shortest time between two writes (GitHub asks for a second).
    #[serde(default = "default_write_interval")]
    pub min_write_interval_ms: u64,
    /// The longest wait between two attempts while GitHub fails (seconds).
    #[serde(default = "default_retry_max_s")]
    pub retry_max_s: u64,
}
}

/// Runs of `command_type` with one of `subcommands` are deploys; `task` is
/// what GitHub is told (`deploy`, `destroy`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeployRule {
    #[serde(rename = "type")]
    pub command_type: String,
    pub subcommands: Vec<String>,
    #[serde(default)]
    pub task: DeployTask,
}

/// What a deploy run does, as GitHub's deployment `task` names it: the two
/// lcd's rules use, or any other name a rule gives.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum DeployTask {
    #[default]
    Deploy,
    Destroy,
    Other(String),
}

impl DeployTask {
    pub fn as_str(&self) -> &str {
        match self {
            DeployTask::Deploy => "deploy",
            DeployTask::Destroy => "destroy",
            DeployTask::Other(name) => name,
        }
    }
}

impl From<String> for DeployTask {
    fn from(name: String) -> DeployTask {
        match name.as_str() {
            "deploy" => DeployTask::Deploy,
            "destroy" => DeployTask::Destroy,
            _ => DeployTask::Other(name),
        }
    }
}

impl From<DeployTask> for String {
    fn from(task: DeployTask) -> String {
        task.as_str().to_string()
    }
}

fn default_github_api() -> String {
    "https://api.github.com".into()
}

fn default_production() -> Vec<String> {
    vec!["production".into(), "prod".into()]
}

fn default_write_interval() -> u64 {
    1000
}

fn default_deploy_rules() -> Vec<DeployRule> {
    let rule = |t: &str, subs: &[&str], task: DeployTask| DeployRule {
        command_type: t.into(),
        subcommands: subs.iter().map(|s| s.to_string()).collect(),
        task,
    };
    vec![
        rule("terraform", &["apply"], DeployTask::Deploy),
        rule("terraform", &["destroy"], DeployTask::Destroy),
        rule("wrangler", &["deploy", "publish", "versions deploy"], DeployTask::Deploy),
        rule("pulumi", &["up"], DeployTask::Deploy),
        rule("pulumi", &["destroy"], DeployTask::Destroy),
        rule("helm", &["install", "upgrade"], DeployTask::Deploy),
    ]
}

/// Where a secret comes from: the file itself (only a private one), an
/// environment variable, or a command's output (`gh auth token`, `pass …`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenSource {
    pub token: Option<String>,
    pub token_env: Option<String>,
    pub token_command: Option<String>,
    /// Why the token written in the file was refused: resolving fails with
    /// it, so that the sink stops and says why while capture goes on.
    pub refused: Option<String>,
}

impl TokenSource {
    /// The token, from whichever source is set. Errors never contain it.
    pub fn resolve(&self, section: &str) -> Result<Option<String>> {
        if let Some(why) = &self.refused {
            anyhow::bail!("[{section}] token refused: {why}");
        }
        if let Some(token) = &self.token {
            return Ok(Some(token.clone()));
        }
        if let Some(var) = &self.token_env {
            // The daemon's environment is the one it started with: a
            // variable exported later in some shell never reaches it.
            let value = std::env::var(var).with_context(|| {
                format!(
                    "[{section}] token_env: ${var} is not set in the daemon's environment; set it where the daemon \
                     starts (the service's environment, or the shell that runs lcd daemon start), then: lcd daemon restart"
                )
            })?;
            return Ok(Some(value.trim().to_string()));
        }
        if let Some(command) = &self.token_command {
            let out = std::process::Command::new("sh")
                .args(["-c", command])
                .stdin(std::process::Stdio::null())
                .output()
                .with_context(|| format!("[{section}] token_command: cannot run {command:?}"))?;
            // sh's "command not found" status, with what it said.
            anyhow::ensure!(
                out.status.code() != Some(127),
                "[{section}] token_command {command:?}: its program is not found ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            anyhow::ensure!(out.status.success(), "[{section}] token_command {command:?} failed ({})", out.status);
            let token = String::from_utf8(out.stdout).context("token_command printed something that is not UTF-8")?;
            anyhow::ensure!(!token.trim().is_empty(), "[{section}] token_command {command:?} printed nothing");
            return Ok(Some(token.trim().to_string()));
        }
        Ok(None)
    }
}

section_with_token! {
/// `[remote]`
pub struct RemoteConfig {
    /// The Worker's base URL, e.g. `https://lcd.example.workers.dev`.
    pub url: String,
    /// Command types to forward; default: every tracked tool, not `other`.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// Records per POST.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Also forward history brought in by `lcd import`.
    #[serde(default)]
    pub include_imported: bool,
    /// The longest wait between two attempts while the store fails (seconds).
    #[serde(default = "default_retry_max_s")]
    pub retry_max_s: u64,
}
}

section_with_token! {
/// `[admin]`: where `lcd team token` finds the team store's admin token (the
/// Worker's `LCD_ADMIN_TOKEN`, or a token with the admin role). The variable
/// `LCD_ADMIN_TOKEN` sets `token` here, as `LCD_<SECTION>_<KEY>` does.
pub struct AdminConfig {
    /// The team store, when not the `[remote] url`.
    #[serde(default)]
    pub url: Option<String>,
}
}

fn default_retry_max_s() -> u64 {
    300
}

fn default_batch_size() -> usize {
    100
}

/// `[capture]`: what is recorded, and how.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Variables the hooks send with each start when they are exported.
    /// (Read by `lcd init`: open a new shell after changing it.)
    pub env: Vec<String>,
    /// Regular expressions: a command line matching one is never recorded.
    pub ignore_commands: Vec<String>,
    /// Commands run in these folders (or below) are never recorded.
    pub ignore_dirs: Vec<String>,
    /// Extra regular expressions for secrets; a group named `s` marks the
    /// part to hide, else the whole match is hidden.
    pub redact: Vec<String>,
    /// More such expressions, applied only to what leaves the machine (the
    /// team store, GitHub): the local record keeps what they match.
    pub redact_remote: Vec<String>,
    /// More executables to track: name = command type (`tf = "terraform"`).
    pub tools: std::collections::HashMap<String, String>,
}

impl CaptureConfig {
    /// `ignore_commands`, compiled; a bad pattern is named in the error.
    pub fn ignore_command_patterns(&self) -> Result<Vec<regex::Regex>> {
        compile_each(&self.ignore_commands, "ignore_commands")
    }

    /// Every pattern compiles (the redactor's too), each named if it does not.
    fn check_patterns(&self) -> Result<()> {
        self.ignore_command_patterns()?;
        compile_each(&self.redact, "redact")?;
        compile_each(&self.redact_remote, "redact_remote")?;
        Ok(())
    }
}

fn compile_each(patterns: &[String], key: &str) -> Result<Vec<regex::Regex>> {
    patterns.iter().map(|p| regex::Regex::new(p).with_context(|| format!("in [capture] {key}: {p:?}"))).collect()
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            env: ["TF_WORKSPACE", "AWS_PROFILE", "AWS_REGION", "CLOUDSDK_CORE_PROJECT", "KUBECONFIG"]
                .map(String::from)
                .to_vec(),
            ignore_commands: Vec::new(),
            ignore_dirs: Vec::new(),
            redact: Vec::new(),
            redact_remote: Vec::new(),
            tools: Default::default(),
        }
    }
}

/// `[daemon]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Accept connections from root even when the daemon runs as another user.
    pub allow_root: bool,
    /// A batch is written at this many events ...
    pub batch_max_events: usize,
    /// ... or this long after its first event, whichever comes first.
    pub batch_max_wait_ms: u64,
    /// Connections served at once; when full, the one idle longest is closed.
    pub max_connections: usize,
    /// A new connection must send its first frame within this time.
    pub first_frame_timeout_ms: u64,
    /// An established connection may stay silent this long.
    pub idle_timeout_s: u64,
    /// How often the spool is checked for frames to replay.
    pub replay_interval_ms: u64,
    /// How often running commands are checked for a shell that is gone.
    pub orphan_check_s: u64,
    /// Commands older than this many days are deleted, once a day; 0 keeps
    /// everything.
    pub retention_days: u32,
    /// The most bytes the spool may hold while the daemon (or its database)
    /// is away; what does not fit is dropped and counted (`lcd status`).
    /// Read by the daemon and by `lcd init` for the shells' helpers.
    pub spool_max_bytes: u64,
    /// `lcd status` warns about a command reported running this long in a
    /// shell that runs no process: its hooks may have stopped sending.
    pub stuck_after_s: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            allow_root: false,
            batch_max_events: 2000,
            batch_max_wait_ms: 5,
            max_connections: 1024,
            first_frame_timeout_ms: 10_000,
            idle_timeout_s: 3600,
            replay_interval_ms: 1000,
            orphan_check_s: 30,
            retention_days: 0,
            spool_max_bytes: lcd_protocol::spool::DEFAULT_MAX_BYTES,
            stuck_after_s: 60,
        }
    }
}

impl DaemonConfig {
    pub fn batch_max_wait(&self) -> Duration {
        Duration::from_millis(self.batch_max_wait_ms)
    }
}

const SECTIONS: &[&str] = &["daemon", "capture", "remote", "github", "admin"];

/// The settings to run with, and what is wrong with the config file when it
/// could not be used.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub problem: Option<ConfigProblem>,
}

/// Why the config file is not in effect, and what is instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The whole error, TOML's line, column and excerpt included.
    pub error: String,
    pub fallback: Fallback,
}

/// What runs while the config file is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The file as it was when it last loaded, kept by the daemon.
    LastGood { saved: std::time::SystemTime },
    /// No good copy yet: the built-in defaults.
    Defaults,
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fallback::LastGood { saved } => {
                let micros = saved.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
                write!(f, "the last good settings (from {})", crate::time::local_time(micros))
            }
            Fallback::Defaults => f.write_str("the default settings"),
        }
    }
}

/// The text of the config file; none (the defaults) when it does not exist.
fn read_config_text(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Copies the config file that just loaded to `last_good` (private: it may
/// hold a token), through a temporary file so a crash never leaves half.
pub fn keep_last_good(path: &Path, last_good: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let text = read_config_text(path)?;
    if std::fs::read_to_string(last_good).is_ok_and(|kept| kept == text) {
        return Ok(());
    }
    let temporary = last_good.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, last_good)?;
    Ok(())
}

impl Config {
    /// Reads `path` (absent means defaults), then applies `LCD_*` variables.
    /// A token written in a file others can read is dropped, not an error:
    /// the sinks that need it stop and say why ([`Config::refused_tokens`]),
    /// capture goes on.
    pub fn load(path: &Path) -> Result<Config> {
        let mut config = Config::load_unchecked(path)?;
        config.check().with_context(|| format!("in {}", path.display()))?;
        refuse_tokens_in_readable_file(&mut config, path);
        Ok(config)
    }

    /// The sections whose token [`Config::load`] refused, each with why.
    pub fn refused_tokens(&self) -> Vec<(&'static str, &str)> {
        let remote = self.remote.as_ref().and_then(|r| r.token_refused.as_deref()).map(|why| ("remote", why));
        let github = self.github.as_ref().and_then(|g| g.token_refused.as_deref()).map(|why| ("github", why));
        let admin = self.admin.as_ref().and_then(|a| a.token_refused.as_deref()).map(|why| ("admin", why));
        remote.into_iter().chain(github).chain(admin).collect()
    }

    /// Each section with a token: its name, the token, and where a refusal goes.
    fn tokens_mut(&mut self) -> Vec<(&'static str, &mut Option<String>, &mut Option<String>)> {
        let remote = self.remote.as_mut().map(|r| ("remote", &mut r.token, &mut r.token_refused));
        let github = self.github.as_mut().map(|g| ("github", &mut g.token, &mut g.token_refused));
        let admin = self.admin.as_mut().map(|a| ("admin", &mut a.token, &mut a.token_refused));
        remote.into_iter().chain(github).chain(admin).collect()
    }

    /// The team store's URL and the admin token, for `lcd team token`.
    pub fn admin_access(&self) -> Result<(String, String)> {
        let url = self
            .admin
            .as_ref()
            .and_then(|a| a.url.clone())
            .or_else(|| self.remote.as_ref().map(|r| r.url.clone()))
            .context("no team store is configured: set [remote] url (or [admin] url)")?;
        let token =
            self.admin.as_ref().map(|a| a.auth().resolve("admin")).transpose()?.flatten().context(
                "no admin token: set LCD_ADMIN_TOKEN, or token_env / token_command under [admin] in the config",
            )?;
        Ok((url, token))
    }

    /// [`Config::load`] for `lcd init`, which runs at every shell start:
    /// only the variable names it renders into the script are checked, as
    /// compiling every pattern would double its time.
    pub fn load_for_init(path: &Path) -> Result<Config> {
        let config = Config::load_unchecked(path)?;
        config.check_env_names().with_context(|| format!("in {}", path.display()))?;
        Ok(config)
    }

    fn load_unchecked(path: &Path) -> Result<Config> {
        Config::parse(&read_config_text(path)?, std::env::vars()).with_context(|| format!("in {}", path.display()))
    }

    /// What the daemon runs with: the file when it is valid (its text is
    /// then kept at `last_good`), else the last good text, else the
    /// defaults; with what is wrong. A broken file never stops capture.
    pub fn load_or_last_good(path: &Path, last_good: &Path) -> Loaded {
        Config::load_with_fallback(path, last_good, true)
    }

    /// [`Config::load_or_last_good`] for `lcd init` (checks as
    /// [`Config::load_for_init`] does), which never writes the last good
    /// copy: only the daemon, which runs with it, does.
    pub fn load_for_init_or_last_good(path: &Path, last_good: &Path) -> Loaded {
        Config::load_with_fallback(path, last_good, false)
    }

    fn load_with_fallback(path: &Path, last_good: &Path, daemon: bool) -> Loaded {
        let load = |file: &Path| if daemon { Config::load(file) } else { Config::load_for_init(file) };
        let error = match load(path) {
            Ok(config) => {
                if daemon {
                    if let Err(e) = keep_last_good(path, last_good) {
                        tracing::warn!("could not keep a copy of the good config: {e:#}");
                    }
                }
                return Loaded { config, problem: None };
            }
            Err(e) => format!("{e:#}"),
        };
        let (config, fallback) = match std::fs::metadata(last_good).and_then(|m| m.modified()) {
            Ok(saved) => match load(last_good) {
                Ok(mut config) => {
                    // A token the file shows to others stays refused, even
                    // from our private copy of it.
                    refuse_tokens_in_readable_file(&mut config, path);
                    (config, Fallback::LastGood { saved })
                }
                Err(_) => (Config::default(), Fallback::Defaults),
            },
            Err(_) => (Config::default(), Fallback::Defaults),
        };
        Loaded { config, problem: Some(ConfigProblem { error, fallback }) }
    }

    /// The configuration as TOML, secrets replaced by `****`.
    pub fn to_toml_redacted(&self) -> Result<String> {
        let mut value = toml::Value::try_from(self)?;
        hide_secrets(&mut value);
        Ok(toml::to_string(&value)?)
    }

    /// What the types alone do not check: names, patterns, and the URLs
    /// tokens are sent to.
    pub fn check(&self) -> Result<()> {
        self.check_env_names()?;
        self.capture.check_patterns()?;
        if let Some(remote) = &self.remote {
            check_token_url("[remote] url", &remote.url)?;
        }
        if let Some(url) = self.admin.as_ref().and_then(|a| a.url.as_ref()) {
            check_token_url("[admin] url", url)?;
        }
        if let Some(github) = &self.github {
            check_token_url("[github] api_url", &github.api_url)?;
            for (host, url) in &github.enterprise {
                check_token_url(&format!("[github.enterprise] {host}"), url)?;
            }
        }
        Ok(())
    }

    /// The `[capture] env` names end up in shell code: only plain names pass.
    fn check_env_names(&self) -> Result<()> {
        for name in &self.capture.env {
            let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            anyhow::ensure!(ok, "[capture] env: {name:?} is not a variable name");
        }
        Ok(())
    }

    /// Parses a config text and applies overrides from `vars`.
    pub fn parse(text: &str, vars: impl Iterator<Item = (String, String)>) -> Result<Config> {
        // The file alone first, so that errors point at its lines.
        let from_file: Config = toml::from_str(text)?;
        let overrides: Vec<(String, String, toml::Value)> =
            vars.filter_map(|(name, raw)| override_of(&name, &raw)).collect();
        if overrides.is_empty() {
            return Ok(from_file);
        }
        let mut table: toml::Table = toml::from_str(text)?;
        let names: Vec<String> =
            overrides.iter().map(|(s, k, _)| format!("LCD_{}_{}", s, k).to_ascii_uppercase()).collect();
        for (section, key, value) in overrides {
            let entry = table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                t.insert(key, value);
            }
        }
        Config::deserialize(table).with_context(|| format!("in the environment ({})", names.join(", ")))
    }
}

/// A URL that gets a bearer token: https, or plain http to this machine only
/// (a local Worker, a tunnel's end), so that no token crosses a network in
/// clear.
fn check_token_url(key: &str, url: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{key}: {url:?} is not a URL"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => anyhow::bail!(
            "{key}: {url} would send the token in clear; use https:// (plain http:// is only for localhost)"
        ),
        other => anyhow::bail!("{key}: {url}: {other}:// is neither https:// nor http://"),
    }
}

/// A token written in the config file is only accepted if nobody else can
/// read the file: otherwise it is forgotten and the reason kept in its place.
/// A token from the environment (`LCD_ADMIN_TOKEN`) was never in the file.
fn refuse_tokens_in_readable_file(config: &mut Config, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let from_env = |section: &str| std::env::var_os(format!("LCD_{}_TOKEN", section.to_ascii_uppercase())).is_some();
    let written: Vec<_> = config
        .tokens_mut()
        .into_iter()
        .filter(|(section, token, _)| token.is_some() && !from_env(section))
        .map(|(_, token, refused)| (token, refused))
        .collect();
    if written.is_empty() {
        return;
    }
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0o600);
    if mode & 0o077 == 0 {
        return;
    }
    let why = format!(
        "{} holds a token but other users may read it (mode {mode:o}); fix it with: chmod 600 {}, or use token_env / token_command",
        path.display(),
        path.display()
    );
    for (token, refused) in written {
        *token = None;
        *refused = Some(why.clone());
    }
}

/// Replaces every `token` value with `****`.
fn hide_secrets(value: &mut toml::Value) {
    if let toml::Value::Table(table) = value {
        for (key, v) in table.iter_mut() {
            if key == "token" && v.is_str() {
                *v = toml::Value::String("****".into());
            } else {
                hide_secrets(v);
            }
        }
    }
}

/// `LCD_DAEMON_MAX_CONNECTIONS=7` → ("daemon", "max_connections", 7): a TOML
/// value when the text reads as one (numbers, booleans, arrays), else a string.
fn override_of(name: &str, raw: &str) -> Option<(String, String, toml::Value)> {
    let rest = name.strip_prefix("LCD_")?.to_ascii_lowercase();
    let section = SECTIONS.iter().find(|s| rest.starts_with(&format!("{s}_")))?;
    let key = rest[section.len() + 1..].to_string();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Some((section.to_string(), key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, std::iter::empty())
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let err = parse("[daemon]\nallow_root = true\nbatch_max_event = 3\n").unwrap_err().to_string();
        assert!(err.contains("batch_max_event") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn a_wrong_type_is_named() {
        let err = parse("[daemon]\nallow_root = \"yes\"\n").unwrap_err().to_string();
        assert!(err.contains("allow_root") || err.contains("line 2"), "{err}");
    }

    #[test]
    fn a_bad_remote_redaction_pattern_is_named() {
        let config = parse("[capture]\nredact_remote = ['ok', '(unclosed']\n").unwrap();
        let err = format!("{:#}", config.check().unwrap_err());
        assert!(err.contains("redact_remote") && err.contains("(unclosed"), "{err}");
    }

    #[test]
    fn a_bad_override_names_the_variable() {
        let vars = [("LCD_DAEMON_ALLOW_ROOT".to_string(), "maybe".to_string())];
        let err = format!("{:#}", Config::parse("", vars.into_iter()).unwrap_err());
        assert!(err.contains("LCD_DAEMON_ALLOW_ROOT"), "{err}");
    }

    #[test]
    fn remote_needs_a_url_and_takes_a_token_from_a_command() {
        let err = parse("[remote]\ntoken = 'x'\n").unwrap_err().to_string();
        assert!(err.contains("url"), "{err}");
        let config = parse("[remote]\nurl = 'https://x'\ntoken_command = 'echo s3cret'\n").unwrap();
        let remote = config.remote.unwrap();
        assert_eq!(remote.batch_size, 100);
        assert_eq!(remote.auth().resolve("remote").unwrap().as_deref(), Some("s3cret"));
        let err = parse("[remote]\nurl = 'https://x'\ntokn = 'x'\n").unwrap_err().to_string();
        assert!(err.contains("tokn"), "{err}");
    }

    #[test]
    fn a_token_never_goes_over_plain_http_beyond_this_machine() {
        let check = |text: &str| parse(text).unwrap().check().map_err(|e| e.to_string());
        for url in ["https://lcd.example.com", "http://127.0.0.1:8787", "http://localhost:8787/", "http://[::1]:9"] {
            assert_eq!(check(&format!("[remote]\nurl = '{url}'\n")), Ok(()), "{url}");
        }
        let err = check("[remote]\nurl = 'http://lcd.example.com'\n").unwrap_err();
        assert!(err.contains("[remote] url") && err.contains("in clear") && err.contains("https://"), "{err}");
        let err = check("[github]\napi_url = 'http://api.example.com'\n").unwrap_err();
        assert!(err.contains("[github] api_url"), "{err}");
        let err = check("[github.enterprise]\n'git.acme.corp' = 'http://git.acme.corp/api/v3'\n").unwrap_err();
        assert!(err.contains("git.acme.corp") && err.contains("in clear"), "{err}");
        let err = check("[remote]\nurl = 'lcd.example.com'\n").unwrap_err();
        assert!(err.contains("not a URL"), "{err}");
    }

    #[test]
    fn a_token_in_a_readable_file_is_refused_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("lcd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(&file, "[remote]\nurl = 'https://x'\ntoken = 'hunter2'\n").unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let config = Config::load(&file).unwrap();
        let err = format!("{:#}", config.remote.as_ref().unwrap().auth().resolve("remote").unwrap_err());
        assert!(err.contains("chmod 600") && err.contains("mode 644") && !err.contains("hunter2"), "{err}");
        assert_eq!(config.refused_tokens().len(), 1);
        assert!(!config.to_toml_redacted().unwrap().contains("hunter2"));
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let config = Config::load(&file).unwrap();
        let shown = config.to_toml_redacted().unwrap();
        assert!(shown.contains("****") && !shown.contains("hunter2"), "{shown}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn environment_overrides_the_file() {
        let vars = [("LCD_DAEMON_MAX_CONNECTIONS".to_string(), "7".to_string()), ("LCD_SOCKET".into(), "/x".into())];
        let config = Config::parse("[daemon]\nmax_connections = 3\n", vars.into_iter()).unwrap();
        assert_eq!(config.daemon.max_connections, 7);
    }

    #[test]
    fn a_deploy_rule_names_its_task_as_github_does() {
        let config = parse("[github]\ntoken_env = 'T'\n[[github.deploy]]\ntype = 'terraform'\nsubcommands = ['apply']\n[[github.deploy]]\ntype = 'ansible'\nsubcommands = ['playbook']\ntask = 'deploy:config'\n").unwrap();
        let tasks: Vec<DeployTask> = config.github.unwrap().deploy.into_iter().map(|r| r.task).collect();
        assert_eq!(tasks, [DeployTask::Deploy, DeployTask::Other("deploy:config".into())]);
        let rule = DeployRule { command_type: "t".into(), subcommands: vec![], task: DeployTask::Destroy };
        assert!(toml::to_string(&rule).unwrap().contains("task = \"destroy\""));
    }
}
