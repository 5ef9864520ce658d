-- ctid store, schema version 4: what interval reports need.
-- Indexes that let a queue or agent report for a day read only that day's rows, and
-- the post-call survey answers that NPS and CSAT are computed from.

-- Queue reports filter inbound calls of one queue by creation time.
CREATE INDEX interactions_direction_queue_created ON interactions (direction, queue, created_at);
-- FCR looks for a later inbound call from the same number.
CREATE INDEX interactions_direction_caller_created ON interactions (direction, caller_number, created_at);
-- Agent reports read one agent's segments of some kinds by start time.
CREATE INDEX interaction_segments_agent_kind_started ON interaction_segments (agent, kind, started_at);
-- Callback first-response times per queue.
CREATE INDEX callbacks_queue_requested ON callbacks (queue, requested_at);

CREATE TABLE survey_answers (
    id             {{AUTOID}},
    interaction_id TEXT REFERENCES interactions (id) ON DELETE CASCADE,
    queue          TEXT NOT NULL DEFAULT '',
    agent          TEXT NOT NULL DEFAULT '',
    kind           TEXT NOT NULL,
    score          INTEGER NOT NULL,
    at             BIGINT NOT NULL
);
CREATE INDEX survey_answers_queue_at ON survey_answers (queue, at);
CREATE INDEX survey_answers_agent_at ON survey_answers (agent, at);
CREATE INDEX survey_answers_at ON survey_answers (at);
