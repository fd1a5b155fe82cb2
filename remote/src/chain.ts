// The hash chain of each session (docs/INTEGRITY.md): links as they arrive,
// checked against the one before; the chain read back for `lcd verify
// --remote`; retention that deletes whole days and leaves a cut.
//
// The store never recomputes a hash: lcd and docs/verify_chain.py do. It
// checks that each link follows the one it holds before it, and keeps every
// link, so that a changed, deleted or inserted row shows to a verifier.

import { HttpError } from "./http";
import { CommandRecord, fields, fromRow, object, sha256, SELECT_RECORDS } from "./records";

/** A link of a session's chain, with or without its record. */
export interface Link {
  uuid: string;
  session: string;
  chain_seq: number;
  prev_hash: string | null;
  hash: string;
  started_at: string | null;
}

/** The link a record carries, if lcd chained it. */
export function linkOf(r: CommandRecord): Link | null {
  if (r.chain_seq === null || r.hash === null || r.session === null) return null;
  return { uuid: r.uuid, session: r.session, chain_seq: r.chain_seq, prev_hash: r.prev_hash, hash: r.hash, started_at: r.started_at };
}

/** Checks a link sent without its record (`links[i]` of a batch): the same field rules as a record's, every one but the times required. */
export function checkLink(input: unknown, where: string): Link {
  const o = object(input, where);
  const { text, integer, time } = fields(o, where);
  const hash = sha256(o, "hash", where);
  if (hash === null) throw new HttpError(400, `${where}.hash is missing`);
  return {
    uuid: text("uuid", 64, true)!,
    session: text("session", 4096, true)!,
    chain_seq: integer("chain_seq", 1, true)!,
    prev_hash: sha256(o, "prev_hash", where),
    hash,
    started_at: time("started_at"),
  };
}

/**
 * The statements that store `links` in chain order, each with its verdict
 * against the link (or the cut) before it, and that settle a successor held
 * as a gap. A place already held keeps its first link: the store never
 * changes what it holds. A session's chain takes links from `sender`, the
 * user who delivered them, only if its first link came from the same user:
 * another's are not kept (their records stay, in no chain).
 */
export function linkStatements(db: D1Database, links: Link[], sender: string): D1PreparedStatement[] {
  const ordered = [...links].sort((a, b) => (a.session < b.session ? -1 : a.session > b.session ? 1 : a.chain_seq - b.chain_seq));
  return ordered.flatMap((l) => [
    db
      .prepare(
        `INSERT INTO chain_links (session, chain_seq, uuid, prev_hash, hash, started_at, received_from, state)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, (
           SELECT CASE
             WHEN held IS NOT NULL THEN CASE WHEN held = ?4 THEN 'ok' ELSE 'broken' END
             WHEN ?2 = 1 THEN CASE WHEN ?4 IS NULL THEN 'ok' ELSE 'broken' END
             ELSE 'gap' END
           FROM (SELECT coalesce(
             (SELECT hash FROM chain_links WHERE session = ?1 AND chain_seq = ?2 - 1),
             (SELECT last_hash FROM chain_cuts WHERE session = ?1 AND last_seq = ?2 - 1)) AS held))
         WHERE coalesce((SELECT received_from FROM chain_links WHERE session = ?1 ORDER BY chain_seq LIMIT 1), ?7) = ?7
         ON CONFLICT DO NOTHING`,
      )
      .bind(l.session, l.chain_seq, l.uuid, l.prev_hash, l.hash, l.started_at, sender),
    db
      .prepare(
        `UPDATE chain_links SET state = CASE
           WHEN prev_hash IS (SELECT hash FROM chain_links WHERE session = ?1 AND chain_seq = ?2) THEN 'ok' ELSE 'broken' END
         WHERE session = ?1 AND chain_seq = ?2 + 1 AND state = 'gap'
           AND EXISTS (SELECT 1 FROM chain_links WHERE session = ?1 AND chain_seq = ?2 AND received_from IS ?3)`,
      )
      .bind(l.session, l.chain_seq, sender),
  ]);
}

function encodeCursor(session: string, seq: number): string {
  return btoa(unescape(encodeURIComponent(JSON.stringify([session, seq]))));
}

function decodeCursor(text: string): [string, number] {
  try {
    const [session, seq] = JSON.parse(decodeURIComponent(escape(atob(text))));
    if (typeof session === "string" && Number.isInteger(seq)) return [session, seq];
  } catch {
    // fall through
  }
  throw new HttpError(400, "cursor is not one this API gave out");
}

/**
 * GET /api/chain: every link in (session, chain_seq) order, each with its
 * record when the store holds it; on the first page also every cut and the
 * records that are in no chain.
 */
