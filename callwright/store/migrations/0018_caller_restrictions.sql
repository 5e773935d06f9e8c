-- 0018: restriction that restricts (issue 12, item 2). A caller's restriction row gains the
-- remaining kinds of restriction of processing, why and when it was set, and the call rows a
-- restriction or the caller's choice made different:
--   do_not_transcribe  turns are stored as "[not transcribed]" and kept out of the search index
--   do_not_store       only a minimal call row: start, number hashed per org, duration, outcome
--   object             the caller objected: told the call is not processed, handed to the dialplan
-- (do_not_record and processing_restricted exist since 0001.)
ALTER TABLE caller_restrictions ADD COLUMN do_not_transcribe INTEGER NOT NULL DEFAULT 0;
ALTER TABLE caller_restrictions ADD COLUMN do_not_store INTEGER NOT NULL DEFAULT 0;
ALTER TABLE caller_restrictions ADD COLUMN object INTEGER NOT NULL DEFAULT 0;
ALTER TABLE caller_restrictions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE caller_restrictions ADD COLUMN updated_at TEXT;

-- A turn stored as "[not transcribed]" has no search-index entry (the triggers of 0001 indexed
-- every turn; an external-content FTS entry must be deleted with exactly the text it was given).
DROP TRIGGER call_turns_ai;
DROP TRIGGER call_turns_ad;
DROP TRIGGER call_turns_au;
CREATE TRIGGER call_turns_ai AFTER INSERT ON call_turns WHEN new.text <> '[not transcribed]' BEGIN
  INSERT INTO call_turns_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER call_turns_ad AFTER DELETE ON call_turns WHEN old.text <> '[not transcribed]' BEGIN
  INSERT INTO call_turns_fts(call_turns_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER call_turns_au AFTER UPDATE OF text ON call_turns BEGIN
  INSERT INTO call_turns_fts(call_turns_fts, rowid, text)
    SELECT 'delete', old.id, old.text WHERE old.text <> '[not transcribed]';
  INSERT INTO call_turns_fts(rowid, text)
    SELECT new.id, new.text WHERE new.text <> '[not transcribed]';
END;
