//! `lcd daemon run|start|stop|restart`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lcd_protocol::sender::{SendError, Sender};
use lcd_protocol::{DaemonStatus, Reply, Request};
use tokio::sync::oneshot;

use crate::paths::{check_private_dir, Paths};
use crate::server::{self, running_daemon_pid, DaemonOptions};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run in the foreground (for service managers), logging to stderr.
    Run(RunArgs),
    /// Start in the background; returns once the daemon accepts connections.
    Start(StartArgs),
    /// Stop the running daemon.
    Stop,
    /// Stop, then start.
    Restart(StartArgs),
    /// Make the running daemon read its config file again (SIGHUP).
    Reload,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StartArgs {
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The descriptor to write `ready <pid>` (or the error) to, left open
    /// by `lcd daemon start`, which runs the daemon this way so that `ps`
    /// shows it as `lcd daemon run`, not as the command that started it.
    #[arg(long, hide = true, value_name = "FD")]
    pub ready_fd: Option<i32>,
}

/// How long `start` and `stop` wait for the daemon.
const WAIT: Duration = Duration::from_secs(10);

pub fn run(command: Command, paths: &Paths) -> Result<ExitCode> {
    match command {
        Command::Run(args) => {
            init_logging();
            run_foreground(paths, args.ready_fd.map(inherited_pipe).transpose()?)?;
        }
        Command::Start(args) => start(paths, &args)?,
        Command::Stop => stop(paths)?,
        Command::Restart(args) => {
            // The daemon starts whatever the file says; say first what it
            // will run with if the file is broken.
            if let Err(e) = crate::config::Config::load(&paths.config_file()) {
                eprintln!("lcd: the config file is broken; the daemon restarts with the last good settings:\n{e:#}");
            }
            stop(paths)?;
            start(paths, &args)?;
        }
        Command::Reload => return reload(paths),
    }
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP, then the daemon's answer: whether it took the file, and what its
/// sinks make of it (a token source it cannot read says why).
fn reload(paths: &Paths) -> Result<ExitCode> {
    let Some(pid) = running_daemon_pid(&paths.pid_file()) else {
        bail!("the daemon is not running; start it with: lcd daemon start")
    };
    let mut sender = Sender::new(&paths.socket);
    let before = ask_status(&mut sender).ok().map(|s| s.config.loads).unwrap_or(0);
    // SAFETY: signalling the pid the daemon's lock file names.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("signalling the daemon (pid {pid})"));
    }
    if before == 0 {
        // A daemon from before reload answers: it cannot tell us.
        outln!("asked the daemon (pid {pid}) to reload its configuration; see {}", paths.daemon_log().display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        let mut sender = Sender::new(&paths.socket);
        match ask_status(&mut sender) {
            Ok(status) if status.config.loads > before => break status,
            _ if std::time::Instant::now() >= deadline => {
                bail!("the daemon (pid {pid}) did not answer the reload; see {}", paths.daemon_log().display())
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    if let Some(error) = &status.config.error {
        let with = status.config.running_with.as_deref().unwrap_or("its current settings");
        eprintln!("lcd: the daemon did not reload: the config file is broken; it keeps recording with {with}.");
        eprintln!("{error}");
        eprintln!("Fix it with: lcd config edit");
        return Ok(ExitCode::FAILURE);
    }
    outln!("the daemon (pid {pid}) reloaded {}", paths.config_file().display())?;
    let mut code = ExitCode::SUCCESS;
    for sink in status.sinks.iter().filter(|s| s.state == lcd_protocol::SinkHealth::Stopped) {
        let why = sink.last_error.as_deref().unwrap_or("no reason given");
        eprintln!("lcd: sink {} is stopped: {}", sink.name, super::output::visible(why));
        code = ExitCode::FAILURE;
    }
    Ok(code)
}

/// Logs go to stderr; `RUST_LOG` picks the level (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Runs the daemon until SIGTERM or SIGINT. `ready_pipe`, when given, gets
/// one line once the socket accepts: `ready <pid>`, or the error that stopped
/// the start.
fn run_foreground(paths: &Paths, ready_pipe: Option<File>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (ready_tx, ready_rx) = oneshot::channel::<server::Ready>();
    let mut pipe = ready_pipe;
    let result = runtime.block_on(async {
        let notify = async {
            if let Ok(ready) = ready_rx.await {
                crate::service::notify::notify(&format!("READY=1\nMAINPID={}", ready.pid));
                if let Some(mut pipe) = pipe.take() {
                    let _ = writeln!(pipe, "ready {}", ready.pid);
                }
            }
        };
        let options = DaemonOptions::load(paths.clone());
        let daemon = server::run(options, ready_tx, shutdown_signal()?);
        let (result, ()) = tokio::join!(daemon, notify);
        result
    });
    crate::service::notify::notify("STOPPING=1");
    if let (Err(e), Some(mut pipe)) = (&result, pipe) {
        let _ = writeln!(pipe, "error {e:#}");
    }
    result
}

/// Completes on SIGTERM or SIGINT. The handlers are installed at once, not
/// when first polled: a signal right after "ready" must not kill us.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

fn start(paths: &Paths, args: &StartArgs) -> Result<()> {
    if let Some(pid) = answering_pid(paths) {
        if !args.quiet {
            outln!("lcd daemon already running (pid {pid})")?;
        }
        return Ok(());
    }
    check_private_dir(&paths.state_dir)?;
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(paths.daemon_log())
        .with_context(|| format!("opening {}", paths.daemon_log().display()))?;
    let (mut read_end, write_end) = ready_pipe()?;
    let daemon = daemonize::Daemonize::new().working_directory("/").umask(0o077).stdout(log.try_clone()?).stderr(log);
    match daemon.execute() {
        daemonize::Outcome::Parent(Ok(_)) => {
            drop(write_end);
            let line = read_ready_line(&mut read_end)?;
            match line.split_once(' ') {
                Some(("ready", pid)) => {
                    if !args.quiet {
                        outln!("lcd daemon started (pid {pid}), listening on {}", paths.socket.display())?;
                    }
                    Ok(())
                }
                Some(("error", message)) => bail!("the daemon did not start: {message}"),
                _ => bail!("the daemon did not start; see {}", paths.daemon_log().display()),
            }
        }
        daemonize::Outcome::Parent(Err(e)) => bail!("could not detach the daemon: {e}"),
        daemonize::Outcome::Child(Ok(_)) => {
            drop(read_end);
            // A new program, not this one carried on: `ps` then shows the
            // daemon as `lcd daemon run`, not as `lcd setup` or `lcd query`.
            let error = std::env::current_exe()
                .map(|lcd| {
                    std::os::unix::process::CommandExt::exec(
                        std::process::Command::new(lcd)
                            .args(["daemon", "run", "--ready-fd"])
                            .arg(write_end.as_raw_fd().to_string()),
                    )
                })
                .unwrap_or_else(|e| e);
            let _ = writeln!(&write_end, "error could not run lcd daemon run: {error}");
            std::process::exit(1);
        }
        daemonize::Outcome::Child(Err(e)) => {
            let _ = writeln!(&write_end, "error could not detach: {e}");
            std::process::exit(1);
        }
    }
}

/// The write end of the ready pipe `lcd daemon start` left open as `fd`.
fn inherited_pipe(fd: i32) -> Result<File> {
    // SAFETY: F_GETFD only reads the flags of a descriptor, open or not.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        bail!("--ready-fd {fd} is not an open descriptor");
    }
    // SAFETY: the descriptor is open and handed to this process alone.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A pipe for the detached daemon to say it is ready.
fn ready_pipe() -> Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("creating a pipe");
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(r), File::from(w)))
}

/// Reads the daemon's one line, or what it wrote before dying.
fn read_ready_line(pipe: &mut File) -> Result<String> {
    let mut text = String::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + WAIT;
    while !text.contains('\n') && Instant::now() < deadline {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(text.trim().to_string())
}

fn stop(paths: &Paths) -> Result<()> {
    let Some(pid) = running_daemon_pid(&paths.pid_file()) else {
        outln!("lcd daemon is not running")?;
        return Ok(());
    };
    // SAFETY: sending SIGTERM to the pid the daemon's lock file names.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("signalling the daemon (pid {pid})"));
    }
    let deadline = Instant::now() + WAIT;
    while running_daemon_pid(&paths.pid_file()).is_some() {
        if Instant::now() > deadline {
            bail!("the daemon (pid {pid}) did not stop within {} s", WAIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    outln!("lcd daemon stopped (pid {pid})")?;
    Ok(())
}

/// A connection to the daemon, started first when none answers.
pub fn connect_or_start(paths: &Paths) -> Result<Sender> {
    let mut sender = Sender::new(&paths.socket);
    if ask_status(&mut sender).is_err() {
        start(paths, &StartArgs { quiet: true })?;
        sender = Sender::new(&paths.socket);
    }
    Ok(sender)
}

/// The pid of a daemon that answers on the socket.
pub fn answering_pid(paths: &Paths) -> Option<u32> {
    ask_status(&mut Sender::new(&paths.socket)).ok().map(|d| d.pid)
}

/// What the daemon says about itself. A daemon older than
/// [`Request::DaemonStatus`] cannot decode it and hangs up, so whatever else
/// goes wrong it is asked again the old way, and its JSON read into the same
/// struct: after an upgrade, the old daemon is what `lcd status` must describe.
pub fn ask_status(sender: &mut Sender) -> Result<DaemonStatus> {
    match sender.request(&Request::DaemonStatus) {
        Ok(Reply::DaemonStatus(status)) => return Ok(*status),
        // Nobody to ask, or nobody we may ask: asking again changes nothing.
        Err(e @ (SendError::Unreachable(_) | SendError::ForeignDaemon { .. })) => return Err(e.into()),
        Ok(_) | Err(_) => {}
    }
    parse_status_json(&sender.status()?)
}

/// Reads the JSON answer to [`Request::Status`].
fn parse_status_json(json: &str) -> Result<DaemonStatus> {
    serde_json::from_str(json).context("the daemon's status does not parse")
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;

    use lcd_protocol::frame;
    use lcd_protocol::{SinkHealth, SinkStatus};

    use super::*;
    use crate::cli::status::version_skew;

    /// The answer of the first daemons, which knew nothing of connections
    /// and sinks.
    const FIRST_DAEMON: &str = r#"{"database":"/data/lcd/lcd.db","pid":4242,"protocol":1,"socket":"/run/lcd/lcd.sock","started_at":1767225600000000,"uptime_s":93,"version":"0.0.1"}"#;

    /// The answer of a daemon that forwards, as `Request::Status` has had it
    /// since sinks came.
    const FORWARDING_DAEMON: &str = r#"{"connections":3,"database":"/data/lcd/lcd.db","pid":4242,"protocol":1,"sinks":[{"backlog":12,"failed":1,"last_error":"HTTP 503","last_success":"2026-01-01T00:00:00.000Z","name":"remote","state":"retrying","target":"https://lcd.example.com"}],"socket":"/run/lcd/lcd.sock","started_at":1767225600000000,"uptime_s":93,"version":"0.1.0"}"#;

    #[test]
    fn the_first_daemons_json_answer_reads_into_the_struct() {
        let status = parse_status_json(FIRST_DAEMON).unwrap();
        assert_eq!(
            status,
            DaemonStatus {
                pid: 4242,
                version: "0.0.1".into(),
                protocol: 1,
                started_at: 1_767_225_600_000_000,
                uptime_s: 93,
                socket: PathBuf::from("/run/lcd/lcd.sock"),
                database: PathBuf::from("/data/lcd/lcd.db"),
                connections: 0,
                sinks: vec![],
                config: Default::default(),
                shells: vec![],
            }
        );
    }

    #[test]
    fn a_forwarding_daemons_json_answer_reads_into_the_struct() {
        let status = parse_status_json(FORWARDING_DAEMON).unwrap();
        assert_eq!(status.connections, 3);
        assert_eq!(
            status.sinks,
            vec![SinkStatus {
                name: "remote".into(),
                target: "https://lcd.example.com".into(),
                state: SinkHealth::Retrying,
                backlog: 12,
                failed: 1,
                last_success: Some("2026-01-01T00:00:00.000Z".into()),
                last_error: Some("HTTP 503".into()),
            }]
        );
    }

    #[test]
    fn the_json_answer_has_the_keys_it_always_had() {
        let status = parse_status_json(FORWARDING_DAEMON).unwrap();
        let written: serde_json::Value = serde_json::to_value(&status).unwrap();
        let before: serde_json::Value = serde_json::from_str(FORWARDING_DAEMON).unwrap();
        assert_eq!(written, before);
    }

    /// A daemon from before `Request::DaemonStatus`: it hangs up on a request
    /// it cannot decode and answers `Request::Status` with JSON.
    fn older_daemon(socket: &std::path::Path) -> std::thread::JoinHandle<Vec<Request>> {
        let listener = UnixListener::bind(socket).unwrap();
        std::thread::spawn(move || {
            let mut asked = Vec::new();
            for stream in listener.incoming().take(2) {
                let mut stream = stream.unwrap();
                let request = frame::read_message::<Request>(&mut stream).unwrap().unwrap();
                if request == Request::Status {
                    let reply = Reply::Status { json: FIRST_DAEMON.into() };
                    std::io::Write::write_all(&mut stream, &frame::encode(&reply).unwrap()).unwrap();
                }
                asked.push(request);
            }
            asked
        })
    }

    #[test]
    fn an_older_daemon_is_asked_the_old_way_and_its_version_reported() {
        let dir = std::env::temp_dir().join(format!("lcd-ask-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("lcd.sock");
        let _ = std::fs::remove_file(&socket);
        let daemon = older_daemon(&socket);
        let status = ask_status(&mut Sender::new(&socket)).unwrap();
        assert_eq!(daemon.join().unwrap(), vec![Request::DaemonStatus, Request::Status]);
        assert_eq!((status.pid, status.version.as_str()), (4242, "0.0.1"));
        let skew = version_skew(&status).unwrap();
        assert!(skew.contains("the daemon is version 0.0.1 (protocol 1)"), "{skew}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn with_no_daemon_the_error_says_unreachable() {
        let socket = std::env::temp_dir().join(format!("lcd-ask-nobody-{}.sock", std::process::id()));
        let error = ask_status(&mut Sender::new(&socket)).unwrap_err();
        assert!(matches!(error.downcast_ref::<SendError>(), Some(SendError::Unreachable(_))), "{error:#}");
    }
}
