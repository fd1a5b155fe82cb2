-- lcd team store (Cloudflare D1), version 2: how many secrets each record hides.
-- Released migrations are never edited; add a new numbered file instead.

-- The count of [REDACTED] markers lcd left in the command line and its
-- variables; NULL for records sent before lcd counted them.
ALTER TABLE command_history ADD COLUMN redacted INTEGER;
