//! `lcd service install|uninstall|status|print`: the daemon under systemd
//! (Linux) or launchd (macOS), started with the session and restarted on
//! failure.

use std::process::ExitCode;

use anyhow::Result;

use super::{completions, daemon};
use crate::paths::Paths;
use crate::service::{self, launchd, systemd};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Install and start the service for this user.
    Install,
    /// Stop the service and remove its files.
    Uninstall,
    /// Whether the service is installed, enabled and running.
    Status,
    /// Print the service files install would write, without writing them.
    Print {
        /// Which service manager's files.
        #[arg(value_enum, default_value_t = Manager::native())]
        manager: Manager,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Manager {
    Systemd,
    Launchd,
}

impl Manager {
    fn native() -> Manager {
        if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        }
    }
}

pub fn run(command: Command, paths: &Paths) -> Result<ExitCode> {
    let lcd = std::env::current_exe()?;
    match &command {
        // The units name lcd(1), which names a page per subcommand: all
        // installed with the units, removed with them.
        Command::Install => {
            for page in service::install_man_pages(&lcd, &completions::man_pages()?)? {
                outln!("wrote {}", page.display())?;
            }
        }
        Command::Uninstall => {
            let names: Vec<String> = completions::man_pages()?.into_iter().map(|(name, _)| name).collect();
            for page in service::uninstall_man_pages(&lcd, &names)? {
                outln!("removed {}", page.display())?;
            }
        }
        Command::Status | Command::Print { .. } => {}
    }
    match (command, Manager::native()) {
        (Command::Print { manager: Manager::Systemd }, _) => {
            for (name, text) in systemd::units(&lcd) {
                outln!("# {name}\n{text}")?;
            }
        }
        (Command::Print { manager: Manager::Launchd }, _) => out!("{}", launchd::plist(&lcd, &paths.daemon_log()))?,
        (Command::Install, Manager::Systemd) => {
            // systemd is to own the socket: a daemon started on demand gives
            // it up, but only once systemd is there to take it. A failed
            // install leaves the daemon as it was.
            let was_running = systemd::available() && daemon::answering_pid(paths).is_some();
            if was_running {
                daemon::run(daemon::Command::Stop, paths)?;
            }
            let installed = systemd::install(&lcd);
            if was_running && !installed.as_ref().is_ok_and(|i| i.enabled) {
                daemon::run(daemon::Command::Start(daemon::StartArgs { quiet: true }), paths)?;
            }
            let installed = installed?;
            for file in &installed.files {
                outln!("wrote {}", file.display())?;
            }
            if !installed.enabled {
                eprintln!("systemd is not running for your user here (systemctl --user does not answer), so nothing was enabled.");
                eprintln!(
                    "Instead: the shell hooks start the daemon on demand, or start it now with: lcd daemon start"
                );
                eprintln!("Once logged in to a systemd session: systemctl --user daemon-reload && systemctl --user enable --now lcd.socket");
                return Ok(ExitCode::FAILURE);
            }
            outln!("enabled lcd.socket: the daemon starts with the first command typed")?;
        }
        (Command::Install, Manager::Launchd) => {
            let path = launchd::install(&lcd, &paths.daemon_log())?;
            outln!("wrote and loaded {}", path.display())?;
        }
        (Command::Uninstall, Manager::Systemd) => {
            let removed = systemd::uninstall()?;
            if removed.is_empty() {
                outln!("no lcd units were installed")?;
            }
            for file in removed {
                outln!("removed {}", file.display())?;
            }
        }
        (Command::Uninstall, Manager::Launchd) => match launchd::uninstall()? {
            Some(path) => outln!("unloaded and removed {}", path.display())?,
            None => outln!("no lcd agent was installed")?,
        },
        (Command::Status, Manager::Systemd) => {
            let dir = systemd::unit_dir()?;
            for name in ["lcd.socket", "lcd.service"] {
                let path = dir.join(name);
                outln!(
                    "{name}: {}",
                    if path.exists() { format!("installed ({})", path.display()) } else { "not installed".into() }
                )?;
            }
            let mut managed = false;
            if systemd::available() {
                for (unit, enabled, active) in systemd::state() {
                    managed |= unit == "lcd.socket" && enabled == "enabled" && active == "active";
                    outln!("{unit}: {enabled}, {active}")?;
                }
            } else {
                outln!("systemd is not running for your user here")?;
            }
            return service_verdict(managed, paths);
        }
        (Command::Status, Manager::Launchd) => {
            let path = launchd::plist_path()?;
            let loaded = launchd::loaded();
            outln!("{}: {}", path.display(), if path.exists() { "installed" } else { "not installed" })?;
            outln!("launchd: {}", if loaded { "loaded" } else { "not loaded" })?;
            return service_verdict(loaded, paths);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The last line of `lcd service status` and its exit code: 0 only when the
/// service manager runs lcd, 3 (as `systemctl status` has it) otherwise,
/// saying whether a daemon runs anyway.
fn service_verdict(managed: bool, paths: &Paths) -> Result<ExitCode> {
    if managed {
        outln!("service: running under the service manager")?;
        return Ok(ExitCode::SUCCESS);
    }
    match daemon::answering_pid(paths) {
        Some(pid) => outln!("service: not in effect; a daemon started on demand runs (pid {pid})")?,
        None => outln!("service: not in effect, and no daemon runs (shells spool until one starts)")?,
    }
    Ok(ExitCode::from(3))
}
