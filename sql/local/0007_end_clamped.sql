-- lcd local database, version 7: records whose end came with a time before
-- their start (a clock stepped back, or a forged end) keep a zero duration and
-- say so, instead of a negative one.
ALTER TABLE commands ADD COLUMN end_clamped INTEGER NOT NULL DEFAULT 0;
