//! Fuzz targets for what lcd-hook reads from the shell: the FIFO record
//! parser and bash's `history 1` line. Under `cargo test` each target runs
//! random inputs for one second (bolero's default; `BOLERO_RANDOM_TEST_TIME_MS`
//! or `BOLERO_RANDOM_ITERATIONS` for a longer hunt); `cargo bolero test` runs
//! the same targets under libFuzzer or AFL (docs/FUZZING.md).

use bolero::{check, produce, ValueGenerator};
use lcd_hook::pipe::{parse_history_line, Parser, ShellRecord};

/// The keys the shell scripts write, plus one they never do.
const KEYS: &[u8] = b"ntdcxhbivspz";

/// One piece of a generated stream: raw bytes, or a piece of the record
/// syntax (field end, record end, a tag, a `key=value` field), so that the
/// random engine reaches whole records and not only garbage.
fn piece((kind, bytes): &(u8, Vec<u8>)) -> Vec<u8> {
    match kind % 6 {
        0 => bytes.clone(),
        1 => b"\0".to_vec(),
        2 => b"\x1e\0".to_vec(),
        3 => b"S\0".to_vec(),
        4 => b"E\0".to_vec(),
        _ => {
            let key = KEYS[bytes.first().map_or(0, |&b| b as usize) % KEYS.len()];
            let mut field = vec![key, b'='];
            field.extend(bytes.iter().skip(1).filter(|&&b| b != 0));
            field.push(0);
            field
        }
    }
}

#[test]
fn the_shell_record_parser_never_panics() {
    check!().with_type::<(Vec<(u8, Vec<u8>)>, Vec<u8>)>().for_each(|(pieces, cuts)| {
        let stream: Vec<u8> = pieces.iter().flat_map(piece).collect();
        // Feed the stream in reads of the generated sizes, as the pipe would.
        let mut parser = Parser::new();
        let mut rest = &stream[..];
        for &cut in cuts.iter().chain(std::iter::repeat(&u8::MAX)) {
            if rest.is_empty() {
                break;
            }
            let (read, tail) = rest.split_at((cut as usize).clamp(1, rest.len()));
            let _ = parser.feed(read);
            rest = tail;
        }
    });
}

/// What zsh writes for a command line: its text, with each NUL as U+2400.
fn as_zsh_writes(command: &str) -> String {
    command.replace('\0', "\u{2400}")
}

#[test]
fn no_command_text_ends_its_field_or_its_record() {
    check!().with_type::<String>().for_each(|typed| {
        let command = as_zsh_writes(typed);
        let mut stream = b"S\0n=1\0t=1.5\0d=/tmp\0c=".to_vec();
        stream.extend_from_slice(command.as_bytes());
        stream.extend_from_slice(b"\0\x1e\0E\0n=1\0t=2\0s=0\0\x1e\0");
        let got = Parser::new().feed(&stream);
        assert_eq!(got.len(), 2, "{got:?}");
        let Ok(ShellRecord::Start(start)) = &got[0] else { panic!("{got:?}") };
        assert_eq!(start.command.as_deref(), Some(command.as_str()));
        assert!(matches!(got[1], Ok(ShellRecord::End(_))), "{got:?}");
    });
}

#[test]
fn the_bash_history_line_parser_never_panics() {
    check!().with_type::<String>().for_each(|line| {
        let _ = parse_history_line(line);
    });
}

#[test]
fn a_bash_history_line_gives_back_its_number_and_text() {
    // `history 1` pads the number to five columns, then two spaces; bash
    // keeps no trailing newline in an entry.
    let entries = produce::<(u64, String)>().filter_gen(|(_, text)| !text.ends_with('\n'));
    check!().with_generator(entries).for_each(|(number, text)| {
        let line = format!("{number:5}  {text}\n");
        assert_eq!(parse_history_line(&line), Some((*number, text.clone())));
    });
}
