package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// Per-agent rollups (report_agent_slots, migration 0005), kept by withRollup from an
// interaction's segments before and after each change, like the queue rollups.

type agentKey struct {
	agent string
	slot  int64
}

// agentContrib is what one interaction adds to one agent's slot.
type agentContrib struct {
	offered, answered, connected, hold, wrapup, transfers, fcrCall int64
	gap                                                            sql.NullInt64
}

func (c *agentContrib) fcrGap() any {
	switch {
	case c.fcrCall == 0:
		return nil
	case c.gap.Valid:
		return c.gap.Int64
	}
	return int64(math.MaxInt64)
}

// readAgentContribs: fcr tells whether the interaction is an inbound call with a
// caller number, gap is the time to the number's next contact.
func (s *Store) readAgentContribs(ctx context.Context, tx *sql.Tx, id string, fcr bool, gap sql.NullInt64) (map[agentKey]agentContrib, error) {
	rows, err := s.query(ctx, tx, `SELECT kind, agent, started_at, ended_at FROM interaction_segments
WHERE interaction_id = ? AND kind IN ('offered', 'ringing', 'talking', 'hold', 'wrapup', 'transfer')`, id)
	if err != nil {
		return nil, fmt.Errorf("report rollup of %q: %w", id, err)
	}
	out := map[agentKey]agentContrib{}
	firstTalk := map[string]int64{}
	for rows.Next() {
		var (
			kind, agent string
			started     int64
			ended       sql.NullInt64
		)
		if err := rows.Scan(&kind, &agent, &started, &ended); err != nil {
			return nil, errors.Join(fmt.Errorf("report rollup of %q: %w", id, err), rows.Close())
		}
		k := agentKey{agent, started / slotMicros}
		c := out[k]
		var d int64
		if ended.Valid {
			d = ended.Int64 - started
		}
		switch kind {
		case "offered", "ringing":
			c.offered++
		case "talking":
			c.connected += d
			c.answered = 1
			if t, ok := firstTalk[agent]; !ok || started < t {
				firstTalk[agent] = started
			}
		case "hold":
			c.hold += d
		case "wrapup":
			c.wrapup += d
		case "transfer":
			c.transfers++
		}
		out[k] = c
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("report rollup of %q: %w", id, err)
	}
	if fcr {
		for agent, t := range firstTalk {
			k := agentKey{agent, t / slotMicros}
			c := out[k]
			c.fcrCall, c.gap = 1, gap
			out[k] = c
		}
	}
	return out, nil
}

