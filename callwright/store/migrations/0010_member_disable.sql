-- 0010: an owner or admin can disable a member of their org (and enable them again). A disabled
-- membership keeps its role but gives no access: its sessions end, its tokens are revoked, and
-- sign-in counts only the memberships that are not disabled. It is per org because an account
-- may belong to several orgs, and one org must not lock a person out of another
-- (users.disabled, from 0001, still disables the whole account).
ALTER TABLE memberships ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
-- Ending a disabled member's sessions in one org.
CREATE INDEX sessions_user_org ON sessions(user_id, org_id);
