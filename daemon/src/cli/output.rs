//! How records are shown: aligned tables for people, JSON, JSON lines and
//! CSV for programs; times, durations and colours; text made safe to show
//! on a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use anyhow::{bail, Result};
use serde_json::Value;

use crate::store::{CommandRow, RecordStatus};
use crate::time::{human_duration, local_time, relative_time};

/// Output formats of `lcd query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
}

/// For the commands that print either a table for people or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableOrJson {
    Table,
    Json,
}

/// `--format table|json`, shared by `status` and `stats`.
#[derive(Debug, clap::Args)]
pub struct FormatArg {
    #[arg(long, short = 'f', value_enum, default_value_t = TableOrJson::Table)]
    pub format: TableOrJson,
}

/// Columns of the default table.
pub const TABLE_FIELDS: &[&str] = &["id", "time", "duration", "exit", "cwd", "command"];

/// The fewest characters a table shows of an id, as many as git shows of a
/// commit (more when two records share that beginning).
pub const SHORT_ID: usize = 7;

/// Columns of the default table of the team's history (`lcd query --remote`).
pub const REMOTE_TABLE_FIELDS: &[&str] = &["time", "duration", "exit", "user", "cwd", "command"];

/// The table's own columns, which stand for JSON fields in the other formats.
const TABLE_ALIASES: &[(&str, &str)] = &[("time", "started_at"), ("duration", "duration_ms"), ("exit", "exit_code")];

/// Every field `--fields` accepts: the JSON keys, and the table's own columns.
fn fields() -> Vec<&'static str> {
    CommandRow::json_fields().chain(TABLE_ALIASES.iter().map(|(alias, _)| *alias)).collect()
}

/// Parses `--fields a,b,c`, naming any unknown field.
pub fn parse_fields(text: &str) -> Result<Vec<String>> {
    let fields: Vec<String> = text.split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
    if fields.is_empty() {
        bail!("--fields is empty; pick from: {}", self::fields().join(", "));
    }
    for f in &fields {
        if !self::fields().contains(&f.as_str()) {
            bail!("unknown field {f:?}; pick from: {}", self::fields().join(", "));
        }
    }
    Ok(fields)
}

/// How a table looks: colour, relative times, a width to fit.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: bool,
    pub relative_times: bool,
    /// The last column wraps to fit this width; `None` leaves lines whole.
    pub width: Option<usize>,
    /// Now, in µs, for relative times.
    pub now: i64,
    /// How many characters of each id the table shows.
    pub id_chars: usize,
}

impl Style {
    /// For stdout: a terminal gets colour (unless NO_COLOR), relative times
    /// and the last column wrapped to its width (unless `wide`); a pipe gets
    /// plain text, each record on one line.
    pub fn for_stdout(wide: bool) -> Style {
        let tty = io::IsTerminal::is_terminal(&io::stdout());
        Style {
            colour: tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            relative_times: tty,
            width: if tty && !wide { terminal_width() } else { None },
            now: crate::time::now_micros(),
            id_chars: SHORT_ID,
        }
    }
}

fn terminal_width() -> Option<usize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ fills the struct we pass.
    let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_col > 0;
    if ok {
        return Some(size.ws_col as usize);
    }
    std::env::var("COLUMNS").ok()?.parse().ok()
}

/// Writes `rows` in `format`; `fields` picks and orders the columns.
pub fn write_records(
    out: &mut impl Write,
    rows: &[CommandRow],
    format: Format,
    fields: Option<&[String]>,
    style: Style,
) -> Result<()> {
    let objects: Vec<Value> = rows.iter().map(CommandRow::to_json).collect();
    match format {
        Format::Json => {
            let picked: Vec<Value> = objects.iter().map(|o| pick(o, fields)).collect();
            serde_json::to_writer_pretty(&mut *out, &picked)?;
            writeln!(out)?;
        }
        Format::Jsonl => {
            for o in &objects {
                serde_json::to_writer(&mut *out, &pick(o, fields))?;
                writeln!(out)?;
            }
        }
        Format::Csv => {
            let names: Vec<String> = match fields {
                Some(f) => f.to_vec(),
                None => {
                    objects.first().and_then(Value::as_object).map(|o| o.keys().cloned().collect()).unwrap_or_default()
                }
            };
            write_csv_row(out, names.iter().map(String::as_str))?;
            for o in &objects {
                let values: Vec<String> = names.iter().map(|n| plain(&o[json_key(n)])).collect();
                write_csv_row(out, values.iter().map(String::as_str))?;
            }
        }
        Format::Table => {
            let names: Vec<&str> = match fields {
                Some(f) => f.iter().map(String::as_str).collect(),
                None => TABLE_FIELDS.to_vec(),
            };
            let cells: Vec<Vec<Cell>> = rows
                .iter()
                .zip(&objects)
                .map(|(r, o)| names.iter().map(|n| table_cell(n, r, o, style)).collect())
                .collect();
            write_table(out, &names, &cells, style)?;
        }
    }
    Ok(())
}

