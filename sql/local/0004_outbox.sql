-- lcd local database, version 4: what has been forwarded where.

-- Per sink, every command up to `settled_upto` (commands.pk) is settled:
-- delivered, put aside as failed, or not for this sink.
CREATE TABLE outbox_cursor (
    sink         TEXT PRIMARY KEY,
    settled_upto INTEGER NOT NULL DEFAULT 0
);

-- Commands past the cursor already handled (sent out of order because an
-- earlier one still runs), and failures kept for `lcd forward retry`.
CREATE TABLE outbox (
    sink       TEXT NOT NULL,
    pk         INTEGER NOT NULL,        -- commands.pk
    state      TEXT NOT NULL CHECK (state IN ('sent', 'failed')),
    detail     TEXT,                    -- the server's reason for a failure
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (sink, pk)
) WITHOUT ROWID;
