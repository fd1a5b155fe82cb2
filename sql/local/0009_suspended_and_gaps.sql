-- lcd local database, version 9: two more states of a record, and the link
-- from a job's `fg` to the job it continues.
-- Released migrations are never edited; add a new numbered file instead.
--
--   suspended  the job was stopped (Ctrl-Z) and the prompt came back; an
--              `fg` or `bg` later continues it (that record's `resumes`)
--   gap        not a command: records of this session that were lost before
--              they reached the daemon, said in the session's chain
--
-- SQLite cannot change a CHECK constraint in place: the table is built again
-- with the same columns and rows (the same pk, which the search index and the
-- outbox refer to), then its indexes and triggers.

CREATE TABLE commands_new (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    session     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    command     TEXT,
    expanded    TEXT,
    cwd         TEXT,
    started_at  INTEGER,
    ended_at    INTEGER,
    exit_code   INTEGER,
    pipestatus  TEXT,
    status      TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'finished', 'unknown', 'suspended', 'gap')),
    hostname    TEXT NOT NULL,
    user        TEXT NOT NULL,
    shell       TEXT NOT NULL,
    shell_pid   INTEGER,
    tty         TEXT,
    recorded_at INTEGER NOT NULL,
    command_type TEXT,
    subcommand TEXT,
    environment TEXT,
    git_root TEXT,
    git_host TEXT,
    git_repo TEXT,
    git_branch TEXT,
    git_commit TEXT,
    git_commit_after TEXT,
    env TEXT,
    imported INTEGER NOT NULL DEFAULT 0,
    redacted INTEGER NOT NULL DEFAULT 0,
    end_clamped INTEGER NOT NULL DEFAULT 0,
    chain_seq INTEGER,
    prev_hash TEXT,
    hash TEXT,
    local_digest TEXT,
    resumes TEXT                       -- id of the suspended record an fg/bg continues
);

INSERT INTO commands_new (
    pk, id, session, seq, command, expanded, cwd, started_at, ended_at, exit_code, pipestatus, status,
    hostname, user, shell, shell_pid, tty, recorded_at, command_type, subcommand, environment, git_root,
    git_host, git_repo, git_branch, git_commit, git_commit_after, env, imported, redacted, end_clamped,
    chain_seq, prev_hash, hash, local_digest)
SELECT
    pk, id, session, seq, command, expanded, cwd, started_at, ended_at, exit_code, pipestatus, status,
    hostname, user, shell, shell_pid, tty, recorded_at, command_type, subcommand, environment, git_root,
    git_host, git_repo, git_branch, git_commit, git_commit_after, env, imported, redacted, end_clamped,
    chain_seq, prev_hash, hash, local_digest
FROM commands;

DROP TABLE commands;
ALTER TABLE commands_new RENAME TO commands;

CREATE INDEX commands_started_at ON commands (started_at);
CREATE INDEX commands_running ON commands (session, seq) WHERE status = 'running';
CREATE INDEX commands_type ON commands (command_type, started_at);
CREATE INDEX commands_repo ON commands (git_repo, started_at);
CREATE UNIQUE INDEX commands_chain ON commands (session, chain_seq) WHERE chain_seq IS NOT NULL;
CREATE INDEX commands_unchained ON commands (session, seq) WHERE hash IS NULL;
-- The few jobs waiting to be continued.
CREATE INDEX commands_suspended ON commands (session, seq) WHERE status = 'suspended';

CREATE TRIGGER commands_fts_update AFTER UPDATE OF command ON commands
WHEN old.command IS NOT new.command AND new.rowid <= (SELECT last_rowid FROM search_progress) BEGIN
    INSERT INTO commands_fts (commands_fts, rowid, command)
        SELECT 'delete', old.rowid, old.command WHERE old.command IS NOT NULL;
    INSERT INTO commands_fts (rowid, command) SELECT new.rowid, new.command WHERE new.command IS NOT NULL;
END;

CREATE TRIGGER commands_fts_delete AFTER DELETE ON commands
WHEN old.command IS NOT NULL AND old.rowid <= (SELECT last_rowid FROM search_progress) BEGIN
    INSERT INTO commands_fts (commands_fts, rowid, command) VALUES ('delete', old.rowid, old.command);
END;
