// Who is asking, and what they may do.
//
// A request is identified, in this order, by:
//   1. Authorization: Bearer <LCD_ADMIN_TOKEN>   the bootstrap secret: admin `admin`
//   2. Authorization: Bearer <LCD_API_TOKEN>     the deprecated shared token: writer `shared`
//   3. Authorization: Bearer lcd_…               a token of the `tokens` table, found by
//                                                its SHA-256 (the table keeps no token)
//   4. Cf-Access-Jwt-Assertion                   when ACCESS_AUD and ACCESS_TEAM_DOMAIN are
//                                                set: the Access user's email, role
//                                                ACCESS_ROLE (default reader)
// A Bearer token that is none of 1–3 is refused even when an Access JWT
// comes with it: a wrong credential is never papered over by another.

import { accessIdentity } from "./access";
import type { Env } from "./env";
import { HttpError } from "./http";

/** writer: posts records, reads its own. reader: reads the team's. admin: manages tokens, reads everything. */
export type Role = "writer" | "reader" | "admin";
export const ROLES: readonly Role[] = ["writer", "reader", "admin"];

export interface Identity {
  user: string;
  role: Role;
  /** What identified the caller. */
  via: "admin-secret" | "shared-token" | "token" | "access";
}

/** The user the shared LCD_API_TOKEN writes as; no issued token may take it. */
export const SHARED_USER = "shared";
/** Every token the admin API issues starts so, for scanners and redaction. */
export const TOKEN_PREFIX = "lcd_";

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

function hex(digest: ArrayBuffer): string {
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The SHA-256 of a token, in hex: what the tokens table keeps. */
export async function tokenHash(token: string): Promise<string> {
  return hex(await digest(token));
}

/**
 * Whether the token whose digest is `given` is the configured secret, in
 * time that does not depend on where they differ: equal-length digests
 * compared with timingSafeEqual.
 */
async function isSecret(given: ArrayBuffer, secret: string | undefined): Promise<boolean> {
  if (!secret) return false;
  return crypto.subtle.timingSafeEqual(given, await digest(secret));
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** `lcd_` and 43 random letters and digits: about 256 bits. */
export function newToken(): string {
  let out = TOKEN_PREFIX;
  while (out.length < TOKEN_PREFIX.length + 43) {
    for (const byte of crypto.getRandomValues(new Uint8Array(64))) {
      // 248 = 4 × 62: bytes above it are dropped, so every letter is as likely.
      if (byte < 248 && out.length < TOKEN_PREFIX.length + 43) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** Identifies the caller; throws 401 when nothing identifies them. */
export async function identify(request: Request, env: Env): Promise<Identity> {
  const header = request.headers.get("authorization");
  if (header !== null) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new HttpError(401, "Authorization must be: Bearer <token>");
    return bearer(match[1], env);
  }
  const assertion = request.headers.get("cf-access-jwt-assertion");
  if (assertion !== null && env.ACCESS_AUD && env.ACCESS_TEAM_DOMAIN) {
    const email = await accessIdentity(assertion, env);
    return { user: email, role: accessRole(env), via: "access" };
  }
  throw new HttpError(401, "missing Authorization: Bearer <token>");
}

async function bearer(token: string, env: Env): Promise<Identity> {
  // Both secrets are compared every time, so the answer's timing does not
  // tell which of them (if any) is configured.
  // The token is hashed once, for both comparisons and the table.
  const given = await digest(token);
  const [admin, shared] = await Promise.all([isSecret(given, env.LCD_ADMIN_TOKEN), isSecret(given, env.LCD_API_TOKEN)]);
  if (admin) return { user: "admin", role: "admin", via: "admin-secret" };
  if (shared) return { user: SHARED_USER, role: "writer", via: "shared-token" };
  if (!token.startsWith(TOKEN_PREFIX)) throw new HttpError(401, "wrong token");
  const row = await env.DB.prepare("SELECT user, role, revoked_at FROM tokens WHERE hash = ?1")
    .bind(hex(given))
    .first<{ user: string; role: Role; revoked_at: string | null }>();
  if (!row) throw new HttpError(401, "wrong token");
  if (row.revoked_at !== null) throw new HttpError(401, `this token was revoked at ${row.revoked_at}`);
  return { user: row.user, role: row.role, via: "token" };
}

function accessRole(env: Env): Role {
  const role = (env.ACCESS_ROLE ?? "reader") as Role;
  if (!ROLES.includes(role)) throw new HttpError(500, `ACCESS_ROLE=${role} is not one of ${ROLES.join(", ")}`);
  return role;
}

/** Throws 403 unless the caller has one of `roles`; `what` names the act. */
export function allow(who: Identity, roles: readonly Role[], what: string): void {
  if (!roles.includes(who.role)) {
    throw new HttpError(403, `${who.user} is a ${who.role}: ${what} needs the ${roles.join(" or ")} role`);
  }
}

/** What the caller may read: a writer its own records, the others all. */
export function readScope(who: Identity): string | null {
  return who.role === "writer" ? who.user : null;
}
