-- ctid store, schema version 8 (SQLite: the rollup table is clustered on its key, WITHOUT ROWID): 15-minute totals of the agent state log, so that a
-- report reads one small row per agent, slot and state instead of every state change
-- (report_rollup_states.go). A row holds the time the agent spent in (state, reason)
-- within the UTC slot (slot = at / 900000000), over the closed stretches of the log
-- only: from one entry to the next. The open last stretch of each agent (until now) is
-- added at report time. Logged-out time is not kept. The writer keeps the rows exact
-- in the same transaction as the log entry.

CREATE TABLE report_agent_state_slots (
    agent  TEXT NOT NULL,
    slot   BIGINT NOT NULL,
    state  TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    dur_us BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, slot, state, reason)
) WITHOUT ROWID;
CREATE INDEX report_agent_state_slots_slot ON report_agent_state_slots (slot);

-- Backfill from the log already stored: each stretch cut at slot boundaries.
INSERT INTO report_agent_state_slots (agent, slot, state, reason, dur_us)
WITH RECURSIVE stretches (agent, state, reason, s, e) AS (
    SELECT agent, state, reason, at, LEAD(at) OVER (PARTITION BY agent ORDER BY at, id) FROM agent_state_log
), parts (agent, state, reason, s, e) AS (
    SELECT agent, state, reason, s, e FROM stretches WHERE e IS NOT NULL AND e > s AND state <> 'logout'
    UNION ALL
    SELECT agent, state, reason, (s / 900000000 + 1) * 900000000, e FROM parts WHERE (s / 900000000 + 1) * 900000000 < e
)
SELECT agent, s / 900000000, state, reason,
    SUM(CASE WHEN e < (s / 900000000 + 1) * 900000000 THEN e ELSE (s / 900000000 + 1) * 900000000 END - s)
FROM parts GROUP BY agent, s / 900000000, state, reason;
