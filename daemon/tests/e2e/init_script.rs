//! The shell integration as users get it: rendered by `lcd init`, valid for
//! the shell and for shellcheck, and silent in every rendering, even under
//! `set -eu`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, ensure, Context, Result};
use lcd::cli::init::{render, shell_quote, InitOptions};
use lcd::paths::Paths;
use lcd::server::DaemonOptions;
use lcd_testkit::{ShellKind, TestEnv};

use super::{env, record};

#[test]
fn rendered_scripts_parse_and_pass_shellcheck() -> Result<()> {
    let env = env()?;
    for shell in ["zsh", "bash"] {
        let script = env.lcd(&["init", shell])?;
        assert!(script.contains(&env.lcd_hook.display().to_string()), "{shell} script does not name lcd-hook");
        for placeholder in
            ["@LCD_HOOK@", "@LCD_BIN@", "@SOCKET@", "@SPOOL@", "@HOOK_LOG@", "@RUNTIME@", "@FIFO@", "@ENV_FIELDS@"]
        {
            assert!(!script.contains(placeholder), "{shell} script still has {placeholder}");
        }
        let path = env.root.join(format!("init.{shell}"));
        std::fs::write(&path, &script)?;
        let syntax = Command::new(shell).arg("-n").arg(&path).output().with_context(|| format!("running {shell}"))?;
        assert!(syntax.status.success(), "{shell} -n: {}", String::from_utf8_lossy(&syntax.stderr));
    }
    let bash = env.root.join("init.bash");
    let check = Command::new("shellcheck")
        .args(["--shell=bash", "--severity=style"])
        .arg(&bash)
        .output()
        .context("running shellcheck (is it installed?)")?;
    assert!(check.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&check.stdout));
    Ok(())
}

