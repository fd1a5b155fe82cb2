//! A private world per test: its own home and XDG folders, so the shells,
//! the CLI and the daemon under test share them and nothing else.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lcd::config::Config;
use lcd::paths::Paths;
use lcd::server::{self, DaemonOptions, Ready};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::pty::{Shell, ShellKind};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Folders and binaries for one test. Removed on drop unless
/// `LCD_KEEP_TEST_DIRS` is set.
pub struct TestEnv {
    pub root: PathBuf,
    pub lcd: PathBuf,
    pub lcd_hook: PathBuf,
}

impl TestEnv {
    /// A fresh environment using the `lcd` binary at `lcd` (pass
    /// `env!("CARGO_BIN_EXE_lcd")`); lcd-hook is taken from the same folder.
    pub fn new(lcd: &str) -> Result<TestEnv> {
        let lcd = PathBuf::from(lcd);
        let lcd_hook = ensure_lcd_hook(&lcd)?;
        // Short: the socket path must fit in sun_path (about 100 bytes).
        let root =
            std::env::temp_dir().join(format!("lcdt-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["home", "run"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        set_mode(&root.join("run"), 0o700)?;
        Ok(TestEnv { root, lcd, lcd_hook })
    }

    /// The home folder shells and the CLI run with (and start in).
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// The environment shells and the CLI run with.
    pub fn vars(&self) -> Vec<(String, String)> {
        let home = self.home();
        let bin_dir = self.lcd.parent().expect("lcd has a folder").to_path_buf();
        let path =
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
        vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_CONFIG_HOME".into(), home.join(".config").display().to_string()),
            ("XDG_DATA_HOME".into(), home.join(".local/share").display().to_string()),
            ("XDG_STATE_HOME".into(), home.join(".local/state").display().to_string()),
            ("XDG_RUNTIME_DIR".into(), self.root.join("run").display().to_string()),
            ("PATH".into(), path),
            ("TERM".into(), "dumb".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("LC_ALL".into(), "C.UTF-8".into()),
            ("USER".into(), std::env::var("USER").unwrap_or_else(|_| "tester".into())),
        ]
    }

    /// The paths lcd derives from [`TestEnv::vars`].
    pub fn paths(&self) -> Paths {
        let home = self.home();
        let runtime_dir = self.root.join("run/lcd");
        Paths {
            config_dir: home.join(".config/lcd"),
            data_dir: home.join(".local/share/lcd"),
            state_dir: home.join(".local/state/lcd"),
            socket: runtime_dir.join("lcd.sock"),
            runtime_dir,
        }
    }

    /// An `lcd` command in this environment.
    pub fn lcd_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.lcd);
        cmd.env_clear().envs(self.vars()).args(args).current_dir(self.home());
        cmd
    }

