//! `lcd init zsh|bash|fish`: prints the shell integration with this
//! machine's paths filled in. The scripts are askama templates under `shell/`
//! (the parts zsh and bash share in `shell/common/`), rendered from
//! [`InitOptions`].

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use askama::Template;

use crate::config::Config;
use crate::paths::{check_private_dir, Paths};
use lcd_protocol::sys::process_exists;
use lcd_protocol::RecordId;
pub use lcd_protocol::Shell;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to print the integration for.
    #[arg(value_parser = super::shell_arg())]
    pub shell: Shell,
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let hook = find_hook()?;
    let lcd = std::env::current_exe()?;
    // The hooks log to the state folder and read from a FIFO in the runtime folder.
    check_private_dir(&paths.runtime_dir)?;
    check_private_dir(&paths.state_dir)?;
    // fish appends to a file instead (see shell/lcd.fish).
    remove_unclaimed_fifos(&paths.runtime_dir);
    let fifo = if args.shell == Shell::Fish { None } else { make_fifo(&paths.runtime_dir) };
    // A broken config must not leave the shell unrecorded: say in full what
    // is wrong, once per shell start, and go on as the daemon does.
    let loaded = Config::load_for_init_or_last_good(&paths.config_file(), &paths.last_good_config());
    if let Some(problem) = &loaded.problem {
        eprintln!(
            "lcd: the config file is broken; recording goes on with {}.\n{}\nFix it with: lcd config edit",
            problem.fallback, problem.error
        );
    }
    let config = loaded.config;
    out!(
        "{}",
        render(&InitOptions {
            shell: args.shell,
            paths,
            hook: &hook,
            lcd: &lcd,
            fifo: fifo.as_deref(),
            env: &config.capture.env,
            spool_max_bytes: config.daemon.spool_max_bytes,
        })
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The rc file (under the home folder) that loads lcd into `shell`.
pub fn rc_file(shell: Shell) -> &'static str {
    match shell {
        Shell::Zsh => ".zshrc",
        Shell::Bash => ".bashrc",
        Shell::Fish => ".config/fish/config.fish",
    }
}

/// The line of [`rc_file`] that loads lcd.
pub fn load_line(shell: Shell) -> String {
    match shell {
        Shell::Zsh | Shell::Bash => format!("eval \"$(lcd init {shell})\""),
        Shell::Fish => "lcd init fish | source".into(),
    }
}

/// FIFOs older than this were never opened by a shell (someone ran
/// `lcd init` to read it) or are held by descriptor already, and are removed.
const FIFO_UNCLAIMED: Duration = Duration::from_secs(60);

/// Where `/proc` can reopen a descriptor, the shells make their FIFO a pipe
/// with no name (see `shell/common/fifo.sh`) and need none from us.
const SHELLS_MAKE_A_PIPE: &str = "/proc/self/fd";

/// Makes the FIFO the calling shell will write its records to, named after
/// that shell's pid (our parent: `$(lcd init zsh)` runs us directly), so the
/// script can tell it was made for it. Saves the shell a `mkfifo` process.
/// None where the shell makes a pipe instead.
fn make_fifo(runtime_dir: &Path) -> Option<PathBuf> {
    if Path::new(SHELLS_MAKE_A_PIPE).exists() {
        return None;
    }
    let path = runtime_dir.join(format!("hook.{}.{}", std::os::unix::process::parent_id(), nonce()));
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a valid NUL-terminated path; mkfifo creates nothing else.
    (unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } == 0).then_some(path)
}

/// What tells one shell's FIFO or record file from an earlier one of the
/// same pid.
fn nonce() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
}

/// Removes the hook FIFOs whose shell is gone, and those old enough that no
/// shell needs their name: a shell holds its FIFO by descriptor once opened.
/// fish's record files (`hook.PID.N.rec`) are used by name as long as the
/// shell lives, and go when it is gone (its helper removes it, unless it
/// was killed).
fn remove_unclaimed_fifos(runtime_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(runtime_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(shell) = name.to_str().and_then(|n| n.strip_prefix("hook.")) else { continue };
        let Ok(kind) = entry.file_type() else { continue };
        let records = kind.is_file() && shell.ends_with(".rec");
        if !kind.is_fifo() && !records {
            continue;
        }
        let gone =
            shell.split('.').next().and_then(|pid| pid.parse::<u32>().ok()).is_some_and(|pid| !process_exists(pid));
        let old = !records
            && entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > FIFO_UNCLAIMED);
        if gone || old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Everything one rendering of the shell integration depends on. Every
/// combination renders a script its shell runs silently under `set -eu`
/// (the e2e tests in `init_script` run them all).
#[derive(Debug, Clone, Copy)]
pub struct InitOptions<'a> {
    pub shell: Shell,
    /// The daemon's socket, the spool, the hook log (in the state folder) and
    /// the runtime folder where a script makes its own FIFO.
    pub paths: &'a Paths,
    /// The lcd-hook binary the shell keeps running.
    pub hook: &'a Path,
    /// The lcd binary, which lcd-hook runs to start the daemon.
    pub lcd: &'a Path,
    /// The FIFO `lcd init` made for the calling shell; without one the script
    /// makes its own.
    pub fifo: Option<&'a Path>,
    /// The `[capture] env` allowlist, sent when exported. The names become
    /// shell code: [`Config`] lets only identifiers through.
    pub env: &'a [String],
    /// `[daemon] spool_max_bytes`, for the helper's spool.
    pub spool_max_bytes: u64,
}

