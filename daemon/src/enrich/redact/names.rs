//! Which names say "secret" (`DB_PASS`, `admin_pw`, `--storepass`,
//! `AccountKey`, `"client_secret"`) and which values are not one but say
//! where one is (`$TOKEN`, `@file`, `/run/secrets/db`).

/// Words that name a secret when a part of the name is one of them, or ends
/// with one (`pgpassword`, `accesstoken`), or is one plus `s`.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "accountkey",
    "authkey",
    "masterkey",
    "signingkey",
    "encryptionkey",
    "licensekey",
    "clientkey",
    "appkey",
    "sharedkey",
    "storagekey",
    "deploykey",
    "subscriptionkey",
    "credential",
    "webhook",
    "connectionstring",
    "storepass",
    "keypass",
];

/// Parts that name a secret only as the whole part: `DB_PASS`, `admin_pw`,
/// `MYSQL_PWD`, `sig=` (not `bypass`, `sigterm`).
const SECRET_PARTS: &[&str] = &["pass", "pw", "pwd", "pat", "sig", "dsn", "auth", "oauth", "cookie", "psk"];

/// A last part that makes the name say something about a secret, not hold
/// it: `TOKEN_FILE`, `--password-stdin`, `SECRET_NAME`, `--token-ttl`.
const NOT_THE_SECRET: &[&str] = &[
    "file",
    "files",
    "path",
    "dir",
    "stdin",
    "fd",
    "env",
    "name",
    "names",
    "id",
    "ids",
    "type",
    "length",
    "len",
    "url",
    "uri",
    "helper",
    "prompt",
    "policy",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "lifetime",
    "endpoint",
    "header",
    "field",
    "store",
    "source",
    "src",
    "mount",
    "role",
    "format",
    "location",
    "ref",
    "arn",
    "server",
    "host",
    "hostname",
    "port",
    "mode",
    "algorithm",
    "algo",
    "size",
    "bits",
    "version",
    "label",
    "description",
    "count",
    "method",
    "required",
    "strategy",
    "provider",
    "backend",
    "scope",
    "scopes",
    "audience",
    "issuer",
    "duration",
    "user",
    "username",
    "email",
    "region",
    "domain",
    "keyring",
    "manager",
    "cmd",
    "command",
    "script",
    "hint",
    "rotation",
    "max",
    "min",
    "limit",
    "timeout",
    "retries",
    "enabled",
    "disabled",
    "only",
    "level",
    "kind",
    "parallelism",
    "mapping",
    "ssl",
    "tls",
];

/// A first part that makes the name an action or a switch: `--no-password`,
/// `--ask-become-pass`, `--show-secrets`.
const NOT_A_HOLDER: &[&str] = &[
    "no", "ask", "show", "skip", "with", "use", "prompt", "generate", "rotate", "reveal", "print", "list", "require",
    "allow", "disable", "enable", "insecure", "save", "reset", "forgot", "read", "from", "get", "gen",
];

/// Whether `name` (a variable, an option without its dashes or with them,
/// a JSON key) says that its value is a secret.
pub fn secret_name(name: &str) -> bool {
    let parts = parts(name.trim_start_matches('-'));
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else { return false };
    if NOT_THE_SECRET.contains(&last.as_str())
        || NOT_A_HOLDER.contains(&first.as_str()) && parts.len() > 1
        || parts.iter().any(|p| matches!(p.as_str(), "file" | "path" | "stdin" | "fd"))
    {
        return false;
    }
    let pairs = parts.windows(2).map(|w| format!("{}{}", w[0], w[1]));
    parts.iter().cloned().chain(pairs).any(|part| {
        SECRET_PARTS.contains(&part.as_str())
            || SECRET_WORDS.iter().any(|w| part.ends_with(w) || part.strip_suffix('s') == Some(w))
    })
}

/// The lower-case parts of a name: split at `_`, `-`, `.`, `[`, and where
/// camelCase starts a word (`dbPassword`, `AccountKey`).
fn parts(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            parts.extend((!part.is_empty()).then(|| std::mem::take(&mut part)));
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower {
            parts.push(std::mem::take(&mut part));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        part.push(c.to_ascii_lowercase());
    }
    parts.extend((!part.is_empty()).then_some(part));
    parts
}

/// Whether a value (quotes removed) says where a secret is rather than
/// being one: a variable or a command's output (`$TOKEN`, `${X}`, `$(vault
/// read …)`), a file (`@creds.json`, `/run/secrets/db`, `~/.pw`, `file:x`,
/// `env:X`, docker's `id=x,src=path`), standard input (`-`), or nothing.
pub fn not_a_value(value: &str) -> bool {
    let reference = value.strip_prefix('$').is_some_and(|rest| {
        rest.starts_with(['{', '(']) || rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    });
    value.is_empty()
        || value == "-"
        || reference
        || value.starts_with(['@', '/', '<'])
        || ["~/", "./", "../", "file:", "env:", "fd:", "stdin", "id=", "src=", "source=", "type=", "env="]
            .iter()
            .any(|p| value.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_say_secret() {
        for name in [
            "DB_PASS",
            "admin_pw",
            "MYSQL_PWD",
            "TF_VAR_db_pass",
            "PGPASSWORD",
            "dbPassword",
            "AccountKey",
            "SharedAccessKey",
            "sig",
            "--storepass",
            "client_secret",
            "AWS_SECRET_ACCESS_KEY",
            "aws_session_token",
            "github.token",
            "//registry.npmjs.org/:_authToken",
            "password[password]",
            "api-key",
            "SLACK_WEBHOOK",
        ] {
            assert!(secret_name(name), "{name}");
        }
    }

    #[test]
    fn names_that_do_not() {
        for name in [
            "bypass",
            "OLDPWD2",
            "TOKENIZERS_PARALLELISM",
            "password-stdin",
            "--ask-become-pass",
            "TOKEN_FILE",
            "secret-id",
            "SECRET_NAME",
            "--token-ttl",
            "authorization",
            "keyboard",
            "path",
            "ssh_key_path",
            "no-auth",
        ] {
            assert!(!secret_name(name), "{name}");
        }
    }

    #[test]
    fn values_that_say_where_the_secret_is() {
        for value in ["$TOKEN", "${DB_PASS}", "$(vault read -field=pw x)", "@creds.json", "/run/secrets/db", "-", ""] {
            assert!(not_a_value(value), "{value}");
        }
        for value in ["hunter2", "$'pa ss'", "s3cr3t$", "-p4ss"] {
            assert!(!not_a_value(value), "{value}");
        }
    }
}
