package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// The writer keeps report_queue_slots (migration 0005) exact: every change of an
// inbound interaction (save, segment, close, a later contact from the same number)
// reads the interaction's contribution to its queue's 15-minute slot before and
// after the change and applies the difference, in the same transaction.

// rollupContrib is what one inbound interaction adds to its slot's row.
type rollupContrib struct {
	ok                                 bool // an inbound interaction
	queue                              string
	slot                               int64
	answered, abandoned, fcrCall       int64
	wait, gap                          sql.NullInt64 // gap: next contact - created
	connected, hold, wrapup, transfers int64
}

// ansWait, abWait and fcrGap are the values the threshold-dependent counts compare
// (nil: the interaction is not in that count).
func (c *rollupContrib) ansWait() any {
	if c.ok && c.answered == 1 && c.wait.Valid {
		return c.wait.Int64
	}
	return nil
}

func (c *rollupContrib) abWait() any {
	if c.ok && c.abandoned == 1 && c.wait.Valid {
		return c.wait.Int64
	}
	return nil
}

func (c *rollupContrib) fcrGap() any {
	switch {
	case !c.ok || c.fcrCall == 0:
		return nil
	case c.gap.Valid:
		return c.gap.Int64
	}
	return int64(math.MaxInt64) // no later contact: resolved under any window
}

func (c *rollupContrib) longest() any {
	if c.ok && c.wait.Valid {
		return c.wait.Int64
	}
	return nil
}

// readContribs reads what interaction id adds to its queue's slot and to its agents'
// slots.
func (s *Store) readContribs(ctx context.Context, tx *sql.Tx, id string) (rollupContrib, campaignCallContrib, map[agentKey]agentContrib, error) {
	var (
		c                     rollupContrib
		cc                    campaignCallContrib
		created, inbound, num int64
		next                  sql.NullInt64
		cause                 string
	)
	err := s.queryRow(ctx, tx, `SELECT queue, campaign, cause, created_at,
    CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END, CASE WHEN caller_number <> '' THEN 1 ELSE 0 END,
    CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END,
    CASE WHEN answered_at IS NULL AND outcome = 'abandoned' THEN 1 ELSE 0 END,
    `+waitExpr+`, next_contact_at, connected_us, hold_us, wrapup_us, transfers
FROM interactions WHERE id = ?`, id).Scan(&c.queue, &cc.campaign, &cause, &created, &inbound, &num, &c.answered, &c.abandoned,
		&c.wait, &next, &c.connected, &c.hold, &c.wrapup, &c.transfers)
	if errors.Is(err, sql.ErrNoRows) {
		return rollupContrib{}, campaignCallContrib{}, nil, nil
	}
	if err != nil {
		return rollupContrib{}, campaignCallContrib{}, nil, fmt.Errorf("report rollup of %q: %w", id, err)
	}
	cc.fill(created, cause, c.connected, c.hold, c.wrapup)
	var gap sql.NullInt64
	if next.Valid {
		gap = sql.NullInt64{Int64: next.Int64 - created, Valid: true}
	}
	agents, err := s.readAgentContribs(ctx, tx, id, inbound == 1 && num == 1, gap)
	if err != nil {
		return rollupContrib{}, campaignCallContrib{}, nil, err
	}
	if inbound == 0 {
		return rollupContrib{}, cc, agents, nil
	}
	c.ok, c.slot, c.gap = true, created/slotMicros, gap
	if c.answered == 1 && num == 1 {
		c.fcrCall = 1
	}
	return c, cc, agents, nil
}

