//! Secrets typed on a command line are replaced by `[REDACTED]` before the
//! line is stored or sent anywhere; the rest of the line stays readable.
//!
//! Each pattern marks the secret with a group named `s` (the whole match when
//! it has none), so that `--password=[REDACTED]` keeps its flag.

use regex::{Regex, RegexSet};

pub const REDACTED: &str = "[REDACTED]";

/// A value as the shell would delimit it: quoted, or up to a space or quote.
const VALUE: &str = r#"(?P<s>'[^']*'|"[^"]*"|[^\s'"]+)"#;

fn builtin_patterns() -> Vec<String> {
    let secret_names = r"password|passwd|secret|token|api_?key|apikey|private_?key|access_?key|credentials?";
    vec![
        // Private keys pasted whole.
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----".into(),
        // user:password@ in URLs.
        r#"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@'"]+:(?P<s>[^\s@/'"]+)@"#.into(),
        // HTTP headers carrying credentials.
        r#"(?i)\bauthorization:\s*(?:bearer\s+|basic\s+|token\s+|bot\s+)?(?P<s>[^\s'"]+)"#.into(),
        r#"(?i)\b(?:x-api-key|api-key|x-auth-token|private-token|x-vault-token|cf-access-client-secret):\s*(?P<s>[^\s'"]+)"#.into(),
        r"(?i)\bbearer\s+(?P<s>[A-Za-z0-9._~+/=-]{8,})".into(),
        // Tokens recognisable by their prefix.
        r"\b(?P<s>gh[pousr]_[A-Za-z0-9]{20,})".into(),
        r"\b(?P<s>github_pat_[A-Za-z0-9_]{20,})".into(),
        r"\b(?P<s>glpat-[A-Za-z0-9_-]{20,})".into(),
        r"\b(?P<s>xox[abposr]-[A-Za-z0-9-]{10,})".into(),
        r"\b(?P<s>(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,})".into(),
        r"\b(?P<s>npm_[A-Za-z0-9]{30,})".into(),
        // lcd's own team store tokens (`lcd team token create`).
        r"\b(?P<s>lcd_[A-Za-z0-9]{43})\b".into(),
        r"\b(?P<s>(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16})\b".into(),
        r"\b(?P<s>AIza[0-9A-Za-z_-]{35})".into(),
        r"\b(?P<s>sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,})".into(),
        r"\b(?P<s>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})".into(),
        // NAME=value where the name says secret: env assignments, export,
        // terraform -var 'db_password=…', TF_VAR_*password*=…
        format!(r"(?i)\b[A-Za-z0-9_.-]*(?:{secret_names})[A-Za-z0-9_.-]*={VALUE}"),
        // --password=x, --token x, -var-file is fine, --api-key x ...
        format!(
            r"(?i)(?:^|\s)--?(?:password|passwd|pass|token|secret|api-key|apikey|api-token|access-token|auth-token|client-secret|secret-access-key|private-key|github-token|gitlab-token)(?:=|\s+){VALUE}"
        ),
        // mysql -p'x' (the password glued to -p).
        format!(r"(?i)\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^|;&\n]*?\s-p{VALUE}"),
        format!(r"\bsshpass\s+-p\s*{VALUE}"),
        format!(r"(?i)\baz\s+login\b[^|;&\n]*?\s-p\s+{VALUE}"),
        // curl -u user:password
        r#"(?i)\b(?:curl|wget|http|https)\b[^|;&\n]*?\s(?:-u|--user)\s+[^\s:'"]+:(?P<s>[^\s'"]+)"#.into(),
    ]
}

/// The compiled patterns: built-in ones, then those from the config.
pub struct Redactor {
    set: RegexSet,
    patterns: Vec<Regex>,
}

impl Redactor {
    /// Fails, naming the pattern, when an extra pattern is not a valid regex.
    pub fn new(extra: &[String]) -> Result<Redactor, regex::Error> {
        let all: Vec<String> = builtin_patterns().into_iter().chain(extra.iter().cloned()).collect();
        let set = RegexSet::new(&all)?;
        let patterns = all.iter().map(|p| Regex::new(p)).collect::<Result<_, _>>()?;
        Ok(Redactor { set, patterns })
    }

    /// The compiled patterns, built-in ones first: what a test checks the
    /// redaction against.
    pub fn patterns(&self) -> &[Regex] {
        &self.patterns
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let matching = self.set.matches(text);
        if !matching.matched_any() {
            return text.to_string();
        }
        let mut out = text.to_string();
        for index in matching.iter() {
            out = redact_with(&self.patterns[index], &out);
        }
        out
    }
}

/// How many secrets a redacted text hides: its `[REDACTED]` markers. Counting
/// what is left, not what was replaced, gives the same figure when a text is
/// redacted again (a spooled record is enriched once more when replayed).
pub fn hidden_in(text: &str) -> usize {
    text.matches(REDACTED).count()
}

fn redact_with(pattern: &Regex, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in pattern.captures_iter(text) {
        let span = caps.name("s").unwrap_or_else(|| caps.get(0).expect("a match"));
        if span.as_str() == REDACTED {
            continue;
        }
        out.push_str(&text[last..span.start()]);
        out.push_str(REDACTED);
        last = span.end();
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_stays_and_the_secret_goes() {
        let r = Redactor::new(&[]).unwrap();
        assert_eq!(r.redact("mysql -u root -p'hunter2' db"), "mysql -u root -p[REDACTED] db");
        assert_eq!(r.redact("tool --password=abc --verbose"), "tool --password=[REDACTED] --verbose");
        assert_eq!(r.redact("git status"), "git status");
    }

    #[test]
    fn redacting_twice_changes_nothing() {
        let r = Redactor::new(&[]).unwrap();
        let once = r.redact("export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        assert_eq!(r.redact(&once), once);
        assert_eq!(hidden_in(&once), 1);
    }

    #[test]
    fn a_team_store_token_is_hidden_wherever_it_is_typed() {
        let r = Redactor::new(&[]).unwrap();
        let token = "lcd_0123456789abcdefghijABCDEFGHIJklmnopqrstuvw";
        assert_eq!(r.redact(&format!("export LCD_REMOTE_X={token}")), "export LCD_REMOTE_X=[REDACTED]");
        assert_eq!(r.redact(&format!("echo {token} | pbcopy")), "echo [REDACTED] | pbcopy");
        assert_eq!(r.redact("cd lcd_notes"), "cd lcd_notes");
    }

    #[test]
    fn extra_patterns_come_from_the_config() {
        let r = Redactor::new(&[r"acme-(?P<s>[0-9a-f]{8})".into()]).unwrap();
        assert_eq!(r.redact("deploy acme-deadbeef"), "deploy acme-[REDACTED]");
        assert!(Redactor::new(&["(unclosed".into()]).is_err());
    }
}
