//! Interactive shells in a pseudo-terminal, typed at like a person would.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// What every prompt prints; typed commands never contain it.
pub const PROMPT: &str = "<lcd-prompt>";
/// How long a test waits for a prompt before failing.
pub const PROMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// The shells the tests drive: lcd's own list.
pub use lcd_protocol::Shell as ShellKind;

/// The interactive shell with no rc files.
fn command(kind: ShellKind) -> Command {
    let mut cmd = Command::new(kind.name());
    match kind {
        ShellKind::Zsh => cmd.args(["-f", "-i"]),
        ShellKind::Bash => cmd.args(["--norc", "--noprofile", "-i"]),
        // Not --no-config: fish 3.6 then runs in private mode, where lcd
        // records nothing. The test's home has no config.fish.
        ShellKind::Fish => cmd.args(["-i"]),
    };
    cmd
}

/// Output read from the terminal so far, shared with the reader thread.
#[derive(Default)]
struct Screen {
    bytes: Mutex<Vec<u8>>,
    grew: Condvar,
}

/// An interactive shell on a pseudo-terminal.
pub struct Shell {
    pub kind: ShellKind,
    master: std::fs::File,
    child: Child,
    screen: Arc<Screen>,
    prompts_seen: usize,
}

impl Shell {
    /// Starts `kind` with exactly `env` as its environment, sets the prompt
    /// marker and waits for the first prompt.
    pub fn start(kind: ShellKind, env: &[(String, String)], cwd: &std::path::Path) -> Result<Shell> {
        let (master, slave) = open_pty()?;
        let mut cmd = command(kind);
        cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v))).current_dir(cwd);
        for (target, name) in [(0, "stdin"), (1, "stdout"), (2, "stderr")] {
            let fd = slave.try_clone().with_context(|| format!("dup pty for {name}"))?;
            let stdio = Stdio::from(fd);
            match target {
                0 => cmd.stdin(stdio),
                1 => cmd.stdout(stdio),
                _ => cmd.stderr(stdio),
            };
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("starting {} (is it installed?)", kind.name()))?;
        drop(slave);
        let screen = Arc::new(Screen::default());
        let mut reader = master.try_clone()?;
        let sink = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.bytes.lock().unwrap().extend_from_slice(&buf[..n]);
                sink.grew.notify_all();
            }
        });
        let mut shell = Shell { kind, master, child, screen, prompts_seen: 0 };
        // Split in two quoted halves so that the echo of this very line
        // does not count as a prompt.
        let (head, tail) = PROMPT.split_at(4);
        let set_prompt = match kind {
            ShellKind::Zsh => format!("PS1='{head}''{tail}'; PS2='> '; unsetopt PROMPT_SP"),
            ShellKind::Bash => format!("PS1='{head}''{tail}'; PS2='> '"),
            // No greeting, no right prompt, no suggestions drawn after the
            // cursor: what the terminal shows is what was typed and printed.
            ShellKind::Fish => format!(
                "function fish_prompt; printf '%s' '{head}''{tail}'; end; function fish_right_prompt; end; \
                 set -g fish_greeting ''; set -g fish_autosuggestion_enabled 0"
            ),
        };
        shell.run(&set_prompt)?;
        Ok(shell)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types `line` and Enter, then waits for the next prompt.
    pub fn run(&mut self, line: &str) -> Result<()> {
        self.type_line(line)?;
        self.wait_prompt()
    }

    /// Types `line` and Enter without waiting.
    pub fn type_line(&mut self, line: &str) -> Result<()> {
        self.type_raw(&format!("{line}\r"))
    }

    /// Sends bytes to the terminal as keystrokes.
    pub fn type_raw(&mut self, keys: &str) -> Result<()> {
        self.master.write_all(keys.as_bytes())?;
        self.master.flush()?;
        Ok(())
    }

    /// Waits for one more prompt than seen so far.
    pub fn wait_prompt(&mut self) -> Result<()> {
        self.wait_prompt_for(PROMPT_TIMEOUT).map(|_| ())
    }

    /// Waits for the next prompt; returns how long it took.
    pub fn wait_prompt_for(&mut self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        let want = self.prompts_seen + 1;
        let marker = PROMPT.as_bytes();
        let mut bytes = self.screen.bytes.lock().unwrap();
        loop {
            let seen = count(&bytes, marker);
            if seen >= want {
                self.prompts_seen = seen;
                return Ok(start.elapsed());
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                let tail = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(2000)..]).into_owned();
                bail!("{} showed no prompt within {:?}; the terminal ends with:\n{tail}", self.kind.name(), timeout);
            }
            bytes = self.screen.grew.wait_timeout(bytes, left).unwrap().0;
        }
    }

    /// Everything the terminal showed, escape sequences included.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.bytes.lock().unwrap()).into_owned()
    }

    /// Whether the shell process is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the shell with SIGKILL and reaps it, as a closed terminal would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Types `exit` and waits for the shell to end.
    pub fn exit(mut self) -> Result<()> {
        self.type_line("exit")?;
        let deadline = Instant::now() + PROMPT_TIMEOUT;
        while self.is_alive() {
            if Instant::now() > deadline {
                bail!("{} did not exit", self.kind.name());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

fn open_pty() -> Result<(std::fs::File, OwnedFd)> {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: 50, ws_col: 250, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two descriptors; name and termios may be null.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("openpty");
    }
    // SAFETY: both descriptors are fresh and ours alone.
    let (master, slave) = unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // The shell must not inherit the master side.
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok((master, slave))
}