func (s *Store) moveAgentContribs(ctx context.Context, tx *sql.Tx, before, after map[agentKey]agentContrib) error {
	apply := func(k agentKey, b, a agentContrib) error {
		if a == b {
			return nil
		}
		// A key whose contribution is not zero was added to its row, which therefore
		// exists (a zero one, an open hold say, may never have been).
		if b == (agentContrib{}) {
			if err := s.exec(ctx, tx, `INSERT INTO report_agent_slots (agent, slot) VALUES (?, ?)
ON CONFLICT (agent, slot) DO NOTHING`, k.agent, k.slot); err != nil {
				return err
			}
		}
		return s.exec(ctx, tx, `UPDATE report_agent_slots SET offered = offered + ?, answered = answered + ?,
    connected_us = connected_us + ?, hold_us = hold_us + ?, wrapup_us = wrapup_us + ?, transfers = transfers + ?,
    fcr_calls = fcr_calls + ?,
    fcr_resolved = fcr_resolved + (CASE WHEN CAST(? AS BIGINT) > fcr_us THEN 1 ELSE 0 END)
        - (CASE WHEN CAST(? AS BIGINT) > fcr_us THEN 1 ELSE 0 END)
WHERE agent = ? AND slot = ?`, a.offered-b.offered, a.answered-b.answered, a.connected-b.connected, a.hold-b.hold,
			a.wrapup-b.wrapup, a.transfers-b.transfers, a.fcrCall-b.fcrCall, a.fcrGap(), b.fcrGap(), k.agent, k.slot)
	}
	for k, b := range before {
		if err := apply(k, b, after[k]); err != nil {
			return err
		}
	}
	for k, a := range after {
		if _, done := before[k]; !done {
			if err := apply(k, agentContrib{}, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// agentRecount has the writer count an agent's FCR rollups of slots [FromSlot,
// ToSlot) for another window (queued by a report that asked for it).
type agentRecount struct {
	Agent            string
	FromSlot, ToSlot int64
	FCR              int64 // microseconds
}

func (r agentRecount) prepared(time.Time) (Record, error) {
	if r.FromSlot >= r.ToSlot || r.FCR <= 0 {
		return nil, fmt.Errorf("%w: rollup recount of agent %q", ErrInvalidRecord, r.Agent)
	}
	return r, nil
}

func (r agentRecount) describe() string { return "report rollup recount of agent " + r.Agent }

// countAgentFCR counts, per slot, an agent's calls talked to (first talking segment
// in [from, to)) that were resolved at first contact within the window fcr.
func (s *Store) countAgentFCR(ctx context.Context, q queryer, agent string, from, to, fcr int64) (map[int64][2]int64, error) {
	rows, err := q.QueryContext(ctx, s.d.q(`SELECT t.slot, COUNT(t.resolved), CAST(COALESCE(SUM(t.resolved), 0) AS BIGINT)
FROM (SELECT s.interaction_id, MIN(s.started_at) / `+fmt.Sprint(slotMicros)+` AS slot,
        (SELECT CASE WHEN i.next_contact_at IS NULL OR i.next_contact_at > i.created_at + ? THEN 1 ELSE 0 END
         FROM interactions i WHERE i.id = s.interaction_id AND i.direction = 'inbound' AND i.caller_number <> '') AS resolved
      FROM interaction_segments s
      WHERE s.agent = ? AND s.kind = 'talking' AND s.started_at >= ? AND s.started_at < ?
      GROUP BY s.interaction_id) t
GROUP BY t.slot`), fcr, agent, from, to)
	if err != nil {
		return nil, err
	}
	out := map[int64][2]int64{}
	for rows.Next() {
		var slot, calls, resolved int64
		if err := rows.Scan(&slot, &calls, &resolved); err != nil {
			return nil, errors.Join(err, rows.Close())
		}
		out[slot] = [2]int64{calls, resolved}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) applyAgentRecount(ctx context.Context, tx *sql.Tx, r agentRecount) error {
	counts, err := s.countAgentFCR(ctx, tx, r.Agent, r.FromSlot*slotMicros, r.ToSlot*slotMicros, r.FCR)
	if err != nil {
		return err
	}
	if err := s.exec(ctx, tx, `UPDATE report_agent_slots SET fcr_us = ?, fcr_resolved = 0
WHERE agent = ? AND slot >= ? AND slot < ?`, r.FCR, r.Agent, r.FromSlot, r.ToSlot); err != nil {
		return err
	}
	for slot, c := range counts {
		if err := s.exec(ctx, tx, `UPDATE report_agent_slots SET fcr_resolved = ? WHERE agent = ? AND slot = ?`,
			c[1], r.Agent, slot); err != nil {
			return err
		}
	}
	return nil
}

// purgeMargin: the retention purge deletes interactions by creation time, with their
// segments; a segment starts within this long of its call's creation, so rollups of
// slots this long after the oldest call left are whole.
const purgeMargin = 24 * time.Hour

// agentCallFacts adds an agent's segments started in [from, to): whole slots from the
// rollups, the rest from the segments.
func (s *Store) agentCallFacts(ctx context.Context, b *buckets, agent string, from, to int64, fcr time.Duration, f []facts) error {
	first := (from + slotMicros - 1) / slotMicros
	last := to / slotMicros
	if from < 0 || to < 0 || first >= last {
		return s.rawAgentFacts(ctx, b, agent, from, to, fcr, f)
	}
	var raw [][2]int64
	if from < first*slotMicros {
		raw = append(raw, [2]int64{from, first * slotMicros})
	}
	if last*slotMicros < to {
		raw = append(raw, [2]int64{last * slotMicros, to})
	}
	var oldest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT MIN(created_at) FROM interactions").Scan(&oldest); err != nil {
		return fmt.Errorf("store: report agent calls: %w", err)
	}
	if !oldest.Valid {
		return nil // no calls at all
	}
	lo := first
	if safe := (oldest.Int64 + purgeMargin.Microseconds() + slotMicros - 1) / slotMicros; safe > first {
		lo = min(safe, last)
		raw = append(raw, [2]int64{first * slotMicros, lo * slotMicros})
	}
	if err := s.agentRollupFacts(ctx, b, agent, lo, last, fcr.Microseconds(), f); err != nil {
		return err
	}
	for _, r := range raw {
		if err := s.rawAgentFacts(ctx, b, agent, r[0], r[1], fcr, f); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) agentRollupFacts(ctx context.Context, b *buckets, agent string, lo, hi, fcr int64, f []facts) error {
	if lo >= hi {
		return nil
	}
	other := map[int64]bool{}
	mLo, mHi := int64(math.MaxInt64), int64(math.MinInt64)
	err := s.eachRow(ctx, "agent rollups", `SELECT slot, offered, answered, connected_us, hold_us, wrapup_us, transfers,
    fcr_calls, fcr_us, fcr_resolved
FROM report_agent_slots WHERE agent = ? AND slot >= ? AND slot < ?`, []any{agent, lo, hi}, func(rows *sql.Rows) error {
		var (
			slot, offered, answered, connected, hold, wrapup, transfers, fcrCalls, resolved int64
			fcrW                                                                            sql.NullInt64
		)
		if err := rows.Scan(&slot, &offered, &answered, &connected, &hold, &wrapup, &transfers, &fcrCalls, &fcrW,
			&resolved); err != nil {
			return err
		}
		x := &f[b.slot(slot)]
		x.offered += int(offered)
		x.answered += int(answered)
		x.connected += time.Duration(connected) * usec
		x.hold += time.Duration(hold) * usec
		x.wrapup += time.Duration(wrapup) * usec
		x.transfers += int(transfers)
		x.fcrCalls += int(fcrCalls)
		switch {
		case fcrCalls == 0:
		case fcrW.Valid && fcrW.Int64 == fcr:
			x.fcrResolved += int(resolved)
		default:
			other[slot] = true
			mLo, mHi = min(mLo, slot), max(mHi, slot)
		}
		return nil
	})
	if err != nil || len(other) == 0 {
		return err
	}
	counts, err := s.countAgentFCR(ctx, s.db, agent, mLo*slotMicros, (mHi+1)*slotMicros, fcr)
	if err != nil {
		return fmt.Errorf("store: report agent fcr: %w", err)
	}
	for slot, c := range counts {
		if other[slot] {
			f[b.slot(slot)].fcrResolved += int(c[1])
		}
	}
	// Losing the request (backlog full, store closing) only costs the next report's speed.
	if err := s.Enqueue(agentRecount{Agent: agent, FromSlot: max(mLo, mHi+1-maxRecountSlots), ToSlot: mHi + 1, FCR: fcr}); err != nil {
		s.log.Warn().Err(err).Str("agent", agent).Msg("store: report rollups not recounted for this FCR window")
	}
	return nil
}
