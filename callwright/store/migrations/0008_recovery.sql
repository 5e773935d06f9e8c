-- 0008: what happens to an assistant's call that the service finds orphaned in Asterisk after a
-- crash or restart (the caller still in our Stasis app, no session owning it). See
-- ari_app/recovery.py.
--   on_recovery:     'resume' (new media, a short line, the conversation picks up where the journal
--                    says it was), 'dialplan' (continue to recovery_target, else to the server's
--                    [calls] fallback) or 'hangup' (an apology, then hang up).
--   recovery_line:   what the caller hears first on 'resume' ('' = the language's default line).
--   recovery_target: 'context,extension[,priority]' for 'dialplan' ('' = the server's fallback).
ALTER TABLE assistants ADD COLUMN on_recovery TEXT NOT NULL DEFAULT 'resume'
    CHECK (on_recovery IN ('resume', 'dialplan', 'hangup'));
ALTER TABLE assistants ADD COLUMN recovery_line TEXT NOT NULL DEFAULT '';
ALTER TABLE assistants ADD COLUMN recovery_target TEXT NOT NULL DEFAULT '';
-- Recovery finds a call by the Asterisk channel its caller is on.
CREATE INDEX calls_channel ON calls(channel_id, id) WHERE channel_id != '';
