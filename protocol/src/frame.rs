//! The frame codec: a fixed 12-byte header, then a postcard payload.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "lcd!"
//!      4     2  protocol version, little endian
//!      6     2  reserved, zero
//!      8     4  payload length, little endian (at most MAX_FRAME_LEN)
//!     12     n  payload (postcard)
//! ```
//!
//! The header is checked before any payload byte is read, so a peer that
//! declares a huge frame costs the reader nothing.

use std::fmt;
use std::io::{self, Read};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::protocol::{MAX_FRAME_LEN, PROTOCOL_VERSION};

pub const MAGIC: [u8; 4] = *b"lcd!";
pub const HEADER_LEN: usize = 12;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub len: u32,
}

/// Why a frame could not be read or written.
#[derive(Debug)]
pub enum FrameError {
    /// The first four bytes are not [`MAGIC`]: not an lcd peer, or out of sync.
    BadMagic([u8; 4]),
    /// The payload is encoded with a protocol version this build does not know.
    UnsupportedVersion(u16),
    /// The declared (or encoded) payload length is over the cap.
    TooLarge(u64),
    /// The stream ended inside a frame.
    Truncated,
    /// The payload bytes do not decode as the expected message.
    Payload(postcard::Error),
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadMagic(m) => write!(f, "bad magic bytes {m:02x?} (expected {MAGIC:02x?})"),
            FrameError::UnsupportedVersion(v) => {
                write!(f, "unsupported protocol version {v} (this build speaks {PROTOCOL_VERSION})")
            }
            FrameError::TooLarge(n) => write!(f, "frame of {n} bytes is over the {MAX_FRAME_LEN}-byte cap"),
            FrameError::Truncated => f.write_str("stream ended inside a frame"),
            FrameError::Payload(e) => write!(f, "payload does not decode: {e}"),
            FrameError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    }
}

/// Encodes `message` as one frame of the current protocol version.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    encode_version(PROTOCOL_VERSION, message)
}

/// Encodes `message` as one frame stamped with `version`, whatever version
/// its encoding is: how a test plays a client newer than this build.
pub fn encode_version<T: Serialize>(version: u16, message: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; HEADER_LEN];
    out = postcard::to_extend(message, out).map_err(FrameError::Payload)?;
    let len = out.len() - HEADER_LEN;
    if len > MAX_FRAME_LEN as usize {
        return Err(FrameError::TooLarge(len as u64));
    }
    write_header(&mut out[..HEADER_LEN], Header { version, len: len as u32 });
    Ok(out)
}

/// The 12 header bytes for `header`, to put in front of a payload kept as is.
pub fn encode_raw_header(header: Header) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    write_header(&mut out, header);
    out
}

fn write_header(buf: &mut [u8], header: Header) {
    buf[0..4].copy_from_slice(&MAGIC);
    buf[4..6].copy_from_slice(&header.version.to_le_bytes());
    buf[6..8].copy_from_slice(&[0, 0]);
    buf[8..12].copy_from_slice(&header.len.to_le_bytes());
}

/// Checks magic and length; the version is returned for the caller to judge,
/// because a daemon answers an unknown version rather than just hanging up.
pub fn parse_header(bytes: &[u8; HEADER_LEN]) -> Result<Header, FrameError> {
    let magic: [u8; 4] = bytes[0..4].try_into().expect("4 bytes");
    if magic != MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len as u64));
    }
    Ok(Header { version, len })
}

/// Decodes a payload. Versions up to the current one are read with today's
/// types: messages only ever gain variants at the end, so older encodings
/// stay valid; a newer version is refused.
pub fn decode_payload<T: DeserializeOwned>(header: Header, payload: &[u8]) -> Result<T, FrameError> {
    if header.version == 0 || header.version > PROTOCOL_VERSION {
        return Err(FrameError::UnsupportedVersion(header.version));
    }
    let (value, rest) = postcard::take_from_bytes(payload).map_err(FrameError::Payload)?;
    if !rest.is_empty() {
        return Err(FrameError::Payload(postcard::Error::DeserializeBadEncoding));
    }
    Ok(value)
}

