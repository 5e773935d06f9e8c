-- 0020: consent on the call, per org (issue 12, item 1). consent_prompt: the notice a recorded
-- call opens with when its assistant has none of its own; privacy_notice: what a caller hears on
-- the privacy-notice key ([recordings] notice_digit), '' for none.
ALTER TABLE orgs ADD COLUMN consent_prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN privacy_notice TEXT NOT NULL DEFAULT '';
