-- 0032: recorded prompts (issue 15). Audio an editor uploaded for one of an assistant's texts
-- (its greeting, a flow say node), converted once to each call format: PCM16 LE at 8 and
-- 16 kHz and G.711 u-law and A-law at 8 kHz, stored base64 in TEXT columns (portable, and every
-- node sharing the store has them). The call plays it instead of synthesising that text.
CREATE TABLE assistant_prompts (
    id            INTEGER PRIMARY KEY,
    org_id        INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    assistant_id  INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
    text          TEXT NOT NULL,
    filename      TEXT NOT NULL DEFAULT '',
    duration_ms   INTEGER NOT NULL,
    slin8         TEXT NOT NULL,
    slin16        TEXT NOT NULL,
    ulaw          TEXT NOT NULL,
    alaw          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (assistant_id, text)
);
