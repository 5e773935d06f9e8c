-- 0007: an API token is worth no more than the member who issued it (checked on every request).
-- Tokens with no issuer (made by another token before this rule, or whose issuer's account was
-- deleted) can never be backed by anyone: revoke them, and say so in the audit log.
INSERT INTO audit_log (org_id, user_id, actor, action, target, detail, ip, at)
SELECT org_id, NULL, 'system', 'token.revoke', 'token:' || id, '{"reason": "no issuer"}', '',
       strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM api_tokens WHERE user_id IS NULL AND revoked_at IS NULL;
UPDATE api_tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE user_id IS NULL AND revoked_at IS NULL;
-- Revoking a removed or demoted member's tokens looks them up by issuer.
CREATE INDEX api_tokens_org_user ON api_tokens(org_id, user_id);
