//! `lcd import zsh|bash|fish [FILE]`: existing shell history into lcd, marked as
//! imported, redacted like live records; importing twice adds nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lcd_protocol::protocol::{ImportedCommand, Reply, Request};
use lcd_protocol::sender::{SendError, Sender};
use lcd_protocol::{RecordId, Shell};

use super::daemon::connect_or_start;
use crate::paths::Paths;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Whose history format the file is in.
    #[arg(value_parser = super::shell_arg())]
    pub shell: Shell,
    /// The history file (default: $HISTFILE, else ~/.zsh_history or
    /// ~/.bash_history; fish's ~/.local/share/fish/fish_history).
    pub file: Option<PathBuf>,
}

/// One entry of a history file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Seconds since the epoch, when the file records it.
    pub time: Option<i64>,
    pub duration_s: Option<i64>,
    pub command: String,
}

pub fn run(args: Args, paths: &Paths) -> Result<ExitCode> {
    let shell = args.shell.name();
    let file = match args.file {
        Some(f) => f,
        None => default_history_file(args.shell),
    };
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let entries = match args.shell {
        Shell::Zsh => parse_zsh(&bytes),
        Shell::Bash => parse_bash(&bytes),
        Shell::Fish => parse_fish(&bytes),
    };
    let commands = to_commands(shell, &entries, untimed_before(&entries, paths)?);
    if commands.is_empty() {
        outln!("{}: no commands to import", file.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut sender = connect_or_start(paths)?.with_ack_budget(CHUNK_BUDGET);
    let (mut added, mut already) = (0, 0);
    for (n, chunk) in commands.chunks(CHUNK).enumerate() {
        let (a, b) = import_chunk(&mut sender, chunk).map_err(|e| {
            anyhow::anyhow!(
                "importing stopped after {} of {} commands: {e}\n\
                 Run the same `lcd import` again: it goes on where it stopped \
                 (commands already imported are not added twice).",
                n * CHUNK,
                commands.len()
            )
        })?;
        added += a;
        already += b;
    }
    let skipped = commands.len() as u64 - added - already;
    outln!(
        "Imported {added} commands from {} ({already} were there already{}).",
        file.display(),
        if skipped > 0 { format!(", {skipped} left out by never-record rules") } else { String::new() }
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Where the shell keeps its history when not told otherwise. fish has no
/// `$HISTFILE`; it names its file after `$fish_history` in its data folder.
fn default_history_file(shell: Shell) -> PathBuf {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    match shell {
        Shell::Zsh | Shell::Bash => {
            var("HISTFILE").map_or_else(|| home.join(format!(".{}_history", shell.name())), PathBuf::from)
        }
        Shell::Fish => {
            let data = var("XDG_DATA_HOME").map_or_else(|| home.join(".local/share"), PathBuf::from);
            let name = var("fish_history").map_or_else(|| "fish".into(), |n| n.to_string_lossy().into_owned());
            data.join("fish").join(format!("{name}_history"))
        }
    }
}

/// Commands per request.
const CHUNK: usize = 2000;
/// How long the daemon may take over one chunk (it writes them while it
/// serves the shells).
const CHUNK_BUDGET: Duration = Duration::from_secs(60);
/// Attempts per chunk: a daemon busy or restarting for a moment must not end
/// an import. A chunk sent again adds nothing twice (ids come from the lines).
const ATTEMPTS: u32 = 5;

/// Sends one chunk, again after a pause while the daemon is slow, restarts or
/// breaks the connection: (added, already there).
fn import_chunk(sender: &mut Sender, chunk: &[ImportedCommand]) -> Result<(u64, u64)> {
    let mut pause = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        match sender.request(&Request::Import(chunk.to_vec())) {
            Ok(Reply::Imported { added, already }) => return Ok((added, already)),
            Ok(other) => bail!("unexpected answer from the daemon: {other:?}"),
            Err(e @ (SendError::Slow(_) | SendError::Broken(_) | SendError::Unreachable(_))) if attempt < ATTEMPTS => {
                tracing::debug!("import chunk, attempt {attempt}: {e}");
                std::thread::sleep(pause);
                pause *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the last attempt returns")
}

/// zsh keeps bytes 0x83..=0x9f and NUL "metafied": 0x83, then the byte ^ 0x20.
fn unmetafy(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter();
    while let Some(&b) = iter.next() {
        match (b, iter.as_slice().first()) {
            (0x83, Some(&next)) => {
                out.push(next ^ 0x20);
                iter.next();
            }
            _ => out.push(b),
        }
    }
    out
}

/// zsh history: `: start:elapsed;command` (EXTENDED_HISTORY) or plain lines;
/// a line ending in a backslash continues on the next one.
pub fn parse_zsh(bytes: &[u8]) -> Vec<Entry> {
    let text = String::from_utf8_lossy(&unmetafy(bytes)).into_owned();
    let mut entries = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let mut entry = line.to_string();
        while entry.ends_with('\\') && lines.peek().is_some() {
            entry.pop();
            entry.push('\n');
            entry.push_str(lines.next().unwrap_or_default());
        }
        if entry.trim().is_empty() {
            continue;
        }
        entries.push(match parse_extended(&entry) {
            Some(e) => e,
            None => Entry { time: None, duration_s: None, command: entry },
        });
    }
    entries
}

fn parse_extended(entry: &str) -> Option<Entry> {
    let rest = entry.strip_prefix(": ")?;
    let (meta, command) = rest.split_once(';')?;
    let (start, elapsed) = meta.split_once(':')?;
    Some(Entry {
        time: Some(start.trim().parse().ok()?),
        duration_s: elapsed.trim().parse().ok(),
        command: command.to_string(),
    })
}

/// bash history: with HISTTIMEFORMAT set, a `#epoch` line opens each entry
/// (and the lines up to the next one belong to it); without, a line each.
/// Lines end at `\n` only: a carriage return is part of the command, as
/// bash itself keeps it (`str::lines` would drop it).
/// fish's history: a YAML-like list of `- cmd: TEXT` with `  when: SECONDS`
/// (and `  paths:` lists, not needed here). In TEXT fish writes a newline as
/// `\n` and a backslash as `\\`.
pub fn parse_fish(bytes: &[u8]) -> Vec<Entry> {
    let text = String::from_utf8_lossy(bytes);
    let mut entries: Vec<Entry> = Vec::new();
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("- cmd: ") {
            let command = unescape_fish(cmd);
            if !command.trim().is_empty() {
                entries.push(Entry { time: None, duration_s: None, command });
            }
        } else if let (Some(when), Some(last)) = (line.strip_prefix("  when: "), entries.last_mut()) {
            last.time = last.time.or(when.trim().parse().ok());
        }
    }
    entries
}

fn unescape_fish(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

pub fn parse_bash(bytes: &[u8]) -> Vec<Entry> {
    let text = String::from_utf8_lossy(bytes);
    let lines = || text.strip_suffix('\n').unwrap_or(&text).split('\n');
    let stamp = |line: &str| {
        line.strip_prefix('#')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<i64>().ok())
    };
    let timed = lines().any(|l| stamp(l).is_some());
    let mut entries: Vec<Entry> = Vec::new();
    let mut open = false;
    for line in lines() {
        if let Some(time) = stamp(line) {
            entries.push(Entry { time: Some(time), duration_s: None, command: String::new() });
            open = true;
        } else if timed && open {
            let last = entries.last_mut().expect("an open entry");
            if !last.command.is_empty() {
                last.command.push('\n');
            }
            last.command.push_str(line);
        } else if !line.trim().is_empty() {
            entries.push(Entry { time: None, duration_s: None, command: line.to_string() });
        }
    }
    entries.retain(|e| !e.command.trim().is_empty());
    entries
}

/// Where the entries without a time go: before everything whose time is
/// known (the file's timed entries, the history already stored) and before
/// today, so that a history file without timestamps neither jumps to the
/// top of `lcd query` nor counts as today's work.
fn untimed_before(entries: &[Entry], paths: &Paths) -> Result<i64> {
    let in_file = entries.iter().filter_map(|e| e.time).min().map(|s| s * 1_000_000);
    let stored = match super::open_history(paths)? {
        Some(store) => store.oldest()?,
        None => None,
    };
    let today = jiff::Zoned::now().start_of_day()?.timestamp().as_microsecond();
    Ok([in_file, stored, Some(today)].into_iter().flatten().min().unwrap_or(today) - 1_000_000)
}

/// Entries as commands with ids derived from their content (and, for
/// identical entries, how many came before), so a second import matches
/// the first. Entries without a time end just before `untimed_before`
/// (µs), a microsecond apart, in the file's order.
fn to_commands(shell: &str, entries: &[Entry], untimed_before: i64) -> Vec<ImportedCommand> {
    let host = lcd_protocol::sys::hostname();
    let user = lcd_protocol::sys::user_name();
    let source = format!("import:{shell}:{user}@{host}");
    let mut seen: std::collections::HashMap<(Option<i64>, &str), u64> = std::collections::HashMap::new();
    let untimed = entries.iter().filter(|e| e.time.is_none()).count() as i64;
    let mut untimed_seen = 0;
    entries
        .iter()
        .map(|e| {
            let occurrence = seen.entry((e.time, e.command.as_str())).or_insert(0);
            *occurrence += 1;
            let key = format!("{:?}\0{}\0{}", e.time, e.command, occurrence);
            let started_at = match e.time {
                Some(t) => t * 1_000_000,
                None => {
                    untimed_seen += 1;
                    untimed_before - (untimed - untimed_seen + 1)
                }
            };
            ImportedCommand {
                id: RecordId::derive(&source, fnv1a_64(key.as_bytes())),
                shell: shell.to_string(),
                host: host.clone(),
                user: user.clone(),
                started_at,
                duration_ms: e.duration_s.map(|s| s * 1000),
                command: e.command.clone(),
            }
        })
        .collect()
}

fn fnv1a_64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zsh_extended_history_with_a_multi_line_entry() {
        let text =
            b": 1700000000:2;terraform plan\n: 1700000005:0;for i in 1 2; do\\\necho $i\\\ndone\n: 1700000009:0;ls\n";
        let entries = parse_zsh(text);
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0],
            Entry { time: Some(1_700_000_000), duration_s: Some(2), command: "terraform plan".into() }
        );
        assert_eq!(entries[1].command, "for i in 1 2; do\necho $i\ndone");
    }

    #[test]
    fn fish_history_with_a_multi_line_entry_a_backslash_and_paths() {
        let text = b"- cmd: terraform plan\n  when: 1700000000\n  paths:\n    - main.tf\n\
            - cmd: for i in 1 2\\n  echo $i\\nend\n  when: 1700000005\n- cmd: echo a\\\\nb\n  when: 1700000009\n";
        let entries = parse_fish(text);
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert_eq!(entries[0], Entry { time: Some(1_700_000_000), duration_s: None, command: "terraform plan".into() });
        assert_eq!(entries[1].command, "for i in 1 2\n  echo $i\nend");
        assert_eq!((entries[2].time, entries[2].command.as_str()), (Some(1_700_000_009), "echo a\\nb"));
    }

    #[test]
    fn zsh_metafied_bytes_are_restored() {
        // 'é' is C3 A9; zsh stores A9 as 83 89.
        let entries = parse_zsh(b": 1:0;echo caf\xc3\x83\x89\n");
        assert_eq!(entries[0].command, "echo café");
    }

    #[test]
    fn bash_history_with_and_without_timestamps() {
        let timed = parse_bash(b"#1700000000\ngit push\n#1700000100\nfor i in 1 2\ndo echo $i\ndone\n");
        assert_eq!(timed.len(), 2);
        assert_eq!(
            timed[1],
            Entry { time: Some(1_700_000_100), duration_s: None, command: "for i in 1 2\ndo echo $i\ndone".into() }
        );
        let plain = parse_bash(b"ls\ngit status\n\n");
        assert_eq!(plain.iter().map(|e| e.command.as_str()).collect::<Vec<_>>(), ["ls", "git status"]);
    }

    #[test]
    fn bash_import_keeps_a_carriage_return_at_the_end_of_a_line() {
        let plain = parse_bash(b"echo a\r\necho b\r");
        assert_eq!(plain.iter().map(|e| e.command.as_str()).collect::<Vec<_>>(), ["echo a\r", "echo b\r"]);
        let timed = parse_bash(b"#1700000000\nprintf x\r\n");
        assert_eq!(timed[0].command, "printf x\r");
    }

    #[test]
    fn untimed_entries_come_before_the_first_timed_one_in_file_order() {
        let entries = parse_bash(b"ls\npwd\n#1700000000\ngit push\n");
        let commands = to_commands("bash", &entries, 1_700_000_000_000_000 - 1_000_000);
        let times: Vec<i64> = commands.iter().map(|c| c.started_at).collect();
        assert_eq!(times, [1_699_999_998_999_998, 1_699_999_998_999_999, 1_700_000_000_000_000]);
    }
}
