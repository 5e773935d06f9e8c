-- 0003: what the admin needs beyond 0001 (accounts and the calls browser).

-- TOTP: the last accepted time step (a code is accepted once), and a secret being enrolled
-- (encrypted like totp_secret_enc) until the user confirms it with a first code.
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_pending_enc BLOB;

-- Whether members with the viewer role may hear call recordings (editors and above always may).
ALTER TABLE orgs ADD COLUMN viewers_hear_recordings INTEGER NOT NULL DEFAULT 0;

-- The calls list filters by one of the org's numbers and by the caller's number, newest first,
-- paged by keyset on (started_at, id): these indexes serve both without a sort.
CREATE INDEX calls_org_number_started ON calls(org_id, number_id, started_at DESC, id DESC);
CREATE INDEX calls_org_caller_started ON calls(org_id, caller_number, started_at DESC, id DESC);

-- A call's notes are read by call (its turns already have UNIQUE (call_id, seq)).
CREATE INDEX call_notes_call ON call_notes(call_id, id);
CREATE INDEX api_tokens_org ON api_tokens(org_id);
CREATE INDEX memberships_org ON memberships(org_id);
CREATE INDEX sessions_expires ON sessions(expires_at);
CREATE INDEX audit_log_org_id ON audit_log(org_id, id);
