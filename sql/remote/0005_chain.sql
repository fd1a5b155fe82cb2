-- lcd team store, version 5: the hash chain of each session (docs/INTEGRITY.md).
-- Released migrations are never edited; add a new numbered file instead.

-- A record's link as lcd made it, and the digest of the hashed fields the
-- store does not keep, so that its hash can be recomputed here.
ALTER TABLE command_history ADD COLUMN chain_seq INTEGER;
ALTER TABLE command_history ADD COLUMN prev_hash TEXT;
ALTER TABLE command_history ADD COLUMN hash TEXT;
ALTER TABLE command_history ADD COLUMN local_digest TEXT;
-- Only on a copy lcd hid parts of for the store: the digest its link hashed.
ALTER TABLE command_history ADD COLUMN record_digest TEXT;

-- Every link of every session: those of the records the store holds and
-- those of the records lcd keeps to itself (a link without its record), so
-- that the chain has no holes where nothing was forwarded. `state` is the
-- store's verdict when the link arrived or its predecessor did:
-- ok, gap (predecessor not held), broken (predecessor held with another hash).
CREATE TABLE chain_links (
    session    TEXT NOT NULL,
    chain_seq  INTEGER NOT NULL,
    uuid       TEXT NOT NULL,
    prev_hash  TEXT,
    hash       TEXT NOT NULL,
    started_at TEXT,
    -- Who delivered the link: a session's chain takes links from the sender
    -- of its first link only, so a teammate's token cannot take places in it.
    received_from TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('ok', 'gap', 'broken')),
    PRIMARY KEY (session, chain_seq)
);
CREATE UNIQUE INDEX chain_links_uuid ON chain_links (uuid);
CREATE INDEX chain_links_started ON chain_links (started_at);

-- What retention deleted of each session's chain: places first_seq..last_seq,
-- the hash before them and the last one, so that the chain checks across.
-- Written by POST /api/admin/retention only.
CREATE TABLE chain_cuts (
    session         TEXT NOT NULL PRIMARY KEY,
    first_seq       INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL,
    count           INTEGER NOT NULL,
    first_prev_hash TEXT,
    last_hash       TEXT NOT NULL,
    before          TEXT NOT NULL,   -- the day the last cut was made up to (YYYY-MM-DD)
    cut_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    cut_by          TEXT NOT NULL    -- who ordered it
);
