-- 0009: sign-in lock-out counters live in the store, not in one process's memory, so that several
-- admin processes share them and a restart does not reset them (callwright/accounts/ratelimit.py).
-- A key names what is counted: "email:<digest>", "ip:<digest>", "user:<digest>" (sha256 of the
-- value, so no address typed at the login form is kept here).
CREATE TABLE login_failures (
    key             TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures(key, at);
CREATE INDEX login_failures_at ON login_failures(at);

CREATE TABLE login_lockouts (
    key             TEXT PRIMARY KEY,
    until           TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_lockouts_until ON login_lockouts(until);
