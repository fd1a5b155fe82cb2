// lcd's team store: a Worker over D1.
//
//   POST /api/commands/log      one record, the seed's shape (uuid optional)
//   POST /api/commands/batch    {"records": [...]}: up to MAX_BATCH, idempotent on uuid;
//                               answers {accepted, duplicates, refused: [{index, uuid, status, error}]}
//   GET  /api/commands/history  filters: type, sub, repo, host, user, from, session, branch,
//                               since, until, failed, q; limit, cursor
//   GET  /api/commands/stats    the dashboard figures
//   GET  /api/commands/record/<uuid>  one record, as JSON
//   GET  /r/<uuid>              a page showing one record (a GitHub deployment's log_url);
//                               it asks for the token and reads the record API (page.ts)
//   GET  /api/chain             every session's hash chain, paged: links, records, cuts
//   GET  /api/whoami            {user, role, via, deprecated?}: who the credentials say you are
//   POST|GET /api/admin/tokens, DELETE /api/admin/tokens/<id>   per-user tokens (tokens.ts)
//   POST /api/admin/retention   {"before": "YYYY-MM-DD"}: deletes whole days, leaves a cut
//   GET  /api/health            unauthenticated liveness
//
// Every other route wants a credential (auth.ts): `Authorization: Bearer
// <token>` with a per-user token from the admin API, the bootstrap
// LCD_ADMIN_TOKEN, or the deprecated shared LCD_API_TOKEN (a writer named
// `shared`); or, with Cloudflare Access configured, its JWT. Roles:
//   writer  posts records; reads only those it delivered (received_from = its user)
//   reader  reads the team's records and chain; cannot post
//   admin   manages tokens and retention; reads everything; cannot post
// Every stored record's `received_from` is the user of the credential that
// delivered it; a body that names it is refused. `executed_by` beside it is
// what the client says. No route changes or deletes a stored record: the
// store is append-only, but for retention.

import { allow, identify, Identity, readScope } from "./auth";
import { chainPage, checkLink, Link, linkOf, linkStatements, retention } from "./chain";
import type { Env } from "./env";
import { history, stats } from "./history";
import { error, HttpError, json, readJson } from "./http";
import { recordPage, recordScript, SCRIPT_PATH } from "./page";
import { checkRecord, CommandRecord, conflicts, fromRow, insert, SELECT_RECORDS, selectIdentity } from "./records";
import { createToken, listTokens, revokeToken } from "./tokens";

export type { Env } from "./env";

const MAX_SINGLE_BODY = 512 * 1024;
const MAX_BATCH_BODY = 8 * 1024 * 1024;

async function logOne(request: Request, env: Env, who: Identity): Promise<Response> {
  const record = checkRecord(await readJson(request, MAX_SINGLE_BODY), "record", false, who.user);
  const given = { ...record };
  // A single record is logged as its command ends: now, unless it says.
  record.started_at ??= new Date().toISOString();
  const result = await insert(env.DB, record).run();
  const duplicate = result.meta.changes === 0;
  if (duplicate) {
    const stored = await selectIdentity(env.DB, record.uuid).first<Record<string, unknown>>();
    const differ = stored ? conflicts(stored, given) : [];
    if (differ.length) throw new HttpError(409, conflictMessage(record.uuid, differ));
  }
  const link = linkOf(record);
  if (link) await env.DB.batch(linkStatements(env.DB, [link], who.user));
  return json({ success: true, uuid: record.uuid, duplicate }, duplicate ? 200 : 201);
}

/** A record of a batch the Worker did not take, and why. */
interface Refused {
  index: number;
  uuid: string | null;
  /** 400: the record itself is malformed; 409: its uuid is stored with other content. */
  status: number;
  error: string;
}

async function logBatch(request: Request, env: Env, who: Identity): Promise<Response> {
  const body = await readJson(request, MAX_BATCH_BODY);
  const records = (body as { records?: unknown })?.records;
  if (!Array.isArray(records)) throw new HttpError(400, 'body must be {"records": [...]}');
  // The links of records lcd keeps to itself: the chain without their content.
  const given = (body as { links?: unknown }).links ?? [];
  if (!Array.isArray(given)) throw new HttpError(400, '"links" must be an array');
  const links: Link[] = given.map((l, i) => checkLink(l, `links[${i}]`));
  const max = Number(env.MAX_BATCH ?? "500");
  if (records.length > max) throw new HttpError(413, `batch of ${records.length} records is over the limit of ${max}`);
  // Each record stands on its own: a malformed one is refused and named, its
  // neighbours are written, so one bad record never holds back a batch.
  const refused: Refused[] = [];
  const checked: CommandRecord[] = [];
  const positions: number[] = [];
  records.forEach((r, i) => {
    try {
      checked.push(checkRecord(r, `records[${i}]`, true, who.user));
      positions.push(i);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      const uuid = (r as { uuid?: unknown } | null)?.uuid;
      refused.push({ index: i, uuid: typeof uuid === "string" ? uuid : null, status: e.status, error: e.message });
    }
  });
  // One transaction for the records that passed.
  const results = checked.length ? await env.DB.batch(checked.map((r) => insert(env.DB, r))) : [];
  // A uuid already stored is a duplicate only if the record says the same:
  // otherwise someone took its id first, and it is refused (409), not dropped.
  const again = checked.map((_, i) => i).filter((i) => results[i].meta.changes === 0);
  const stored = again.length ? await env.DB.batch(again.map((i) => selectIdentity(env.DB, checked[i].uuid))) : [];
  let duplicates = 0;
  const conflicting = new Set<number>();
  again.forEach((at, n) => {
    const r = checked[at];
    const row = stored[n].results[0] as Record<string, unknown> | undefined;
    const differ = row ? conflicts(row, r) : [];
    if (differ.length === 0) {
      duplicates++;
      return;
    }
    conflicting.add(at);
    refused.push({ index: positions[at], uuid: r.uuid, status: 409, error: conflictMessage(r.uuid, differ) });
  });
  refused.sort((a, b) => a.index - b.index);
  const accepted = results.filter((r) => r.meta.changes > 0).length;
  // Links after the records, in chain order: a refused record's link is not kept.
  const taken = checked.filter((_, i) => !conflicting.has(i));
  const chained = [...taken.map(linkOf).filter((l): l is Link => l !== null), ...links];
  if (chained.length) await env.DB.batch(linkStatements(env.DB, chained, who.user));
  return json({ accepted, duplicates, refused });
}

