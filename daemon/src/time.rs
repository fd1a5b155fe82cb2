//! Times as lcd stores and shows them: microseconds since the Unix epoch,
//! written as RFC 3339 for programs and in the local zone or relative to now
//! for people. A leaf: it imports nothing of this crate's.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Microseconds since the Unix epoch, now: the protocol's clock, which the
/// helper stamps records with.
pub use lcd_protocol::protocol::now_micros;

/// Microseconds since the epoch of an RFC 3339 time (`2026-11-21T22:29:21.123Z`).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    text.parse::<Timestamp>().ok().map(|t| t.as_microsecond())
}

/// `2026-11-21T22:29:21.123Z`: RFC 3339, UTC, milliseconds.
pub fn rfc3339_ms(micros: i64) -> String {
    let Ok(ts) = Timestamp::from_microsecond(micros.div_euclid(1000) * 1000) else { return micros.to_string() };
    format!("{}.{:03}Z", ts.strftime("%Y-%m-%dT%H:%M:%S"), micros.div_euclid(1000).rem_euclid(1000))
}

/// `2026-11-21 23:29:21` in the local time zone.
pub fn local_time(micros: i64) -> String {
    match Timestamp::from_microsecond(micros) {
        Ok(ts) => ts.to_zoned(TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => micros.to_string(),
    }
}

/// `12s ago`, `3m ago`, `5h ago`, `2d ago`, then the date.
pub fn relative_time(micros: i64, now: i64) -> String {
    let secs = (now - micros).max(0) / 1_000_000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        86_400..=604_799 => format!("{}d ago", secs / 86_400),
        _ => local_time(micros)[..10].to_string(),
    }
}

/// `850ms`, `1.2s`, `3m05s`, `2h04m`.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_milliseconds_and_utc() {
        assert_eq!(rfc3339_ms(1_700_000_000_123_456), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn durations_read_like_a_person_would_write_them() {
        assert_eq!(human_duration(850), "850ms");
        assert_eq!(human_duration(1_234), "1.2s");
        assert_eq!(human_duration(185_000), "3m05s");
        assert_eq!(human_duration(7_440_000), "2h04m");
    }

    #[test]
    fn relative_times() {
        let now = 1_700_000_000_000_000;
        assert_eq!(relative_time(now - 5_000_000, now), "5s ago");
        assert_eq!(relative_time(now - 180_000_000, now), "3m ago");
        assert_eq!(relative_time(now - 7_200_000_000, now), "2h ago");
    }
}
