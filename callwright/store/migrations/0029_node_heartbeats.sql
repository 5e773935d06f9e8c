-- 0029: the call nodes sharing this store (issue 13). Each node writes its row at start-up and
-- refreshes seen_at every few seconds (callwright/store/nodes.py); a node whose seen_at is old
-- is lost, and the node that holds the 'lost-nodes' job closes its calls in progress.
-- pbxes: the names of the PBXs the node serves, comma-separated. stopped_at: a clean stop.
CREATE TABLE call_nodes (
    node_id     TEXT PRIMARY KEY,
    pbxes       TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    stopped_at  TEXT
);
CREATE INDEX call_nodes_seen ON call_nodes(seen_at);

-- Jobs that must run on one node at a time (retention, webhook deliveries, the lost-nodes sweep)
-- hold a lease here when the store has no lock of its own to offer: the holder renews it well
-- before expires_at; once it has expired (its node died) another node takes it over.
CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
