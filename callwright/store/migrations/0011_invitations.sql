-- 0011: adding someone to an org is an invitation they accept (callwright/accounts/invitations.py).
-- An owner or admin invites an e-mail address with a role; the answer is the same whether or not
-- the address has an account, and nothing about the account is shown until it accepts. The link
-- handed to the invitee carries a random token; only its sha256 is kept here.
CREATE TABLE invitations (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email           TEXT NOT NULL COLLATE NOCASE,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    token_hash      TEXT NOT NULL UNIQUE,
    invited_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    decided_at      TEXT,
    decided_by      INTEGER REFERENCES users(id) ON DELETE SET NULL
);
-- One pending invitation per address and org (inviting again replaces it).
CREATE UNIQUE INDEX invitations_pending ON invitations(org_id, email) WHERE status = 'pending';
-- A signed-in user's pending invitations.
CREATE INDEX invitations_email ON invitations(email, status);
