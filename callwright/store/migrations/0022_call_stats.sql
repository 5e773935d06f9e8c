-- 0022: aggregated, anonymised statistics that survive the deletion of their rows (issue 12).
-- Per org, assistant (0: none), day the call started (YYYY-MM-DD, UTC) and status: what the
-- retention job deleted, added in the same transaction as the delete, so every call and turn is
-- counted exactly once: the calls deleted (their number, total duration and how many had one)
-- and the turns deleted (with their call, or alone when only the transcript expired). No number,
-- name or text. The figure of a day is this row plus the rows still stored
-- (callwright.store.call_stats). assistant_id keeps no foreign key: the aggregate outlives it.
CREATE TABLE call_stats_daily (
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    assistant_id    INTEGER NOT NULL DEFAULT 0,
    day             TEXT NOT NULL,
    status          TEXT NOT NULL,
    calls           INTEGER NOT NULL DEFAULT 0,
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    timed_calls     INTEGER NOT NULL DEFAULT 0,
    turns           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, assistant_id, day, status)
);
CREATE INDEX call_stats_daily_org_day ON call_stats_daily(org_id, day);
