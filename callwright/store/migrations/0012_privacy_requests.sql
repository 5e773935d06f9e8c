-- 0012: the register of data-subject requests (callwright/privacy/requests.py): access/export,
-- erase, rectify, restrict and object, for a caller number or one call, each with the date it
-- was received, its due date (30 days later), its status and its result. A completed erasure
-- re-keys ``subject`` to the caller's pseudonym (the number does not outlive the erasure here
-- either). The export's ZIP is handed out through a one-time link: only the sha256 of its token
-- is kept, with the link's expiry and the moment it was used.
CREATE TABLE privacy_requests (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('export', 'erase', 'rectify', 'restrict', 'object')),
    subject_kind    TEXT NOT NULL CHECK (subject_kind IN ('caller', 'call')),
    subject         TEXT NOT NULL,                   -- caller number, call uid, or a pseudonym
    received_at     TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'completed', 'recorded', 'refused', 'failed')),
    note            TEXT NOT NULL DEFAULT '',
    result          TEXT NOT NULL DEFAULT '{}',      -- JSON: erasure report, export summary, ...
    created_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL,
    completed_at    TEXT,
    export_file     TEXT,                            -- name of the ZIP in the exports folder
    download_hash   TEXT UNIQUE,                     -- sha256 of the one-time link's token
    download_expires_at TEXT,
    download_used_at TEXT
);
CREATE INDEX privacy_requests_org ON privacy_requests(org_id, status, due_at);
