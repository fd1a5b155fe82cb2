//! Record ids: made on the client side, once per command, so that start and
//! end (and any replay of either) meet on one row.
//!
//! A live command's id is random ([`RecordId::random`]): lcd-hook makes it
//! when the command starts and puts the same id in its end, and a spooled or
//! re-sent frame carries it as it was. Nothing another person sees (session
//! id, command counter, host) tells what the next id will be, so a holder of
//! the team store's token cannot take a colleague's next record first.
//!
//! [`RecordId::derive`] makes an id from a name and a number, for what must
//! get the same id each time it is read (a history file imported twice).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A 128-bit record id, shown as a hyphenated UUID.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub [u8; 16]);

impl RecordId {
    /// A fresh id from the operating system's random source (a version 4
    /// UUID: 122 random bits). `None` only if the system has no random
    /// source to give, which the caller must treat as "cannot record".
    pub fn random() -> Option<RecordId> {
        let mut bytes = [0u8; 16];
        if !fill_random(&mut bytes) {
            return None;
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
        Some(RecordId(bytes))
    }

    /// A fresh time-ordered id (a version 7 UUID: milliseconds since the
    /// epoch, then 74 random bits), as the zsh and bash scripts make their
    /// session ids; `lcd init fish` makes fish's, which has no clock.
    pub fn time_ordered() -> Option<RecordId> {
        let RecordId(mut bytes) = RecordId::random()?;
        let ms = (crate::protocol::now_micros() / 1000).to_be_bytes();
        bytes[..6].copy_from_slice(&ms[2..]);
        bytes[6] ^= 0x40 ^ 0x70; // version 4 becomes 7
        Some(RecordId(bytes))
    }

    /// The id of entry `seq` of source `session`: the same every time, so
    /// anyone who knows both can compute it. Only for what has no secret to
    /// protect (imported history); live commands use [`RecordId::random`].
    /// The random half of the source mixed with the counter comes first, so
    /// that the first few hex digits already tell records apart.
    pub fn derive(session: &str, seq: u64) -> RecordId {
        let session = match parse_uuid(session) {
            Some(b) => b,
            None => fnv1a_128(session.as_bytes()).to_be_bytes(),
        };
        let mut bytes = [0u8; 16];
        let mix = splitmix64(seq).to_be_bytes();
        for (i, m) in mix.iter().enumerate() {
            bytes[i] = session[8 + i] ^ m;
        }
        bytes[8..].copy_from_slice(&session[..8]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
        RecordId(bytes)
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

impl FromStr for RecordId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_uuid(s).map(RecordId).ok_or_else(|| format!("not a record id: {s:?}"))
    }
}

/// Fills `buf` (at most 256 bytes) from the kernel's random source.
fn fill_random(buf: &mut [u8]) -> bool {
    loop {
        // SAFETY: both calls write at most `buf.len()` bytes into `buf`.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let done = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) } == buf.len() as isize;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let done = unsafe { libc::getentropy(buf.as_mut_ptr().cast(), buf.len()) } == 0;
        if done {
            return true;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

/// Parses a hyphenated (or bare) 32-hex-digit UUID.
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|&c| c != b'-').collect();
    if hex.len() != 32 || s.len() > 36 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

fn fnv1a_128(data: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    data.iter().fold(OFFSET, |h, &b| (h ^ b as u128).wrapping_mul(PRIME))
}

/// A bijection on u64 that spreads consecutive counters over all bits.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const SESSION: &str = "0190f3c2-7a4e-7b21-8c3d-2f1e0a9b8c7d";

    #[test]
    fn a_time_ordered_id_is_a_version_7_uuid_of_now() {
        let id = RecordId::time_ordered().unwrap().to_string();
        assert_eq!((&id[14..15], id.len()), ("7", 36), "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        let ms = i64::from_str_radix(&id[..13].replace('-', ""), 16).unwrap();
        assert!((crate::protocol::now_micros() / 1000 - ms).abs() < 5_000, "{id}");
    }

    #[test]
    fn derivation_is_stable_across_versions() {
        // Pinned: changing the derivation would split spooled starts from their ends.
        assert_eq!(RecordId::derive(SESSION, 1).to_string(), "1d3702f2-8399-80bc-8190-f3c27a4e7b21");
        assert_eq!(RecordId::derive(SESSION, 7), RecordId::derive(SESSION, 7));
    }

    #[test]
    fn ids_differ_across_seqs_and_sessions() {
        let mut seen = HashSet::new();
        for s in 0..50 {
            let session = format!("0190f3c2-7a4e-7b21-8c3d-2f1e0a9b8c{s:02x}");
            for seq in 0..2000 {
                assert!(seen.insert(RecordId::derive(&session, seq)));
            }
        }
        assert!(seen.insert(RecordId::derive("not-a-uuid", 1)));
    }

    #[test]
    fn random_ids_are_version_4_and_never_repeat() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = RecordId::random().expect("a random source");
            assert_eq!((id.0[6] >> 4, id.0[8] >> 6), (4, 2), "{id}");
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn display_parses_back() {
        let id = RecordId::derive(SESSION, 42);
        assert_eq!(id.to_string().parse::<RecordId>().unwrap(), id);
        assert_eq!(id.to_string().len(), 36);
    }
}
