-- ctid store, schema version 6: what a campaign needs to resume after a restart, and
-- the lease that lets only one ctid node dial a campaign.
--
-- retry_at: when the attempt's number may be dialled again (the retry timer set by
-- the attempt's outcome or disposition; NULL: none); number_dead: the number is never
-- dialled again (invalid, bad number, do-not-call). The latest attempt of a number
-- carries its state; attempts, lockouts (number_lockouts) and pending callbacks
-- (campaign_callbacks) were already kept. The rolling abandon window is read from
-- the attempts (connected_at, outcome 'abandoned').

ALTER TABLE campaign_attempts ADD COLUMN retry_at BIGINT;
ALTER TABLE campaign_attempts ADD COLUMN number_dead INTEGER NOT NULL DEFAULT 0;

-- One row per campaign being run: only owner dials it, until expires_at (unix µs);
-- the owner renews it, another node takes it only once it has expired (a conditional
-- UPDATE, so two nodes never both hold it).
CREATE TABLE campaign_leases (
    campaign_id TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    renewed_at  BIGINT NOT NULL
);
