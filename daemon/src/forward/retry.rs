//! When to try again: exponential backoff with jitter, `Retry-After`
//! honoured, and which answers are worth retrying at all.

use std::time::Duration;

/// What to do after an HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered.
    Done,
    /// Try the same thing again later (5xx, 408, 429, network), after at
    /// least this long when the server said so.
    Retry { after: Option<Duration>, reason: String },
    /// The server refused this request for good (other 4xx): put it aside.
    Reject { reason: String },
    /// The credentials were refused (401, 403): stop until the config changes.
    Stop { reason: String },
}

/// Sorts an answer (status, `Retry-After` value, body) into a verdict.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str) -> Verdict {
    let reason = || {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"].as_str().or(v["message"].as_str()).map(String::from))
            .unwrap_or_else(|| body.chars().take(200).collect());
        format!("HTTP {status}: {message}")
    };
    match status {
        200..=299 => Verdict::Done,
        401 | 403 => Verdict::Stop { reason: reason() },
        408 | 429 | 500..=599 => Verdict::Retry { after: retry_after.and_then(parse_retry_after), reason: reason() },
        _ => Verdict::Reject { reason: reason() },
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    Some(Duration::from_secs(when.as_second().saturating_sub(now.as_second()).max(0) as u64))
}

/// Exponential backoff from `base` to `max`, with ±20% jitter.
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        Backoff { base, max, attempt: 0, seed }
    }

    /// How long to wait before the next attempt; at least `floor` (a
    /// server's Retry-After).
    pub fn next(&mut self, floor: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16)).min(self.max);
        self.attempt += 1;
        // xorshift: cheap, and enough to spread clients apart.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = (self.seed % 401) as f64 / 1000.0 - 0.2; // -0.2 ..= +0.2
        let wait = exp.mul_f64(1.0 + jitter);
        wait.max(floor.unwrap_or_default())
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted() {
        assert_eq!(classify(200, None, ""), Verdict::Done);
        assert!(matches!(classify(503, None, ""), Verdict::Retry { after: None, .. }));
        assert!(
            matches!(classify(429, Some("7"), ""), Verdict::Retry { after: Some(d), .. } if d == Duration::from_secs(7))
        );
        assert!(
            matches!(classify(401, None, r#"{"error":"wrong token"}"#), Verdict::Stop { reason } if reason.contains("wrong token"))
        );
        assert!(
            matches!(classify(400, None, r#"{"error":"records[2].command is missing"}"#), Verdict::Reject { reason } if reason.contains("records[2]"))
        );
    }

    #[test]
    fn backoff_grows_to_its_cap_and_honours_the_server() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let first = b.next(None);
        assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200), "{first:?}");
        for _ in 0..20 {
            assert!(b.next(None) <= Duration::from_secs(72));
        }
        assert!(b.next(Some(Duration::from_secs(300))) >= Duration::from_secs(300));
        b.reset();
        assert!(b.next(None) <= Duration::from_millis(1200));
    }
}
