//! The redaction corpus, with Yelp's detect-secrets as an oracle independent
//! of lcd: secret-bearing command lines in the providers' published formats
//! (`daemon/tests/corpus/secrets.txt`) lose every secret the corpus marks and
//! every secret the scanner finds; ordinary ones (`ordinary.txt`) stay byte
//! for byte as typed, and the scanner finds nothing in them either.
//!
//! The secrets are made here, from a fixed seed: the files hold none, so no
//! scanner (GitHub's push protection included) finds one in the repository.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use lcd::enrich::Redactor;
use serde_json::Value;

/// A command line and the secrets it holds.
struct Case {
    line: String,
    secrets: Vec<String>,
}

/// xorshift64*: the same fake secrets on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn from(&mut self, alphabet: &str, n: usize) -> String {
        let alphabet = alphabet.as_bytes();
        (0..n).map(|_| char::from(alphabet[(self.next() % alphabet.len() as u64) as usize])).collect()
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &str = "0123456789abcdef";
const UPPER_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const DIGITS: &str = "0123456789";

/// A fake secret of `kind`, in the format its provider publishes.
fn secret(kind: &str, rng: &mut Rng) -> Result<String> {
    let r = rng;
    Ok(match kind {
        "aws_id" => format!("AKIA{}", r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
        "aws_secret" => format!("{}{}", r.from(ALNUM, 1), r.from(B64, 39)),
        "aws_session" => format!("IQoJb3JpZ2luX2VjE{}", r.from(B64, 280)),
        "gcp_api" => format!("AIza{}", r.from(B64URL, 35)),
        "gcp_access" => format!("ya29.{}", r.from(B64URL, 120)),
        "gcp_oauth" => format!("GOCSPX-{}", r.from(B64URL, 28)),
        "gcp_refresh" => format!("1//0{}", r.from(B64URL, 60)),
        "azure_client_secret" => format!("{}{}Q~{}", r.from(ALNUM, 3), r.from(DIGITS, 1), r.from(ALNUM, 34)),
        "azure_storage_key" => format!("{}{}==", r.from(ALNUM, 1), r.from(B64, 85)),
        "azure_sas_sig" => format!("{}%2B{}%3D", r.from(ALNUM, 30), r.from(ALNUM, 12)),
        "ghp" | "gho" | "ghu" | "ghs" | "ghr" => format!("{kind}_{}", r.from(ALNUM, 36)),
        "ghr_reg" => format!("A{}", r.from(UPPER_DIGITS, 28)),
        "github_pat" => format!("github_pat_{}_{}", r.from(ALNUM, 22), r.from(ALNUM, 59)),
        "glpat" | "glrt" | "gldt" => format!("{kind}-{}", r.from(ALNUM, 20)),
        "glptt" => format!("glptt-{}", r.from(HEX, 40)),
        "slack_webhook" => format!(
            "https://hooks.slack.com/services/T{}/B{}/{}",
            r.from(UPPER_DIGITS, 8),
            r.from(UPPER_DIGITS, 10),
            r.from(ALNUM, 24)
        ),
        "xoxb" => format!("xoxb-{}-{}-{}", r.from(DIGITS, 11), r.from(DIGITS, 13), r.from(ALNUM, 24)),
        "xoxp" => {
            format!("xoxp-{}-{}-{}-{}", r.from(DIGITS, 11), r.from(DIGITS, 11), r.from(DIGITS, 13), r.from(HEX, 32))
        }
        "xapp" => format!("xapp-1-A{}-{}-{}", r.from(UPPER_DIGITS, 10), r.from(DIGITS, 13), r.from(HEX, 64)),
        "stripe_live" => format!("sk_live_{}", r.from(ALNUM, 24)),
        "stripe_test" => format!("sk_test_{}", r.from(ALNUM, 24)),
        "stripe_restricted" => format!("rk_live_{}", r.from(ALNUM, 24)),
        "whsec" => format!("whsec_{}", r.from(ALNUM, 32)),
        "twilio_ac" => format!("AC{}", r.from(HEX, 32)),
        "twilio_sk" => format!("SK{}", r.from(HEX, 32)),
        "sendgrid" => format!("SG.{}.{}", r.from(B64URL, 22), r.from(B64URL, 43)),
        "npm" => format!("npm_{}", r.from(ALNUM, 36)),
        "pypi" => format!("pypi-AgEIcHlwaS5vcmc{}", r.from(B64URL, 60)),
        "dockerhub" => format!("dckr_pat_{}", r.from(B64URL, 27)),
        "cf_token" => format!("{}{}", r.from(ALNUM, 1), r.from(B64URL, 39)),
        "cf_tunnel" => format!("eyJhIjoi{}", r.from(ALNUM, 150)),
        "do_pat" => format!("dop_v1_{}", r.from(HEX, 64)),
        "do_oauth" => format!("doo_v1_{}", r.from(HEX, 64)),
        "do_spaces_id" => format!("DO00{}", r.from(UPPER_DIGITS, 16)),
        "heroku" => format!("HRKU-AA{}", r.from(B64URL, 58)),
        "openai" => format!("sk-proj-{}", r.from(B64URL, 64)),
        "anthropic" => format!("sk-ant-api03-{}AA", r.from(B64URL, 93)),
        "vault" => format!("hvs.{}", r.from(ALNUM, 24)),
        "vault_batch" => format!("hvb.{}", r.from(B64URL, 138)),
        "tfc" => format!("{}.atlasv1.{}", r.from(ALNUM, 14), r.from(ALNUM, 67)),
        "jwt" => format!(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
            base64url(&format!(r#"{{"sub":"{}","name":"Jane","iat":1516239022}}"#, r.from(DIGITS, 10))),
            r.from(B64URL, 43)
        ),
        "b64_basic" => {
            let encoded = base64url(&format!("deploy:{}", r.from(ALNUM, 16))).replace('-', "+").replace('_', "/");
            let padding = "=".repeat((4 - encoded.len() % 4) % 4);
            encoded + &padding
        }
        "b64_32" | "b64_40" | "b64_43" => {
            let n: usize = kind[4..].parse()?;
            format!("{}{}", r.from(ALNUM, 1), r.from(B64, n - 1))
        }
        "hex32" => r.from(HEX, 32),
        "hex37" => r.from(HEX, 37),
        "hex64" => r.from(HEX, 64),
        "uuid" => {
            format!("{}-{}-4{}-a{}-{}", r.from(HEX, 8), r.from(HEX, 4), r.from(HEX, 3), r.from(HEX, 3), r.from(HEX, 12))
        }
        "pem_body" => format!("MIIEpAIBAAKCAQEA{}", r.from(B64, 300)),
        "doppler" => format!("dp.st.prd.{}", r.from(ALNUM, 40)),
        "sentry_user" => format!("sntryu_{}", r.from(HEX, 64)),
        "mailgun" => format!("key-{}", r.from(HEX, 32)),
        "hf" => format!("hf_{}", r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 34)),
        "shopify" => format!("shpat_{}", r.from(HEX, 32)),
        "newrelic" => format!("NRAK-{}", r.from(UPPER_DIGITS, 27)),
        "sonar" => format!("sqp_{}", r.from(HEX, 40)),
        "pulumi" => format!("pul-{}", r.from(HEX, 40)),
        "age" => format!("AGE-SECRET-KEY-1{}", r.from("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)),
        "telegram" => format!("{}:AA{}", r.from(DIGITS, 10), r.from(B64URL, 33)),
        "discord_webhook" => format!("{}/{}", r.from(DIGITS, 18), r.from(B64URL, 68)),
        "linear" => format!("lin_api_{}", r.from(ALNUM, 40)),
        "atlassian" => format!("ATATT3xFfGF0{}={}", r.from(B64URL, 60), r.from(HEX, 8)),
        "databricks" => format!("dapi{}", r.from(HEX, 32)),
        "supabase" => format!("sbp_{}", r.from(HEX, 40)),
        "op_service" => format!("ops_eyJ{}", r.from(B64URL, 200)),
        "postman" => format!("PMAK-{}-{}", r.from(HEX, 24), r.from(HEX, 34)),
        "grafana" => format!("glsa_{}_{}", r.from(ALNUM, 32), r.from(HEX, 8)),
        "fly" => format!("fo1_{}", r.from(B64URL, 43)),
        _ => bail!("no secret of kind {kind:?}"),
    })
}

fn base64url(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(B64URL.as_bytes()[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// The cases of a corpus file: ⟦kind⟧ filled with a fresh fake secret, ⟦=x⟧
/// with `x`, both remembered as secrets; ⏎ a line break.
fn cases(file: &str, rng: &mut Rng) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for template in file.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (mut line, mut secrets, mut rest) = (String::new(), Vec::new(), template);
        while let Some(open) = rest.find('⟦') {
            line.push_str(&rest[..open]);
            let after = &rest[open + '⟦'.len_utf8()..];
            let close = after.find('⟧').with_context(|| format!("unclosed ⟦ in {template}"))?;
            let marked = &after[..close];
            let value = match marked.strip_prefix('=') {
                Some(literal) => literal.to_string(),
                None => secret(marked, rng)?,
            };
            line.push_str(&value);
            secrets.push(value);
            rest = &after[close + '⟧'.len_utf8()..];
        }
        line.push_str(rest);
        cases.push(Case { line: line.replace('⏎', "\n"), secrets });
    }
    Ok(cases)
}

/// detect-secrets' Python, in the virtual environment `scripts/test-deps`
/// makes in the target folder (or `LCD_DETECT_SECRETS_PYTHON`).
fn scanner_python() -> Result<PathBuf> {
    if let Some(python) = std::env::var_os("LCD_DETECT_SECRETS_PYTHON") {
        return Ok(python.into());
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/e2e-…
    let target = exe.ancestors().nth(3).context("the test binary is not in a target folder")?;
    Ok(target.join("test-venv").join("bin").join("python"))
}

/// What detect-secrets finds in each case: (type, secret) per case.
fn scan(cases: &[&Case], dir: &std::path::Path) -> Result<Vec<Vec<(String, String)>>> {
    let python = scanner_python()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/scan_secrets.py");
    let file = dir.join("corpus.sh");
    let mut text = String::new();
    // The first line of each case in the file.
    let mut firsts = Vec::new();
    let mut at = 1;
    for case in cases {
        firsts.push(at);
        at += case.line.matches('\n').count() + 1;
        writeln!(text, "{}", case.line)?;
    }
    std::fs::write(&file, text)?;
    let output = Command::new(&python).arg(script).arg(&file).output().with_context(|| {
        format!("running detect-secrets with {} (install it with scripts/test-deps)", python.display())
    })?;
    if !output.status.success() {
        bail!(
            "detect-secrets failed with {} (install it with scripts/test-deps): {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut found = vec![Vec::new(); cases.len()];
    for line in String::from_utf8(output.stdout)?.lines() {
        let finding: Value = serde_json::from_str(line)?;
        let number = finding["line"].as_u64().context("a line number")? as usize;
        let case = firsts.partition_point(|first| *first <= number) - 1;
        found[case]
            .push((finding["type"].as_str().unwrap_or("?").into(), finding["secret"].as_str().unwrap_or("").into()));
    }
    Ok(found)
}

#[test]
fn the_redaction_corpus_passes_with_detect_secrets_as_oracle() -> Result<()> {
    let mut rng = Rng(0x5eed_1cd0_2024_0001);
    let secret_cases = cases(include_str!("../corpus/secrets.txt"), &mut rng)?;
    let ordinary = cases(include_str!("../corpus/ordinary.txt"), &mut rng)?;
    assert!(secret_cases.len() >= 200, "{} secret-bearing lines", secret_cases.len());
    assert!(ordinary.len() >= 100, "{} ordinary lines", ordinary.len());
    assert!(secret_cases.iter().all(|c| !c.secrets.is_empty()), "every secret-bearing line marks its secret");
    assert!(ordinary.iter().all(|c| c.secrets.is_empty()), "no ordinary line marks a secret");

    let dir = std::env::temp_dir().join(format!("lcd-redaction-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let all: Vec<&Case> = secret_cases.iter().chain(&ordinary).collect();
    let found = scan(&all, &dir)?;
    std::fs::remove_dir_all(&dir)?;

    let redactor = Redactor::new(&[])?;
    let mut failures = Vec::new();
    let mut flagged = 0;
    for (case, found) in all.iter().zip(&found) {
        let redacted = redactor.redact(&case.line);
        flagged += usize::from(!found.is_empty());
        if case.secrets.is_empty() {
            if redacted != case.line {
                failures.push(format!("ordinary line changed:\n    {}\n -> {redacted}", case.line));
            }
            if !found.is_empty() {
                failures.push(format!("detect-secrets finds {found:?} in the ordinary line\n    {}", case.line));
            }
            continue;
        }
        let kept: Vec<&str> = case.secrets.iter().map(String::as_str).filter(|s| redacted.contains(s)).collect();
        let missed: Vec<&(String, String)> = found.iter().filter(|(_, s)| redacted.contains(s.as_str())).collect();
        if !kept.is_empty() || !missed.is_empty() {
            failures.push(format!(
                "a secret survives:\n    {}\n -> {redacted}\n    marked and kept: {kept:?}\n    found by detect-secrets and kept: {missed:?}",
                case.line
            ));
        }
    }
    eprintln!(
        "{} secret-bearing lines ({flagged} of them flagged by detect-secrets), {} ordinary lines",
        secret_cases.len(),
        ordinary.len()
    );
    assert!(failures.is_empty(), "{} of {} lines fail:\n{}", failures.len(), all.len(), failures.join("\n"));
    Ok(())
}

/// Every file under `dir` (recursively) that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => found.extend(files_holding(&path, needle)),
            Ok(t)
                if t.is_file() && std::fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) =>
            {
                found.push(path)
            }
            _ => {}
        }
    }
    found
}

// lcd-hook does not redact: a line typed while the daemon is away waits in
// the spool as typed. The claim in docs/SECURITY.md ("Where the raw line
// sits"): only there, in a folder only the user can open, in files only the
// user can read, removed once the daemon has stored (and redacted) it; no
// other file lcd keeps ever holds it.
shell_test!(
    a_secret_typed_while_the_daemon_is_away_waits_only_in_the_private_spool_until_replayed,
    |env, kind: ShellKind| {
        use std::os::unix::fs::MetadataExt;
        let secret = "hunter2-in-the-spool";
        let daemon = env.start_daemon()?;
        let mut sh = env.hooked_shell(kind)?;
        // Once the helper is connected (else it would start a daemon of its own).
        sh.run("echo connected")?;
        env.wait_finished("echo connected")?;
        daemon.stop()?;
        sh.run(&format!("echo --password={secret} >/dev/null"))?;
        let paths = env.paths();
        let spool = paths.spool_dir();
        let deadline = std::time::Instant::now() + super::WAIT;
        let spooled = loop {
            let found = files_holding(&spool, secret);
            if !found.is_empty() {
                break found;
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "{}: the line never reached the spool", kind.name());
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let uid = std::fs::metadata(env.home())?.uid();
        let folder = std::fs::metadata(&spool)?;
        assert_eq!((folder.mode() & 0o777, folder.uid()), (0o700, uid), "{}", spool.display());
        for file in &spooled {
            let meta = std::fs::metadata(file)?;
            assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, uid), "{}", file.display());
        }
        let dirs = [&paths.config_dir, &paths.data_dir, &paths.state_dir, &paths.runtime_dir];
        let elsewhere: Vec<PathBuf> =
            dirs.iter().flat_map(|d| files_holding(d, secret)).filter(|f| !f.starts_with(&spool)).collect();
        assert_eq!(elsewhere, Vec::<PathBuf>::new(), "{}: the raw line outside the spool", kind.name());

        let _daemon = env.start_daemon()?;
        env.wait_finished("echo --password=[REDACTED] >/dev/null")?;
        let deadline = std::time::Instant::now() + super::WAIT;
        loop {
            let left: Vec<PathBuf> = dirs.iter().flat_map(|d| files_holding(d, secret)).collect();
            if left.is_empty() {
                break;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{}: still holding the secret: {left:?}",
                kind.name()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(())
    }
);
