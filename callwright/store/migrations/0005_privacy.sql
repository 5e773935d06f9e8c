-- 0005: privacy. Instance secrets used by callwright/privacy/ (never the master key itself).
-- "caller_pseudonym": 32 random bytes sealed with the master key (AES-GCM, see privacy/secrets.py),
-- the HMAC key that turns an erased caller's number into a pseudonym for caller_restrictions, so an
-- erasure can be remembered (processing stays restricted) without keeping the number.
CREATE TABLE privacy_secrets (
    name            TEXT PRIMARY KEY,
    secret_enc      BLOB NOT NULL,
    key_id          TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
