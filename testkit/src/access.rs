//! Cloudflare Access as the Worker meets it in tests: an RSA key set of the
//! test's own (made and used by node's crypto, the same node wrangler runs
//! on), JWTs signed with it, and a server publishing the public half where
//! the Worker's `ACCESS_CERTS_URL` points.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::remote::StaticServer;

/// Makes a key pair (`keys`) or signs a JWT (`sign`), reading JSON on stdin.
const SCRIPT: &str = r#"
import { generateKeyPairSync, sign } from "node:crypto";
const input = JSON.parse(await new Response(process.stdin).text());
const b64 = (x) => Buffer.from(x).toString("base64url");
if (input.op === "keys") {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: input.kid, alg: "RS256", use: "sig" };
  console.log(JSON.stringify({ jwk, pem: privateKey.export({ format: "pem", type: "pkcs8" }) }));
} else {
  const head = b64(JSON.stringify(input.header)) + "." + b64(JSON.stringify(input.claims));
  console.log(head + "." + b64(sign("sha256", Buffer.from(head), input.pem)));
}
"#;

fn node(input: Value) -> Result<String> {
    let mut child = Command::new("node")
        .args(["--input-type=module", "-e", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running node (the Access tests sign their JWTs with node's crypto; wrangler needs node too)")?;
    child.stdin.take().context("node's stdin")?.write_all(input.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("node failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// One RSA signing key, named `kid`.
pub struct AccessKey {
    pub kid: String,
    /// The public half, as a JWK.
    pub jwk: Value,
    pem: String,
}

impl AccessKey {
    pub fn generate(kid: &str) -> Result<AccessKey> {
        let made: Value = serde_json::from_str(&node(json!({ "op": "keys", "kid": kid }))?)?;
        let pem = made["pem"].as_str().context("no private key")?.to_string();
        Ok(AccessKey { kid: kid.to_string(), jwk: made["jwk"].clone(), pem })
    }

    /// A JWT with these claims, signed RS256 with this key (its header names `kid`).
    pub fn sign(&self, claims: &Value) -> Result<String> {
        self.sign_with_header(&json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid }), claims)
    }

    /// A JWT with this header (to play a wrong `alg` or `kid`), signed RS256.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> Result<String> {
        node(json!({ "op": "sign", "pem": self.pem, "header": header, "claims": claims }))
    }
}

/// A team's published keys: `GET <url>` answers `{"keys": [...]}`.
pub struct AccessCerts {
    server: StaticServer,
}

impl AccessCerts {
    pub fn serve(keys: &[&AccessKey]) -> Result<AccessCerts> {
        let body = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string();
        Ok(AccessCerts { server: StaticServer::start(200, "application/json", &body)? })
    }

    pub fn url(&self) -> String {
        format!("{}/cdn-cgi/access/certs", self.server.url())
    }

    /// How often the key set was asked for.
    pub fn fetches(&self) -> usize {
        self.server.requests.lock().unwrap().len()
    }
}
