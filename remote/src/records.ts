// What a record looks like on the wire, how it is checked, and how it is stored.

import { HttpError } from "./http";

/** A row of command_history as the API shows it. */
export interface CommandRecord {
  uuid: string;
  command: string;
  command_type: string;
  subcommand: string | null;
  arguments: string | null;
  working_directory: string | null;
  exit_code: number | null;
  duration_ms: number | null;
  stdout: string | null;
  stderr: string | null;
  executed_by: string | null;
  repo_full_name: string | null;
  session: string | null;
  host: string | null;
  shell: string | null;
  status: string | null;
  /** An fg or bg: the uuid of the suspended record it continues. */
  resumes: string | null;
  pipestatus: number[] | null;
  git_host: string | null;
  git_branch: string | null;
  git_commit: string | null;
  git_commit_after: string | null;
  environment: string | null;
  started_at: string | null;
  ended_at: string | null;
  redacted: number | null;
  /** The end came before the start; the client clamped the duration to zero. */
  end_clamped: boolean;
  /** The record's link in its session's hash chain, as lcd made it (docs/INTEGRITY.md). */
  chain_seq: number | null;
  prev_hash: string | null;
  hash: string | null;
  local_digest: string | null;
  /** Only on a copy lcd hid parts of for the store (redact_remote): the digest its link hashed. */
  record_digest: string | null;
  /** Who delivered it: the user of the token (or the Access identity). Set by the Worker, never by the body. */
  received_from: string;
}

const MAX_COMMAND = 64 * 1024;
const MAX_OUTPUT = 64 * 1024;
const MAX_FIELD = 4096;
/** As lcd's protocol: a longer pipeline keeps its first entries. */
const MAX_PIPESTATUS = 256;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** RFC 3339 date-time: what Date.parse also takes ("June 1", "2025") is not. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const TEXT_FIELDS: Array<[keyof CommandRecord, number]> = [
  ["command_type", 64],
  ["subcommand", MAX_FIELD],
  ["arguments", MAX_COMMAND],
  ["working_directory", MAX_FIELD],
  ["stdout", MAX_OUTPUT],
  ["stderr", MAX_OUTPUT],
  ["executed_by", MAX_FIELD],
  ["repo_full_name", MAX_FIELD],
  ["session", MAX_FIELD],
  ["host", MAX_FIELD],
  ["shell", 64],
  ["status", 32],
  ["git_host", MAX_FIELD],
  ["git_branch", MAX_FIELD],
  ["git_commit", 64],
  ["git_commit_after", 64],
  ["environment", MAX_FIELD],
  ["resumes", 64],
];

/** `input` as an object, or a 400 naming `where`. */
export function object(input: unknown, where: string): Record<string, unknown> {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new HttpError(400, `${where} is not an object`);
  }
  return input as Record<string, unknown>;
}

/** Readers of the fields of `o` that answer 400, naming `where.key`, for a value of the wrong shape. */
export function fields(o: Record<string, unknown>, where: string) {
  const text = (key: string, max: number, required = false): string | null => {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) throw new HttpError(400, `${where}.${key} is missing`);
      return null;
    }
    if (typeof v !== "string") throw new HttpError(400, `${where}.${key} must be a string`);
    if (required && v.trim() === "") throw new HttpError(400, `${where}.${key} is empty`);
    if (v.length > max) throw new HttpError(400, `${where}.${key} is longer than ${max} characters`);
    return v;
  };
  const integer = (key: string, min = Number.MIN_SAFE_INTEGER, required = false): number | null => {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) throw new HttpError(400, `${where}.${key} is missing`);
      return null;
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      throw new HttpError(400, `${where}.${key} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : ""}`);
    }
    return v;
  };
  const time = (key: string): string | null => {
    const v = text(key, 64);
    if (v !== null && (!RFC3339.test(v) || Number.isNaN(Date.parse(v)))) {
      throw new HttpError(400, `${where}.${key} is not an RFC 3339 time`);
    }
    return v;
  };
  return { text, integer, time };
}

/**
 * Checks one record and fills defaults. `where` names it in errors
 * ("records[3]"). With `uuidRequired`, a missing uuid is an error (batches must
 * be idempotent); otherwise one is made (the seed's single-record shape).
 * `receivedFrom` is who delivered it: a record that names its own sender is
 * refused rather than corrected, so that a client trying it hears so.
 */
