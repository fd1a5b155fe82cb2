// lcd's team store: a Worker over D1.
//
//   POST /api/commands/log      one record, the seed's shape (uuid optional)
//   POST /api/commands/batch    {"records": [...]}: up to MAX_BATCH, idempotent on uuid;
//                               answers {accepted, duplicates, refused: [{index, uuid, status, error}]}
//   GET  /api/commands/history  filters: type, sub, repo, host, user, session, branch,
//                               since, until, failed, q; limit, cursor
//   GET  /api/commands/stats    the dashboard figures
//   GET  /api/commands/record/<uuid>  one record, as JSON
//   GET  /r/<uuid>              a page showing one record (a GitHub deployment's log_url);
//                               it asks for the token and reads the record API (page.ts)
//   GET  /api/health            unauthenticated liveness
//
// Every /api/commands route wants `Authorization: Bearer <LCD_API_TOKEN>`.

import { authorize } from "./auth";
import { history, stats } from "./history";
import { error, HttpError, json, readJson } from "./http";
import { recordPage, recordScript, SCRIPT_PATH } from "./page";
import { checkRecord, CommandRecord, conflicts, fromRow, insert, selectIdentity } from "./records";

export interface Env {
  DB: D1Database;
  LCD_API_TOKEN?: string;
  MAX_BATCH?: string;
}

const MAX_SINGLE_BODY = 512 * 1024;
const MAX_BATCH_BODY = 8 * 1024 * 1024;

async function logOne(request: Request, env: Env): Promise<Response> {
  const record = checkRecord(await readJson(request, MAX_SINGLE_BODY), "record", false);
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

async function logBatch(request: Request, env: Env): Promise<Response> {
  const body = await readJson(request, MAX_BATCH_BODY);
  const records = (body as { records?: unknown })?.records;
  if (!Array.isArray(records)) throw new HttpError(400, 'body must be {"records": [...]}');
  const max = Number(env.MAX_BATCH ?? "500");
  if (records.length > max) throw new HttpError(413, `batch of ${records.length} records is over the limit of ${max}`);
  if (records.length === 0) return json({ accepted: 0, duplicates: 0, refused: [] });
  // Each record stands on its own: a malformed one is refused and named, its
  // neighbours are written, so one bad record never holds back a batch.
  const refused: Refused[] = [];
  const checked: CommandRecord[] = [];
  const positions: number[] = [];
  records.forEach((r, i) => {
    try {
      checked.push(checkRecord(r, `records[${i}]`, true));
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
  again.forEach((at, n) => {
    const r = checked[at];
    const row = stored[n].results[0] as Record<string, unknown> | undefined;
    const differ = row ? conflicts(row, r) : [];
    if (differ.length === 0) {
      duplicates++;
      return;
    }
    refused.push({ index: positions[at], uuid: r.uuid, status: 409, error: conflictMessage(r.uuid, differ) });
  });
  refused.sort((a, b) => a.index - b.index);
  const accepted = results.filter((r) => r.meta.changes > 0).length;
  return json({ accepted, duplicates, refused });
}

function conflictMessage(uuid: string, differ: string[]): string {
  return `uuid ${uuid} is already stored with a different ${differ.join(", ")}`;
}

async function route(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname.replace(/\/+$/, "");
  if (path === "/api/health") return json({ ok: true });
  // The record page holds no data: it is served to anyone, and its script
  // asks for the token before it reads anything.
  if (request.method === "GET" && path === SCRIPT_PATH) return recordScript();
  if (request.method === "GET" && /^\/r\/[^/]+$/.test(path)) return recordPage();
  if (!path.startsWith("/api/commands/")) throw new HttpError(404, `no route for ${path}`);
  await authorize(request, env.LCD_API_TOKEN);
  const method = request.method;
  switch (`${method} ${path}`) {
    case "POST /api/commands/log":
      return logOne(request, env);
    case "POST /api/commands/batch":
      return logBatch(request, env);
    case "GET /api/commands/history":
      return json(await history(env.DB, url.searchParams));
    case "GET /api/commands/stats":
      return json(await stats(env.DB, url.searchParams));
  }
  const record = /^\/api\/commands\/record\/([^/]+)$/.exec(path);
  if (record && method === "GET") {
    let uuid: string;
    try {
      uuid = decodeURIComponent(record[1]);
    } catch {
      throw new HttpError(400, `${record[1]} is not a percent-encoded record id`);
    }
    const row = await env.DB.prepare("SELECT * FROM command_history WHERE uuid = ?1").bind(uuid).first<Record<string, unknown>>();
    if (!row) throw new HttpError(404, `no record ${record[1]}`);
    return json(fromRow(row));
  }
  const known = ["/api/commands/log", "/api/commands/batch", "/api/commands/history", "/api/commands/stats"];
  if (known.includes(path)) throw new HttpError(405, `${method} is not allowed on ${path}`);
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
