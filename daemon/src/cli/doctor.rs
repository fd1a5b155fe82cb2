//! `lcd doctor`: checks the setup and explains, one line each, what is wrong
//! and how to fix it. Exits non-zero when something is.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::ExitCode;

use anyhow::Result;
use lcd_protocol::sender::Sender;
use lcd_protocol::spool::Spool;

use super::daemon::ask_status;
use super::init::{self, find_hook, Shell};
use super::status::{spool_gap_line, version_skew};
use crate::config::Config;
use crate::paths::Paths;
use crate::store::{Store, StoreError, SCHEMA_VERSION};
use crate::time::now_micros;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Check {
    level: Level,
    what: String,
    fix: Option<String>,
}

fn ok(what: impl Into<String>) -> Check {
    Check { level: Level::Ok, what: what.into(), fix: None }
}

fn warn(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { level: Level::Warn, what: what.into(), fix: Some(fix.into()) }
}

fn fail(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { level: Level::Fail, what: what.into(), fix: Some(fix.into()) }
}

pub fn run(paths: &Paths) -> Result<ExitCode> {
    let checks = [
        hooks(paths),
        hook_binary(),
        folders(paths),
        config(paths),
        daemon(paths),
        database(paths),
        spool(paths),
        clock(paths),
        remote(paths),
        github(paths),
    ];
    let mut failed = false;
    for check in checks.iter().flatten() {
        let mark = match check.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        match &check.fix {
            Some(fix) => outln!("{mark}  {} — {fix}", check.what)?,
            None => outln!("{mark}  {}", check.what)?,
        }
        failed |= check.level == Level::Fail;
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// This shell's hooks, by a round trip: running `lcd doctor` in a hooked
/// shell made its hooks report this very command's start, which the daemon
/// must have heard of by now.
fn hooks(paths: &Paths) -> Vec<Check> {
    let session = std::env::var("LCD_SESSION").ok().filter(|s| !s.is_empty());
    let Some(session) = session else {
        let shell = std::env::var("SHELL")
            .ok()
            .and_then(|s| s.rsplit('/').next().and_then(|name| name.parse::<Shell>().ok()))
            .unwrap_or(Shell::Zsh);
        return vec![fail(
            "shell hooks: not loaded in this shell",
            format!(
                "add {} to ~/{} (or run: lcd setup), then open a new shell",
                init::load_line(shell),
                init::rc_file(shell)
            ),
        )];
    };
    let started = now_micros();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let known = loop {
        let Ok(status) = ask_status(&mut Sender::new(&paths.socket)) else {
            return vec![warn(
                format!("shell hooks: loaded (session {session}); not checked, no daemon answers"),
                "start it: lcd daemon start",
            )];
        };
        let known = status.shells.into_iter().find(|s| s.session == session);
        // This command's start: reported within the last moments.
        if known.as_ref().is_some_and(|s| s.running.is_some_and(|(_, at)| at >= started - 10_000_000)) {
            return vec![ok(format!(
                "shell hooks: this shell's record of `lcd doctor` reached the daemon (session {session})"
            ))];
        }
        if std::time::Instant::now() >= deadline {
            break known;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    match known {
        // Another DEBUG trap sends bash's starts with their ends.
        Some(shell) => vec![warn(
            format!(
                "shell hooks: loaded; this shell last sent a record {} ago, but not this command's start yet",
                crate::time::human_duration((started - shell.last_record_at).max(0) / 1000)
            ),
            "if commands typed here do not show in lcd query, load the hooks again: open a new shell, or run lcd setup",
        )],
        None => vec![fail(
            format!("shell hooks: loaded in this shell (session {session}), but nothing from it reached the daemon"),
            format!("see {}; load the hooks again: open a new shell, or run lcd setup", paths.hook_log().display()),
        )],
    }
}

fn hook_binary() -> Vec<Check> {
    match find_hook() {
        Ok(path) => match std::fs::metadata(&path) {
            Ok(meta) if meta.permissions().mode() & 0o111 != 0 => vec![ok(format!("lcd-hook: {}", path.display()))],
            _ => vec![fail(
                format!("lcd-hook: {} is not executable", path.display()),
                format!("chmod +x {}", path.display()),
            )],
        },
        Err(e) => vec![fail(format!("lcd-hook: {e}"), "cargo install --locked --path hook")],
    }
}

fn folders(paths: &Paths) -> Vec<Check> {
    let uid = unsafe { libc::geteuid() };
    let mut checks = Vec::new();
    for (name, dir) in [
        ("config", &paths.config_dir),
        ("data", &paths.data_dir),
        ("state", &paths.state_dir),
        ("runtime", &paths.socket_dir()),
    ] {
        let Ok(meta) = std::fs::metadata(dir) else { continue };
        if meta.uid() != uid {
            checks.push(fail(
                format!("{name} folder {} belongs to uid {}", dir.display(), meta.uid()),
                "remove it, or point lcd elsewhere (XDG_* variables)",
            ));
        } else if meta.mode() & 0o022 != 0 {
            checks.push(fail(
                format!("{name} folder {} is writable by other users", dir.display()),
                format!("chmod 700 {}", dir.display()),
            ));
        }
    }
    if checks.is_empty() {
        checks.push(ok("folders: private to you"));
    }
    checks
}

fn config(paths: &Paths) -> Vec<Check> {
    let file = paths.config_file();
    match Config::load(&file) {
        Ok(config) if !config.refused_tokens().is_empty() => config
            .refused_tokens()
            .into_iter()
            .map(|(section, why)| {
                fail(format!("config: [{section}] token not used: {why}"), "then reload the daemon: lcd daemon reload")
            })
            .collect(),
        Ok(_) if file.exists() => vec![ok(format!("config: {} parses", file.display()))],
        Ok(_) => vec![ok(format!("config: none ({} would hold it), defaults apply", file.display()))],
        Err(e) => {
            let message =
                format!("{e:#}").lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
            vec![fail(format!("config: {message}"), "fix the file (lcd config edit)")]
        }
    }
}

fn daemon(paths: &Paths) -> Vec<Check> {
    match ask_status(&mut Sender::new(&paths.socket)) {
        Ok(d) => {
            let mut checks = vec![ok(format!("daemon: running (pid {}, version {})", d.pid, d.version))];
            if let Some(error) = &d.config.error {
                let with = d.config.running_with.as_deref().unwrap_or("the settings it had");
                checks.push(fail(
                    format!("daemon: records with {with}: the config file is broken:\n{error}"),
                    "fix it (lcd config edit), then: lcd daemon reload",
                ));
            }
            if let Some(skew) = version_skew(&d) {
                checks.push(warn(format!("daemon: {skew}"), "lcd daemon restart"));
            }
            checks
        }
        Err(_) => vec![fail(
            format!("daemon: nothing answers on {}", paths.socket.display()),
            "start it: lcd daemon start (or run it as a service: lcd service install)",
        )],
    }
}

fn database(paths: &Paths) -> Vec<Check> {
    let path = paths.database();
    match Store::open_reader(&path) {
        Ok(Some(store)) => match store.counts(0) {
            Ok((_, all)) => vec![ok(format!("database: {} (schema {SCHEMA_VERSION}, {all} commands)", path.display()))],
            Err(e) => vec![fail(format!("database: {e}"), "see lcd status")],
        },
        Ok(None) => vec![warn(
            format!("database: {} does not exist yet", path.display()),
            "the daemon creates it with the first command",
        )],
        Err(e @ StoreError::OlderSchema { .. }) => vec![warn(format!("database: {e}"), "lcd daemon restart")],
        Err(e @ StoreError::NewerSchema { .. }) => {
            vec![fail(format!("database: {e}"), "install the newer lcd that wrote it")]
        }
        Err(e) => vec![fail(format!("database: {e}"), format!("check {}", path.display()))],
    }
}

fn spool(paths: &Paths) -> Vec<Check> {
    let spool = Spool::new(paths.spool_dir());
    let mut checks = match spool.backlog_bytes() {
        0 => vec![ok("spool: empty")],
        bytes => vec![warn(
            format!("spool: {bytes} bytes wait in {}", paths.spool_dir().display()),
            "the daemon replays them within a second of running",
        )],
    };
    if let Some(gap) = spool.gap() {
        checks.push(warn(
            format!("spool: {}", spool_gap_line(&gap)),
            format!(
                "keep the daemon running (lcd service install) or raise [daemon] spool_max_bytes; once noted, remove {}",
                spool.gap_file().display()
            ),
        ));
    }
    checks
}

fn clock(paths: &Paths) -> Vec<Check> {
    let now = now_micros();
    // 2024-01-01 .. 2100-01-01
    if !(1_704_067_200_000_000..4_102_444_800_000_000).contains(&now) {
        return vec![fail("clock: the system time is not plausible", "set the clock (timedatectl set-ntp true)")];
    }
    let newest = Store::open_reader(&paths.database()).ok().flatten().and_then(|s| s.newest().ok().flatten());
    match newest {
        Some(t) if t > now + 300_000_000 => vec![fail(
            "clock: the newest record is in the future: the clock went backwards",
            "check the time (timedatectl); records keep the times the shells reported",
        )],
        _ => vec![ok("clock: plausible")],
    }
}

/// Why the running daemon cannot use sink `name`, if it says so: its token
/// comes from its own environment and commands, not doctor's.
fn stopped_in_daemon(paths: &Paths, name: &str, what: &str) -> Option<Check> {
    let status = ask_status(&mut Sender::new(&paths.socket)).ok()?;
    let sink = status.sinks.into_iter().find(|s| s.name == name && s.state == lcd_protocol::SinkHealth::Stopped)?;
    // Only where its token comes from differs between it and us; what the
    // server answers, doctor asks itself.
    let why = sink.last_error.filter(|why| why.contains("] token"))?;
    Some(fail(
        format!("{what}: the daemon stopped sending: {}", super::output::visible(&why)),
        "fix it, then: lcd daemon reload",
    ))
}

/// The remote store: reachable, taking our token, and whose token it is.
fn remote(paths: &Paths) -> Vec<Check> {
    let Ok(config) = Config::load(&paths.config_file()) else { return vec![] };
    let Some(remote) = config.remote else { return vec![ok("remote store: not configured (records stay local)")] };
    if let Some(check) = stopped_in_daemon(paths, "remote", "remote store") {
        return vec![check];
    }
    let base = remote.url.trim_end_matches('/');
    let token = remote.auth().resolve("remote");
    // Resolved once: a token_command may ask for a passphrase.
    let asked = reachable("remote store", &remote.url, &format!("{base}/api/whoami"), &token, "[remote]");
    let mut checks = match (asked.status, &asked.body) {
        // A Worker older than per-user tokens: any authenticated route will do.
        (Some(404), _) => {
            vec![
                reachable(
                    "remote store",
                    &remote.url,
                    &format!("{base}/api/commands/stats?since=1h"),
                    &token,
                    "[remote]",
                )
                .check,
            ]
        }
        (_, Some(body)) => identity_checks(&remote.url, body),
        _ => vec![asked.check],
    };
    if let Some(admin) = admin_check(&config.admin, &remote.url) {
        checks.push(admin);
    }
    checks
}

/// What `GET /api/whoami` says about the daemon's token.
fn identity_checks(base: &str, body: &str) -> Vec<Check> {
    let who: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let (Some(user), Some(role)) = (who["user"].as_str(), who["role"].as_str()) else {
        return vec![fail(format!("remote store: {base}/api/whoami did not say whose the token is"), "check the URL")];
    };
    let user = super::output::visible(user);
    let mut checks = vec![ok(format!("remote store: {base} answers and takes the token ({user}, {role})"))];
    if who["deprecated"].is_string() || who["via"] == "shared-token" {
        checks.push(warn(
            "remote store: the token is the shared LCD_API_TOKEN, which is deprecated: every record it sends reads received_from = shared",
            "ask an admin for your own (lcd team token create --user <you> --role writer), put it in [remote], then: lcd daemon reload",
        ));
    } else if role != "writer" {
        checks.push(fail(
            format!("remote store: the token is a {role}'s; the team store takes records only from a writer"),
            "put a writer token in [remote] (lcd team token create --role writer)",
        ));
    }
    checks
}

/// `[admin]`, when set: the token works and is an admin's.
fn admin_check(admin: &Option<crate::config::AdminConfig>, remote_url: &str) -> Option<Check> {
    let admin = admin.as_ref()?;
    let base = admin.url.as_deref().unwrap_or(remote_url).trim_end_matches('/').to_string();
    let asked =
        reachable("admin token", &base, &format!("{base}/api/whoami"), &admin.auth().resolve("admin"), "[admin]");
    let who: serde_json::Value = asked.body.as_deref().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
    Some(match who["role"].as_str() {
        Some("admin") => ok(format!("admin token: {base} takes it as an admin's")),
        Some(role) => {
            fail(format!("admin token: {base} takes it as a {role}'s, not an admin's"), "fix [admin] in the config")
        }
        None => asked.check,
    })
}

/// GitHub: reachable, and taking our token (`GET /rate_limit` costs no quota).
fn github(paths: &Paths) -> Vec<Check> {
    let Ok(config) = Config::load(&paths.config_file()) else { return vec![] };
    let Some(github) = config.github else { return vec![ok("GitHub: not configured (no deployments reported)")] };
    if let Some(check) = stopped_in_daemon(paths, "github", "GitHub") {
        return vec![check];
    }
    let url = format!("{}/rate_limit", github.api_url.trim_end_matches('/'));
    vec![reachable("GitHub", &github.api_url, &url, &github.auth().resolve("github"), "[github]").check]
}

/// One authenticated GET, judged: the check, the status if one came, and
/// the body of a 2xx answer.
struct Probe {
    check: Check,
    status: Option<u16>,
    body: Option<String>,
}

/// One authenticated GET to `probe`, judged.
fn reachable(what: &str, base: &str, probe: &str, token: &Result<Option<String>>, section: &str) -> Probe {
    let judged = |check: Check| Probe { check, status: None, body: None };
    let token = match token {
        Ok(Some(token)) => token.as_str(),
        Ok(None) => {
            return judged(fail(
                format!("{what}: {section} has no token"),
                "add token_env, token_command or token (in a 0600 file)",
            ))
        }
        Err(e) => return judged(fail(format!("{what}: {e:#}"), format!("fix {section} in the config"))),
    };
    let answer = tokio::runtime::Builder::new_current_thread().enable_all().build().map(|rt| {
        let _inside = rt.enter();
        let client = crate::forward::http_client();
        rt.block_on(async {
            let response = client
                .get(probe)
                .bearer_auth(token)
                .header("accept", "application/vnd.github+json")
                .timeout(std::time::Duration::from_secs(10))
                .send()
                .await?;
            let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            Ok::<_, reqwest::Error>((status, location, body))
        })
    });
    let status = answer.as_ref().ok().and_then(|a| a.as_ref().ok()).map(|(s, ..)| s.as_u16());
    let mut body = None;
    let check = match answer {
        Ok(Ok((status, _, text))) if status.is_success() => {
            body = Some(text);
            ok(format!("{what}: {base} answers and takes the token"))
        }
        Ok(Ok((status, ..))) if status.as_u16() == 401 || status.as_u16() == 403 => {
            fail(format!("{what}: {base} refuses the token ({status})"), format!("check the token in {section}"))
        }
        Ok(Ok((status, Some(target), _))) if status.is_redirection() => fail(
            format!("{what}: {base} redirects to {target} ({status}); lcd does not follow redirects"),
            format!("put the URL that answers in {section}"),
        ),
        Ok(Ok((status, ..))) => fail(format!("{what}: {base} answers {status}"), "check the URL"),
        Ok(Err(e)) => fail(format!("{what}: cannot reach {base}: {e}"), "check the URL and the network"),
        Err(e) => fail(format!("{what}: {e}"), "report this"),
    };
    Probe { check, status, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_writable_folder_is_named_with_its_fix() {
        let dir = std::env::temp_dir().join(format!("lcd-doctor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let paths = Paths {
            config_dir: dir.clone(),
            data_dir: dir.join("absent"),
            state_dir: dir.join("absent"),
            runtime_dir: dir.join("absent"),
            socket: dir.join("absent/lcd.sock"),
        };
        let checks = folders(&paths);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].level, Level::Fail);
        assert!(checks[0].fix.as_deref().unwrap().contains("chmod 700"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
