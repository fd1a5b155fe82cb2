//! The redactor: it never panics, redacting twice changes nothing, a text no
//! pattern matches is left alone, and a planted token never survives.

use bolero::{check, produce, ValueGenerator};
use lcd::enrich::{Redactor, REDACTED};

/// Words the patterns look for, so that generated command lines hold
/// near-secrets and secrets, not only text no pattern matches.
const WORDS: &[&str] = &[
    " ",
    "=",
    ":",
    "'",
    "\"",
    "@",
    "://",
    "\n",
    "password",
    "TF_VAR_db_password",
    "token",
    "api_key",
    "--password",
    "--token",
    "-p",
    "mysql ",
    "sshpass ",
    "az login ",
    "curl ",
    "-u ",
    "Authorization: ",
    "Bearer ",
    "x-api-key: ",
    "ghp_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "sk_live_",
    "npm_",
    "AKIA",
    "AIza",
    "sk-ant-",
    "eyJ",
    ".",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "https://user:",
    REDACTED,
    "abcdefghijklmnopqrstuvwxyz0123456789ABCD",
];

/// A command line made of pieces: a word from [`WORDS`] or generated text.
fn command_line() -> impl ValueGenerator<Output = String> {
    produce::<Vec<(u8, String)>>().map_gen(|pieces| {
        pieces
            .iter()
            .map(|(pick, text)| match WORDS.get(usize::from(*pick)) {
                Some(word) => word,
                None => text.as_str(),
            })
            .collect()
    })
}

fn redactor() -> Redactor {
    Redactor::new(&[]).expect("the built-in patterns compile")
}

#[test]
fn the_redactor_never_panics() {
    let redactor = redactor();
    check!().with_type::<String>().for_each(|text| {
        let _ = redactor.redact(text);
    });
}

#[test]
fn redacting_twice_changes_nothing() {
    let redactor = redactor();
    check!().with_generator(command_line()).for_each(|text| {
        let once = redactor.redact(text);
        assert_eq!(redactor.redact(&once), once, "redacting {text:?}");
    });
}

#[test]
fn a_text_no_pattern_matches_is_unchanged() {
    let redactor = redactor();
    check!().with_generator(command_line()).for_each(|text| {
        if !redactor.patterns().any(|p| p.is_match(text)) && !redactor.words_pass_changes(text) {
            assert_eq!(&redactor.redact(text), text);
        }
    });
}

#[test]
fn a_planted_token_never_survives() {
    let redactor = redactor();
    let lines = (command_line(), produce::<[u8; 36]>(), command_line());
    check!().with_generator(lines).for_each(|(before, token, after)| {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let token: String = token.iter().map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()])).collect();
        let token = format!("ghp_{token}");
        let redacted = redactor.redact(&format!("{before} {token} {after}"));
        assert!(!redacted.contains(&token), "{redacted:?} keeps {token}");
    });
}
