//! `lcd daemon run` as a child process, for tests that kill, stop or signal
//! it, or read its log.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::env::TestEnv;

/// `lcd daemon run` as a child of the test; a thread reads its log (stderr)
/// line by line, so that a test can wait for a line.
pub struct DaemonProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    seen: Vec<String>,
}

impl DaemonProcess {
    /// Starts `lcd daemon run` with `extra` added to the environment and
    /// waits for its ready line.
    pub fn start(env: &TestEnv, extra: &[(&str, &str)]) -> Result<DaemonProcess> {
        Self::start_with_file_limit(env, extra, None)
    }

    /// Like [`DaemonProcess::start`], with no file allowed to grow past
    /// `max_file_bytes`: the disk is "full" for the daemon's database.
    pub fn start_with_file_limit(
        env: &TestEnv,
        extra: &[(&str, &str)],
        max_file_bytes: Option<u64>,
    ) -> Result<DaemonProcess> {
        let mut cmd = env.lcd_command(&["daemon", "run"]);
        if let Some(limit) = max_file_bytes {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit and signal are async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    // EFBIG instead of a fatal signal, as a full disk gives ENOSPC.
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    let rl = libc::rlimit { rlim_cur: limit, rlim_max: libc::RLIM_INFINITY };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.envs(extra.iter().copied()).stderr(Stdio::piped()).stdout(Stdio::null());
        let mut child = cmd.spawn()?;
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut daemon = DaemonProcess { child, lines, reader: Some(reader), seen: Vec::new() };
        daemon.wait_log("lcd daemon ready")?;
        Ok(daemon)
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (15 s at most) for a log line containing `text`, a line already
    /// read included; returns it.
    pub fn wait_log(&mut self, text: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
                return Ok(line.clone());
            }
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(_) => bail!("no log line with {text:?}; the log:\n{}", self.log()),
            }
        }
    }

    /// The log lines read so far (and any waiting).
    pub fn log(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }

    /// Lifts the file size limit: the disk has room again.
    pub fn lift_file_limit(&self) -> Result<()> {
        let rl = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
        // SAFETY: prlimit on our own child with a valid struct.
        let rc = unsafe { libc::prlimit(self.child.id() as i32, libc::RLIMIT_FSIZE, &rl, std::ptr::null_mut()) };
        anyhow::ensure!(rc == 0, "prlimit: {}", std::io::Error::last_os_error());
        Ok(())
    }

    /// Sends `signal` to the daemon (SIGSTOP, SIGHUP, ...).
    pub fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Sends `signal` and waits for the process to end; returns its exit code
    /// (None when a signal ended it). The log goes with `self`: a caller
    /// that needs it reads [`DaemonProcess::log`] first, or uses
    /// [`DaemonProcess::stop`].
    pub fn end_with(mut self, signal: i32) -> Result<Option<i32>> {
        self.signal(signal);
        let status = self.child.wait()?;
        Ok(status.code())
    }

    /// Sends SIGTERM and waits for exit; returns the whole log, or fails
    /// with it when the daemon did not exit cleanly.
    pub fn stop(mut self) -> Result<String> {
        self.signal(libc::SIGTERM);
        let status = self.child.wait()?;
        // Every line, up to the last one written before exit.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let log = self.log();
        if !status.success() {
            bail!("the daemon exited with {status}; log:\n{log}");
        }
        Ok(log)
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
