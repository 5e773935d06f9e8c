-- 0031: campaigns (issue 15). A campaign calls a list of contacts with one assistant, inside call
-- windows (local time of each contact: its own time zone, else the campaign's, else derived from
-- the number), at most max_concurrent calls at once and calls_per_minute, retrying busy / no
-- answer / congestion / failed up to max_attempts with a backoff (retry_minutes, doubled each
-- time). status: draft -> running <-> paused -> cancelled | completed. A contact is pending
-- (next_attempt_at: not before), calling (an outbound_calls row with its contact_id), done
-- (answered or machine), failed (attempts used up, or an attempt interrupted: never called
-- twice), or skipped (do-not-call, or the campaign was cancelled).
CREATE TABLE campaigns (
    id               INTEGER PRIMARY KEY,
    org_id           INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    assistant_id     INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
    from_number      TEXT NOT NULL DEFAULT '',
    endpoint         TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'running', 'paused', 'cancelled', 'completed')),
    max_concurrent   INTEGER NOT NULL DEFAULT 5,
    calls_per_minute INTEGER NOT NULL DEFAULT 10,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    retry_minutes    INTEGER NOT NULL DEFAULT 30,
    window_start     TEXT NOT NULL DEFAULT '09:00',
    window_end       TEXT NOT NULL DEFAULT '20:00',
    window_days      TEXT NOT NULL DEFAULT '1,2,3,4,5',
    timezone         TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX campaigns_org ON campaigns (org_id, id);
CREATE INDEX campaigns_status ON campaigns (status);

CREATE TABLE campaign_contacts (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    line            INTEGER NOT NULL,
    number          TEXT NOT NULL,
    variables       TEXT NOT NULL DEFAULT '{}',
    timezone        TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'calling', 'done', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_outcome    TEXT NOT NULL DEFAULT '',
    last_cause      TEXT NOT NULL DEFAULT '',
    updated_at      TEXT NOT NULL,
    UNIQUE (campaign_id, number)
);
CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign_id, status, next_attempt_at);
CREATE INDEX outbound_calls_contact ON outbound_calls (contact_id, id);