function conflictMessage(uuid: string, differ: string[]): string {
  return `uuid ${uuid} is already stored with a different ${differ.join(", ")}`;
}

const DEPRECATED_SHARED =
  "the shared LCD_API_TOKEN is deprecated: ask an admin for a token of your own (lcd team token create --user <you> --role writer)";

function whoami(who: Identity): Response {
  return json({ user: who.user, role: who.role, via: who.via, ...(who.via === "shared-token" ? { deprecated: DEPRECATED_SHARED } : {}) });
}

async function route(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname.replace(/\/+$/, "");
  // The record page holds no data: it is served to anyone, and its script
  // asks for the token before it reads anything.
  if (request.method === "GET" && path === SCRIPT_PATH) return recordScript();
  if (request.method === "GET" && /^\/r\/[^/]+$/.test(path)) return recordPage();
  const method = request.method;
  if (path === "/api/health") return json({ ok: true });
  const known =
    path === "/api/whoami" || path === "/api/chain" || path.startsWith("/api/commands/") || path.startsWith("/api/admin/");
  if (!known) throw new HttpError(404, `no route for ${path}`);
  const who = await identify(request, env);
  if (path === "/api/whoami") {
    if (method !== "GET") throw new HttpError(405, `${method} is not allowed on ${path}`);
    return whoami(who);
  }
  if (path === "/api/chain") {
    // The whole team's chain: what an auditor checks, not a writer's own.
    allow(who, ["reader", "admin"], "reading the team's chain");
    if (method !== "GET") throw new HttpError(405, `${method} is not allowed on ${path}`);
    return json(await chainPage(env.DB, url.searchParams));
  }
  if (path.startsWith("/api/admin/")) return admin(request, env, who, path);
  const scope = readScope(who);
  switch (`${method} ${path}`) {
    case "POST /api/commands/log":
      allow(who, ["writer"], "posting records");
      return logOne(request, env, who);
    case "POST /api/commands/batch":
      allow(who, ["writer"], "posting records");
      return logBatch(request, env, who);
    case "GET /api/commands/history":
      return json(await history(env.DB, url.searchParams, scope));
    case "GET /api/commands/stats":
      return json(await stats(env.DB, url.searchParams, scope));
  }
  const record = /^\/api\/commands\/record\/([^/]+)$/.exec(path);
  if (record && method === "GET") {
    let uuid: string;
    try {
      uuid = decodeURIComponent(record[1]);
    } catch {
      throw new HttpError(400, `${record[1]} is not a percent-encoded record id`);
    }
    // Another sender's record is "not found" to a writer, as if absent.
    const row = await env.DB.prepare(`${SELECT_RECORDS} WHERE uuid = ?1 AND (?2 IS NULL OR received_from = ?2)`)
      .bind(uuid, scope)
      .first<Record<string, unknown>>();
    if (!row) throw new HttpError(404, `no record ${record[1]}`);
    return json(fromRow(row));
  }
  const commands = ["/api/commands/log", "/api/commands/batch", "/api/commands/history", "/api/commands/stats"];
  if (commands.includes(path)) throw new HttpError(405, `${method} is not allowed on ${path}`);
  throw new HttpError(404, `no route for ${path}`);
}

async function admin(request: Request, env: Env, who: Identity, path: string): Promise<Response> {
  allow(who, ["admin"], path === "/api/admin/retention" ? "cutting old records" : "managing tokens");
  const method = request.method;
  if (path === "/api/admin/retention") {
    if (method !== "POST") throw new HttpError(405, `${method} is not allowed on ${path}`);
    return json(await retention(env.DB, await readJson(request, MAX_SINGLE_BODY), who.user));
  }
  if (path === "/api/admin/tokens") {
    if (method === "POST") return createToken(request, env.DB);
    if (method === "GET") return listTokens(env.DB);
    throw new HttpError(405, `${method} is not allowed on ${path}`);
  }
  const one = /^\/api\/admin\/tokens\/([^/]+)$/.exec(path);
  if (one) {
    if (method === "DELETE") return revokeToken(env.DB, one[1]);
    throw new HttpError(405, `${method} is not allowed on ${path}`);
  }
  throw new HttpError(404, `no route for ${path}`);
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    try {
      return await route(request, env);
    } catch (e) {
      if (e instanceof HttpError) return error(e.status, e.message);
      console.error(e);
      return error(500, "internal error");
    }
  },
} satisfies ExportedHandler<Env>;
