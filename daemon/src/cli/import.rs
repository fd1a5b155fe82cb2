//! `lcd import zsh|bash [FILE]`: existing shell history into lcd, marked as
//! imported, redacted like live records; importing twice adds nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use lcd_protocol::protocol::{ImportedCommand, Reply, Request};
use lcd_protocol::{RecordId, Shell};

use super::daemon::connect_or_start;
use crate::paths::Paths;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Whose history format the file is in.
    #[arg(value_parser = super::shell_arg())]
    pub shell: Shell,
    /// The history file (default: $HISTFILE, else ~/.zsh_history or ~/.bash_history).
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
    let (shell, default) = (args.shell.name(), format!(".{}_history", args.shell.name()));
    let file = match args.file {
        Some(f) => f,
        None => std::env::var_os("HISTFILE")
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(default)),
    };
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let entries = match args.shell {
        Shell::Zsh => parse_zsh(&bytes),
        Shell::Bash => parse_bash(&bytes),
    };
    let commands = to_commands(shell, &entries, &file)?;
    if commands.is_empty() {
        outln!("{}: no commands to import", file.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut sender = connect_or_start(paths)?;
    let (mut added, mut already) = (0, 0);
    for chunk in commands.chunks(2000) {
        match sender.request(&Request::Import(chunk.to_vec()))? {
            Reply::Imported { added: a, already: b } => {
                added += a;
                already += b;
            }
            other => bail!("unexpected answer from the daemon: {other:?}"),
        }
    }
    let skipped = commands.len() as u64 - added - already;
    outln!(
        "Imported {added} commands from {} ({already} were there already{}).",
        file.display(),
        if skipped > 0 { format!(", {skipped} left out by never-record rules") } else { String::new() }
    )?;
    Ok(ExitCode::SUCCESS)
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
pub fn parse_bash(bytes: &[u8]) -> Vec<Entry> {
    let text = String::from_utf8_lossy(bytes);
    let stamp = |line: &str| {
        line.strip_prefix('#')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<i64>().ok())
    };
    let timed = text.lines().any(|l| stamp(l).is_some());
    let mut entries: Vec<Entry> = Vec::new();
    let mut open = false;
    for line in text.lines() {
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

/// Entries as commands with ids derived from their content (and, for
/// identical entries, how many came before), so a second import matches
/// the first. Entries without a time get the file's, in order.
fn to_commands(shell: &str, entries: &[Entry], file: &Path) -> Result<Vec<ImportedCommand>> {
    let host = lcd_protocol::sys::hostname();
    let user = lcd_protocol::sys::user_name();
    let source = format!("import:{shell}:{user}@{host}");
    let modified = std::fs::metadata(file)?.modified()?.duration_since(std::time::UNIX_EPOCH)?.as_micros() as i64;
    let mut seen: std::collections::HashMap<(Option<i64>, &str), u64> = std::collections::HashMap::new();
    let total = entries.len() as i64;
    Ok(entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let occurrence = seen.entry((e.time, e.command.as_str())).or_insert(0);
            *occurrence += 1;
            let key = format!("{:?}\0{}\0{}", e.time, e.command, occurrence);
            ImportedCommand {
                id: RecordId::derive(&source, fnv1a_64(key.as_bytes())),
                shell: shell.to_string(),
                host: host.clone(),
                user: user.clone(),
                started_at: e.time.map(|t| t * 1_000_000).unwrap_or(modified - (total - i as i64)),
                duration_ms: e.duration_s.map(|s| s * 1000),
                command: e.command.clone(),
            }
        })
        .collect())
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
}
