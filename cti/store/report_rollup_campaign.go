package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Campaign rollups (migration 0007), kept by the writer like the queue rollups: each
// change of an attempt or of a campaign call reads its contribution to its slot
// before and after the change and applies the difference in the same transaction.

// attemptContrib is what one attempt adds to report_campaign_slots.
type attemptContrib struct {
	ok                   bool
	campaign             string
	slot                 int64
	outcome, disposition string
	connected            int64
}

func (s *Store) readAttemptContrib(ctx context.Context, tx *sql.Tx, id string) (attemptContrib, error) {
	var (
		c      attemptContrib
		placed int64
	)
	err := s.queryRow(ctx, tx, `SELECT campaign_id, placed_at, outcome, disposition,
    CASE WHEN connected_at IS NOT NULL THEN 1 ELSE 0 END FROM campaign_attempts WHERE id = ?`, id).
		Scan(&c.campaign, &placed, &c.outcome, &c.disposition, &c.connected)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return attemptContrib{}, nil
	case err != nil:
		return attemptContrib{}, fmt.Errorf("campaign rollup of attempt %q: %w", id, err)
	}
	c.ok, c.slot = true, placed/slotMicros
	return c, nil
}

// withAttemptRollup runs change (which saves attempt id) and moves the attempt's count.
func (s *Store) withAttemptRollup(ctx context.Context, tx *sql.Tx, id string, change func() error) error {
	before, err := s.readAttemptContrib(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	after, err := s.readAttemptContrib(ctx, tx, id)
	if err != nil || before == after {
		return err
	}
	for _, x := range []struct {
		c attemptContrib
		n int64
	}{{before, -1}, {after, 1}} {
		if !x.c.ok {
			continue
		}
		if err := s.exec(ctx, tx, `INSERT INTO report_campaign_slots (campaign_id, slot, outcome, disposition, connected, n)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (campaign_id, slot, outcome, disposition, connected) DO UPDATE SET n = report_campaign_slots.n + excluded.n`,
			x.c.campaign, x.c.slot, x.c.outcome, x.c.disposition, x.c.connected, x.n); err != nil {
			return err
		}
	}
	return nil
}

// campaignCallContrib is what one campaign call adds to report_campaign_call_slots.
type campaignCallContrib struct {
	campaign                             string // "" for a call of no campaign
	slot, connected, hold, wrapup, plays int64
}

func (c *campaignCallContrib) fill(created int64, cause string, connected, hold, wrapup int64) {
	if c.campaign == "" {
		*c = campaignCallContrib{}
		return
	}
	c.slot, c.connected, c.hold, c.wrapup = created/slotMicros, connected, hold, wrapup
	if slices.Contains(safeHarbourCauses, cause) {
		c.plays = 1
	}
}

func (s *Store) moveCampaignCall(ctx context.Context, tx *sql.Tx, before, after campaignCallContrib) error {
	if before == after {
		return nil
	}
	for _, x := range []struct {
		c    campaignCallContrib
		sign int64
	}{{before, -1}, {after, 1}} {
		if x.c.campaign == "" {
			continue
		}
		c := x.c
		if err := s.exec(ctx, tx, `INSERT INTO report_campaign_call_slots (campaign, slot, calls, connected_us, hold_us, wrapup_us, plays)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (campaign, slot) DO UPDATE SET calls = report_campaign_call_slots.calls + excluded.calls,
    connected_us = report_campaign_call_slots.connected_us + excluded.connected_us,
    hold_us = report_campaign_call_slots.hold_us + excluded.hold_us,
    wrapup_us = report_campaign_call_slots.wrapup_us + excluded.wrapup_us,
    plays = report_campaign_call_slots.plays + excluded.plays`,
			c.campaign, c.slot, x.sign, x.sign*c.connected, x.sign*c.hold, x.sign*c.wrapup, x.sign*c.plays); err != nil {
			return err
		}
	}
	return nil
}
