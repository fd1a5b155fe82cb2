-- lcd local database, version 6: how many secrets each record hides.

-- The count of [REDACTED] markers in the command line and its variables, so
-- that a reviewer sees something was hidden without seeing it. Rows stored
-- before this version count 0.
ALTER TABLE commands ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;
