-- 0014: post-call webhooks (issue 12, item 6). The `webhooks` table of 0001 becomes an org's
-- event endpoints: a name, a target type (a signed JSON webhook, or a Slack incoming webhook), on
-- or off, and the key that seals its signing secret. Its URL stays a `webhook_url` credential
-- (sealed, write-only); `events` is the JSON list of event types it subscribes to.
ALTER TABLE webhooks ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN target TEXT NOT NULL DEFAULT 'webhook'
    CHECK (target IN ('webhook', 'slack'));
ALTER TABLE webhooks ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE webhooks ADD COLUMN secret_key_id TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX webhooks_org_name ON webhooks(org_id, name);

-- The durable outbox and delivery log: one row per (event, endpoint), written when the event
-- happens and sent by the call service's delivery worker, so nothing is lost across a restart.
-- `body` is the exact JSON sent (the signature covers it); a failed attempt is retried with
-- exponential backoff at `next_at` until `expires_at` (24 h after the event or a redelivery),
-- then the row is `failed`. A redelivery puts a row back to `pending` with a new 24 h window.
-- A body may hold the call's transcript and the caller's number, so a delivery never outlives
-- what it copies: deleting the call deletes it (call_id), and so do the triggers below when the
-- call's turns are deleted (erasure, transcript retention) or its caller number is replaced
-- (erasure of a call without turns).
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    endpoint_id     INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,                   -- the same for every endpoint of one event
    event           TEXT NOT NULL,                   -- call.started, call.ended, ...
    call_id         INTEGER REFERENCES calls(id) ON DELETE CASCADE,
    call_uid        TEXT NOT NULL DEFAULT '',
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    next_at         TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    last_attempt_at TEXT,
    response_code   INTEGER,
    last_error      TEXT NOT NULL DEFAULT '',
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_at);
CREATE INDEX webhook_deliveries_org ON webhook_deliveries(org_id, id);
CREATE INDEX webhook_deliveries_call ON webhook_deliveries(call_id);
CREATE TRIGGER webhook_deliveries_turns_deleted AFTER DELETE ON call_turns
BEGIN
    DELETE FROM webhook_deliveries WHERE call_id = OLD.call_id;
END;
CREATE TRIGGER webhook_deliveries_caller_replaced AFTER UPDATE OF caller_number ON calls
WHEN NEW.caller_number IS NOT OLD.caller_number
BEGIN
    DELETE FROM webhook_deliveries WHERE call_id = NEW.id;
END;