#[test]
fn init_refuses_an_unknown_shell_with_a_clear_message() -> Result<()> {
    let env = env()?;
    let out = env.lcd_output(&["init", "fish-and-chips"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: zsh, bash"));
    Ok(())
}

#[test]
fn every_rendering_runs_silently_under_set_eu_and_records_zsh() -> Result<()> {
    every_rendering_runs_silently_under_set_eu_and_records(ShellKind::Zsh)
}

#[test]
fn every_rendering_runs_silently_under_set_eu_and_records_bash() -> Result<()> {
    every_rendering_runs_silently_under_set_eu_and_records(ShellKind::Bash)
}

#[test]
fn zsh_with_set_u_before_the_lcd_line_starts_silently_and_records() -> Result<()> {
    let env = env()?;
    let _daemon = env.start_daemon()?;
    std::fs::write(env.home().join(".zshrc"), "set -u\neval \"$(lcd init zsh)\"\n")?;
    let mut sh = env.shell(ShellKind::Zsh)?;
    // zle would switch bracketed paste off after the line: not the rc's output.
    sh.run("unset zle_bracketed_paste")?;
    sh.run("source ~/.zshrc")?;
    let screen = sh.screen();
    let after = &screen[screen.rfind("source ~/.zshrc").context("the typed line is not shown")?..];
    let shown = &after["source ~/.zshrc".len()..after.find(lcd_testkit::pty::PROMPT).unwrap_or(after.len())];
    assert_eq!(shown.trim(), "", "loading the rc printed something");
    sh.run("echo recorded under nounset")?;
    env.wait_finished("echo recorded under nounset")?;
    Ok(())
}

/// Where lcd's binaries and files live in a case.
#[derive(Debug, Clone, Copy)]
enum Places {
    Plain,
    /// Folders whose names hold spaces, both quotes, `$` and a backslash.
    Awkward,
}

/// Where a case's script gets its FIFO.
#[derive(Debug, Clone, Copy)]
enum FifoFrom {
    /// `eval "$(lcd init SHELL)"` in the shell: lcd init made one for it.
    Init,
    /// A script `lcd init` printed for another process, sourced: the FIFO it
    /// names is not this shell's, so the script makes its own.
    Cached,
    /// Rendered with no FIFO at all (lcd init could not make one).
    None,
}

/// What one `[capture] env` allowlist sends; `TF_WORKSPACE` is exported in
/// every case, the other name never set.
const ALLOWLISTS: [&[&str]; 2] = [&[], &["TF_WORKSPACE", "AWS_REGION"]];

/// Renders every combination of options for `kind`, runs each script under
/// `set -eu` through a command and the hooks around it, and checks that the
/// shell printed nothing, that the rendering passes `zsh -n` or shellcheck,
/// and that the command was stored with the allowlisted variables.
fn every_rendering_runs_silently_under_set_eu_and_records(kind: ShellKind) -> Result<()> {
    let mut failures = Vec::new();
    let mut case = 0;
    for places in [Places::Plain, Places::Awkward] {
        let world = World::new(places)?;
        let _daemon = world.env.start_daemon_with(DaemonOptions::new(world.paths.clone()))?;
        for fifo in [FifoFrom::Init, FifoFrom::Cached, FifoFrom::None] {
            for env in ALLOWLISTS {
                case += 1;
                let name = format!("{} with {places:?} paths, FIFO from {fifo:?}, env {env:?}", kind.name());
                if let Err(e) = world.check_case(kind, fifo, env, case) {
                    failures.push(format!("{name}: {e:#}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {case} renderings failed:\n\n{}", failures.len(), failures.join("\n\n"));
    Ok(())
}

/// A test environment whose runtime and state folders and binaries are in
/// `places`; the config and the database stay where [`TestEnv`] has them, so
/// its helpers read what the daemon stored.
struct World {
    env: TestEnv,
    paths: Paths,
    lcd: PathBuf,
    hook: PathBuf,
    vars: Vec<(String, String)>,
}

impl World {
    fn new(places: Places) -> Result<World> {
        let env = env()?;
        let Places::Awkward = places else {
            let (paths, vars) = (env.paths(), env.vars());
            let (lcd, hook) = (env.lcd.clone(), env.lcd_hook.clone());
            return Ok(World { env, paths, lcd, hook, vars });
        };
        let odd = env.root.join(r#"it's "odd" $HOME \ here"#);
        let (runtime, state, bin) = (odd.join("run"), odd.join("state"), odd.join("bin"));
        for dir in [&runtime, &state, &bin] {
            std::fs::create_dir_all(dir)?;
        }
        // lcd prints the paths it was started from: links, not copies, of the
        // 200 MB debug binaries.
        let (lcd, hook) = (bin.join("lcd"), bin.join("lcd-hook"));
        link_or_copy(&env.lcd, &lcd)?;
        link_or_copy(&env.lcd_hook, &hook)?;
        let mut vars = env.vars();
        for (key, value) in &mut vars {
            match key.as_str() {
                "XDG_RUNTIME_DIR" => *value = runtime.display().to_string(),
                "XDG_STATE_HOME" => *value = state.display().to_string(),
                _ => {}
            }
        }
        let runtime_dir = runtime.join("lcd");
        let paths =
            Paths { state_dir: state.join("lcd"), socket: runtime_dir.join("lcd.sock"), runtime_dir, ..env.paths() };
        Ok(World { env, paths, lcd, hook, vars })
    }

    /// One rendering: run, linted, stored.
    fn check_case(&self, kind: ShellKind, fifo: FifoFrom, env: &[&str], case: usize) -> Result<()> {
        let names: Vec<String> = env.iter().map(|n| format!("{n:?}")).collect();
        let config = self.env.paths().config_file();
        std::fs::create_dir_all(config.parent().expect("the config file has a folder"))?;
        std::fs::write(&config, format!("[capture]\nenv = [{}]\n", names.join(", ")))?;

        let shell = kind.name();
        let script = match fifo {
            FifoFrom::Init | FifoFrom::Cached => self.lcd_init(shell)?,
            FifoFrom::None => render(&InitOptions {
                shell: kind,
                paths: &self.paths,
                hook: &self.hook,
                lcd: &self.lcd,
                fifo: None,
                env: &env.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                spool_max_bytes: lcd_protocol::spool::DEFAULT_MAX_BYTES,
            }),
        };
        let file = self.env.root.join(format!("case{case}.{shell}"));
        std::fs::write(&file, &script)?;
        lint(kind, &file)?;

        let load = match fifo {
            FifoFrom::Init => format!("eval \"$({} init {shell})\"", shell_quote(&self.lcd)),
            FifoFrom::Cached | FifoFrom::None => format!("source {}", shell_quote(&file)),
        };
        let command = format!(": case {case}");
        let out = self.run_under_set_eu(kind, &load, &command)?;
        // Waited for first, even when the shell complained: a helper that
        // has not connected yet would start a daemon once this one stops.
        let stored = self.env.wait_finished(&command).with_context(|| self.hook_log());
        ensure!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "{shell} -eu: {}\nstdout: {:?}\nstderr: {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let records = stored?;
        let sent = &record(&records, &command)["env"];
        if env.contains(&"TF_WORKSPACE") {
            ensure!(sent["TF_WORKSPACE"] == "matrix", "TF_WORKSPACE was not sent: env is {sent}");
        } else {
            ensure!(sent.get("TF_WORKSPACE").is_none(), "TF_WORKSPACE was sent though not allowlisted: {sent}");
        }
        Ok(())
    }

    /// `lcd init SHELL` as this world's shells run it.
    fn lcd_init(&self, shell: &str) -> Result<String> {
        let out = Command::new(&self.lcd)
            .env_clear()
            .envs(self.vars.iter().cloned())
            .args(["init", shell])
            .current_dir(self.env.home())
            .output()?;
        ensure!(out.status.success() && out.stderr.is_empty(), "lcd init: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Runs `load`, then `command` between the hooks as the interactive
    /// shell would call them, in a non-interactive shell with `-e -u`.
    fn run_under_set_eu(&self, kind: ShellKind, load: &str, command: &str) -> Result<Output> {
        let quoted = shell_quote(Path::new(command));
        let (program, flags, driver) = match kind {
            ShellKind::Zsh => (
                "zsh",
                &["-f", "-e", "-u"][..],
                format!(
                    "{load}\nfor f in $preexec_functions; do $f {quoted} {quoted} {quoted}; done\n{command}\n\
                     for f in $precmd_functions; do $f; done\n"
                ),
            ),
            // What readline and bash do around a line: history, PS0, the
            // command (the DEBUG trap fires before it), PROMPT_COMMAND.
            ShellKind::Bash => (
                "bash",
                &["--norc", "--noprofile", "-e", "-u"][..],
                format!(
                    "set -o history\n{load}\nhistory -s {quoted}\n: \"${{PS0@P}}\"\n{command}\n\
                     eval \"$PROMPT_COMMAND\"\n"
                ),
            ),
            ShellKind::Fish => bail!("fish has no set -eu to run its script under"),
        };
        Command::new(program)
            .args(flags)
            .arg("-c")
            .arg(driver)
            .env_clear()
            .envs(self.vars.iter().cloned())
            .env("TF_WORKSPACE", "matrix")
            .current_dir(self.env.home())
            .output()
            .with_context(|| format!("running {program} (is it installed?)"))
    }

    fn hook_log(&self) -> String {
        let log = self.paths.state_dir.join("hook.log");
        format!("hook log: {}", std::fs::read_to_string(log).unwrap_or_else(|e| format!("({e})")))
    }
}

/// `zsh -n` for zsh, shellcheck for bash, `fish -n` for fish.
fn lint(kind: ShellKind, script: &Path) -> Result<()> {
    let out = match kind {
        ShellKind::Zsh => Command::new("zsh").arg("-n").arg(script).output().context("running zsh -n")?,
        ShellKind::Bash => Command::new("shellcheck")
            .args(["--shell=bash", "--severity=style"])
            .arg(script)
            .output()
            .context("running shellcheck (is it installed?)")?,
        ShellKind::Fish => Command::new("fish").arg("-n").arg(script).output().context("running fish -n")?,
    };
    if !out.status.success() {
        bail!("lint: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}