// withRollup runs change (which alters interaction id) and moves the interaction's
// contribution in the rollups from what it was to what it is.
//
// The contribution read after a change is kept (contribCache): a call's records
// follow one another within seconds, and the next change of the same interaction
// starts from it instead of reading it again. Whatever else alters an interaction's
// contribution in the writer (linkContacts moving an earlier contact's FCR) drops it.
func (s *Store) withRollup(ctx context.Context, tx *sql.Tx, id string, change func() error) error {
	prev, known := s.contribs.get(id)
	if !known {
		var err error
		if prev.queue, prev.camp, prev.agents, err = s.readContribs(ctx, tx, id); err != nil {
			return err
		}
	}
	s.contribs.drop(id) // until the change is applied and read back
	if err := change(); err != nil {
		return err
	}
	after, afterCamp, afterAgents, err := s.readContribs(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := s.moveCampaignCall(ctx, tx, prev.camp, afterCamp); err != nil {
		return err
	}
	if err := s.moveContrib(ctx, tx, prev.queue, after); err != nil {
		return err
	}
	if err := s.moveAgentContribs(ctx, tx, prev.agents, afterAgents); err != nil {
		return err
	}
	s.contribs.put(id, contribSnapshot{queue: after, camp: afterCamp, agents: afterAgents})
	return nil
}

// contribSnapshot is what one interaction adds to the queue, campaign and agent rollups.
type contribSnapshot struct {
	queue  rollupContrib
	camp   campaignCallContrib
	agents map[agentKey]agentContrib
}

const rollupUpdate = `UPDATE report_queue_slots SET
    offered = offered + ?, answered = answered + ?, abandoned = abandoned + ?,
    wait_answered_us = wait_answered_us + ?,
    connected_us = connected_us + ?, hold_us = hold_us + ?, wrapup_us = wrapup_us + ?,
    transfers = transfers + ?, fcr_calls = fcr_calls + ?,
    longest_wait_us = CASE WHEN CAST(? AS BIGINT) > COALESCE(longest_wait_us, -1) THEN CAST(? AS BIGINT) ELSE longest_wait_us END,
    answered_within = answered_within + (CASE WHEN CAST(? AS BIGINT) <= sl_us THEN 1 ELSE 0 END)
        - (CASE WHEN CAST(? AS BIGINT) <= sl_us THEN 1 ELSE 0 END),
    abandoned_within = abandoned_within + (CASE WHEN CAST(? AS BIGINT) <= sl_us THEN 1 ELSE 0 END)
        - (CASE WHEN CAST(? AS BIGINT) <= sl_us THEN 1 ELSE 0 END),
    short_abandoned = short_abandoned + (CASE WHEN CAST(? AS BIGINT) <= short_us THEN 1 ELSE 0 END)
        - (CASE WHEN CAST(? AS BIGINT) <= short_us THEN 1 ELSE 0 END),
    fcr_resolved = fcr_resolved + (CASE WHEN CAST(? AS BIGINT) > fcr_us THEN 1 ELSE 0 END)
        - (CASE WHEN CAST(? AS BIGINT) > fcr_us THEN 1 ELSE 0 END)
WHERE queue = ? AND slot = ?`

// update adds add and removes sub (either may be the zero contrib) in key's row.
func (s *Store) rollupDelta(ctx context.Context, tx *sql.Tx, queue string, slot int64, add, sub *rollupContrib) error {
	waitAns := func(c *rollupContrib) int64 {
		if c.ok && c.answered == 1 && c.wait.Valid {
			return c.wait.Int64
		}
		return 0
	}
	one := func(c *rollupContrib) int64 {
		if c.ok {
			return 1
		}
		return 0
	}
	return s.exec(ctx, tx, rollupUpdate,
		one(add)-one(sub), add.answered-sub.answered, add.abandoned-sub.abandoned, waitAns(add)-waitAns(sub),
		add.connected-sub.connected, add.hold-sub.hold, add.wrapup-sub.wrapup, add.transfers-sub.transfers,
		add.fcrCall-sub.fcrCall, add.longest(), add.longest(),
		add.ansWait(), sub.ansWait(), add.abWait(), sub.abWait(), add.abWait(), sub.abWait(),
		add.fcrGap(), sub.fcrGap(), queue, slot)
}

func (s *Store) moveContrib(ctx context.Context, tx *sql.Tx, before, after rollupContrib) error {
	if before == after {
		return nil
	}
	var none rollupContrib
	sameKey := before.ok && after.ok && before.queue == after.queue && before.slot == after.slot
	if after.ok && !sameKey { // an inbound call's row exists once its contribution was added
		if err := s.exec(ctx, tx, `INSERT INTO report_queue_slots (queue, slot) VALUES (?, ?)
ON CONFLICT (queue, slot) DO NOTHING`, after.queue, after.slot); err != nil {
			return err
		}
	}
	switch {
	case sameKey:
		if err := s.rollupDelta(ctx, tx, after.queue, after.slot, &after, &before); err != nil {
			return err
		}
	default:
		if before.ok {
			if err := s.rollupDelta(ctx, tx, before.queue, before.slot, &none, &before); err != nil {
				return err
			}
		}
		if after.ok {
			if err := s.rollupDelta(ctx, tx, after.queue, after.slot, &after, &none); err != nil {
				return err
			}
		}
	}
	// The longest wait is a maximum: when the call that held it waits less now (or
	// left the slot), the slot's maximum is looked up again.
	if before.ok && before.wait.Valid && !(sameKey && after.wait.Valid && after.wait.Int64 >= before.wait.Int64) {
		lo := before.slot * slotMicros
		return s.exec(ctx, tx, `UPDATE report_queue_slots SET longest_wait_us = (SELECT MAX(`+waitExpr+`)
    FROM interactions WHERE queue = ? AND direction = 'inbound' AND created_at >= ? AND created_at < ?)
WHERE queue = ? AND slot = ? AND longest_wait_us <= ?`, before.queue, lo, lo+slotMicros, before.queue, before.slot, before.wait.Int64)
	}
	return nil
}

// rollupRecount has the writer count a queue's threshold-dependent rollups of slots
// [FromSlot, ToSlot) for other thresholds (queued by a report that asked for them).
type rollupRecount struct {
	Queue            string
	FromSlot, ToSlot int64
	SL, Short, FCR   int64 // microseconds
}

func (r rollupRecount) prepared(time.Time) (Record, error) {
	if r.FromSlot >= r.ToSlot || r.SL < 0 || r.Short < 0 || r.FCR <= 0 {
		return nil, fmt.Errorf("%w: rollup recount of %q", ErrInvalidRecord, r.Queue)
	}
	return r, nil
}

func (r rollupRecount) describe() string { return "report rollup recount of queue " + r.Queue }

// thresholdCounts are the threshold-dependent counts of one slot.
type thresholdCounts struct{ answeredWithin, abandonedWithin, shortAbandoned, fcrResolved int64 }

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// countThresholds counts, per slot, a queue's calls created in [from, to) within the
// thresholds, from the interactions.
func (s *Store) countThresholds(ctx context.Context, q queryer, queue string, from, to, sl, short, fcr int64) (map[int64]thresholdCounts, error) {
	rows, err := q.QueryContext(ctx, s.d.q(`SELECT created_at / `+fmt.Sprint(slotMicros)+`,
    CAST(SUM(CASE WHEN answered_at IS NOT NULL AND `+waitExpr+` <= ? THEN 1 ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NULL AND outcome = 'abandoned' AND `+waitExpr+` <= ? THEN 1 ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NULL AND outcome = 'abandoned' AND `+waitExpr+` <= ? THEN 1 ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NOT NULL AND caller_number <> ''
        AND (next_contact_at IS NULL OR next_contact_at > created_at + ?) THEN 1 ELSE 0 END) AS BIGINT)
FROM interactions WHERE direction = 'inbound' AND queue = ? AND created_at >= ? AND created_at < ?
GROUP BY created_at / `+fmt.Sprint(slotMicros)), sl, sl, short, fcr, queue, from, to)
	if err != nil {
		return nil, err
	}
	out := map[int64]thresholdCounts{}
	for rows.Next() {
		var slot int64
		var c thresholdCounts
		if err := rows.Scan(&slot, &c.answeredWithin, &c.abandonedWithin, &c.shortAbandoned, &c.fcrResolved); err != nil {
			return nil, errors.Join(err, rows.Close())
		}
		out[slot] = c
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) applyRecount(ctx context.Context, tx *sql.Tx, r rollupRecount) error {
	counts, err := s.countThresholds(ctx, tx, r.Queue, r.FromSlot*slotMicros, r.ToSlot*slotMicros, r.SL, r.Short, r.FCR)
	if err != nil {
		return err
	}
	if err := s.exec(ctx, tx, `UPDATE report_queue_slots SET sl_us = ?, short_us = ?, fcr_us = ?,
    answered_within = 0, abandoned_within = 0, short_abandoned = 0, fcr_resolved = 0
WHERE queue = ? AND slot >= ? AND slot < ?`, r.SL, r.Short, r.FCR, r.Queue, r.FromSlot, r.ToSlot); err != nil {
		return err
	}
	for slot, c := range counts {
		if err := s.exec(ctx, tx, `UPDATE report_queue_slots SET answered_within = ?, abandoned_within = ?,
    short_abandoned = ?, fcr_resolved = ? WHERE queue = ? AND slot = ?`,
			c.answeredWithin, c.abandonedWithin, c.shortAbandoned, c.fcrResolved, r.Queue, slot); err != nil {
			return err
		}
	}
	return nil
}

// callFacts adds a queue's inbound calls created in [from, to): whole 15-minute slots
// from the rollups, the rest (a custom range's partial slots, the oldest slot that
// the retention purge may have cut, slots counted for other thresholds) from the
// interactions.
func (s *Store) callFacts(ctx context.Context, b *buckets, spec *QueueSpec, from, to int64, fcr time.Duration, f []facts) error {
	th := thresholds{sl: spec.SLThreshold.Microseconds(), short: spec.ShortAbandon.Microseconds(), fcr: fcr.Microseconds()}
	first := (from + slotMicros - 1) / slotMicros // first whole slot
	if from < 0 {
		first = from / slotMicros
	}
	last := to / slotMicros // whole slots are [first, last)
	if to < 0 {
		last = (to - slotMicros + 1) / slotMicros
	}
	if first >= last {
		return s.rawCallFacts(ctx, b, spec.Queue, from, to, th, f)
	}
	var raw [][2]int64
	if from < first*slotMicros {
		raw = append(raw, [2]int64{from, first * slotMicros})
	}
	if last*slotMicros < to {
		raw = append(raw, [2]int64{last * slotMicros, to})
	}
	// Slots before the queue's oldest call hold nothing (purged rollups are ignored);
	// the oldest call's slot may have been purged in part: counted from the calls.
	var oldest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.d.q(`SELECT MIN(created_at) FROM interactions
WHERE queue = ? AND direction = 'inbound'`), spec.Queue).Scan(&oldest); err != nil {
		return fmt.Errorf("store: report calls: %w", err)
	}
	lo := first
	if oldest.Valid {
		o := oldest.Int64 / slotMicros
		if o >= first && o < last {
			raw = append(raw, [2]int64{o * slotMicros, (o + 1) * slotMicros})
			lo = o + 1
		}
		lo = max(lo, o)
		if err := s.rollupFacts(ctx, b, spec.Queue, lo, last, th, f); err != nil {
			return err
		}
	}
	for _, r := range raw {
		if err := s.rawCallFacts(ctx, b, spec.Queue, r[0], r[1], th, f); err != nil {
			return err
		}
	}
	return nil
}

type thresholds struct{ sl, short, fcr int64 }

// maxRecountSlots bounds one recount (it runs in the writer's transaction, ahead of
// call records): the latest 31 days of the slots a report found counted for other
// thresholds. Older slots keep being counted from the interactions for these
// thresholds (exact, slower).
const maxRecountSlots = 31 * 24 * 4

// rollupFacts adds the rollups of slots [lo, hi). Slots counted for other thresholds
// get those counts from the interactions, and the writer is asked to recount them.
func (s *Store) rollupFacts(ctx context.Context, b *buckets, queue string, lo, hi int64, th thresholds, f []facts) error {
	if lo >= hi {
		return nil
	}
	other := map[int64]bool{}
	mLo, mHi := int64(math.MaxInt64), int64(math.MinInt64)
	err := s.eachRow(ctx, "rollups", `SELECT slot, offered, answered, abandoned, wait_answered_us, longest_wait_us,
    connected_us, hold_us, wrapup_us, transfers, fcr_calls, sl_us, short_us, fcr_us,
    answered_within, abandoned_within, short_abandoned, fcr_resolved
FROM report_queue_slots WHERE queue = ? AND slot >= ? AND slot < ?`, []any{queue, lo, hi}, func(rows *sql.Rows) error {
		var (
			slot, offered, answered, abandoned, wait, connected, hold, wrapup, transfers, fcrCalls int64
			longest, sl, short, fcrW                                                               sql.NullInt64
			c                                                                                      thresholdCounts
		)
		if err := rows.Scan(&slot, &offered, &answered, &abandoned, &wait, &longest, &connected, &hold, &wrapup,
			&transfers, &fcrCalls, &sl, &short, &fcrW, &c.answeredWithin, &c.abandonedWithin, &c.shortAbandoned,
			&c.fcrResolved); err != nil {
			return err
		}
		x := &f[b.slot(slot)]
		x.offered += int(offered)
		x.answered += int(answered)
		x.abandoned += int(abandoned)
		x.waitAnswered += time.Duration(wait) * usec
		if w := time.Duration(longest.Int64) * usec; longest.Valid && w > x.longestWait {
			x.longestWait = w
		}
		x.connected += time.Duration(connected) * usec
		x.hold += time.Duration(hold) * usec
		x.wrapup += time.Duration(wrapup) * usec
		x.transfers += int(transfers)
		x.fcrCalls += int(fcrCalls)
		if sl.Int64 == th.sl && short.Int64 == th.short && fcrW.Int64 == th.fcr && sl.Valid && short.Valid && fcrW.Valid {
			x.addThresholds(c)
			return nil
		}
		if offered != 0 {
			other[slot] = true
			mLo, mHi = min(mLo, slot), max(mHi, slot)
		}
		return nil
	})
	if err != nil || len(other) == 0 {
		return err
	}
	counts, err := s.countThresholds(ctx, s.db, queue, mLo*slotMicros, (mHi+1)*slotMicros, th.sl, th.short, th.fcr)
	if err != nil {
		return fmt.Errorf("store: report calls: %w", err)
	}
	for slot, c := range counts {
		if other[slot] {
			f[b.slot(slot)].addThresholds(c)
		}
	}
	// The next report with these thresholds reads the rollups alone. Losing the
	// request (backlog full, store closing) only costs that speed.
	if err := s.Enqueue(rollupRecount{Queue: queue, FromSlot: max(mLo, mHi+1-maxRecountSlots), ToSlot: mHi + 1, SL: th.sl, Short: th.short,
		FCR: th.fcr}); err != nil {
		s.log.Warn().Err(err).Str("queue", queue).Msg("store: report rollups not recounted for these thresholds")
	}
	return nil
}

func (x *facts) addThresholds(c thresholdCounts) {
	x.answeredWithin += int(c.answeredWithin)
	x.abandonedWithin += int(c.abandonedWithin)
	x.shortAbandoned += int(c.shortAbandoned)
	x.fcrResolved += int(c.fcrResolved)
}

// rawCallFacts adds a queue's inbound calls created in [from, to), read from the
// interactions (one range of the covering index interactions_report).
func (s *Store) rawCallFacts(ctx context.Context, b *buckets, queue string, from, to int64, th thresholds, f []facts) error {
	return s.eachRow(ctx, "calls", `SELECT created_at / `+fmt.Sprint(slotMicros)+` AS slot, COUNT(*),
    CAST(SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NOT NULL AND `+waitExpr+` <= ? THEN 1 ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NOT NULL THEN `+waitExpr+` ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NULL AND outcome = 'abandoned' THEN 1 ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NULL AND outcome = 'abandoned' AND `+waitExpr+` <= ? THEN 1 ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NULL AND outcome = 'abandoned' AND `+waitExpr+` <= ? THEN 1 ELSE 0 END) AS BIGINT),
    MAX(`+waitExpr+`),
    CAST(SUM(connected_us) AS BIGINT), CAST(SUM(hold_us) AS BIGINT), CAST(SUM(wrapup_us) AS BIGINT),
    CAST(SUM(transfers) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NOT NULL AND caller_number <> '' THEN 1 ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN answered_at IS NOT NULL AND caller_number <> ''
        AND (next_contact_at IS NULL OR next_contact_at > created_at + ?) THEN 1 ELSE 0 END) AS BIGINT)
FROM interactions WHERE direction = 'inbound' AND queue = ? AND created_at >= ? AND created_at < ?
GROUP BY created_at / `+fmt.Sprint(slotMicros), []any{th.sl, th.sl, th.short, th.fcr, queue, from, to}, func(rows *sql.Rows) error {
		var slot, offered, answered, within, wait, abandoned, abWithin, abShort int64
		var connected, hold, wrapup, transfers, fcrCalls, fcrResolved int64
		var longest sql.NullInt64
		if err := rows.Scan(&slot, &offered, &answered, &within, &wait, &abandoned, &abWithin, &abShort, &longest,
			&connected, &hold, &wrapup, &transfers, &fcrCalls, &fcrResolved); err != nil {
			return err
		}
		x := &f[b.slot(slot)]
		x.offered += int(offered)
		x.answered += int(answered)
		x.answeredWithin += int(within)
		x.waitAnswered += time.Duration(wait) * usec
		x.abandoned += int(abandoned)
		x.abandonedWithin += int(abWithin)
		x.shortAbandoned += int(abShort)
		if w := time.Duration(longest.Int64) * usec; longest.Valid && w > x.longestWait {
			x.longestWait = w
		}
		x.connected += time.Duration(connected) * usec
		x.hold += time.Duration(hold) * usec
		x.wrapup += time.Duration(wrapup) * usec
		x.transfers += int(transfers)
		x.fcrCalls += int(fcrCalls)
		x.fcrResolved += int(fcrResolved)
		return nil
	})
}

// rollupNextContact moves the FCR counts of inbound call id (queue, created, answered
// when answered; it has a caller number) whose time to the next contact from its
// number changed from oldGap to newGap.
func (s *Store) rollupNextContact(ctx context.Context, tx *sql.Tx, id, queue string, created int64, answered bool, oldGap, newGap int64) error {
	const move = `fcr_resolved = fcr_resolved + (CASE WHEN CAST(? AS BIGINT) > fcr_us THEN 1 ELSE 0 END)
    - (CASE WHEN CAST(? AS BIGINT) > fcr_us THEN 1 ELSE 0 END)`
	if answered {
		if err := s.exec(ctx, tx, `UPDATE report_queue_slots SET `+move+` WHERE queue = ? AND slot = ?`,
			newGap, oldGap, queue, created/slotMicros); err != nil {
			return err
		}
	}
	type key struct {
		agent string
		slot  int64
	}
	var keys []key
	rows, err := s.query(ctx, tx, `SELECT agent, MIN(started_at) FROM interaction_segments
WHERE interaction_id = ? AND kind = 'talking' GROUP BY agent`, id)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			k     key
			first int64
		)
		if err := rows.Scan(&k.agent, &first); err != nil {
			return errors.Join(err, rows.Close())
		}
		k.slot = first / slotMicros
		keys = append(keys, k)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.exec(ctx, tx, `UPDATE report_agent_slots SET `+move+` WHERE agent = ? AND slot = ?`,
			newGap, oldGap, k.agent, k.slot); err != nil {
			return err
		}
	}
	return nil
}
