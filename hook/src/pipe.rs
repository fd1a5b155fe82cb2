//! The record format the shell scripts write to lcd-hook's input. Private to
//! `shell/lcd.*` and this crate: both ship together, and the frames sent on to
//! the daemon are the versioned protocol.
//!
//! The input is a stream of fields, each ended by a NUL byte (shell strings
//! cannot hold NUL in bash, and practically never do in zsh). A field holding
//! the single byte 0x1e ends a record. The first field of a record is its tag
//! (`S` start, `E` end); the others are `key=value`:
//!
//! | key | meaning |
//! | --- | --- |
//! | `n` | the shell's command counter |
//! | `t` | `$EPOCHREALTIME` at the event (fish has none: the time the helper read it) |
//! | `d` | working directory (start) |
//! | `c` | the command line as typed (start, zsh and fish) |
//! | `x` | the command with aliases expanded (start, zsh) |
//! | `h` | `history 1` output (start, bash) |
//! | `b` | `$BASH_COMMAND`, the first simple command (start, bash) |
//! | `i` | `$HISTCMD` at the prompt before: the number the line gets if saved (start, bash) |
//! | `v` | `NAME=value` of an allowlisted exported variable (start; repeated) |
//! | `s` | exit status (end) |
//! | `p` | pipestatus, space separated (end) |
//! | `z` | `1`: the job was stopped (Ctrl-Z), not ended (end) |
//! | `m` | `$CMD_DURATION`: how long it ran, in milliseconds (end, fish) |
//!
//! A record with an unknown key, or with a key other than `v` twice, is
//! refused whole: the scripts ship with this helper and never write one, so
//! it can only come from text that got out of its field. No command text can:
//! zsh writes a NUL inside a value as U+2400, and bash strings hold no NUL.

use std::fmt;

use lcd_protocol::protocol::{cut_and_mark, truncate_marked, Micros, MAX_COMMAND_LEN, MAX_ENV_VARS, MAX_PIPESTATUS};

const FIELD_END: u8 = 0;
const RECORD_END: &[u8] = b"\x1e";
/// A field keeps this many bytes; the rest is counted and marked as cut.
const FIELD_KEEP: usize = MAX_COMMAND_LEN + 1;
/// The keys of the table above.
const KEYS: &[u8] = b"ntdcxhbivspzm";
/// Fields beyond this many in one record mean the stream is out of sync.
const MAX_FIELDS: usize = 32;

