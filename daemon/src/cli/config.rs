//! `lcd config path|show|edit`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command as Process, ExitCode};

use anyhow::{Context, Result};

use crate::config::Config;
use crate::paths::Paths;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print where the config file is.
    Path,
    /// Print the configuration in effect (file and LCD_* variables), secrets hidden.
    Show,
    /// Open the config file in $VISUAL/$EDITOR, then check it.
    Edit,
}

/// What a new config file starts with: every setting, commented out.
const TEMPLATE: &str = "\
# lcd configuration. Every setting is optional; these are the defaults.
# Environment variables override them: LCD_<SECTION>_<KEY>, e.g. LCD_DAEMON_RETENTION_DAYS=90.

[daemon]
# retention_days = 0            # delete commands older than this, daily; 0 keeps all
# allow_root = false            # accept connections from root
# batch_max_events = 2000
# batch_max_wait_ms = 5
# spool_max_bytes = 268435456   # the spool's bound (256 MiB) while the daemon is away; open new shells after a change

[capture]
# env = [\"TF_WORKSPACE\", \"AWS_PROFILE\", \"AWS_REGION\", \"CLOUDSDK_CORE_PROJECT\", \"KUBECONFIG\"]
# ignore_commands = [\"^pass \"]  # regular expressions: never recorded
# ignore_dirs = [\"~/secrets\"]   # commands run there are never recorded
# redact = []                   # more secret patterns (a group named s marks the secret)
# [capture.tools]
# tf = \"terraform\"              # more executables to classify
";

pub fn run(command: Command, paths: &Paths) -> Result<ExitCode> {
    let file = paths.config_file();
    match command {
        Command::Path => outln!("{}", file.display())?,
        Command::Show => {
            let config = Config::load(&file)?;
            out!("{}", config.to_toml_redacted()?)?;
        }
        Command::Edit => {
            if !file.exists() {
                std::fs::create_dir_all(&paths.config_dir)?;
                let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&file)?;
                f.write_all(TEMPLATE.as_bytes())?;
            }
            let editor = std::env::var("VISUAL").or_else(|_| std::env::var("EDITOR")).unwrap_or_else(|_| "vi".into());
            let status = Process::new("sh")
                .args(["-c", &format!("{editor} \"$1\""), "sh"])
                .arg(&file)
                .status()
                .with_context(|| format!("running {editor}"))?;
            anyhow::ensure!(status.success(), "{editor} exited with {status}");
            match Config::load(&file) {
                Ok(config) => {
                    for (section, why) in config.refused_tokens() {
                        eprintln!("lcd: [{section}] token not used: {why}");
                    }
                    outln!(
                        "{} is valid; running daemons pick it up with: lcd daemon reload, or restart",
                        file.display()
                    )?
                }
                Err(e) => {
                    eprintln!("lcd: {e:#}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
