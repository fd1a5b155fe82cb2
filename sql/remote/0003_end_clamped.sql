-- lcd team store, version 3: a record whose end came with a time before its
-- start keeps a zero duration and says so (1), instead of a negative one.
ALTER TABLE command_history ADD COLUMN end_clamped INTEGER NOT NULL DEFAULT 0;