/// One event as the shell reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellRecord {
    Start(ShellStart),
    End(ShellEnd),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShellStart {
    pub seq: u64,
    pub at: Micros,
    pub cwd: String,
    /// zsh: the line as typed.
    pub command: Option<String>,
    /// zsh: the line with aliases expanded.
    pub expanded: Option<String>,
    /// bash: the newest history entry, as (number, text).
    pub history: Option<(u64, String)>,
    /// bash: the first simple command about to run.
    pub first_command: Option<String>,
    /// bash: the history number the line gets if it is saved.
    pub history_next: Option<u64>,
    /// Allowlisted exported variables, (name, value).
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShellEnd {
    pub seq: u64,
    pub at: Micros,
    pub status: i32,
    pub pipestatus: Vec<i32>,
    /// The shell holds the job stopped: it may go on after `fg`.
    pub stopped: bool,
    /// How long it ran by the shell's own clock (fish), in milliseconds.
    pub duration_ms: Option<u64>,
}

/// A record that could not be understood; the stream continues after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeError(pub String);

impl fmt::Display for PipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Incremental parser: feed it whatever the pipe gave, take whole records.
#[derive(Default)]
pub struct Parser {
    field: Vec<u8>,
    field_overflow: usize,
    fields: Vec<Field>,
    overflowed_record: bool,
    /// The time of records without `t=`: when their bytes were read.
    arrived: Option<Micros>,
}

struct Field {
    bytes: Vec<u8>,
    cut: usize,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// [`Parser::feed`] for bytes read at `at`: the time of records that
    /// carry none.
    pub fn feed_read_at(&mut self, input: &[u8], at: Micros) -> Vec<Result<ShellRecord, PipeError>> {
        self.arrived = Some(at);
        self.feed(input)
    }

    /// Consumes `input`, returning every record it completed.
    pub fn feed(&mut self, input: &[u8]) -> Vec<Result<ShellRecord, PipeError>> {
        let mut out = Vec::new();
        let mut rest = input;
        while let Some(pos) = rest.iter().position(|&b| b == FIELD_END) {
            self.push_bytes(&rest[..pos]);
            rest = &rest[pos + 1..];
            let field = Field { bytes: std::mem::take(&mut self.field), cut: std::mem::take(&mut self.field_overflow) };
            if field.bytes == RECORD_END && field.cut == 0 {
                let fields = std::mem::take(&mut self.fields);
                if std::mem::take(&mut self.overflowed_record) {
                    out.push(Err(PipeError(format!("record with more than {MAX_FIELDS} fields skipped"))));
                } else if !fields.is_empty() {
                    out.push(parse_record(fields, self.arrived));
                }
            } else if self.fields.len() >= MAX_FIELDS {
                self.overflowed_record = true;
            } else {
                self.fields.push(field);
            }
        }
        self.push_bytes(rest);
        out
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        let room = FIELD_KEEP.saturating_sub(self.field.len());
        let keep = room.min(bytes.len());
        self.field.extend_from_slice(&bytes[..keep]);
        self.field_overflow += bytes.len() - keep;
    }
}

fn parse_record(fields: Vec<Field>, arrived: Option<Micros>) -> Result<ShellRecord, PipeError> {
    let mut fields = fields.into_iter();
    let tag = fields.next().map(|f| f.bytes).unwrap_or_default();
    let mut values: Vec<(u8, String)> = Vec::new();
    for field in fields {
        let cut = field.cut;
        let mut bytes = field.bytes;
        if bytes.is_empty() {
            continue; // bash's printf '%s\0' of an empty list writes one
        }
        if bytes.len() < 2 || bytes[1] != b'=' {
            return Err(PipeError(format!("malformed field {:?}", String::from_utf8_lossy(&bytes))));
        }
        let key = bytes[0];
        if !KEYS.contains(&key) {
            return Err(PipeError(format!("unknown field {:?}", char::from(key))));
        }
        if key != b'v' && values.iter().any(|(k, _)| *k == key) {
            return Err(PipeError(format!("field {:?} twice in one record", char::from(key))));
        }
        bytes.drain(..2);
        let mut value = String::from_utf8_lossy(&bytes).into_owned();
        if cut > 0 {
            cut_and_mark(&mut value, MAX_COMMAND_LEN);
        } else {
            truncate_marked(&mut value, MAX_COMMAND_LEN);
        }
        values.push((key, value));
    }
    let get = |k: u8| values.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone());
    let seq = get(b'n')
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| PipeError("record without a valid counter (n=)".into()))?;
    let at = match get(b't') {
        Some(t) => parse_epoch_realtime(&t),
        None => arrived,
    }
    .ok_or_else(|| PipeError("record without a valid time (t=)".into()))?;
    match tag.as_slice() {
        b"S" => Ok(ShellRecord::Start(ShellStart {
            seq,
            at,
            cwd: get(b'd').unwrap_or_default(),
            command: get(b'c'),
            expanded: get(b'x'),
            history: get(b'h').as_deref().and_then(parse_history_line),
            first_command: get(b'b'),
            history_next: get(b'i').and_then(|v| v.parse().ok()),
            env: values
                .iter()
                .filter(|(k, _)| *k == b'v')
                .filter_map(|(_, v)| v.split_once('='))
                .filter(|(name, _)| !name.is_empty())
                .take(MAX_ENV_VARS)
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        })),
        b"E" => {
            let status = get(b's')
                .and_then(|v| v.trim().parse::<i32>().ok())
                .ok_or_else(|| PipeError("end without a valid status (s=)".into()))?;
            let mut pipestatus: Vec<i32> =
                get(b'p').unwrap_or_default().split_ascii_whitespace().filter_map(|v| v.parse().ok()).collect();
            pipestatus.truncate(MAX_PIPESTATUS);
            if pipestatus.is_empty() {
                pipestatus.push(status);
            }
            let stopped = get(b'z').as_deref() == Some("1");
            let duration_ms = get(b'm').and_then(|v| v.trim().parse().ok());
            Ok(ShellRecord::End(ShellEnd { seq, at, status, pipestatus, stopped, duration_ms }))
        }
        other => Err(PipeError(format!("unknown record tag {:?}", String::from_utf8_lossy(other)))),
    }
}

