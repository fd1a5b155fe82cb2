-- lcd team store, version 6: a session's chain takes links from one sender;
-- an `fg` or `bg` names the suspended record it
-- continues (its uuid); a record's status may also be `suspended` (stopped
-- with Ctrl-Z) or `gap` (not a command: records of its session were lost).
-- Released migrations are never edited; add a new numbered file instead.
ALTER TABLE command_history ADD COLUMN resumes TEXT;

-- Who delivered each link: a session's chain takes links from the sender of
-- its first link only, so a teammate's token cannot take places in it.
ALTER TABLE chain_links ADD COLUMN received_from TEXT;