export function checkRecord(input: unknown, where: string, uuidRequired: boolean, receivedFrom: string): CommandRecord {
  const o = object(input, where);
  if ("received_from" in o) {
    throw new HttpError(400, `${where}.received_from is set by the team store from the token that delivered the record; a client may not send it`);
  }
  if ("chain" in o) {
    throw new HttpError(400, `${where}.chain is set by the team store when it checks the record's link; a client may not send it`);
  }
  const { text, integer, time } = fields(o, where);
  let uuid = text("uuid", 64, uuidRequired);
  if (uuid === null) uuid = crypto.randomUUID();
  const pipestatus = o.pipestatus;
  if (pipestatus !== undefined && pipestatus !== null && !(Array.isArray(pipestatus) && pipestatus.every((n) => Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX))) {
    throw new HttpError(400, `${where}.pipestatus must be an array of integers`);
  }
  if (Array.isArray(pipestatus) && pipestatus.length > MAX_PIPESTATUS) {
    throw new HttpError(400, `${where}.pipestatus has ${pipestatus.length} entries, at most ${MAX_PIPESTATUS}`);
  }
  const flag = (key: string): boolean => {
    const v = o[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== "boolean") throw new HttpError(400, `${where}.${key} must be true or false`);
    return v;
  };
  const record: Partial<CommandRecord> = {
    uuid,
    command: text("command", MAX_COMMAND, true)!,
    exit_code: integer("exit_code"),
    duration_ms: integer("duration_ms", 0),
    redacted: integer("redacted", 0),
    pipestatus: (pipestatus as number[] | undefined) ?? null,
    started_at: time("started_at"),
    ended_at: time("ended_at"),
    end_clamped: flag("end_clamped"),
    chain_seq: integer("chain_seq", 1),
    prev_hash: sha256(o, "prev_hash", where),
    hash: sha256(o, "hash", where),
    local_digest: sha256(o, "local_digest", where),
    record_digest: sha256(o, "record_digest", where),
    received_from: receivedFrom,
  };
  if ((record.chain_seq === null) !== (record.hash === null)) {
    throw new HttpError(400, `${where}: chain_seq and hash come together`);
  }
  for (const [key, max] of TEXT_FIELDS) {
    (record as Record<string, unknown>)[key] = text(key, max);
  }
  record.command_type ??= "other";
  return record as CommandRecord;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** A SHA-256 in lowercase hex, or null when not given. */
export function sha256(o: Record<string, unknown>, key: string, where: string): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string" || !SHA256.test(v)) throw new HttpError(400, `${where}.${key} must be a SHA-256 in lowercase hex`);
  return v;
}

const COLUMNS: Array<keyof CommandRecord> = [
  "uuid", "command", "command_type", "subcommand", "arguments", "working_directory", "exit_code",
  "duration_ms", "stdout", "stderr", "executed_by", "repo_full_name", "session", "host", "shell",
  "status", "pipestatus", "git_host", "git_branch", "git_commit", "git_commit_after", "environment",
  "started_at", "ended_at", "redacted", "end_clamped", "chain_seq", "prev_hash", "hash", "local_digest", "record_digest", "received_from", "resumes",
];

/** The INSERT of one record; a uuid already stored changes nothing. */
export function insert(db: D1Database, r: CommandRecord): D1PreparedStatement {
  const placeholders = COLUMNS.map((_, i) => `?${i + 1}`).join(", ");
  const values = COLUMNS.map((c) => {
    if (c === "pipestatus") return r.pipestatus ? JSON.stringify(r.pipestatus) : null;
    if (c === "end_clamped") return r.end_clamped ? 1 : 0;
    return r[c];
  });
  return db
    .prepare(`INSERT INTO command_history (${COLUMNS.join(", ")}) VALUES (${placeholders}) ON CONFLICT (uuid) DO NOTHING`)
    .bind(...values);
}

/**
 * What a record says about the command itself, set once when it started, and
 * who delivered it: a copy sent again (a retry) says the same; a record that
 * says otherwise under a stored uuid, or comes from another user, is another
 * record wearing its id.
 */
const IDENTITY: Array<keyof CommandRecord> = [
  "command", "working_directory", "session", "host", "executed_by", "shell", "started_at", "hash", "received_from",
];

/** The fields of `incoming` (those it gives) that differ from the stored row. */
export function conflicts(stored: Record<string, unknown>, incoming: CommandRecord): string[] {
  return IDENTITY.filter((k) => incoming[k] !== null && incoming[k] !== undefined && stored[k] !== incoming[k]);
}

/** The statement that reads back a stored record's identity fields. */
export function selectIdentity(db: D1Database, uuid: string): D1PreparedStatement {
  return db.prepare(`SELECT ${IDENTITY.join(", ")} FROM command_history WHERE uuid = ?1`).bind(uuid);
}

/**
 * Every column of command_history and the chain verdict on the record's link
 * (`chain`: ok, gap, broken; null when no link is held for it).
 */
export const SELECT_RECORDS =
  "SELECT *, (SELECT state FROM chain_links l WHERE l.uuid = command_history.uuid) AS chain FROM command_history";

/** A stored row as the API shows it. */
export function fromRow(row: Record<string, unknown>): CommandRecord & { id: number; created_at: string } {
  const pipestatus = typeof row.pipestatus === "string" ? JSON.parse(row.pipestatus) : null;
  const end_clamped = row.end_clamped === 1 || row.end_clamped === true;
  return { ...(row as unknown as CommandRecord & { id: number; created_at: string }), pipestatus, end_clamped };
}