/// Parses `$EPOCHREALTIME` ("1700000000.123456"; bash writes the locale's
/// decimal separator, zsh may give nanoseconds) into microseconds.
pub fn parse_epoch_realtime(text: &str) -> Option<Micros> {
    let text = text.trim();
    let (secs, frac) = match text.find(['.', ',']) {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut micros = 0i64;
    for i in 0..6 {
        micros = micros * 10 + frac.as_bytes().get(i).map_or(0, |d| (d - b'0') as i64);
    }
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Parses one entry of bash's `history 1` (with `HISTTIMEFORMAT` empty):
/// `"  123  text\n"`. Multi-line entries keep their inner newlines.
pub fn parse_history_line(line: &str) -> Option<(u64, String)> {
    let line = line.trim_start_matches(' ');
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let number = line[..digits].parse().ok()?;
    // bash marks entries edited in the history with '*' after the number.
    let rest = line[digits..].strip_prefix('*').unwrap_or(&line[digits..]);
    let text = rest.strip_prefix("  ").unwrap_or(rest.trim_start_matches(' '));
    let text = text.strip_suffix('\n').unwrap_or(text);
    Some((number, text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in fields {
            out.extend_from_slice(f.as_bytes());
            out.push(0);
        }
        out.extend_from_slice(b"\x1e\0");
        out
    }

    #[test]
    fn a_zsh_start_and_end_parse() {
        let mut input = record(&["S", "n=3", "t=1700000000.123456", "d=/tmp", "c=echo 'a\tb' $x", "x=echo 'a\tb' $x"]);
        input.extend(record(&["E", "n=3", "t=1700000001.5", "s=1", "p=1 0"]));
        let got = Parser::new().feed(&input);
        assert_eq!(got.len(), 2);
        let ShellRecord::Start(s) = got[0].clone().unwrap() else { panic!() };
        assert_eq!((s.seq, s.at, s.cwd.as_str()), (3, 1_700_000_000_123_456, "/tmp"));
        assert_eq!(s.command.as_deref(), Some("echo 'a\tb' $x"));
        let ShellRecord::End(e) = got[1].clone().unwrap() else { panic!() };
        assert_eq!((e.at, e.status, e.pipestatus), (1_700_000_001_500_000, 1, vec![1, 0]));
    }

    #[test]
    fn an_end_marked_z_is_a_stopped_job() {
        let mut input = record(&["E", "n=4", "t=1700000001.5", "s=148", "p=148", "z=1"]);
        input.extend(record(&["E", "n=5", "t=1700000002.5", "s=148", "p=148"]));
        let got: Vec<bool> = Parser::new()
            .feed(&input)
            .into_iter()
            .map(|r| matches!(r, Ok(ShellRecord::End(ShellEnd { stopped, .. })) if stopped))
            .collect();
        assert_eq!(got, [true, false]);
    }

    #[test]
    fn environment_fields_are_collected_and_empty_fields_skipped() {
        let got = Parser::new().feed(&record(&[
            "S",
            "n=1",
            "t=1",
            "c=terraform plan",
            "v=TF_WORKSPACE=prod",
            "",
            "v=AWS_PROFILE=a=b",
        ]));
        let ShellRecord::Start(s) = got[0].clone().unwrap() else { panic!("{got:?}") };
        assert_eq!(s.env, vec![("TF_WORKSPACE".into(), "prod".into()), ("AWS_PROFILE".into(), "a=b".into())]);
    }

    #[test]
    fn a_fish_record_takes_the_time_it_was_read_and_its_duration() {
        let mut input = record(&["S", "n=1", "d=/", "c=sleep 1"]);
        input.extend(record(&["E", "n=1", "s=0", "p=0", "m=1002"]));
        let got = Parser::new().feed_read_at(&input, 42);
        let ShellRecord::Start(s) = got[0].clone().unwrap() else { panic!("{got:?}") };
        let ShellRecord::End(e) = got[1].clone().unwrap() else { panic!("{got:?}") };
        assert_eq!((s.at, e.at, e.duration_ms), (42, 42, Some(1002)));
        assert!(Parser::new().feed(&record(&["S", "n=1", "c=ls"]))[0].is_err(), "no time, no read time");
    }

    #[test]
    fn records_split_across_reads_are_joined() {
        let input = record(&["S", "n=1", "t=1.0", "d=/", "c=ls"]);
        let mut parser = Parser::new();
        let mut got = Vec::new();
        for chunk in input.chunks(3) {
            got.extend(parser.feed(chunk));
        }
        assert_eq!(got.len(), 1);
        assert!(got[0].is_ok());
    }

    #[test]
    fn garbage_is_reported_and_the_next_record_still_parses() {
        let mut input = b"junk\0more junk\0\x1e\0".to_vec();
        input.extend(record(&["E", "n=2", "t=5", "s=0"]));
        let got = Parser::new().feed(&input);
        assert!(got[0].is_err());
        assert!(matches!(got[1], Ok(ShellRecord::End(_))));
    }

    #[test]
    fn a_record_with_a_field_twice_or_an_unknown_one_is_refused_whole() {
        for fields in [
            &["S", "n=1", "t=1", "c=ls", "c=rm -rf /"][..],
            &["S", "n=1", "t=1", "n=2", "c=ls"],
            &["S", "n=1", "t=1", "c=ls", "q=1"],
            &["E", "n=1", "t=1", "s=0", "s=1"],
        ] {
            let got = Parser::new().feed(&record(fields));
            assert_eq!(got.len(), 1);
            assert!(got[0].is_err(), "{fields:?} gave {got:?}");
        }
        let got = Parser::new().feed(&record(&["S", "n=1", "t=1", "c=ls", "v=A=1", "v=B=2"]));
        assert!(got[0].is_ok(), "{got:?}");
    }

    #[test]
    fn an_oversized_command_is_cut_and_marked() {
        let long = format!("c={}", "x".repeat(MAX_COMMAND_LEN * 3));
        let got = Parser::new().feed(&record(&["S", "n=1", "t=1", &long]));
        let ShellRecord::Start(s) = got[0].clone().unwrap() else { panic!() };
        let command = s.command.unwrap();
        assert!(command.len() <= MAX_COMMAND_LEN);
        assert!(command.ends_with(lcd_protocol::protocol::TRUNCATION_MARKER));
    }

    #[test]
    fn epoch_realtime_forms() {
        assert_eq!(parse_epoch_realtime("12.5"), Some(12_500_000));
        assert_eq!(parse_epoch_realtime("12,000001"), Some(12_000_001));
        assert_eq!(parse_epoch_realtime("12.123456789"), Some(12_123_456));
        assert_eq!(parse_epoch_realtime("x"), None);
    }

    #[test]
    fn history_lines() {
        assert_eq!(parse_history_line("  12  echo hi\n"), Some((12, "echo hi".into())));
        assert_eq!(parse_history_line("  5*  ls\n"), Some((5, "ls".into())));
        assert_eq!(parse_history_line("   7   echo\nworld\n"), Some((7, " echo\nworld".into())));
        assert_eq!(parse_history_line(""), None);
    }
}
