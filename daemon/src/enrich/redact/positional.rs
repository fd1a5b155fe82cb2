//! Secrets known by their place among a command's words: `aws configure set
//! aws_secret_access_key KEY`, `vault kv put path password=X`, `kubectl
//! create secret generic s --from-literal=key=X`, `gh secret set N --body X`,
//! `htpasswd -b file user X`. The line is read as the shell reads it
//! ([`command_words`]), so quotes and escapes cannot hide a value.

use std::sync::OnceLock;

use regex::Regex;

use super::names::{not_a_value, secret_name};
use crate::enrich::words::{command_words, Word};

/// Where, after its subcommand, a command takes its secrets.
enum Place {
    /// A key, then its value as the next word; only keys with a secret's
    /// name, unless `any_key` (a secret store, where every key is one).
    KeyThenValue { any_key: bool },
    /// Every `key=value` word (a secret store's put).
    Assignments,
    /// The `key=value` given to one of these options.
    OptionAssignments(&'static [&'static str]),
    /// The value of one of these options (`--body X`, `--body=X`, `-bX`).
    OptionValues(&'static [&'static str]),
    /// The n-th words that are not options (1 is the first).
    Positions(&'static [usize]),
    /// htpasswd: the password is the last word with `-b`.
    Htpasswd,
}

/// A command (its executable and subcommand words, in order) and where its
/// secrets are.
const COMMANDS: &[(&str, &[&str], Place)] = &[
    ("aws", &["configure", "set"], Place::KeyThenValue { any_key: false }),
    ("aws", &["ssm", "put-parameter"], Place::OptionValues(&["--value"])),
    ("git", &["config"], Place::KeyThenValue { any_key: false }),
    ("npm", &["config", "set"], Place::KeyThenValue { any_key: false }),
    ("yarn", &["config", "set"], Place::KeyThenValue { any_key: false }),
    ("pnpm", &["config", "set"], Place::KeyThenValue { any_key: false }),
    ("poetry", &["config"], Place::KeyThenValue { any_key: false }),
    ("composer", &["config"], Place::KeyThenValue { any_key: false }),
    ("doppler", &["secrets", "set"], Place::KeyThenValue { any_key: true }),
    ("netlify", &["env:set"], Place::KeyThenValue { any_key: true }),
    ("gh", &["secret", "set"], Place::OptionValues(&["--body", "-b"])),
    ("az", &["keyvault", "secret", "set"], Place::OptionValues(&["--value"])),
    ("kubectl", &["create", "secret"], Place::OptionAssignments(&["--from-literal"])),
    ("oc", &["create", "secret"], Place::OptionAssignments(&["--from-literal"])),
    ("vault", &["kv", "put"], Place::Assignments),
    ("vault", &["kv", "patch"], Place::Assignments),
    ("vault", &["write"], Place::Assignments),
    ("heroku", &["config:set"], Place::Assignments),
    ("dokku", &["config:set"], Place::Assignments),
    ("fly", &["secrets", "set"], Place::Assignments),
    ("flyctl", &["secrets", "set"], Place::Assignments),
    ("supabase", &["secrets", "set"], Place::Assignments),
    ("railway", &["variables"], Place::OptionValues(&["--set"])),
    ("op", &[], Place::Assignments),
    ("rabbitmqctl", &["add_user"], Place::Positions(&[2])),
    ("rabbitmqctl", &["change_password"], Place::Positions(&[2])),
    ("mc", &["alias", "set"], Place::Positions(&[3, 4])),
    ("htpasswd", &[], Place::Htpasswd),
];

/// Whether `line` may hold one of [`COMMANDS`]: their program and the first
/// word of their subcommand, as words. Most lines hold none, and this costs
/// far less than reading the line's words.
fn may_hold_one(line: &str) -> bool {
    static CANDIDATES: OnceLock<Regex> = OnceLock::new();
    CANDIDATES
        .get_or_init(|| {
            let each = COMMANDS.iter().map(|(name, subcommand, _)| match subcommand.first() {
                Some(first) => format!(r"\b{}\b[\s\S]*\s{}\b", regex::escape(name), regex::escape(first)),
                None => format!(r"\b{}\b", regex::escape(name)),
            });
            Regex::new(&each.collect::<Vec<_>>().join("|")).expect("the commands make a valid regex")
        })
        .is_match(line)
}

/// The byte ranges of `line` that hold a secret by their place.
pub fn secret_spans(line: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    if !may_hold_one(line) {
        return spans;
    }
    for words in command_words(line) {
        for (at, word) in words.iter().enumerate() {
            let program = word.text.rsplit('/').next().unwrap_or_default();
            for (_, subcommand, place) in COMMANDS.iter().filter(|(name, _, _)| *name == program) {
                if let Some(args) = after_subcommand(&words[at + 1..], subcommand) {
                    find(place, args, &mut spans);
                }
            }
        }
    }
    spans
}

