-- lcd local database, version 5: deploy runs reported to GitHub.

-- One row per deploy run, from its creation as a GitHub deployment through its
-- statuses: in_progress, then success, failure or error. Each step is taken
-- once, in order; `failed` keeps GitHub's reason when a step was refused.
CREATE TABLE github_deployments (
    pk            INTEGER PRIMARY KEY,   -- commands.pk
    api_url       TEXT NOT NULL,
    repo          TEXT NOT NULL,         -- owner/name
    deployment_id INTEGER,
    stage         TEXT NOT NULL CHECK (stage IN ('created', 'in_progress', 'final', 'done', 'failed')),
    detail        TEXT,
    updated_at    INTEGER NOT NULL
);
