-- lcd local database, version 2: what enrichment learns about each command.

ALTER TABLE commands ADD COLUMN command_type TEXT;      -- terraform, git, wrangler, ..., other
ALTER TABLE commands ADD COLUMN subcommand TEXT;        -- apply, push, d1 migrations apply, ...
ALTER TABLE commands ADD COLUMN environment TEXT;       -- terraform workspace, wrangler --env, ...
ALTER TABLE commands ADD COLUMN git_root TEXT;
ALTER TABLE commands ADD COLUMN git_host TEXT;
ALTER TABLE commands ADD COLUMN git_repo TEXT;          -- owner/name
ALTER TABLE commands ADD COLUMN git_branch TEXT;        -- NULL when detached
ALTER TABLE commands ADD COLUMN git_commit TEXT;        -- HEAD at start
ALTER TABLE commands ADD COLUMN git_commit_after TEXT;  -- HEAD at end
ALTER TABLE commands ADD COLUMN env TEXT;               -- allowlisted variables, JSON object

CREATE INDEX commands_type ON commands (command_type, started_at);
CREATE INDEX commands_repo ON commands (git_repo, started_at);

-- Starts matched by a never-record rule: nothing of them is kept but the id,
-- so that their end, arriving later, is dropped too.
CREATE TABLE ignored (
    id         TEXT PRIMARY KEY,
    ignored_at INTEGER NOT NULL
) WITHOUT ROWID;
