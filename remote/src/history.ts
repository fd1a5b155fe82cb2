// GET /api/commands/history and GET /api/commands/stats.

import { HttpError } from "./http";
import { fromRow, SELECT_RECORDS } from "./records";

/** `since`: RFC 3339, or relative like 2h, 3d, 30m. */
function parseSince(text: string): string {
  const relative = /^(\d+)\s*([mhdw])$/.exec(text.trim());
  if (relative) {
    const unit = { m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[relative[2] as "m" | "h" | "d" | "w"];
    return new Date(Date.now() - Number(relative[1]) * unit).toISOString();
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new HttpError(400, `since=${text} is not a time (RFC 3339, or 2h, 3d)`);
  return new Date(t).toISOString();
}

/**
 * The WHERE clause and arguments for the filters history and stats share.
 * `scope`: the only sender whose records the caller may see (a writer's
 * own), or null for all.
 */
function filters(params: URLSearchParams, scope: string | null): { where: string[]; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (scope !== null) {
    args.push(scope);
    where.push(`received_from = ?${args.length}`);
  }
  const eq: Array<[string, string]> = [
    ["type", "command_type"],
    ["sub", "subcommand"],
    ["repo", "repo_full_name"],
    ["host", "host"],
    ["user", "executed_by"],
    ["session", "session"],
    ["branch", "git_branch"],
    ["from", "received_from"],
  ];
  for (const [param, column] of eq) {
    const v = params.get(param);
    if (v !== null && v !== "") {
      args.push(v);
      where.push(`${column} = ?${args.length}`);
    }
  }
  const since = params.get("since");
  if (since) {
    args.push(parseSince(since));
    where.push(`started_at >= ?${args.length}`);
  }
  const until = params.get("until");
  if (until) {
    args.push(parseSince(until));
    where.push(`started_at < ?${args.length}`);
  }
  const failed = params.get("failed");
  if (failed === "1" || failed === "true") where.push("exit_code != 0");
  else if (failed !== null && failed !== "0" && failed !== "false") throw new HttpError(400, `failed=${failed}: use true or false`);
  const text = params.get("q");
  if (text) {
    args.push(`%${text.replace(/[\\%_]/g, (c) => "\\" + c)}%`);
    where.push(`command LIKE ?${args.length} ESCAPE '\\'`);
  }
  return { where, args };
}

/** Cursors are opaque to clients: the position after the last row shown. */
function encodeCursor(startedAt: string | null, id: number): string {
  return btoa(JSON.stringify([startedAt ?? "", id]));
}

function decodeCursor(text: string): [string, number] {
  try {
    const [s, id] = JSON.parse(atob(text));
    if (typeof s === "string" && Number.isInteger(id)) return [s, id];
  } catch {
    // fall through
  }
  throw new HttpError(400, "cursor is not one this API gave out");
}

export async function history(db: D1Database, params: URLSearchParams, scope: string | null): Promise<unknown> {
  const { where, args } = filters(params, scope);
  const limitText = params.get("limit") ?? "50";
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, `limit=${limitText}: use 1 to 1000`);
  const cursor = params.get("cursor");
  if (cursor) {
    const [s, id] = decodeCursor(cursor);
    args.push(s, id);
    where.push(`(coalesce(started_at, '') < ?${args.length - 1} OR (coalesce(started_at, '') = ?${args.length - 1} AND id < ?${args.length}))`);
  }
  args.push(limit + 1);
  const sql = `${SELECT_RECORDS} ${where.length ? "WHERE " + where.join(" AND ") : ""}
               ORDER BY coalesce(started_at, '') DESC, id DESC LIMIT ?${args.length}`;
  const { results } = await db.prepare(sql).bind(...args).all<Record<string, unknown>>();
  const rows = results.slice(0, limit).map(fromRow);
  const more = results.length > limit;
  const last = rows[rows.length - 1];
  return { records: rows, next_cursor: more && last ? encodeCursor(last.started_at, last.id) : null };
}

const DEPLOY = `((command_type = 'terraform' AND subcommand IN ('apply', 'destroy'))
  OR (command_type = 'wrangler' AND subcommand IN ('deploy', 'publish', 'versions deploy'))
  OR (command_type = 'pulumi' AND subcommand IN ('up', 'destroy'))
  OR (command_type = 'helm' AND subcommand IN ('install', 'upgrade')))`;

export async function stats(db: D1Database, params: URLSearchParams, scope: string | null): Promise<unknown> {
  const { where, args } = filters(params, scope);
  const cond = where.length ? where.join(" AND ") : "1";
  const today = new Date();
  today.setUTCHours(0, 0, 0, 0);
  args.push(today.toISOString());
  const todayArg = `?${args.length}`;
  const totals = await db
    .prepare(
      `SELECT count(*) AS total,
              count(*) FILTER (WHERE exit_code != 0) AS failed,
              count(*) FILTER (WHERE started_at >= ${todayArg}) AS total_commands_today,
              count(*) FILTER (WHERE command_type = 'terraform') AS terraform_runs,
              count(*) FILTER (WHERE ${DEPLOY}) AS deployments,
              count(*) FILTER (WHERE command_type = 'git') AS git_operations
       FROM command_history WHERE ${cond}`,
    )
    .bind(...args)
    .first<Record<string, number>>();
  const perType = await db
    .prepare(
      `SELECT command_type, count(*) AS runs, count(*) FILTER (WHERE exit_code != 0) AS failed
       FROM command_history WHERE ${cond} GROUP BY command_type ORDER BY runs DESC`,
    )
    .bind(...args.slice(0, -1))
    .all();
  return { ...totals, per_type: perType.results };
}
