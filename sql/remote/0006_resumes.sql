-- lcd team store, version 6: an `fg` or `bg` names the suspended record it
-- continues (its uuid); a record's status may also be `suspended` (stopped
-- with Ctrl-Z) or `gap` (not a command: records of its session were lost).
-- Released migrations are never edited; add a new numbered file instead.
ALTER TABLE command_history ADD COLUMN resumes TEXT;
