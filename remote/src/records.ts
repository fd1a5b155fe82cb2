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
  pipestatus: number[] | null;
  git_host: string | null;
  git_branch: string | null;
  git_commit: string | null;
  git_commit_after: string | null;
  environment: string | null;
  started_at: string | null;
  ended_at: string | null;
  redacted: number | null;
}

const MAX_COMMAND = 64 * 1024;
const MAX_OUTPUT = 64 * 1024;
const MAX_FIELD = 4096;

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
];

/**
 * Checks one record and fills defaults. `where` names it in errors
 * ("records[3]"). With `uuidRequired`, a missing uuid is an error (batches must
 * be idempotent); otherwise one is made (the seed's single-record shape).
 */
export function checkRecord(input: unknown, where: string, uuidRequired: boolean): CommandRecord {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new HttpError(400, `${where} is not an object`);
  }
  const o = input as Record<string, unknown>;
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
  const integer = (key: string, min = Number.MIN_SAFE_INTEGER): number | null => {
    const v = o[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      throw new HttpError(400, `${where}.${key} must be an integer${min === 0 ? " >= 0" : ""}`);
    }
    return v;
  };
  const time = (key: string): string | null => {
    const v = text(key, 64);
    if (v !== null && Number.isNaN(Date.parse(v))) throw new HttpError(400, `${where}.${key} is not an RFC 3339 time`);
    return v;
  };
  let uuid = text("uuid", 64, uuidRequired);
  if (uuid === null) uuid = crypto.randomUUID();
  const pipestatus = o.pipestatus;
  if (pipestatus !== undefined && pipestatus !== null && !(Array.isArray(pipestatus) && pipestatus.every((n) => Number.isInteger(n)))) {
    throw new HttpError(400, `${where}.pipestatus must be an array of integers`);
  }
  const record: Partial<CommandRecord> = {
    uuid,
    command: text("command", MAX_COMMAND, true)!,
    exit_code: integer("exit_code"),
    duration_ms: integer("duration_ms", 0),
    redacted: integer("redacted", 0),
    pipestatus: (pipestatus as number[] | undefined) ?? null,
    started_at: time("started_at"),
    ended_at: time("ended_at"),
  };
  for (const [key, max] of TEXT_FIELDS) {
    (record as Record<string, unknown>)[key] = text(key, max);
  }
  record.command_type ??= "other";
  return record as CommandRecord;
}

const COLUMNS: Array<keyof CommandRecord> = [
  "uuid", "command", "command_type", "subcommand", "arguments", "working_directory", "exit_code",
  "duration_ms", "stdout", "stderr", "executed_by", "repo_full_name", "session", "host", "shell",
  "status", "pipestatus", "git_host", "git_branch", "git_commit", "git_commit_after", "environment",
  "started_at", "ended_at", "redacted",
];

/** The INSERT of one record; a uuid already stored changes nothing. */
export function insert(db: D1Database, r: CommandRecord): D1PreparedStatement {
  const placeholders = COLUMNS.map((_, i) => `?${i + 1}`).join(", ");
  const values = COLUMNS.map((c) => (c === "pipestatus" ? (r.pipestatus ? JSON.stringify(r.pipestatus) : null) : r[c]));
  return db
    .prepare(`INSERT INTO command_history (${COLUMNS.join(", ")}) VALUES (${placeholders}) ON CONFLICT (uuid) DO NOTHING`)
    .bind(...values);
}

/** A stored row as the API shows it. */
export function fromRow(row: Record<string, unknown>): CommandRecord & { id: number; created_at: string } {
  const pipestatus = typeof row.pipestatus === "string" ? JSON.parse(row.pipestatus) : null;
  return { ...(row as unknown as CommandRecord & { id: number; created_at: string }), pipestatus };
}
