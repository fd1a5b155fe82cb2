//! Fuzz targets for the frame decoder (socket and spool), which reads bytes
//! from outside. Under `cargo test` each target runs random inputs for one
//! second (bolero's default; `BOLERO_RANDOM_TEST_TIME_MS` or
//! `BOLERO_RANDOM_ITERATIONS` for a longer hunt); `cargo bolero test` runs the
//! same targets under libFuzzer or AFL (docs/FUZZING.md).

use bolero::{check, produce, ValueGenerator};
use lcd_protocol::frame::{self, HEADER_LEN, MAGIC};
use lcd_protocol::protocol::{CommandEnd, CommandStart, Event, Request, Session, PROTOCOL_VERSION};
use lcd_protocol::RecordId;

/// Bytes that start like a frame (magic, a plausible version, a length that
/// fits) more often than chance would, so that the decoder's deeper paths
/// run under the random engine too; a coverage-guided engine finds them
/// either way.
fn frame_like(input: &(bool, u8, Vec<u8>)) -> Vec<u8> {
    let (magic, version, rest) = input;
    let mut out = Vec::new();
    if *magic {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&u16::from(version % 4).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(rest.len().saturating_sub(4) as u32).to_le_bytes());
    }
    out.extend_from_slice(rest);
    out
}

#[test]
fn the_frame_decoder_never_panics() {
    check!().with_type::<(bool, u8, Vec<u8>)>().for_each(|input| {
        let bytes = frame_like(input);
        let _ = frame::read_message::<Request>(&mut &bytes[..]);
        let _ = frame::split_frames(&bytes);
        if bytes.len() >= HEADER_LEN {
            let head: [u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
            if let Ok(header) = frame::parse_header(&head) {
                let _ = frame::decode_payload::<Request>(header, &bytes[HEADER_LEN..]);
            }
        }
    });
}

/// What the generator gives for a session: (id, shell, pid, host, user, tty).
type SessionParts = (String, String, u32, String, String, Option<String>);

fn session((id, shell, pid, host, user, tty): SessionParts) -> Session {
    Session { id, shell, pid, host, user, tty }
}

/// A start (`Ok`) or an end (`Err`), from plain generated values.
type EventParts = Result<
    (SessionParts, u64, i64, String, String, Option<String>),
    (SessionParts, u64, i64, i32, Vec<i32>, Option<String>),
>;

fn event(parts: EventParts) -> Event {
    match parts {
        Ok((s, seq, started_at, cwd, command, expanded)) => {
            let session = session(s);
            Event::Start(CommandStart {
                id: RecordId::derive(&session.id, seq),
                session,
                seq,
                started_at,
                cwd,
                command,
                expanded,
                env: vec![("TF_WORKSPACE".into(), "prod".into())],
                git: None,
            })
        }
        Err((s, seq, ended_at, exit_code, pipestatus, git_commit_after)) => {
            let session = session(s);
            Event::End(CommandEnd {
                id: RecordId::derive(&session.id, seq),
                session,
                seq,
                ended_at,
                exit_code,
                pipestatus,
                git_commit_after,
            })
        }
    }
}

#[test]
fn every_request_round_trips() {
    let events =
        produce::<Vec<EventParts>>().with().len(0usize..20).map_gen(|parts| parts.into_iter().map(event).collect());
    check!().with_generator(events).cloned().for_each(|events: Vec<Event>| {
        let request = Request::Record(events);
        let bytes = frame::encode(&request).unwrap();
        let header = frame::parse_header(bytes[..HEADER_LEN].try_into().unwrap()).unwrap();
        assert_eq!(header.version, PROTOCOL_VERSION);
        assert_eq!(frame::decode_payload::<Request>(header, &bytes[HEADER_LEN..]).unwrap(), request);
    });
}
