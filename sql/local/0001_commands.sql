-- lcd local database, version 1: one row per command.
-- Released migrations are never edited; add a new numbered file instead.

CREATE TABLE commands (
    pk          INTEGER PRIMARY KEY,   -- storage order; stable (unlike an implicit rowid under VACUUM)
    id          TEXT NOT NULL UNIQUE,  -- record id (UUID) made on the client side
    session     TEXT NOT NULL,         -- one per shell process
    seq         INTEGER NOT NULL,      -- the shell's command counter
    command     TEXT,                  -- as typed; NULL until the start arrives
    expanded    TEXT,                  -- aliases expanded (zsh), when it differs
    cwd         TEXT,
    started_at  INTEGER,               -- microseconds since the Unix epoch
    ended_at    INTEGER,
    exit_code   INTEGER,
    pipestatus  TEXT,                  -- JSON array of integers
    status      TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'finished', 'unknown')),
    hostname    TEXT NOT NULL,
    user        TEXT NOT NULL,
    shell       TEXT NOT NULL,
    shell_pid   INTEGER,
    tty         TEXT,
    recorded_at INTEGER NOT NULL       -- when the daemon first stored the row
);

CREATE INDEX commands_started_at ON commands (started_at);
-- Only the few commands still running: finding them must not scan history.
CREATE INDEX commands_running ON commands (session, seq) WHERE status = 'running';
