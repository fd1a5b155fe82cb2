// Cloudflare Access in front of the Worker: the `Cf-Access-Jwt-Assertion`
// header is a JWT signed (RS256) with one of the team's keys, published at
// https://<team>/cdn-cgi/access/certs. It identifies the user by email.

import type { Env } from "./env";
import { HttpError } from "./http";

interface Jwk {
  kid?: string;
  kty: string;
  n: string;
  e: string;
}

/** The team's keys, kept between requests; fetched again for a key not among them. */
let cached: { url: string; keys: Jwk[]; at: number } | null = null;
const KEYS_FRESH_MS = 5 * 60e3;
/** A JWT naming an unknown key fetches the keys again, at most this often. */
const REFETCH_MS = 30e3;
/** Clock difference tolerated for `nbf` and `iat`. */
const LEEWAY_S = 60;

function refuse(why: string): never {
  throw new HttpError(401, `Cf-Access-Jwt-Assertion refused: ${why}`);
}

function base64url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) refuse("not base64url");
  const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(plain, (c) => c.charCodeAt(0));
}

function part(text: string, what: string): Record<string, unknown> {
  try {
    const value = JSON.parse(new TextDecoder().decode(base64url(text)));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch (e) {
    if (e instanceof HttpError) throw e;
  }
  refuse(`its ${what} is not a JSON object`);
}

function teamDomain(env: Env): string {
  return env.ACCESS_TEAM_DOMAIN!.replace(/^https:\/\//, "").replace(/\/+$/, "");
}

async function keys(env: Env, again: boolean): Promise<Jwk[]> {
  const url = env.ACCESS_CERTS_URL || `https://${teamDomain(env)}/cdn-cgi/access/certs`;
  const now = Date.now();
  const fresh = cached && cached.url === url && now - cached.at < (again ? REFETCH_MS : KEYS_FRESH_MS);
  if (fresh) return cached!.keys;
  let body: { keys?: Jwk[] };
  try {
    const response = await fetch(url, { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = await response.json();
  } catch (e) {
    throw new HttpError(503, `cannot read the Access keys at ${url}: ${(e as Error).message}`);
  }
  const found = Array.isArray(body.keys) ? body.keys.filter((k) => k.kty === "RSA") : [];
  cached = { url, keys: found, at: now };
  return found;
}

async function verifies(jwk: Jwk, signature: Uint8Array, signed: Uint8Array): Promise<boolean> {
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256", ext: true },
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
  return crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signature, signed);
}

/** The email of a valid Access JWT; throws 401 saying what is wrong with any other. */
export async function accessIdentity(assertion: string, env: Env): Promise<string> {
  const parts = assertion.trim().split(".");
  if (parts.length !== 3) refuse("not a JWT (three dot-separated parts)");
  const header = part(parts[0], "header");
  const claims = part(parts[1], "payload");
  if (header.alg !== "RS256") refuse(`alg ${JSON.stringify(header.alg)}; only RS256 is taken`);
  const signature = base64url(parts[2]);
  const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  const pick = (all: Jwk[]) => (typeof header.kid === "string" ? all.filter((k) => k.kid === header.kid) : all);
  let candidates = pick(await keys(env, false));
  // A key the team rotated in since the last fetch.
  if (candidates.length === 0) candidates = pick(await keys(env, true));
  if (candidates.length === 0) refuse(`signed with key ${JSON.stringify(header.kid)}, which is not one of the team's`);
  let valid = false;
  for (const jwk of candidates) {
    if (await verifies(jwk, signature, signed).catch(() => false)) {
      valid = true;
      break;
    }
  }
  if (!valid) refuse("the signature does not verify with the team's keys");
  const now = Date.now() / 1000;
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(env.ACCESS_AUD)) refuse("it is for another application (aud)");
  if (claims.iss !== `https://${teamDomain(env)}`) refuse(`issuer ${JSON.stringify(claims.iss)} is not this team's`);
  if (typeof claims.exp !== "number") refuse("it has no expiry (exp)");
  if (claims.exp <= now) refuse("it has expired");
  if (typeof claims.nbf === "number" && claims.nbf > now + LEEWAY_S) refuse("it is not valid yet (nbf)");
  if (typeof claims.email !== "string" || claims.email === "") refuse("it names no email");
  return claims.email;
}
