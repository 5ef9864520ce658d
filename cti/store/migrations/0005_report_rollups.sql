-- ctid store, schema version 5: 15-minute rollups of inbound calls per queue, so
-- that a report reads one small row per queue and 15 minutes instead of every call.
-- slot = created_at / 900000000 (UTC 15-minute slots; every time zone offset is a
-- multiple of 15 minutes). The writer keeps the rows exact in the same transaction
-- as the interactions (report_rollup.go). answered_within, abandoned_within,
-- short_abandoned and fcr_resolved depend on a queue's thresholds: they are counted
-- for the thresholds in sl_us, short_us and fcr_us (NULL: not yet counted); a report
-- asking other thresholds counts those slots from the interactions and has the
-- writer re-count them for its thresholds.

CREATE TABLE report_queue_slots (
    queue            TEXT NOT NULL,
    slot             BIGINT NOT NULL,
    offered          BIGINT NOT NULL DEFAULT 0,
    answered         BIGINT NOT NULL DEFAULT 0,
    abandoned        BIGINT NOT NULL DEFAULT 0,
    wait_answered_us BIGINT NOT NULL DEFAULT 0,
    longest_wait_us  BIGINT,
    connected_us     BIGINT NOT NULL DEFAULT 0,
    hold_us          BIGINT NOT NULL DEFAULT 0,
    wrapup_us        BIGINT NOT NULL DEFAULT 0,
    transfers        BIGINT NOT NULL DEFAULT 0,
    fcr_calls        BIGINT NOT NULL DEFAULT 0,
    sl_us            BIGINT,
    short_us         BIGINT,
    fcr_us           BIGINT,
    answered_within  BIGINT NOT NULL DEFAULT 0,
    abandoned_within BIGINT NOT NULL DEFAULT 0,
    short_abandoned  BIGINT NOT NULL DEFAULT 0,
    fcr_resolved     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, slot)
);

-- Backfill from the interactions already stored.
INSERT INTO report_queue_slots (queue, slot, offered, answered, abandoned, wait_answered_us, longest_wait_us,
    connected_us, hold_us, wrapup_us, transfers, fcr_calls)
SELECT queue, created_at / 900000000, COUNT(*),
    SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN answered_at IS NULL AND outcome = 'abandoned' THEN 1 ELSE 0 END),
    SUM(CASE WHEN answered_at IS NOT NULL THEN COALESCE(answered_at, ended_at) - COALESCE(queued_at, created_at) ELSE 0 END),
    MAX(COALESCE(answered_at, ended_at) - COALESCE(queued_at, created_at)),
    SUM(connected_us), SUM(hold_us), SUM(wrapup_us), SUM(transfers),
    SUM(CASE WHEN answered_at IS NOT NULL AND caller_number <> '' THEN 1 ELSE 0 END)
FROM interactions WHERE direction = 'inbound'
GROUP BY queue, created_at / 900000000;

-- The same per agent: segments count in the slot they started in (offers, distinct
-- calls talked to, talk/hold/wrap-up time, transfers); FCR per call talked to, in
-- the slot of the agent's first talking segment, fcr_resolved for the window fcr_us.
CREATE TABLE report_agent_slots (
    agent        TEXT NOT NULL,
    slot         BIGINT NOT NULL,
    offered      BIGINT NOT NULL DEFAULT 0,
    answered     BIGINT NOT NULL DEFAULT 0,
    connected_us BIGINT NOT NULL DEFAULT 0,
    hold_us      BIGINT NOT NULL DEFAULT 0,
    wrapup_us    BIGINT NOT NULL DEFAULT 0,
    transfers    BIGINT NOT NULL DEFAULT 0,
    fcr_calls    BIGINT NOT NULL DEFAULT 0,
    fcr_us       BIGINT,
    fcr_resolved BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, slot)
);

INSERT INTO report_agent_slots (agent, slot, offered, answered, connected_us, hold_us, wrapup_us, transfers)
SELECT agent, started_at / 900000000,
    SUM(CASE WHEN kind IN ('offered', 'ringing') THEN 1 ELSE 0 END),
    COUNT(DISTINCT CASE WHEN kind = 'talking' THEN interaction_id END),
    SUM(CASE WHEN kind = 'talking' THEN COALESCE(ended_at, started_at) - started_at ELSE 0 END),
    SUM(CASE WHEN kind = 'hold' THEN COALESCE(ended_at, started_at) - started_at ELSE 0 END),
    SUM(CASE WHEN kind = 'wrapup' THEN COALESCE(ended_at, started_at) - started_at ELSE 0 END),
    SUM(CASE WHEN kind = 'transfer' THEN 1 ELSE 0 END)
FROM interaction_segments
GROUP BY agent, started_at / 900000000;

UPDATE report_agent_slots SET fcr_calls = t.n
FROM (SELECT c.agent, c.slot, COUNT(*) AS n FROM (
        SELECT s.agent, MIN(s.started_at) / 900000000 AS slot FROM interaction_segments s
        JOIN interactions i ON i.id = s.interaction_id
        WHERE s.kind = 'talking' AND i.direction = 'inbound' AND i.caller_number <> ''
        GROUP BY s.agent, s.interaction_id) c
    GROUP BY c.agent, c.slot) t
WHERE t.agent = report_agent_slots.agent AND t.slot = report_agent_slots.slot;