/// The words after `subcommand`'s words, found in order among `words` (global
/// options may come between: `aws --profile p configure set`).
fn after_subcommand<'a>(words: &'a [Word], subcommand: &[&str]) -> Option<&'a [Word]> {
    let mut at = 0;
    for part in subcommand {
        at += words[at..].iter().position(|w| w.text == *part)? + 1;
    }
    Some(&words[at..])
}

fn find(place: &Place, args: &[Word], spans: &mut Vec<(usize, usize)>) {
    let is_option = |w: &Word| w.text.starts_with('-') && w.text != "-";
    let mut value_from = |word: &Word, from: usize| {
        let value = &word.text[from..];
        if !not_a_value(value) {
            spans.extend(word.typed_from(from));
        }
    };
    match place {
        Place::KeyThenValue { any_key } => {
            let mut positionals = args.iter().filter(|w| !is_option(w));
            while let Some(key) = positionals.next() {
                if let Some(eq) = key.text.find('=') {
                    if *any_key || secret_name(&key.text[..eq]) {
                        value_from(key, eq + 1);
                    }
                } else if *any_key || secret_name(&key.text) {
                    if let Some(value) = positionals.next() {
                        value_from(value, 0);
                    }
                }
            }
        }
        Place::Assignments => {
            for word in args.iter().filter(|w| !is_option(w)) {
                if let Some(eq) = word.text.find('=') {
                    value_from(word, eq + 1);
                }
            }
        }
        Place::OptionAssignments(options) | Place::OptionValues(options) => {
            let assignment = matches!(place, Place::OptionAssignments(_));
            let mut words = args.iter();
            while let Some(word) = words.next() {
                let Some(option) = options.iter().find(|o| word.text.starts_with(**o)) else { continue };
                let rest = &word.text[option.len()..];
                // --opt=X, a short option glued (-bX), or X as the next word.
                let (word, from) = match rest.strip_prefix('=') {
                    Some(_) => (word, option.len() + 1),
                    None if !rest.is_empty() && !option.starts_with("--") => (word, option.len()),
                    None if rest.is_empty() => match words.next() {
                        Some(next) => (next, 0),
                        None => continue,
                    },
                    None => continue,
                };
                if assignment {
                    if let Some(eq) = word.text[from..].find('=') {
                        value_from(word, from + eq + 1);
                    }
                } else {
                    value_from(word, from);
                }
            }
        }
        Place::Positions(wanted) => {
            for (n, word) in args.iter().filter(|w| !is_option(w)).enumerate() {
                if wanted.contains(&(n + 1)) {
                    value_from(word, 0);
                }
            }
        }
        Place::Htpasswd => {
            let flags: String = args.iter().take_while(|w| is_option(w)).map(|w| w.text.as_str()).collect();
            if flags.contains('b') {
                let position = if flags.contains('n') { 2 } else { 3 };
                if let Some(word) = args.iter().filter(|w| !is_option(w)).nth(position - 1) {
                    value_from(word, 0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hidden(line: &str) -> Vec<&str> {
        secret_spans(line).into_iter().map(|(s, e)| &line[s..e]).collect()
    }

    #[test]
    fn values_by_their_place() {
        assert_eq!(hidden("aws configure set aws_secret_access_key 'wJal/rX' --profile p"), ["wJal/rX"]);
        assert_eq!(hidden("aws configure set region eu-west-1"), Vec::<&str>::new());
        assert_eq!(hidden("vault kv put secret/app user=admin password=\"p w\""), ["admin", "p w"]);
        assert_eq!(
            hidden("kubectl create secret generic db --from-literal=password=x1 --from-literal user=u"),
            ["x1", "u"]
        );
        assert_eq!(hidden("gh secret set API --body 's e c' -R acme/app"), ["s e c"]);
        assert_eq!(hidden("gh secret set API -bXYZ"), ["XYZ"]);
        assert_eq!(hidden("htpasswd -b -c .htpasswd admin pw1"), ["pw1"]);
        assert_eq!(hidden("htpasswd -nb admin pw2"), ["pw2"]);
        assert_eq!(hidden("htpasswd -c .htpasswd admin"), Vec::<&str>::new());
        assert_eq!(hidden("sudo /usr/local/bin/doppler secrets set API_KEY abc123"), ["abc123"]);
        assert_eq!(hidden("heroku config:set SECRET_KEY=$SECRET -a app"), Vec::<&str>::new());
    }
}
