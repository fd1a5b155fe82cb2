//! The zsh and bash history importers: any file parses without a panic, and
//! a history written the way the shell writes it gives back its entries.

use bolero::{check, produce, ValueGenerator};
use lcd::cli::import::{parse_bash, parse_zsh, Entry};

#[test]
fn the_zsh_history_importer_never_panics() {
    check!().with_type::<Vec<u8>>().for_each(|bytes| {
        let _ = parse_zsh(bytes);
    });
}

/// zsh's metafication: NUL and the bytes it uses as tokens (0x83 to 0xa2)
/// are written as 0x83, then the byte xor 0x20.
fn metafy(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in text.as_bytes() {
        if b == 0 || (0x83..=0xa2).contains(&b) {
            out.extend([0x83, b ^ 0x20]);
        } else {
            out.push(b);
        }
    }
    out
}

/// A history file as zsh writes it with EXTENDED_HISTORY: `: start:elapsed;`,
/// the command metafied, each newline inside it preceded by a backslash.
fn zsh_history(entries: &[(u32, u16, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (start, elapsed, command) in entries {
        out.extend(format!(": {start}:{elapsed};").as_bytes());
        out.extend(metafy(&command.replace('\n', "\\\n")));
        out.push(b'\n');
    }
    out
}

#[test]
fn a_zsh_history_gives_back_its_entries() {
    // zsh cannot tell a command ending in a backslash from a continued line
    // (it reads such a file the same way), and it saves no blank commands.
    let entries = produce::<Vec<(u32, u16, String)>>().map_gen(|entries| {
        entries.into_iter().filter(|(_, _, c)| !c.ends_with('\\') && !c.trim().is_empty()).collect::<Vec<_>>()
    });
    check!().with_generator(entries).for_each(|entries| {
        let want: Vec<Entry> = entries
            .iter()
            .map(|(start, elapsed, command)| Entry {
                time: Some(i64::from(*start)),
                duration_s: Some(i64::from(*elapsed)),
                command: command.clone(),
            })
            .collect();
        assert_eq!(parse_zsh(&zsh_history(entries)), want);
    });
}

#[test]
fn the_bash_history_importer_never_panics() {
    check!().with_type::<Vec<u8>>().for_each(|bytes| {
        let _ = parse_bash(bytes);
    });
}

/// Whether bash could have written `command` as one entry that reads back
/// the same: no line of it looks like a time stamp, and no line is empty or
/// ends in a carriage return (the importer reads lines as `str::lines` does).
fn bash_can_round_trip(command: &str) -> bool {
    !command.trim().is_empty()
        && command.split('\n').all(|line| {
            let stamp = line.strip_prefix('#').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            !stamp && !line.is_empty() && !line.contains('\r')
        })
}

#[test]
fn a_timed_bash_history_gives_back_its_entries() {
    let entries = produce::<Vec<(u32, String)>>()
        .map_gen(|entries| entries.into_iter().filter(|(_, c)| bash_can_round_trip(c)).collect::<Vec<_>>());
    check!().with_generator(entries).for_each(|entries| {
        // With HISTTIMEFORMAT set bash writes `#start` before each entry.
        let file: String = entries.iter().map(|(start, command)| format!("#{start}\n{command}\n")).collect();
        let want: Vec<Entry> = entries
            .iter()
            .map(|(start, command)| Entry { time: Some(i64::from(*start)), duration_s: None, command: command.clone() })
            .collect();
        assert_eq!(parse_bash(file.as_bytes()), want);
    });
}

#[test]
fn a_plain_bash_history_gives_back_a_command_a_line() {
    let commands = produce::<Vec<String>>().map_gen(|commands| {
        commands.into_iter().filter(|c| bash_can_round_trip(c) && !c.contains('\n')).collect::<Vec<_>>()
    });
    check!().with_generator(commands).for_each(|commands| {
        let file: String = commands.iter().map(|command| format!("{command}\n")).collect();
        let want: Vec<Entry> =
            commands.iter().map(|command| Entry { time: None, duration_s: None, command: command.clone() }).collect();
        assert_eq!(parse_bash(file.as_bytes()), want);
    });
}
