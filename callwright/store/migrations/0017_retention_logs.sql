-- 0017: two more retention clocks per org and per assistant (issue 12, item 4). NULL: the data
-- goes with the call (its metadata_days), as before.
-- notes_days: a call's notes; webhook_log_days: its webhook deliveries no longer pending.
ALTER TABLE retention_policies ADD COLUMN notes_days INTEGER;
ALTER TABLE retention_policies ADD COLUMN webhook_log_days INTEGER;
