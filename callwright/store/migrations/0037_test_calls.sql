-- 0037: test calls, made from the admin's "Try it" panel with a browser as the caller
-- (admin/try_call_session.py). They are stored like any call and marked here, so that reports
-- (the dashboard's counts and failures, the calls list) leave them out unless asked for them.
-- The admin shows such a call's direction as "test". (calls.direction keeps its CHECK of
-- inbound/outbound: widening a CHECK would mean rebuilding the calls table.)
ALTER TABLE calls ADD COLUMN test_call INTEGER NOT NULL DEFAULT 0;
