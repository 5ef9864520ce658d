-- ctid store, schema version 2: recording names on interactions; callbacks.

ALTER TABLE interactions ADD COLUMN recording_name TEXT NOT NULL DEFAULT '';

CREATE TABLE callbacks (
    id             TEXT PRIMARY KEY,
    queue          TEXT NOT NULL,
    number         TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    interaction_id TEXT REFERENCES interactions (id) ON DELETE SET NULL,
    status         TEXT NOT NULL,
    requested_at   BIGINT NOT NULL,
    due_at         BIGINT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    agent          TEXT NOT NULL DEFAULT '',
    notes          TEXT NOT NULL DEFAULT '',
    completed_at   BIGINT
);
CREATE INDEX callbacks_status_due ON callbacks (status, due_at);
CREATE INDEX callbacks_number ON callbacks (number);