    /// Runs `lcd ARGS` and returns what it printed; fails if it failed.
    pub fn lcd(&self, args: &[&str]) -> Result<String> {
        let out = self.lcd_output(args)?;
        if !out.status.success() {
            bail!("lcd {} failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Runs `lcd ARGS` and returns its output, whether or not it failed.
    pub fn lcd_output(&self, args: &[&str]) -> Result<Output> {
        self.lcd_command(args).output().context("running lcd")
    }

    /// Every stored record, newest first: `lcd query --format json`, parsed.
    pub fn records(&self) -> Result<Vec<Value>> {
        let text = self.lcd(&["query", "--format", "json", "--limit", "100000"])?;
        let value: Value = serde_json::from_str(&text).with_context(|| format!("query output is not JSON: {text}"))?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }

    /// Waits until `done` holds for the records (newest first), or fails
    /// with what was there.
    pub fn wait_records(&self, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Result<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.records()?;
            if done(&records) {
                return Ok(records);
            }
            if Instant::now() > deadline {
                bail!(
                    "records did not reach the expected state within {timeout:?}; they are:\n{}",
                    serde_json::to_string_pretty(&records)?
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (10 s at most) until `command` is stored as finished; returns
    /// all records then.
    pub fn wait_finished(&self, command: &str) -> Result<Vec<Value>> {
        self.wait_records(Duration::from_secs(10), |r| {
            r.iter().any(|r| r["command"] == command && r["status"] == "finished")
        })
    }

    /// Waits until at least `n` records are stored as finished; returns all
    /// records then.
    pub fn wait_finished_count(&self, n: usize, timeout: Duration) -> Result<Vec<Value>> {
        self.wait_records(timeout, |r| r.iter().filter(|r| r["status"] == "finished").count() >= n)
    }

    /// What the daemon reports: `lcd status --format json`, parsed.
    pub fn status(&self) -> Result<Value> {
        let text = self.lcd(&["status", "--format", "json"])?;
        serde_json::from_str(&text).with_context(|| format!("status output is not JSON: {text}"))
    }

    /// Writes the config file that `lcd` and a daemon started as a process
    /// read; private, as `lcd config edit` leaves it, since it may hold a token.
    pub fn write_config(&self, text: &str) -> Result<()> {
        let file = self.paths().config_file();
        std::fs::create_dir_all(file.parent().expect("the config file has a folder"))?;
        std::fs::write(&file, text)?;
        set_mode(&file, 0o600)
    }

    /// An interactive shell in this environment, in the home folder.
    pub fn shell(&self, kind: ShellKind) -> Result<Shell> {
        Shell::start(kind, &self.vars(), &self.home())
    }

    /// A shell with lcd's hooks loaded.
    pub fn hooked_shell(&self, kind: ShellKind) -> Result<Shell> {
        let mut shell = self.shell(kind)?;
        shell.run(&match kind {
            ShellKind::Fish => "lcd init fish | source".to_string(),
            _ => format!("eval \"$(lcd init {})\"", kind.name()),
        })?;
        Ok(shell)
    }

    /// Runs the daemon in this process; returns once it accepts connections.
    pub fn start_daemon(&self) -> Result<InProcessDaemon> {
        self.start_daemon_with(DaemonOptions::new(self.paths()))
    }

    /// Runs the daemon in this process with `config` (TOML, as in the config
    /// file) instead of the defaults.
    pub fn start_daemon_with_config(&self, config: &str) -> Result<InProcessDaemon> {
        let mut options = DaemonOptions::new(self.paths());
        options.config = Config::parse(config, std::iter::empty())?;
        self.start_daemon_with(options)
    }

    /// Runs the daemon in this process with `options`; returns once it
    /// accepts connections, or fails with why it did not start.
    pub fn start_daemon_with(&self, options: DaemonOptions) -> Result<InProcessDaemon> {
        let (ready_tx, ready_rx) = oneshot::channel::<Ready>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            runtime.block_on(server::run(options, ready_tx, async {
                let _ = stop_rx.await;
            }))
        });
        match ready_rx.blocking_recv() {
            Ok(ready) => Ok(InProcessDaemon { ready, stop: Some(stop_tx), thread: Some(thread) }),
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e.context("the daemon did not start")),
                _ => bail!("the daemon did not start"),
            },
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::env::var_os("LCD_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// The daemon running on a thread of the test process.
pub struct InProcessDaemon {
    pub ready: Ready,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl InProcessDaemon {
    /// Shuts down as on SIGTERM and waits until it has.
    pub fn stop(mut self) -> Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => bail!("the daemon thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for InProcessDaemon {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Creates `dir` (and its parents) private to the user, as lcd makes its
/// own folders: for a test that puts a file there before lcd runs.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Writes an executable script at `path`: a stand-in for a tool or an editor.
pub fn write_script(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)?;
    set_mode(path, 0o755)
}

/// lcd-hook lives in lcd's folder when the workspace is built; build it when
/// a narrower `cargo test` did not.
fn ensure_lcd_hook(lcd: &Path) -> Result<PathBuf> {
    let hook = lcd.with_file_name("lcd-hook");
    if !hook.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = lcd.parent().and_then(|d| d.file_name()).is_some_and(|n| n == "release");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "lcd-hook", "--bin", "lcd-hook"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().context("building lcd-hook")?;
        if !status.success() || !hook.exists() {
            bail!("lcd-hook is missing next to {} and could not be built", lcd.display());
        }
    }
    Ok(hook)
}