/// Reads one whole frame from a blocking reader. `Ok(None)` is a clean end of
/// stream before the first header byte.
fn read_frame(reader: &mut impl Read) -> Result<Option<(Header, Vec<u8>)>, FrameError> {
    let mut head = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match reader.read(&mut head[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let header = parse_header(&head)?;
    // Grown as bytes arrive, not allocated from the declared length.
    let mut payload = Vec::new();
    if (reader.take(u64::from(header.len)).read_to_end(&mut payload)?) < header.len as usize {
        return Err(FrameError::Truncated);
    }
    Ok(Some((header, payload)))
}

/// Reads and decodes one frame of the current version.
pub fn read_message<T: DeserializeOwned>(reader: &mut impl Read) -> Result<Option<T>, FrameError> {
    match read_frame(reader)? {
        None => Ok(None),
        Some((header, payload)) => decode_payload(header, &payload).map(Some),
    }
}

/// Splits a buffer holding back-to-back frames (a spool file). Bytes that do
/// not form a frame are skipped up to the next magic, and reported.
pub fn split_frames(mut bytes: &[u8]) -> (Vec<(Header, &[u8])>, Vec<FrameError>) {
    let mut frames = Vec::new();
    let mut errors = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < HEADER_LEN {
            errors.push(FrameError::Truncated);
            break;
        }
        let head: &[u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().expect("header length");
        match parse_header(head) {
            Ok(header) if bytes.len() >= HEADER_LEN + header.len as usize => {
                let end = HEADER_LEN + header.len as usize;
                frames.push((header, &bytes[HEADER_LEN..end]));
                bytes = &bytes[end..];
            }
            Ok(_) => {
                errors.push(FrameError::Truncated);
                break;
            }
            Err(e) => {
                errors.push(e);
                // Resynchronise on the next magic after this position.
                let next = bytes[1..].windows(MAGIC.len()).position(|w| w == MAGIC);
                match next {
                    Some(i) => bytes = &bytes[1 + i..],
                    None => break,
                }
            }
        }
    }
    (frames, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Request;

    #[test]
    fn a_frame_round_trips() {
        let bytes = encode(&Request::Status).unwrap();
        let got: Request = read_message(&mut &bytes[..]).unwrap().unwrap();
        assert_eq!(got, Request::Status);
    }

    #[test]
    fn wrong_magic_is_named() {
        let mut bytes = encode(&Request::Status).unwrap();
        bytes[0] = b'X';
        let err = read_message::<Request>(&mut &bytes[..]).unwrap_err();
        assert!(matches!(err, FrameError::BadMagic(_)), "{err}");
    }

    #[test]
    fn oversized_length_is_refused_before_reading_the_payload() {
        let mut bytes = encode(&Request::Status).unwrap();
        bytes[8..12].copy_from_slice(&(MAX_FRAME_LEN + 1).to_le_bytes());
        // No payload follows: the error must come from the header alone.
        let err = read_frame(&mut &bytes[..HEADER_LEN]).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge(_)), "{err}");
    }

    #[test]
    fn newer_version_is_reported_not_decoded() {
        let bytes = encode_version(PROTOCOL_VERSION + 1, &Request::Status).unwrap();
        let err = read_message::<Request>(&mut &bytes[..]).unwrap_err();
        assert!(matches!(err, FrameError::UnsupportedVersion(v) if v == PROTOCOL_VERSION + 1));
    }

    #[test]
    fn truncated_frame_is_reported() {
        let bytes = encode(&Request::Record(vec![])).unwrap();
        let err = read_message::<Request>(&mut &bytes[..bytes.len() - 1]).unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
    }

    #[test]
    fn split_skips_garbage_between_frames() {
        let one = encode(&Request::Status).unwrap();
        let mut buf = one.clone();
        buf.extend_from_slice(b"garbage!");
        buf.extend_from_slice(&one);
        buf.extend_from_slice(&one[..5]);
        let (frames, errors) = split_frames(&buf);
        assert_eq!(frames.len(), 2);
        assert_eq!(errors.len(), 2);
    }
}
