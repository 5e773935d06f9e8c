-- 0039: a test call from the admin's browser panel is stored with direction 'test' (issue 17),
-- the one mark reports read; the test_call flag of 0037 goes. SQLite cannot widen a CHECK in
-- place, so the calls table is rebuilt as SQLite documents ("Making Other Kinds Of Table Schema
-- Changes"): the runner turns foreign keys off outside the transaction (so that dropping the old
-- table deletes no child rows by ON DELETE CASCADE) and runs PRAGMA foreign_key_check before it
-- commits. The new table is made under another name, filled, the old one dropped, the new one
-- renamed (child tables' REFERENCES calls(id) then find it again, ids unchanged), and every index
-- and trigger on calls (0001, 0003, 0008, 0014, 0015, 0028, 0038) made again. The transcript index
-- (call_turns_fts) is on call_turns, which is not touched.
CREATE TABLE calls_new (
    id              INTEGER PRIMARY KEY,
    uid             TEXT NOT NULL UNIQUE,
    org_id          INTEGER REFERENCES orgs(id) ON DELETE CASCADE,
    assistant_id    INTEGER REFERENCES assistants(id) ON DELETE SET NULL,
    number_id       INTEGER REFERENCES numbers(id) ON DELETE SET NULL,
    dialed          TEXT NOT NULL DEFAULT '',
    caller_number   TEXT NOT NULL DEFAULT '',
    caller_name     TEXT NOT NULL DEFAULT '',
    direction       TEXT NOT NULL DEFAULT 'inbound'
                    CHECK (direction IN ('inbound', 'outbound', 'test')),
    channel_id      TEXT NOT NULL DEFAULT '',
    started_at      TEXT NOT NULL,
    answered_at     TEXT,
    ended_at        TEXT,
    duration_ms     INTEGER,
    status          TEXT NOT NULL DEFAULT 'in_progress'
                    CHECK (status IN ('in_progress', 'completed', 'failed', 'transferred', 'rejected', 'abandoned')),
    end_reason      TEXT NOT NULL DEFAULT '',
    recording_path  TEXT,
    recording_key_id TEXT,
    slots           TEXT NOT NULL DEFAULT '{}',
    legal_hold      INTEGER NOT NULL DEFAULT 0,
    recording_declined INTEGER NOT NULL DEFAULT 0,
    node_id         TEXT NOT NULL DEFAULT '',
    pbx             TEXT NOT NULL DEFAULT '',
    recording_node  TEXT
);
INSERT INTO calls_new (id, uid, org_id, assistant_id, number_id, dialed, caller_number,
    caller_name, direction, channel_id, started_at, answered_at, ended_at, duration_ms, status,
    end_reason, recording_path, recording_key_id, slots, legal_hold, recording_declined, node_id,
    pbx, recording_node)
SELECT id, uid, org_id, assistant_id, number_id, dialed, caller_number, caller_name,
    CASE WHEN test_call = 1 THEN 'test' ELSE direction END, channel_id, started_at, answered_at,
    ended_at, duration_ms, status, end_reason, recording_path, recording_key_id, slots,
    legal_hold, recording_declined, node_id, pbx, recording_node
FROM calls;
DROP TABLE calls;
ALTER TABLE calls_new RENAME TO calls;
CREATE INDEX calls_org_started ON calls(org_id, started_at DESC, id DESC);
CREATE INDEX calls_org_assistant_started ON calls(org_id, assistant_id, started_at DESC, id DESC);
CREATE INDEX calls_org_status_started ON calls(org_id, status, started_at DESC, id DESC);
CREATE INDEX calls_caller ON calls(org_id, caller_number);
CREATE INDEX calls_in_progress ON calls(status) WHERE status = 'in_progress';
CREATE INDEX calls_org_number_started ON calls(org_id, number_id, started_at DESC, id DESC);
CREATE INDEX calls_org_caller_started ON calls(org_id, caller_number, started_at DESC, id DESC);
CREATE INDEX calls_channel ON calls(channel_id, id) WHERE channel_id != '';
CREATE INDEX calls_recording_key ON calls(org_id, recording_key_id)
    WHERE recording_path IS NOT NULL;
CREATE INDEX calls_in_progress_node ON calls(status, node_id);
CREATE INDEX calls_tests ON calls(org_id, status, started_at) WHERE direction = 'test';
CREATE TRIGGER webhook_deliveries_caller_replaced AFTER UPDATE OF caller_number ON calls
WHEN NEW.caller_number IS NOT OLD.caller_number
BEGIN
    DELETE FROM webhook_deliveries WHERE call_id = NEW.id;
END;
