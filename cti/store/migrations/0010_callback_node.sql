-- ctid store, schema version 10: a keep-your-place callback row says which node keeps
-- its place (node: the cti Config's Node, default the host name) and the place itself
-- (arrived_at: the caller's original arrival; priority and skills: their queue
-- priority and skill expression), so that the node restarted after a kill can put a
-- callback it had not dialled yet back in its queue at its place (cti/callback_restore.go).
-- Rows written before this version have no node (''): no start-up takes them.

ALTER TABLE callbacks ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE callbacks ADD COLUMN arrived_at BIGINT;
ALTER TABLE callbacks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE callbacks ADD COLUMN skills TEXT NOT NULL DEFAULT '';
CREATE INDEX callbacks_node_status_due ON callbacks (node, status, due_at);
