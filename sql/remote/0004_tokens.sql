-- lcd team store, version 4: who delivered each record.
-- Released migrations are never edited; add a new numbered file instead.

-- One row per token the admin API gave out. Only the SHA-256 of a token is
-- kept (hex): a copy of this table lets nobody write or read as anyone.
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    hash        TEXT NOT NULL UNIQUE,
    user        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('writer', 'reader', 'admin')),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at  TEXT                            -- set once; a revoked token is refused
);

-- The user of the token (or the Cloudflare Access identity) that delivered
-- the record, set by the Worker and never taken from the body; executed_by
-- beside it is what the client says.
ALTER TABLE command_history ADD COLUMN received_from TEXT;

-- Before this version the one shared LCD_API_TOKEN was the only way to
-- write, and it is now the deprecated writer named `shared`.
UPDATE command_history SET received_from = 'shared';

CREATE INDEX command_history_received ON command_history (received_from, started_at);