/// The JSON key a field stands for.
fn json_key(field: &str) -> &str {
    TABLE_ALIASES.iter().find(|(alias, _)| *alias == field).map_or(field, |(_, key)| key)
}

fn pick(object: &Value, fields: Option<&[String]>) -> Value {
    match fields {
        None => object.clone(),
        Some(fields) => Value::Object(fields.iter().map(|f| (f.clone(), object[json_key(f)].clone())).collect()),
    }
}

/// A JSON value as plain text: strings as they are, null as nothing,
/// arrays and objects as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One CSV record (RFC 4180): fields with commas, quotes or line breaks are
/// quoted, quotes doubled; lines end in CRLF.
fn write_csv_row<'a>(out: &mut impl Write, fields: impl Iterator<Item = &'a str>) -> io::Result<()> {
    let line: Vec<String> =
        fields
            .map(|f| {
                if f.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.to_string()
                }
            })
            .collect();
    write!(out, "{}\r\n", line.join(","))
}

/// `text` as a terminal can show it without being driven by it: a line
/// break becomes ` ⏎ `, and every other C0 or C1 control, DEL and each
/// bidirectional override or isolate (which reorder what is shown around
/// them) becomes a visible escape (`\x1b`, `\t`, `\u{9b}`, `\u{202e}`).
/// Record text comes from anyone who named a folder or, through `lcd query
/// --remote`, from anyone writing to the team store; tables, `lcd show` and
/// `lcd stats` print it only through here. JSON and CSV stay exact.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str(" ⏎ "),
            '\t' => shown.push_str("\\t"),
            '\r' => shown.push_str("\\r"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                let _ = write!(shown, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(shown, "\\u{{{:x}}}", c as u32);
            }
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A table cell: its text and, when colour is on, the colour to paint it.
struct Cell {
    text: String,
    colour: Option<&'static str>,
}

fn table_cell(field: &str, row: &CommandRow, object: &Value, style: Style) -> Cell {
    let plain_cell = |text: String| Cell { text: visible(&text).into_owned(), colour: None };
    match field {
        "time" => plain_cell(match row.started_at {
            Some(t) if style.relative_times => relative_time(t.0, style.now),
            Some(t) => local_time(t.0),
            None => "-".into(),
        }),
        "duration" => plain_cell(row.duration_ms().map(human_duration).unwrap_or_else(|| "-".into())),
        "exit" | "exit_code" => {
            let (text, colour) = match (row.status, row.exit_code) {
                (RecordStatus::Running, _) => ("running".to_string(), "33"),
                (RecordStatus::Suspended, _) => ("suspended".to_string(), "33"),
                (RecordStatus::Gap, _) => ("gap".to_string(), "35"),
                (_, Some(0)) => ("0".to_string(), "32"),
                (_, Some(code)) => (code.to_string(), "31"),
                _ => ("?".to_string(), "2"),
            };
            Cell { text, colour: Some(colour) }
        }
        "cwd" => plain_cell(row.cwd.as_deref().map(tilde).unwrap_or_default()),
        "user" => plain_cell(user_cell(row)),
        "id" => plain_cell(row.id.chars().take(style.id_chars).collect()),
        "command" => plain_cell(row.command.clone()),
        other => plain_cell(plain(&object[json_key(other)])),
    }
}

/// A table of plain cells (already made safe to show), aligned, no colour.
pub fn write_plain_table(out: &mut impl Write, names: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let cells: Vec<Vec<Cell>> =
        rows.iter().map(|r| r.iter().map(|text| Cell { text: text.clone(), colour: None }).collect()).collect();
    write_table(
        out,
        names,
        &cells,
        Style { colour: false, relative_times: false, width: None, now: 0, id_chars: SHORT_ID },
    )
}

/// The user a record names and, when the team store got it from someone
/// else (another user's token), who that was: both, never one for the other.
fn user_cell(row: &CommandRow) -> String {
    match &row.received_from {
        Some(from) if *from != row.user => format!("{} (sent by {from})", row.user),
        _ => row.user.clone(),
    }
}

/// Aligned columns; the last one wraps to the terminal's width, its
/// continuation lines indented to where it starts, so that nothing is cut.
fn write_table(out: &mut impl Write, names: &[&str], rows: &[Vec<Cell>], style: Style) -> io::Result<()> {
    let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.text.chars().count());
        }
    }
    let numeric = |name: &str| matches!(name, "duration" | "exit" | "exit_code" | "duration_ms");
    let paint = |line: &mut String, text: &str, colour: Option<&'static str>| match colour.filter(|_| style.colour) {
        Some(c) => line.push_str(&format!("\x1b[{c}m{text}\x1b[0m")),
        None => line.push_str(text),
    };
    let header: Vec<Cell> = names.iter().map(|n| Cell { text: n.to_ascii_uppercase(), colour: None }).collect();
    for row in std::iter::once(&header).chain(rows) {
        let Some((last, first)) = row.split_last() else { continue };
        let mut line = String::new();
        let mut indent = 0;
        for (i, cell) in first.iter().enumerate() {
            let padded = if numeric(names[i]) {
                format!("{:>w$}", cell.text, w = widths[i])
            } else {
                format!("{:<w$}", cell.text, w = widths[i])
            };
            indent += padded.chars().count() + 2;
            paint(&mut line, &padded, cell.colour);
            line.push_str("  ");
        }
        let pieces = match style.width {
            Some(width) => wrap(&last.text, width.saturating_sub(indent).max(20)),
            None => vec![last.text.clone()],
        };
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                line = " ".repeat(indent);
            }
            paint(&mut line, piece, last.colour);
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    Ok(())
}

