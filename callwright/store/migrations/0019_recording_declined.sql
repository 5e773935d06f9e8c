-- 0019: consent on the call (issue 12, item 1). A caller who refused the recording during the
-- call (the opt-out key, [recordings] optout_digit) has it stopped and deleted at once; the row
-- says so (a 'recording_declined' event on the timeline says when).
ALTER TABLE calls ADD COLUMN recording_declined INTEGER NOT NULL DEFAULT 0;
