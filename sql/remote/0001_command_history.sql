-- lcd team store (Cloudflare D1), version 1: one row per command.
-- Apply with: npx wrangler d1 migrations apply lcd --remote  (from remote/)
-- Released migrations are never edited; add a new numbered file instead.

CREATE TABLE command_history (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid              TEXT NOT NULL UNIQUE,      -- the record id lcd made; re-sent records are duplicates
    command           TEXT NOT NULL,             -- redacted before it left the machine
    command_type      TEXT NOT NULL DEFAULT 'other',
    subcommand        TEXT,
    arguments         TEXT,                      -- the command line after the tool's name
    working_directory TEXT,
    exit_code         INTEGER,
    duration_ms       INTEGER,
    stdout            TEXT,                      -- the seed's wrapper captures output; lcd never sends it
    stderr            TEXT,
    executed_by       TEXT,                      -- user
    repo_full_name    TEXT,                      -- owner/name
    session           TEXT,
    host              TEXT,
    shell             TEXT,
    status            TEXT,                      -- finished | unknown
    pipestatus        TEXT,                      -- JSON array
    git_host          TEXT,
    git_branch        TEXT,
    git_commit        TEXT,
    git_commit_after  TEXT,
    environment       TEXT,
    started_at        TEXT,                      -- RFC 3339, UTC
    ended_at          TEXT,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX command_history_started ON command_history (started_at, id);
CREATE INDEX command_history_type ON command_history (command_type, started_at);
CREATE INDEX command_history_repo ON command_history (repo_full_name, started_at);
