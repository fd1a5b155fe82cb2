-- lcd local database, version 8: a hash chain per session (docs/INTEGRITY.md).

-- Set once, when a record is settled (finished, or its end will never come):
-- its place in the session's chain, the hash of the record before it, its
-- own hash, and the digest of the hashed fields the team store does not keep.
ALTER TABLE commands ADD COLUMN chain_seq INTEGER;
ALTER TABLE commands ADD COLUMN prev_hash TEXT;
ALTER TABLE commands ADD COLUMN hash TEXT;
ALTER TABLE commands ADD COLUMN local_digest TEXT;

-- The head of each session's chain, and each place taken once.
CREATE UNIQUE INDEX commands_chain ON commands (session, chain_seq) WHERE chain_seq IS NOT NULL;
-- The few rows not chained yet (running, or waiting for their start).
CREATE INDEX commands_unchained ON commands (session, seq) WHERE hash IS NULL;

-- What `lcd prune` deleted of each session's chain: a run of places
-- first_seq..last_seq, the hash before it and its last hash, so that the
-- chain still checks across the cut.
CREATE TABLE chain_cuts (
    session        TEXT NOT NULL,
    first_seq      INTEGER NOT NULL,
    last_seq       INTEGER NOT NULL,
    count          INTEGER NOT NULL,
    first_prev_hash TEXT,
    last_hash      TEXT NOT NULL,
    cut_at         INTEGER NOT NULL,
    PRIMARY KEY (session, first_seq)
) WITHOUT ROWID;

