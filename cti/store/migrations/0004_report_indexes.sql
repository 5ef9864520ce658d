-- ctid store, schema version 4: what interval reports need.
-- Per-interaction totals of its segments and the time of the same caller's next
-- inbound contact, kept up to date by the writer, so that a report reads one index
-- range per queue instead of joining segments and probing for repeat callers; the
-- indexes that make a day's report fast; post-call survey answers (NPS, CSAT).

ALTER TABLE interactions ADD COLUMN connected_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE interactions ADD COLUMN hold_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE interactions ADD COLUMN wrapup_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE interactions ADD COLUMN transfers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE interactions ADD COLUMN next_contact_at BIGINT;

-- Rows written by older versions get their totals now.
UPDATE interactions SET
    connected_us = COALESCE((SELECT SUM(s.ended_at - s.started_at) FROM interaction_segments s
        WHERE s.interaction_id = interactions.id AND s.kind = 'talking' AND s.ended_at IS NOT NULL), 0),
    hold_us = COALESCE((SELECT SUM(s.ended_at - s.started_at) FROM interaction_segments s
        WHERE s.interaction_id = interactions.id AND s.kind = 'hold' AND s.ended_at IS NOT NULL), 0),
    wrapup_us = COALESCE((SELECT SUM(s.ended_at - s.started_at) FROM interaction_segments s
        WHERE s.interaction_id = interactions.id AND s.kind = 'wrapup' AND s.ended_at IS NOT NULL), 0),
    transfers = (SELECT COUNT(*) FROM interaction_segments s
        WHERE s.interaction_id = interactions.id AND s.kind = 'transfer');
UPDATE interactions SET next_contact_at = (SELECT MIN(j.created_at) FROM interactions j
    WHERE j.direction = 'inbound' AND j.caller_number = interactions.caller_number AND j.created_at > interactions.created_at)
WHERE direction = 'inbound' AND caller_number <> '';

-- A queue report reads only this index (it covers every column the report uses).
CREATE INDEX interactions_report ON interactions (queue, direction, created_at, queued_at, answered_at,
    ended_at, outcome, caller_number, connected_us, hold_us, wrapup_us, transfers, next_contact_at);
-- The writer finds the same caller's earlier and later inbound contacts.
CREATE INDEX interactions_direction_caller_created ON interactions (direction, caller_number, created_at);
-- Agent reports read one agent's segments of some kinds by start time, and the agent
-- state log, from these indexes alone.
CREATE INDEX interaction_segments_agent_kind_started ON interaction_segments (agent, kind, started_at, ended_at, interaction_id);
CREATE INDEX agent_state_log_agent_at_state ON agent_state_log (agent, at, state);
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
-- Covering: a report reads kind and score from the index.
CREATE INDEX survey_answers_queue_at ON survey_answers (queue, at, kind, score);
CREATE INDEX survey_answers_agent_at ON survey_answers (agent, at, kind, score);
CREATE INDEX survey_answers_at ON survey_answers (at);
