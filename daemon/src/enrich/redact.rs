//! Secrets typed on a command line are replaced by `[REDACTED]` before the
//! line is stored or sent anywhere; the rest of the line stays readable.
//!
//! Three passes, each cheap enough for every record:
//! 1. Patterns (regular expressions, prefiltered by one `RegexSet`): tokens
//!    known by their prefix, `NAME=value` and `--flag value` where the name
//!    says secret, credentials in URLs and headers, tools' own password
//!    options, values piped into a command that reads a secret.
//! 2. Positions ([`positional`]): commands whose arguments are secrets by
//!    place (`aws configure set aws_secret_access_key KEY`, `vault kv put
//!    path k=v`, `htpasswd -b file user PASSWORD`), read with the shell-word
//!    reader the classifier uses.
//! 3. Entropy ([`entropy`]): long, random-looking words nothing names, with
//!    the words that only look random left alone (hashes, UUIDs, paths).
//!
//! Each pattern marks the secret with a group named `s` (the whole match when
//! it has none), so that `--password=[REDACTED]` keeps its flag.

mod entropy;
mod names;
mod positional;

use regex::{Captures, Regex, RegexSet};

use names::secret_name;

pub const REDACTED: &str = "[REDACTED]";

/// A value as the shell delimits it: one quoted string ('…', $'…' or "…",
/// escaped quotes included), or an unquoted run (with backslash escapes).
const VALUE: &str = r#"(?P<s>'[^']*'|\$'(?:[^'\\]|\\[\s\S])*'|"(?:[^"\\]|\\[\s\S])*"|(?:\\[\s\S]|[^\s'"\\;&|<>`])+)"#;

/// The fragments a secret's name contains: the regex finds candidates,
/// [`secret_name`] decides.
const NAME_FRAGMENTS: &str = "pass|pw|secret|token|key|auth|credential|sig|dsn|webhook|cookie|pat";

/// What reads a secret on its standard input (`docker login
/// --password-stdin`, `wrangler secret put`, `sudo -S`, ...).
const READS_A_SECRET: &str = r"(?:--password-stdin|--pass(?:word)?-stdin|--passphrase-fd|--with-token|\bsecrets?\s+(?:versions\s+)?(?:put|set|create|add|import)\b|--data-file[=\s]-(?:\s|$)|\benv\s+add\b|\bchpasswd\b|\bpasswd\s+--stdin\b|\bkv\s+put\b|\bsudo\s+-[A-Za-z]*S)";

/// Says whether a match is to be kept (not a secret after all).
type Keep = fn(&Captures) -> bool;
/// A rule before it is compiled: its pattern and its check.
type RuleSource = (String, Option<Keep>);

/// A pattern and, for some, a check of its match: what the regex cannot tell
/// from a secret (a flag that takes no value, a value naming where the secret
/// is) is kept.
struct Rule {
    regex: Regex,
    keep: Option<Keep>,
}

/// Tools that take a password with a short option of their own, that
/// option, and whether the value may be glued to it: `redis-cli -a PW`,
/// `zip -P PW`, `7z a -pPW`. (mysql, where `-p db` asks for the password,
/// has a rule of its own.)
const TOOL_OPTIONS: &[(&str, &str, bool)] = &[
    (r"(?:docker|podman|buildah|skopeo|oras|nerdctl|finch)\s+login|helm\s+registry\s+login", "-p", true),
    ("redis-cli|valkey-cli|keydb-cli", "-a", true),
    ("mongosh|mongo|mongodump|mongorestore|mongoexport|mongoimport|mongostat|mongotop", "-p", false),
    ("ldapsearch|ldapmodify|ldapadd|ldapdelete|ldapwhoami|ldappasswd|ldapcompare|ldapmodrdn|ldapexop", "-w", true),
    ("zip|unzip|zipcloak|funzip", "-P", true),
    ("7z|7za|7zr|unrar|rar", "-p", true),
    ("sshpass", "-p", true),
    ("ssh-keygen", "-[NP]", false),
    ("sqlcmd|bcp|osql|isql", "-P", false),
    ("ipmitool", "-P", false),
    ("cqlsh", "-p", false),
    ("twine", "-p", false),
    ("openssl", "-k", false),
    ("az", "-p", false),
];

