-- ctid store, schema version 7: what campaign reports need (report_campaign*.go).
-- 15-minute rollups of campaign attempts and campaign calls, kept exact by the writer
-- in the same transaction as the attempt or the call (slot = time / 900000000, UTC):
-- report_campaign_slots counts attempts by the slot they were placed in, outcome,
-- disposition and whether an agent was connected; report_campaign_call_slots sums
-- the campaign calls' talk, hold and wrap-up time and safe-harbour plays by the slot
-- the call was created in. Covering indexes for the rest of a campaign report.

CREATE TABLE report_campaign_slots (
    campaign_id TEXT NOT NULL,
    slot        BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    disposition TEXT NOT NULL,
    connected   INTEGER NOT NULL,
    n           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, slot, outcome, disposition, connected)
);

INSERT INTO report_campaign_slots (campaign_id, slot, outcome, disposition, connected, n)
SELECT campaign_id, placed_at / 900000000, outcome, disposition,
    CASE WHEN connected_at IS NOT NULL THEN 1 ELSE 0 END, COUNT(*)
FROM campaign_attempts
GROUP BY campaign_id, placed_at / 900000000, outcome, disposition, CASE WHEN connected_at IS NOT NULL THEN 1 ELSE 0 END;

CREATE TABLE report_campaign_call_slots (
    campaign     TEXT NOT NULL,
    slot         BIGINT NOT NULL,
    calls        BIGINT NOT NULL DEFAULT 0,
    connected_us BIGINT NOT NULL DEFAULT 0,
    hold_us      BIGINT NOT NULL DEFAULT 0,
    wrapup_us    BIGINT NOT NULL DEFAULT 0,
    plays        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign, slot)
);

INSERT INTO report_campaign_call_slots (campaign, slot, calls, connected_us, hold_us, wrapup_us, plays)
SELECT campaign, created_at / 900000000, COUNT(*), SUM(connected_us), SUM(hold_us), SUM(wrapup_us),
    SUM(CASE WHEN cause IN ('safe-harbour message played', 'safe-harbour message timed out') THEN 1 ELSE 0 END)
FROM interactions WHERE campaign <> ''
GROUP BY campaign, created_at / 900000000;

CREATE INDEX dnc_scope_added ON dnc (scope, added_at);
CREATE INDEX campaign_callbacks_created ON campaign_callbacks (campaign_id, created_at);
CREATE INDEX campaign_callbacks_due_at ON campaign_callbacks (campaign_id, due_at);
