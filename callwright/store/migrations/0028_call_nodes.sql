-- 0028: several call nodes on one store (issue 13). Each call row says which node took it and
-- from which PBX ([[pbx]] name; 'default' for the [ari] section), and which node wrote its
-- recording (recordings live on a path every node mounts: docs/scale-out.md). Rows from before
-- say '' (one node, one PBX).
ALTER TABLE calls ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN pbx TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN recording_node TEXT;
-- Calls in progress, per node: the start-up sweep of a node's own calls, the sweep of a lost
-- node's calls and the admin's live view read only these few rows.
CREATE INDEX calls_in_progress_node ON calls(status, node_id);
