-- 0030: outbound calls (issue 15). One row per call asked for (CLI, API, admin, a campaign):
-- queued until the call service claims it (status 'queued' -> 'dialing', one UPDATE, so two
-- nodes never place the same row), then what became of it: the outcome mapped from what the
-- PBX reported (callwright/outbound/dial_result.py), the cause code and text, the ring time
-- and the AMD result. call_id: the calls row (direction 'outbound') made when dialing began.
-- assistant_outbound: per assistant, what an answering machine gets (on_machine) and the
-- message left on one.
CREATE TABLE outbound_calls (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    org_id        INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    assistant_id  INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
    number_id     INTEGER REFERENCES numbers(id) ON DELETE SET NULL,
    to_number     TEXT NOT NULL,
    caller_id     TEXT NOT NULL DEFAULT '',
    endpoint      TEXT NOT NULL,
    variables     TEXT NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'dialing', 'answered', 'ended')),
    outcome       TEXT NOT NULL DEFAULT '',
    cause         INTEGER,
    cause_text    TEXT NOT NULL DEFAULT '',
    ring_ms       INTEGER,
    amd_status    TEXT NOT NULL DEFAULT '',
    amd_cause     TEXT NOT NULL DEFAULT '',
    call_id       INTEGER REFERENCES calls(id) ON DELETE SET NULL,
    campaign_id   INTEGER,
    contact_id    INTEGER,
    node          TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    claimed_at    TEXT,
    ended_at      TEXT
);
CREATE INDEX outbound_calls_status ON outbound_calls (status, id);
CREATE INDEX outbound_calls_org ON outbound_calls (org_id, id);

CREATE TABLE assistant_outbound (
    assistant_id    INTEGER PRIMARY KEY REFERENCES assistants(id) ON DELETE CASCADE,
    on_machine      TEXT NOT NULL DEFAULT 'hangup'
                    CHECK (on_machine IN ('hangup', 'leave_message', 'continue')),
    machine_message TEXT NOT NULL DEFAULT ''
);
