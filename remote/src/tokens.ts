// The admin API: per-user tokens. Only each token's SHA-256 is stored; the
// token itself is in the answer to its creation and nowhere else.
//
//   POST   /api/admin/tokens       {"user", "role"} -> {id, user, role, created_at, token}
//   GET    /api/admin/tokens       {"tokens": [{id, user, role, created_at, revoked_at}]}
//   DELETE /api/admin/tokens/<id>  revokes it: refused (401) from the next request on

import { newToken, ROLES, Role, SHARED_USER, tokenHash } from "./auth";
import { HttpError, json, readJson } from "./http";

const MAX_USER = 256;
const COLUMNS = "id, user, role, created_at, revoked_at";

export async function createToken(request: Request, db: D1Database): Promise<Response> {
  const body = (await readJson(request, 4096)) as { user?: unknown; role?: unknown } | null;
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, 'body must be {"user": …, "role": …}');
  const { user, role } = body;
  if (typeof user !== "string" || user.trim() === "") throw new HttpError(400, "user must be a non-empty string");
  if (user !== user.trim() || user.length > MAX_USER || /[\p{Cc}\p{Cf}]/u.test(user)) {
    throw new HttpError(400, `user must be at most ${MAX_USER} characters, without control characters or surrounding spaces`);
  }
  if (user === SHARED_USER) {
    throw new HttpError(400, `"${SHARED_USER}" is the deprecated LCD_API_TOKEN's user; give the token a person's name`);
  }
  if (!ROLES.includes(role as Role)) throw new HttpError(400, `role must be one of ${ROLES.join(", ")}`);
  const token = newToken();
  const row = await db
    .prepare(`INSERT INTO tokens (hash, user, role) VALUES (?1, ?2, ?3) RETURNING ${COLUMNS}`)
    .bind(await tokenHash(token), user, role)
    .first<Record<string, unknown>>();
  return json({ ...row, token }, 201);
}

export async function listTokens(db: D1Database): Promise<Response> {
  const { results } = await db.prepare(`SELECT ${COLUMNS} FROM tokens ORDER BY id`).all();
  return json({ tokens: results });
}

export async function revokeToken(db: D1Database, idText: string): Promise<Response> {
  const id = Number(idText);
  if (!/^\d{1,15}$/.test(idText) || !Number.isSafeInteger(id)) throw new HttpError(400, `${idText} is not a token id`);
  // A token revoked before keeps the time it was first revoked.
  const row = await db
    .prepare(
      `UPDATE tokens SET revoked_at = coalesce(revoked_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
       WHERE id = ?1 RETURNING ${COLUMNS}`,
    )
    .bind(id)
    .first();
  if (!row) throw new HttpError(404, `no token ${id}`);
  return json(row);
}