/// `text` in lines of at most `room` characters, each broken after a space
/// when one is in its second half, else where the room ends.
fn wrap(text: &str, room: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut lines = Vec::new();
    let mut start = 0;
    while chars.len() - start > room {
        let window = &chars[start..start + room];
        let cut = window.iter().rposition(|&c| c == ' ').filter(|&at| at >= room / 2).map_or(room, |at| at + 1);
        lines.push(window[..cut].iter().collect::<String>().trim_end().to_string());
        start += cut;
    }
    lines.push(chars[start..].iter().collect());
    lines
}

/// `~/infra` for a path under $HOME.
fn tilde(path: &str) -> String {
    match std::env::var("HOME") {
        Ok(home)
            if !home.is_empty()
                && path.starts_with(&home)
                && (path.len() == home.len() || path[home.len()..].starts_with('/')) =>
        {
            format!("~{}", &path[home.len()..])
        }
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut out = Vec::new();
        write_csv_row(&mut out, ["a", "b,c", "say \"hi\"", "two\nlines"].into_iter()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
    }

    #[test]
    fn controls_and_bidi_overrides_become_visible_escapes() {
        assert_eq!(visible("cd /srv/infra"), "cd /srv/infra");
        assert_eq!(visible("a\nb"), "a ⏎ b");
        assert_eq!(visible("\x1b]0;owned\x07\x1b[2J"), "\\x1b]0;owned\\x07\\x1b[2J");
        assert_eq!(visible("tab\there\r\x7f"), "tab\\there\\r\\x7f");
        assert_eq!(visible("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(visible("if admin \u{202e}\u{2066} fi"), "if admin \\u{202e}\\u{2066} fi");
        assert_eq!(visible("café ünïcode ✓"), "café ünïcode ✓");
    }

    #[test]
    fn a_user_that_differs_from_its_sender_shows_both() {
        let mut row = CommandRow { user: "bob".into(), received_from: Some("bob".into()), ..CommandRow::default() };
        assert_eq!(user_cell(&row), "bob");
        row.received_from = Some("alice".into());
        assert_eq!(user_cell(&row), "bob (sent by alice)");
        row.received_from = None;
        assert_eq!(user_cell(&row), "bob");
    }

    #[test]
    fn a_long_command_wraps_under_its_column_and_loses_nothing() {
        assert_eq!(
            wrap("terraform apply -auto-approve -var-file=prod.tfvars", 20),
            ["terraform apply", "-auto-approve", "-var-file=prod.tfvar", "s"]
        );
        assert_eq!(wrap("short", 20), ["short"]);
        let cells =
            vec![vec![Cell { text: "0190f3c".into(), colour: None }, Cell { text: "x".repeat(50), colour: None }]];
        let style = Style { colour: false, relative_times: false, width: Some(30), now: 0, id_chars: SHORT_ID };
        let mut out = Vec::new();
        write_table(&mut out, &["id", "command"], &cells, style).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID       COMMAND");
        assert_eq!(lines[1], format!("0190f3c  {}", "x".repeat(21)));
        assert_eq!(lines[2], format!("         {}", "x".repeat(21)));
        assert_eq!(lines[3], format!("         {}", "x".repeat(8)));
        let mut whole = Vec::new();
        write_table(&mut whole, &["id", "command"], &cells, Style { width: None, ..style }).unwrap();
        assert_eq!(
            String::from_utf8(whole).unwrap().lines().nth(1),
            Some(format!("0190f3c  {}", "x".repeat(50)).as_str())
        );
    }

    #[test]
    fn unknown_fields_are_named_with_the_choices() {
        let err = parse_fields("command,bogus").unwrap_err().to_string();
        assert!(err.contains("\"bogus\"") && err.contains("git_repo"), "{err}");
    }
}
