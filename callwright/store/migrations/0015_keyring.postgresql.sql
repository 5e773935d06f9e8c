-- 0015 for PostgreSQL (with a rowid column: keys are listed in the order they were made): the keyring (callwright/privacy/keyring.py). An org's data keys seal its credentials and
-- the per-file keys of its encrypted recordings; each is stored wrapped (AES-GCM) by the instance
-- master key, which stays outside the database. Every ciphertext names the id of the key that
-- sealed it, so a rotation (a new current key) leaves older data readable. org_id NULL: a former
-- master key, kept wrapped by the current one so that values it sealed directly (before the
-- keyring, or before a master key rotation) still open.
CREATE TABLE data_keys (
    id              TEXT PRIMARY KEY,
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,  -- SQLite's rowid: key order
    org_id          BIGINT REFERENCES orgs(id) ON DELETE CASCADE,
    wrapped         BYTEA NOT NULL,
    master_key_id   TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('current', 'retired')),
    created_at      TEXT NOT NULL,
    retired_at      TEXT
);
-- At most one current key per org.
CREATE UNIQUE INDEX data_keys_current ON data_keys(org_id) WHERE state = 'current';
CREATE INDEX credentials_key ON credentials(org_id, key_id);
CREATE INDEX calls_recording_key ON calls(org_id, recording_key_id)
    WHERE recording_path IS NOT NULL;
