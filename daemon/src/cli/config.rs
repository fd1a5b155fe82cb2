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

/// What a new config file starts with: every section and every setting,
/// commented out, each at its default (a few show an example instead, said
/// so). Prose lines start with a capital letter; settings with a key.
const TEMPLATE: &str = r#"# The lcd configuration. Every setting is optional; each is shown at its default.
# Environment variables override them: LCD_<SECTION>_<KEY>, e.g. LCD_DAEMON_RETENTION_DAYS=90.
# After a change: lcd daemon reload (the [capture] env list and spool_max_bytes take effect in new shells).

# [daemon]
# retention_days = 0             # delete commands older than this, once a day; 0 keeps all
# allow_root = false             # accept connections from root
# batch_max_events = 2000        # a batch is written at this many events ...
# batch_max_wait_ms = 5          # ... or this long after its first one
# max_connections = 1024         # shells served at once
# first_frame_timeout_ms = 10000
# idle_timeout_s = 3600
# replay_interval_ms = 1000      # how often the spool is replayed
# orphan_check_s = 30            # how often commands of shells that are gone are closed
# spool_max_bytes = 268435456    # the spool's bound (256 MiB) while the daemon is away
# stuck_after_s = 60             # lcd status warns of a command running this long in a shell that runs nothing

# [capture]
# env = ["TF_WORKSPACE", "AWS_PROFILE", "AWS_REGION", "CLOUDSDK_CORE_PROJECT", "KUBECONFIG"]
# ignore_commands = []           # regular expressions never recorded, e.g. ["^pass "]
# ignore_dirs = []               # commands run there are never recorded, e.g. ["~/secrets"]
# redact = []                    # more secret patterns (a group named s marks the secret)
# redact_remote = []             # more, applied only to what goes to the team store and GitHub
# tools = {}                     # more executables to classify, e.g. { tf = "terraform" }

# [remote]                       # The team store (README: "The team store"); without it records stay local.
# url = "https://lcd-remote.example.workers.dev"   # example; https:// (http:// only to localhost)
# token_command = "pass show lcd/token"             # example; or token_env = "LCD_TOKEN", or token = "..." in a 0600 file
# types = ["terraform", "wrangler"]                 # example; default: every tracked tool, never "other"
# include_imported = false       # also forward history brought in by lcd import (default: live records only)
# batch_size = 100               # records per request
# retry_max_s = 300              # the longest wait between two attempts while the store fails

# [github]                       # Deploy runs become GitHub deployments (README: "GitHub deployments").
# token_command = "gh auth token"                   # example; or token_env, or token in a 0600 file
# api_url = "https://api.github.com"
# enterprise = {}                # e.g. { "github.acme.corp" = "https://github.acme.corp/api/v3" }
# environments = {}              # names as GitHub sees them, e.g. { default = "production" }
# production_environments = ["production", "prod"]
# transient_environments = []
# issue_comments = false         # comment on the issue a branch names (123-fix-x)
# include_command = false        # put command lines in deployments and comments (public on a public repository)
# min_write_interval_ms = 1000
# retry_max_s = 300
# deploy = [
#   { type = "terraform", subcommands = ["apply"], task = "deploy" },
#   { type = "terraform", subcommands = ["destroy"], task = "destroy" },
#   { type = "wrangler", subcommands = ["deploy", "publish", "versions deploy"], task = "deploy" },
#   { type = "pulumi", subcommands = ["up"], task = "deploy" },
#   { type = "pulumi", subcommands = ["destroy"], task = "destroy" },
#   { type = "helm", subcommands = ["install", "upgrade"], task = "deploy" },
# ]
"#;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The template with every setting line uncommented.
    fn uncommented(template: &str) -> String {
        let setting = |rest: &str| rest.starts_with(|c: char| c.is_ascii_lowercase() || matches!(c, '[' | ']' | ' '));
        template
            .lines()
            .map(|line| line.strip_prefix("# ").filter(|rest| setting(rest)).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// What the uncommented template should amount to: the defaults, with
    /// both optional sections on and the examples the template says are ones.
    fn expected() -> Config {
        let examples = r#"
            [remote]
            url = "https://lcd-remote.example.workers.dev"
            token_command = "pass show lcd/token"
            types = ["terraform", "wrangler"]
            [github]
            token_command = "gh auth token"
        "#;
        Config::parse(examples, std::iter::empty()).unwrap()
    }

    #[test]
    fn config_edit_template_uncommented_is_the_defaults_of_every_section() {
        let config = Config::parse(&uncommented(TEMPLATE), std::iter::empty()).unwrap();
        assert_eq!(config, expected());
        for section in ["[daemon]", "[capture]", "[remote]", "[github]"] {
            assert!(TEMPLATE.contains(&format!("# {section}")), "{section} missing");
        }
    }

    #[test]
    fn config_edit_template_names_every_setting() {
        let value = toml::Value::try_from(expected()).unwrap();
        for (section, table) in value.as_table().unwrap() {
            for key in table.as_table().unwrap().keys() {
                assert!(TEMPLATE.contains(&format!("{key} = ")), "[{section}] {key} is not in the template");
            }
        }
        for key in ["token", "token_env", "token_command"] {
            assert!(TEMPLATE.contains(&format!("{key} = ")), "{key} is not in the template");
        }
    }
}
