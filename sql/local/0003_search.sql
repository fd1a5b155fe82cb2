-- lcd local database, version 3: full-text search, imported history.

-- History imported from a shell's history file (lcd import), not seen live.
ALTER TABLE commands ADD COLUMN imported INTEGER NOT NULL DEFAULT 0;

-- Substring search over command lines, case-insensitive: trigrams. The
-- daemon fills it in the background, in rowid order, between batches (doing
-- it on every insert would cost ingest two thirds of its speed); queries read
-- the rows not indexed yet directly. It keeps no copy of the text, so removing
-- a row from it takes the text it was indexed with (the triggers below have it).
CREATE VIRTUAL TABLE commands_fts USING fts5(
    command,
    content = '',
    tokenize = 'trigram'
);

-- How far the background indexer got: every row up to this rowid is indexed.
CREATE TABLE search_progress (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_rowid INTEGER NOT NULL
);
INSERT INTO search_progress (id, last_rowid) VALUES (1, 0);

-- A row the indexer already passed whose command arrives or changes late (its
-- end came first) is indexed at once; a deleted row leaves the index with it.
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