/// The script for `options.shell`.
pub fn render(options: &InitOptions) -> String {
    let paths = options.paths;
    let quoted = |path: &Path| Quoted::new(options.shell, path);
    let script = Script {
        shell: options.shell,
        hook: quoted(options.hook),
        lcd: quoted(options.lcd),
        socket: quoted(&paths.socket),
        spool: quoted(&paths.spool_dir()),
        hook_log: quoted(&paths.hook_log()),
        runtime: quoted(&paths.runtime_dir),
        fifo: options.fifo.map(quoted),
        // fish's session id and record file are made here: it has no clock
        // (zsh and bash make their own).
        session: if options.shell == Shell::Fish {
            RecordId::time_ordered().map_or_else(|| "unknown".into(), |id| id.to_string())
        } else {
            String::new()
        },
        nonce: nonce(),
        env: options.env,
        // Only a setting of the user's reaches the serve line: the default
        // script stays the same, and lcd-hook knows the default.
        spool_max_bytes: Some(options.spool_max_bytes).filter(|&n| n != lcd_protocol::spool::DEFAULT_MAX_BYTES),
    };
    script.render().expect("the script's values always display")
}

/// What the templates see: [`InitOptions`] with every path made a shell word.
#[derive(Template)]
#[template(
    // Template files lose their last newline; each script gets it back here.
    source = "{% match shell %}{% when Shell::Zsh %}{% include \"lcd.zsh\" %}\n{% when Shell::Bash %}{% include \"lcd.bash\" %}\n{% when Shell::Fish %}{% include \"lcd.fish\" %}\n{% endmatch %}",
    ext = "txt"
)]
struct Script<'a> {
    shell: Shell,
    hook: Quoted,
    lcd: Quoted,
    socket: Quoted,
    spool: Quoted,
    hook_log: Quoted,
    runtime: Quoted,
    fifo: Option<Quoted>,
    session: String,
    nonce: u32,
    env: &'a [String],
    spool_max_bytes: Option<u64>,
}

/// A path as one word for the shell, whatever it holds.
struct Quoted(String);

impl Quoted {
    fn new(shell: Shell, path: &Path) -> Quoted {
        Quoted(match shell {
            Shell::Zsh | Shell::Bash => shell_quote(path),
            Shell::Fish => fish_quote(path),
        })
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Quotes a path for both zsh and bash: single quotes, with `'` spelled
/// `'\''`. `$` and `` ` `` are escaped outside the quotes, where shellcheck
/// does not take them for an expansion someone forgot to double-quote.
pub fn shell_quote(path: &Path) -> String {
    let mut quoted = String::from("'");
    for c in path.to_string_lossy().chars() {
        match c {
            '\'' => quoted.push_str(r"'\''"),
            '$' | '`' => quoted.extend(['\'', '\\', c, '\'']),
            _ => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

/// Quotes a path for fish: single quotes, inside which fish reads `\\` and
/// `\'` as escapes (and nothing else).
pub fn fish_quote(path: &Path) -> String {
    let mut quoted = String::from("'");
    for c in path.to_string_lossy().chars() {
        if matches!(c, '\\' | '\'') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// lcd-hook sits next to lcd (cargo install puts both in one folder), or on PATH.
pub fn find_hook() -> Result<PathBuf> {
    let beside = std::env::current_exe()?.with_file_name("lcd-hook");
    if beside.is_file() {
        return Ok(beside);
    }
    if let Some(found) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("lcd-hook"))
        .find(|p| p.is_file())
    {
        return Ok(found);
    }
    bail!("lcd-hook is not installed next to lcd or on PATH; install it with: cargo install --locked --path hook")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
    }

    #[test]
    fn the_fifos_of_shells_that_are_gone_are_removed_and_others_kept() {
        let dir = std::env::temp_dir().join(format!("lcd-init-fifos-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let (dead, alive) =
            (dir.join(format!("hook.{}.1", gone.id())), dir.join(format!("hook.{}.2", std::process::id())));
        let not_a_fifo = dir.join(format!("hook.{}.3", gone.id()));
        mkfifo(&dead);
        mkfifo(&alive);
        std::fs::write(&not_a_fifo, "").unwrap();
        remove_unclaimed_fifos(&dir);
        let left: Vec<bool> = [&dead, &alive, &not_a_fifo].iter().map(|p| p.exists()).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(left, [false, true, true], "the dead shell's FIFO, a live one's, a file");
    }

    #[test]
    fn quotes_survive_paths_with_quotes() {
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
        assert_eq!(shell_quote(Path::new("/$HOME/`x`")), r"'/'\$'HOME/'\`'x'\`''");
        assert_eq!(fish_quote(Path::new("/a b/it's\\")), r"'/a b/it\'s\\'");
    }
}
