-- 0023: the audit log by user (issue 12): a sign-in's address is checked against the user's
-- earlier sign-ins (security alerts) and a staff member's export gathers their own entries.
CREATE INDEX audit_log_user ON audit_log(user_id, action);
