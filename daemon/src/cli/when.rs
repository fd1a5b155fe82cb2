//! Times and durations as people type them: `2h`, `3d`, `yesterday`,
//! `today`, `2026-11-21`, RFC 3339; `30s`, `1.5m`, `500ms`.

use anyhow::{bail, Context, Result};
use jiff::{civil, tz::TimeZone, Timestamp, Zoned};

/// An instant (µs since the epoch) from `text`, relative to `now` (local).
pub fn parse_instant(text: &str, now: &Zoned) -> Result<i64> {
    let text = text.trim();
    let micros = |z: &Zoned| z.timestamp().as_microsecond();
    match text {
        "now" => return Ok(micros(now)),
        "today" => return Ok(micros(&now.start_of_day()?)),
        "yesterday" => return Ok(micros(&now.start_of_day()?.yesterday()?)),
        _ => {}
    }
    if let Ok(ms) = parse_duration_ms(text) {
        return Ok(micros(now) - ms * 1000);
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts.as_microsecond());
    }
    if let Ok(dt) = text.parse::<civil::DateTime>() {
        return Ok(micros(&dt.to_zoned(TimeZone::system())?));
    }
    if let Ok(date) = text.parse::<civil::Date>() {
        return Ok(micros(&date.to_zoned(TimeZone::system())?));
    }
    bail!("{text:?} is not a time: use 2h, 3d, today, yesterday, 2026-11-21, or 2026-11-21T10:00:00Z")
}

/// Milliseconds in `text`: a number and a unit (ms, s, m, h, d, w).
pub fn parse_duration_ms(text: &str) -> Result<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .with_context(|| format!("{text:?} has no unit (ms, s, m, h, d, w)"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().with_context(|| format!("{text:?} is not a duration"))?;
    let unit_ms = match unit {
        "ms" => 1.0,
        "s" | "sec" | "secs" => 1000.0,
        "m" | "min" | "mins" => 60_000.0,
        "h" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        "w" | "week" | "weeks" => 604_800_000.0,
        _ => bail!("{text:?}: unknown unit {unit:?} (use ms, s, m, h, d, w)"),
    };
    Ok((number * unit_ms).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Zoned {
        "2026-11-21T15:30:00[UTC]".parse().unwrap()
    }

    fn at(text: &str) -> String {
        Timestamp::from_microsecond(parse_instant(text, &now()).unwrap()).unwrap().to_string()
    }

    #[test]
    fn relative_and_named_times() {
        assert_eq!(at("2h"), "2026-11-21T13:30:00Z");
        assert_eq!(at("3d"), "2026-11-18T15:30:00Z");
        assert_eq!(at("today"), "2026-11-21T00:00:00Z");
        assert_eq!(at("yesterday"), "2026-11-20T00:00:00Z");
        assert_eq!(at("2026-11-01T08:00:00Z"), "2026-11-01T08:00:00Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30s").unwrap(), 30_000);
        assert_eq!(parse_duration_ms("1.5m").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
        assert!(parse_duration_ms("30").unwrap_err().to_string().contains("no unit"));
        assert!(parse_duration_ms("3 parsecs").is_err());
    }

    #[test]
    fn garbage_is_explained() {
        let err = parse_instant("last tuesday", &now()).unwrap_err().to_string();
        assert!(err.contains("not a time"), "{err}");
    }
}
