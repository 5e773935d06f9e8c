-- 0023: the audit log by user (issue 12): a sign-in's address is checked against the user's
-- earlier sign-ins (security alerts) and a staff member's export gathers their own entries.
-- (On user_id alone: an index holding more columns would cover, and so reorder, plain reads of
-- the log that name no order.)
CREATE INDEX audit_log_user ON audit_log(user_id);
