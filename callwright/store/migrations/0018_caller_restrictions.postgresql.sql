-- 0018 for PostgreSQL (the search column instead of FTS5 triggers): restriction that restricts (issue 12, item 2). A caller's restriction row gains the
-- remaining kinds of restriction of processing, why and when it was set, and the call rows a
-- restriction or the caller's choice made different:
--   do_not_transcribe  turns are stored as "[not transcribed]" and kept out of the search index
--   do_not_store       only a minimal call row: start, number hashed per org, duration, outcome
--   object             the caller objected: told the call is not processed, handed to the dialplan
-- (do_not_record and processing_restricted exist since 0001.)
ALTER TABLE caller_restrictions ADD COLUMN do_not_transcribe BIGINT NOT NULL DEFAULT 0;
ALTER TABLE caller_restrictions ADD COLUMN do_not_store BIGINT NOT NULL DEFAULT 0;
ALTER TABLE caller_restrictions ADD COLUMN object BIGINT NOT NULL DEFAULT 0;
ALTER TABLE caller_restrictions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE caller_restrictions ADD COLUMN updated_at TEXT;

-- A turn stored as "[not transcribed]" has no search-index entry: the search column of 0001
-- gives it none from now on (PostgreSQL recomputes the column for every row).
DROP INDEX call_turns_search;
ALTER TABLE call_turns DROP COLUMN search;
ALTER TABLE call_turns ADD COLUMN search tsvector GENERATED ALWAYS AS
    (CASE WHEN text <> '[not transcribed]' THEN
        to_tsvector('callwright_search'::regconfig,
                    regexp_replace(text, '[[:punct:][:space:]]+', ' ', 'g')) END) STORED;
CREATE INDEX call_turns_search ON call_turns USING gin (search);
