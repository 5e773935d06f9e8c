-- 0016: legal holds. A hold on one call (call_id) or on every call of a caller number in an org
-- (caller_number, present and future calls), with who set it, when and why. calls.legal_hold
-- stays the flag the retention job reads for a call's own hold (kept equal to "a call hold row
-- exists"); a number hold is looked up here by (org_id, caller_number).
CREATE TABLE legal_holds (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    call_id         INTEGER REFERENCES calls(id) ON DELETE CASCADE,
    caller_number   TEXT,
    reason          TEXT NOT NULL DEFAULT '',
    set_by          TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    CHECK ((call_id IS NULL) != (caller_number IS NULL))
);
CREATE UNIQUE INDEX legal_holds_call ON legal_holds(call_id) WHERE call_id IS NOT NULL;
CREATE UNIQUE INDEX legal_holds_number ON legal_holds(org_id, caller_number)
    WHERE caller_number IS NOT NULL;
