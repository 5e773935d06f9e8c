-- 0021: restriction of processing of one stored call (issue 12, item 2, "per call"). What is
-- restricted of the call: its transcript (turns hidden from search and from the call's page and
-- API except an audited reveal, withheld from webhooks and their redelivery) and/or its recording
-- (not playable nor downloadable, withheld from recording.ready); with why, by whom and when.
-- One row per call; lifting deletes it. The data stays stored (retention and legal hold apply).
CREATE TABLE call_restrictions (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    call_id         INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    transcript      INTEGER NOT NULL DEFAULT 0,
    recording       INTEGER NOT NULL DEFAULT 0,
    reason          TEXT NOT NULL DEFAULT '',
    set_by          TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX call_restrictions_call ON call_restrictions(call_id);
CREATE INDEX call_restrictions_org ON call_restrictions(org_id);
