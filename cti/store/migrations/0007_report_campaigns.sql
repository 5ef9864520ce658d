-- ctid store, schema version 7: what campaign reports need (report_campaign.go).
-- A campaign report reads one index range per campaign for its attempts and one for
-- its calls, from these covering indexes alone; do-not-call additions and callbacks
-- per campaign by time.

CREATE INDEX campaign_attempts_report ON campaign_attempts (campaign_id, placed_at, outcome, disposition, connected_at);
-- Partial: only campaign calls (queries repeat the condition campaign <> '').
CREATE INDEX interactions_campaign_report ON interactions (campaign, created_at, cause, connected_us, hold_us, wrapup_us)
    WHERE campaign <> '';
CREATE INDEX dnc_scope_added ON dnc (scope, added_at);
CREATE INDEX campaign_callbacks_created ON campaign_callbacks (campaign_id, created_at);
