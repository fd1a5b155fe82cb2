//! Property-based fuzzing of the frame decoder (socket and spool), which
//! reads bytes from outside. Thousands of cases run with the normal tests;
//! raise PROPTEST_CASES for a longer hunt.

use lcd_protocol::frame::{self, HEADER_LEN, MAGIC};
use lcd_protocol::protocol::{CommandEnd, CommandStart, Event, Request, Session, PROTOCOL_VERSION};
use lcd_protocol::RecordId;
use proptest::prelude::*;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n),
        ..ProptestConfig::default()
    }
}

/// Bytes that start like a frame (magic, a plausible version) more often than
/// chance would, so the decoder's deeper paths get exercised.
fn frame_like() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), 0u16..4, proptest::collection::vec(any::<u8>(), 0..600)).prop_map(|(magic, version, mut rest)| {
        let mut out = Vec::new();
        if magic {
            out.extend_from_slice(&MAGIC);
            out.extend_from_slice(&version.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(rest.len().saturating_sub(4) as u32).to_le_bytes());
        }
        out.append(&mut rest);
        out
    })
}

fn session() -> impl Strategy<Value = Session> {
    (".{0,40}", "[a-z]{0,8}", any::<u32>(), ".{0,20}", ".{0,20}", proptest::option::of(".{0,20}"))
        .prop_map(|(id, shell, pid, host, user, tty)| Session { id, shell, pid, host, user, tty })
}

fn event() -> impl Strategy<Value = Event> {
    let start = (session(), any::<u64>(), any::<i64>(), ".{0,60}", ".{0,200}", proptest::option::of(".{0,50}"))
        .prop_map(|(session, seq, started_at, cwd, command, expanded)| {
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
        });
    let end = (session(), any::<u64>(), any::<i64>(), any::<i32>(), proptest::collection::vec(any::<i32>(), 0..8))
        .prop_map(|(session, seq, ended_at, exit_code, pipestatus)| {
            Event::End(CommandEnd {
                id: RecordId::derive(&session.id, seq),
                session,
                seq,
                ended_at,
                exit_code,
                pipestatus,
                git_commit_after: None,
            })
        });
    prop_oneof![start, end]
}

proptest! {
    #![proptest_config(cases(20_000))]

    #[test]
    fn the_frame_decoder_never_panics(bytes in frame_like()) {
        let _ = frame::read_message::<Request>(&mut &bytes[..]);
        let _ = frame::split_frames(&bytes);
        if bytes.len() >= HEADER_LEN {
            let head: [u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
            if let Ok(header) = frame::parse_header(&head) {
                let _ = frame::decode_payload::<Request>(header, &bytes[HEADER_LEN..]);
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn every_request_round_trips(events in proptest::collection::vec(event(), 0..20)) {
        let request = Request::Record(events);
        let bytes = frame::encode(&request).unwrap();
        let (header, payload) = (frame::parse_header(bytes[..HEADER_LEN].try_into().unwrap()).unwrap(), &bytes[HEADER_LEN..]);
        prop_assert_eq!(header.version, PROTOCOL_VERSION);
        prop_assert_eq!(frame::decode_payload::<Request>(header, payload).unwrap(), request);
    }
}