export async function chainPage(db: D1Database, params: URLSearchParams): Promise<unknown> {
  const limitText = params.get("limit") ?? "500";
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, `limit=${limitText}: use 1 to 1000`);
  const cursorText = params.get("cursor");
  const [afterSession, afterSeq] = cursorText ? decodeCursor(cursorText) : ["", 0];
  const { results: links } = await db
    .prepare(
      `SELECT session, chain_seq, uuid, prev_hash, hash, state FROM chain_links
       WHERE session > ?1 OR (session = ?1 AND chain_seq > ?2)
       ORDER BY session, chain_seq LIMIT ?3`,
    )
    .bind(afterSession, afterSeq, limit + 1)
    .all<Record<string, unknown> & { session: string; chain_seq: number; uuid: string }>();
  const page = links.slice(0, limit);
  const { results: rows } = await db
    .prepare(`${SELECT_RECORDS} WHERE uuid IN (SELECT value FROM json_each(?1))`)
    .bind(JSON.stringify(page.map((l) => l.uuid)))
    .all<Record<string, unknown>>();
  const byUuid = new Map(rows.map((r) => [r.uuid as string, fromRow(r)]));
  const last = page[page.length - 1];
  const answer: Record<string, unknown> = {
    links: page.map((l) => ({ ...l, record: byUuid.get(l.uuid) ?? null })),
    next_cursor: links.length > limit && last ? encodeCursor(last.session, last.chain_seq) : null,
  };
  if (!cursorText) {
    answer.cuts = (await db.prepare("SELECT * FROM chain_cuts ORDER BY session").all()).results;
    answer.unlinked = (
      await db
        .prepare(
          `SELECT uuid, session FROM command_history h
           WHERE NOT EXISTS (SELECT 1 FROM chain_links l WHERE l.uuid = h.uuid) ORDER BY id LIMIT 1000`,
        )
        .all()
    ).results;
  }
  return answer;
}

/**
 * POST /api/admin/retention {"before": "YYYY-MM-DD"}: deletes the records
 * of the days before that day (UTC). Of each chain it deletes the longest
 * run of places from its start whose records all started before the day,
 * and notes the run in chain_cuts, so that the chain checks across it.
 */
export async function retention(db: D1Database, body: unknown, by: string): Promise<unknown> {
  const before = (body as { before?: unknown } | null)?.before;
  if (typeof before !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(before) || Number.isNaN(Date.parse(`${before}T00:00:00Z`))) {
    throw new HttpError(400, 'body must be {"before": "YYYY-MM-DD"}: retention deletes whole days');
  }
  const cutoff = new Date(`${before}T00:00:00Z`).toISOString();
  if (cutoff > new Date().toISOString()) throw new HttpError(400, `before=${before} is in the future`);
  const { results: sessions } = await db
    .prepare("SELECT DISTINCT session FROM chain_links WHERE started_at < ?1")
    .bind(cutoff)
    .all<{ session: string }>();
  let deleted = 0;
  let cut = 0;
  for (const { session } of sessions) {
    const bounds = await db
      .prepare(
        `SELECT
           (SELECT min(chain_seq) FROM chain_links WHERE session = ?1) AS first_seq,
           (SELECT prev_hash FROM chain_links WHERE session = ?1 ORDER BY chain_seq LIMIT 1) AS first_prev_hash,
           coalesce((SELECT min(chain_seq) FROM chain_links WHERE session = ?1 AND (started_at IS NULL OR started_at >= ?2)) - 1,
                    (SELECT max(chain_seq) FROM chain_links WHERE session = ?1)) AS upto`,
      )
      .bind(session, cutoff)
      .first<{ first_seq: number; first_prev_hash: string | null; upto: number }>();
    if (!bounds || bounds.upto < bounds.first_seq) continue;
    const last = await db
      .prepare("SELECT hash, count(*) OVER () AS n FROM chain_links WHERE session = ?1 AND chain_seq <= ?2 ORDER BY chain_seq DESC LIMIT 1")
      .bind(session, bounds.upto)
      .first<{ hash: string; n: number }>();
    if (!last) continue;
    const results = await db.batch([
      db
        .prepare(
          `INSERT INTO chain_cuts (session, first_seq, last_seq, count, first_prev_hash, last_hash, before, cut_by)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
           ON CONFLICT (session) DO UPDATE SET last_seq = excluded.last_seq, count = chain_cuts.count + excluded.count,
             last_hash = excluded.last_hash, before = excluded.before, cut_by = excluded.cut_by,
             cut_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
        )
        .bind(session, bounds.first_seq, bounds.upto, last.n, bounds.first_prev_hash, last.hash, before, by),
      db
        .prepare("DELETE FROM command_history WHERE uuid IN (SELECT uuid FROM chain_links WHERE session = ?1 AND chain_seq <= ?2)")
        .bind(session, bounds.upto),
      db.prepare("DELETE FROM chain_links WHERE session = ?1 AND chain_seq <= ?2").bind(session, bounds.upto),
    ]);
    deleted += results[1].meta.changes;
    cut++;
  }
  // Records in no chain (sent before lcd chained them) go by their start.
  const loose = await db
    .prepare("DELETE FROM command_history WHERE started_at < ?1 AND NOT EXISTS (SELECT 1 FROM chain_links l WHERE l.uuid = command_history.uuid)")
    .bind(cutoff)
    .run();
  return { before, deleted: deleted + loose.meta.changes, sessions_cut: cut };
}