fn builtin_rules() -> Vec<RuleSource> {
    let mut rules: Vec<RuleSource> = vec![
        // Private keys pasted whole (PEM, OpenSSH, PGP), or their start to
        // the end of the quoted text or line when the end is missing.
        (r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----".into(), None),
        (r#"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?P<s>[^'"]+)"#.into(), None),
        // user:password@ in URLs (the password may hold an @: the last one
        // before the host ends it).
        (r#"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@'"]*:(?P<s>[^\s/'"]+)@"#.into(), Some(keep_unless_value)),
        // A key alone before the @ (Sentry's DSN https://KEY@host/1).
        (r#"(?i)\b[a-z][a-z0-9+.-]*://(?P<s>[A-Za-z0-9_-]{16,})@"#.into(), Some(keep_unless_random)),
        // HTTP headers carrying credentials.
        (r#"(?i)\bauthorization:\s*(?:bearer\s+|basic\s+|token\s+|bot\s+|digest\s+|sso-key\s+)?(?P<s>[^\s'"]+)"#.into(), Some(keep_unless_value)),
        (r#"(?i)\b(?:x-api-key|api-key|apikey|x-auth-token|x-auth-key|private-token|job-token|x-vault-token|cf-access-client-secret|x-goog-api-key|x-shopify-access-token|x-figma-token|x-pagerduty-token|dd-api-key|dd-application-key|ocp-apim-subscription-key):\s*(?P<s>[^\s'"]+)"#.into(), Some(keep_unless_value)),
        (r"(?i)\bbearer\s+(?P<s>[A-Za-z0-9._~+/=-]{8,})".into(), None),
        // Other `name: value` with a secret's name (a header, a YAML line).
        (format!(r#"(?i)(?:^|[\s'"{{,])(?P<name>[A-Za-z0-9_-]*(?:{NAME_FRAGMENTS})[A-Za-z0-9_-]*):[ \t]+(?P<s>[^\s'",}}]+)"#), Some(keep_unless_secret_name)),
        // Tokens recognisable by their prefix, as their providers publish them.
        (concat!(
            r"\b(?P<s>gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255}",
            r"|gl(?:pat|dt|rt|ptt|soat|cbt|imt|ft|oas|agent)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,}",
            r"|xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,}",
            r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9+/=]{20,}",
            r"|npm_[A-Za-z0-9]{30,}|pypi-[A-Za-z0-9_-]{50,}|dckr_pat_[A-Za-z0-9_-]{20,}",
            // lcd's own team store tokens (`lcd team token create`).
            r"|lcd_[A-Za-z0-9]{43}\b",
            r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b",
            r"|AIza[0-9A-Za-z_-]{35}|GOCSPX-[A-Za-z0-9_-]{20,}|ya29\.[0-9A-Za-z_-]{20,}|1//0[0-9A-Za-z_-]{30,}",
            r"|sk-[A-Za-z0-9_-]{20,}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|(?:AC|SK)[0-9a-f]{32}\b",
            r"|do[opr]_v1_[a-f0-9]{64}|HRKU-[A-Za-z0-9_-]{20,}|hv[sbr]\.[A-Za-z0-9_-]{20,}",
            r"|[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,}|key-[0-9a-f]{32}\b|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
            r"|hf_[A-Za-z0-9]{30,}|glsa_[A-Za-z0-9_]{32,}|glc_[A-Za-z0-9+/=_-]{32,}|sntry[su]_[A-Za-z0-9+/=_-]{30,}",
            r"|PMAK-[A-Za-z0-9-]{30,}|NRAK-[A-Z0-9]{27}|dp\.(?:st|ct|sa|scim|audit|pt)\.[A-Za-z0-9_.-]{20,}",
            r"|ops_eyJ[A-Za-z0-9_-]{30,}|lin_api_[A-Za-z0-9]{30,}|ntn_[A-Za-z0-9]{40,}|AGE-SECRET-KEY-1[0-9A-Z]{50,}",
            r"|ATATT3[A-Za-z0-9_=-]{50,}|dapi[0-9a-f]{32}|sbp_[a-f0-9]{40}|fo1_[A-Za-z0-9_-]{30,}",
            r"|sq[pua]_[a-f0-9]{40}|pul-[a-f0-9]{40}",
            r"|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}|[a-f0-9]{32}-us[0-9]{1,2}\b",
            r"|[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
            r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
        ).into(), None),
        // Webhook URLs are their own secret.
        (r"(?i)\bhooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9/_-]+)".into(), None),
        (r"(?i)\bdiscord(?:app)?\.com/api/webhooks/(?P<s>[0-9]+/[A-Za-z0-9_-]+)".into(), None),
        (r"(?i)\.webhook\.office\.com/(?P<s>[A-Za-z0-9@/_-]+)".into(), None),
        // NAME=value where the name says secret: env assignments, export,
        // terraform -var 'db_password=…', --password=…, ?access_token=…,
        // Azure's AccountKey=… and a SAS's sig=…
        (format!(r"(?:^|[^A-Za-z0-9_.-])(?P<name>[A-Za-z0-9_.-]*(?i:{NAME_FRAGMENTS})[A-Za-z0-9_.-]*)={VALUE}"), Some(keep_unless_secret_name)),
        // --password x, --token x, -storepass x (the value as the next word).
        (format!(r"(?:^|[\s'\x22])--?(?P<name>[A-Za-z0-9_-]*(?i:{NAME_FRAGMENTS})[A-Za-z0-9_-]*)\s+{VALUE}"), Some(keep_unless_flag_value)),
        // JSON bodies: {"password": "x"}, and inside a double-quoted string
        // {\"password\": \"x\"}.
        (r#"(?:^|[^\\])"(?P<name>[A-Za-z0-9_.-]+)"\s*:\s*"(?P<s>(?:[^"\\]|\\[\s\S])*)""#.into(), Some(keep_unless_secret_name)),
        (r#"\\"(?P<name>[A-Za-z0-9_.-]+)\\"\s*:\s*\\"(?P<s>(?:[^"\\]|\\[^"])*)\\""#.into(), Some(keep_unless_secret_name)),
        // mysql -p'x' (the password glued to -p: `-p db` asks for it).
        (format!(r"(?i)\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mariadb|mariadb-dump)\b[^|;&\n]*?\s-p{VALUE}"), None),
        // curl -u user:password, quoted or glued, and --user=…
        (r#"(?i)\b(?:curl|wget|http|https|xh|curlie|lftp)\b[^|;&\n]*?\s(?:-u|-U|--user|--proxy-user)(?:=|\s*)'[^':]*[:,](?P<s>[^']+)'"#.into(), Some(keep_unless_value)),
        (r#"(?i)\b(?:curl|wget|http|https|xh|curlie|lftp)\b[^|;&\n]*?\s(?:-u|-U|--user|--proxy-user)(?:=|\s*)"[^":]*[:,](?P<s>(?:[^"\\]|\\[\s\S])+)""#.into(), Some(keep_unless_value)),
        (r#"(?i)\b(?:curl|wget|http|https|xh|curlie|lftp)\b[^|;&\n]*?\s(?:-u|-U|--user|--proxy-user|-a|--auth)(?:=|\s*)[^\s:'"]*[:,](?P<s>(?:\\[\s\S]|[^\s'"\\;&|<>])+)"#.into(), Some(keep_unless_value)),
        // smbclient -U user%password
        (r#"\b(?:smbclient|smbget|smbcacls|rpcclient|smbmap|net|nxc|crackmapexec|mount\.cifs)\b[^|;&\n]*?\s(?:-U|--user(?:name)?)(?:=|\s*)['"]?[^\s%'"]+%(?P<s>[^\s'"]+)"#.into(), Some(keep_unless_value)),
        // openssl … pass:X (and anything else taking pass:X).
        (r#"(?:^|[\s='"])pass:(?P<s>'[^']*'|"(?:[^"\\]|\\[\s\S])*"|[^\s'"]+)"#.into(), Some(keep_unless_value)),
        // sqlplus user/password@db
        (r"\bsqlplus\s+(?:-[A-Za-z]+\s+)*[^\s/@]+/(?P<s>[^\s@/]+)".into(), Some(keep_unless_value)),
        // A value piped into what reads a secret from stdin: echo X | docker
        // login --password-stdin, printf X | wrangler secret put NAME, and a
        // here-string: wrangler secret put NAME <<< X.
        (format!(r#"\becho\s+(?:-[neE]+\s+)*{VALUE}\s*\|[^;&\n]*?{READS_A_SECRET}"#), Some(keep_unless_value)),
        (format!(r#"\bprintf\s+(?:--\s+)?(?:'%s(?:\\n)?'\s+|"%s(?:\\n)?"\s+|%s\s+)?{VALUE}\s*\|[^;&\n]*?{READS_A_SECRET}"#), Some(keep_unless_value)),
        (format!(r#"{READS_A_SECRET}[^|;&\n]*?<<<\s*{VALUE}"#), Some(keep_unless_value)),
    ];
    for (tools, option, glued) in TOOL_OPTIONS {
        let between = if *glued { r"(?:\s+|=)?" } else { r"(?:\s+|=)" };
        rules.push((
            format!(r"(?:^|[\s/;&|(])(?:{tools})(?:\s[^|;&\n]*?)?\s{option}{between}{VALUE}"),
            Some(keep_unless_value),
        ));
    }
    rules
}

/// The compiled rules: built-in ones, then those from the config.
pub struct Redactor {
    set: RegexSet,
    rules: Vec<Rule>,
    /// Whether the positional and entropy passes run (built-in rules only).
    builtin: bool,
}

impl Redactor {
    /// The built-in rules and `extra`; fails, naming the pattern, when an
    /// extra pattern is not a valid regex.
    pub fn new(extra: &[String]) -> Result<Redactor, regex::Error> {
        // Word boundaries in ASCII: a Unicode one makes each regex, and each
        // thread's cache of it, many times larger.
        let builtin = builtin_rules().into_iter().map(|(p, keep)| (p.replace(r"\b", r"(?-u:\b)"), keep));
        let rules = builtin.chain(extra.iter().map(|p| (p.clone(), None)));
        Redactor::compile(rules.collect(), true)
    }

    /// `patterns` alone, without the built-in rules: `[capture]
    /// redact_remote`, applied to text the built-in rules already saw.
    pub fn only(patterns: &[String]) -> Result<Redactor, regex::Error> {
        Redactor::compile(patterns.iter().map(|p| (p.clone(), None)).collect(), false)
    }

    fn compile(rules: Vec<RuleSource>, builtin: bool) -> Result<Redactor, regex::Error> {
        let set = RegexSet::new(rules.iter().map(|(p, _)| p))?;
        let rules =
            rules.into_iter().map(|(p, keep)| Ok(Rule { regex: Regex::new(&p)?, keep })).collect::<Result<_, _>>()?;
        Ok(Redactor { set, rules, builtin })
    }

    /// The compiled patterns, built-in ones first: what a test checks the
    /// redaction against.
    pub fn patterns(&self) -> impl Iterator<Item = &Regex> {
        self.rules.iter().map(|r| &r.regex)
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for index in self.set.matches(text).iter() {
            out = redact_with(&self.rules[index], &out);
        }
        if self.builtin {
            // Both word passes over the same text, replaced in one go.
            let mut spans = positional::secret_spans(&out);
            spans.extend(entropy::random_words(&out));
            out = replace_spans(&out, spans);
        }
        out
    }

    /// Whether the positional and entropy passes would change `text` (which
    /// no pattern matches): for a test that checks the prefilter.
    pub fn words_pass_changes(&self, text: &str) -> bool {
        self.builtin && (!positional::secret_spans(text).is_empty() || !entropy::random_words(text).is_empty())
    }
}

/// How many secrets a redacted text hides: its `[REDACTED]` markers. Counting
/// what is left, not what was replaced, gives the same figure when a text is
/// redacted again (a spooled record is enriched once more when replayed).
pub fn hidden_in(text: &str) -> usize {
    text.matches(REDACTED).count()
}

fn redact_with(rule: &Rule, text: &str) -> String {
    let mut spans = Vec::new();
    let mut at = 0;
    while at <= text.len() {
        let Some(caps) = rule.regex.captures_at(text, at) else { break };
        let whole = caps.get(0).expect("a match");
        let span = caps.name("s").unwrap_or(whole);
        if span.as_str().contains(REDACTED) || rule.keep.is_some_and(|keep| keep(&caps)) {
            // What the match took as a value may hold the next secret
            // (`--password-stdin --token x`): look again from there.
            at = next_char(text, span.start().max(whole.start()));
            continue;
        }
        spans.push((span.start(), span.end()));
        at = span.end().max(next_char(text, whole.start()));
    }
    replace_spans(text, spans)
}

/// The byte index of the character after the one at `at`.
fn next_char(text: &str, at: usize) -> usize {
    at + text[at..].chars().next().map_or(1, char::len_utf8)
}

/// `text` with each byte range replaced by the marker: ranges that overlap
/// are one secret (the later one may reach further), a range already hidden
/// is left alone.
fn replace_spans(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    spans.retain(|&(start, end)| start < end && !text[start..end].contains(REDACTED));
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut spans = spans.into_iter().peekable();
    while let Some((start, mut end)) = spans.next() {
        while let Some((_, further)) = spans.next_if(|&(next, _)| next < end) {
            end = end.max(further);
        }
        out.push_str(&text[last..start]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// The value (group `s`) without the quotes around it.
fn unquoted<'a>(caps: &'a Captures) -> &'a str {
    let value = caps.name("s").map_or("", |m| m.as_str());
    let value = value.strip_prefix('$').filter(|v| v.starts_with('\'')).unwrap_or(value);
    for q in ['\'', '"'] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

fn keep_unless_secret_name(caps: &Captures) -> bool {
    !caps.name("name").is_some_and(|n| secret_name(n.as_str())) || names::not_a_value(unquoted(caps))
}

/// `--token VALUE`: also kept when the next word is another option (the
/// flag takes no value: `--ask-become-pass -i hosts`).
fn keep_unless_flag_value(caps: &Captures) -> bool {
    keep_unless_secret_name(caps) || caps.name("s").is_some_and(|v| v.as_str().starts_with('-'))
}

fn keep_unless_value(caps: &Captures) -> bool {
    names::not_a_value(unquoted(caps))
}

/// A user name in a URL is kept unless it looks like a key (letters and
/// digits both: not `git`, not `deploy-bot-account`).
fn keep_unless_random(caps: &Captures) -> bool {
    let name = caps.name("s").map_or("", |m| m.as_str());
    !(name.bytes().any(|b| b.is_ascii_digit()) && name.bytes().any(|b| b.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_spans_are_one_secret_and_the_longer_reach_counts() {
        assert_eq!(replace_spans("a secretlonger b", vec![(2, 8), (4, 14)]), "a [REDACTED] b");
        assert_eq!(replace_spans("ab cd", vec![(0, 2), (3, 5)]), "[REDACTED] [REDACTED]");
    }

    fn redact(text: &str) -> String {
        Redactor::new(&[]).unwrap().redact(text)
    }

    #[test]
    fn the_flag_stays_and_the_secret_goes() {
        assert_eq!(redact("mysql -u root -p'hunter2' db"), "mysql -u root -p[REDACTED] db");
        assert_eq!(redact("tool --password=abc --verbose"), "tool --password=[REDACTED] --verbose");
        assert_eq!(redact("git status"), "git status");
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

    #[test]
    fn remote_only_rules_apply_nothing_else() {
        let r = Redactor::only(&[r"\binternal-(?P<s>[a-z]+)\b".into()]).unwrap();
        assert_eq!(r.redact("ssh internal-db --password=x"), "ssh internal-[REDACTED] --password=x");
    }

    #[test]
    fn flags_that_take_no_secret_keep_their_words() {
        for line in [
            "echo x | docker login --password-stdin registry.example.com",
            "ansible-playbook site.yml --ask-become-pass -i hosts",
            "docker build --secret id=npmrc,src=$HOME/.npmrc .",
            "curl --key client.key --cert client.pem https://x",
            "export GITHUB_TOKEN=$(gh auth token)",
            "TOKENIZERS_PARALLELISM=false python train.py",
            "aws secretsmanager get-secret-value --secret-id prod/db",
        ] {
            assert_eq!(redact(line).replace("echo [REDACTED]", "echo x"), line);
        }
    }

    #[test]
    fn quoted_and_escaped_values_go_whole() {
        assert_eq!(redact(r"export DB_PASS=$'pa\'ss word'"), "export DB_PASS=[REDACTED]");
        assert_eq!(redact(r#"tool --password=\"hunter2\" -v"#), "tool --password=[REDACTED] -v");
        assert_eq!(redact(r#"tool --password "a b" -v"#), "tool --password [REDACTED] -v");
    }
}
