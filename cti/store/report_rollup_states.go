package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ctid/ctid/queue"
)

// Agent state rollups (report_agent_state_slots, migration 0008): the time each agent
// spent in each (state, reason) per UTC 15-minute slot, over the closed stretches of
// the agent state log (from one entry to the next). The writer keeps them exact when
// it logs an entry, in the same transaction, whatever order entries arrive in; a
// report adds the agent's open last stretch (until now) itself.

const stateLogout = "logout"

// applyAgentState logs e and moves the rollups: e splits the stretch it falls in.
func (s *Store) applyAgentState(ctx context.Context, tx *sql.Tx, e AgentStateEntry) error {
	at := micros(e.At)
	var (
		prevState, prevReason string
		prevAt                int64
		next                  sql.NullInt64
	)
	hasPrev := false
	if last, ok := s.lastStates.get(e.Agent); ok && last.at <= at {
		// The agent's latest entry, as the writer logged it: it precedes e, none follows.
		prevState, prevReason, prevAt, hasPrev = last.state, last.reason, last.at, true
	} else {
		// Entries are ordered by (at, id): e comes after every entry logged at the same time.
		err := s.queryRow(ctx, tx, `SELECT state, reason, at FROM agent_state_log WHERE agent = ? AND at <= ?
ORDER BY at DESC, id DESC LIMIT 1`, e.Agent, at).Scan(&prevState, &prevReason, &prevAt)
		hasPrev = err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("agent state rollup of %q: %w", e.Agent, err)
		}
		if err := s.queryRow(ctx, tx, `SELECT MIN(at) FROM agent_state_log WHERE agent = ? AND at > ?`,
			e.Agent, at).Scan(&next); err != nil {
			return fmt.Errorf("agent state rollup of %q: %w", e.Agent, err)
		}
	}
	if err := s.exec(ctx, tx, "INSERT INTO agent_state_log (agent, state, reason, at) VALUES (?, ?, ?, ?)",
		e.Agent, e.State, e.Reason, at); err != nil {
		return err
	}
	if !next.Valid { // e is the agent's latest entry now
		s.lastStates.put(e.Agent, lastState{state: e.State, reason: e.Reason, at: at})
	}
	switch {
	case next.Valid: // [at, next) was the previous entry's; now it is e's
		if hasPrev {
			if err := s.addStateSpan(ctx, tx, e.Agent, prevState, prevReason, at, next.Int64, -1); err != nil {
				return err
			}
		}
		return s.addStateSpan(ctx, tx, e.Agent, e.State, e.Reason, at, next.Int64, 1)
	case hasPrev: // the previous entry's open stretch ends at e
		return s.addStateSpan(ctx, tx, e.Agent, prevState, prevReason, prevAt, at, 1)
	}
	return nil
}

// addStateSpan adds (sign 1) or removes (-1) [lo, hi) of (state, reason) to the
// agent's slots. Logged-out time is not kept.
func (s *Store) addStateSpan(ctx context.Context, tx *sql.Tx, agent, state, reason string, lo, hi, sign int64) error {
	if state == stateLogout {
		return nil
	}
	lo = max(lo, 0) // before 1970: nothing to report
	for t := lo; t < hi; {
		slot := t / slotMicros
		d := min((slot+1)*slotMicros, hi) - t
		if err := s.exec(ctx, tx, `INSERT INTO report_agent_state_slots (agent, slot, state, reason, dur_us) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (agent, slot, state, reason) DO UPDATE SET dur_us = report_agent_state_slots.dur_us + excluded.dur_us`,
			agent, slot, state, reason, sign*d); err != nil {
			return err
		}
		t += d
	}
	return nil
}

// addState adds d spent in (state, reason) to x.
func (x *facts) addState(state, reason string, d time.Duration) {
	switch classify(state) {
	case classReady:
		x.ready += d
	case classNotReady:
		x.notReady += d
		if x.notReadyBy == nil {
			x.notReadyBy = map[string]time.Duration{}
		}
		x.notReadyBy[reason] += d
	case classHandling:
		x.handling += d
		if state == queue.WrapUp.String() {
			x.wrapState += d
		}
	case classOut:
	}
}

// addSpan adds [t0, t1) of (state, reason), split over the buckets.
func (b *buckets) addSpan(f []facts, state, reason string, t0, t1 time.Time) {
	for t := t0; t.Before(t1); {
		j := b.index(t)
		_, bEnd := b.bounds(j)
		stop := t1
		if bEnd.Before(t1) {
			stop = bEnd.In(time.UTC)
		}
		chunk := stop.Sub(t)
		if chunk <= 0 { // t beyond the last bucket: cannot happen, but never loop forever
			return
		}
		f[j].addState(state, reason, chunk)
		t = stop
	}
}

// stateFacts adds an agent's time per state over the buckets, until min(end, now):
// whole slots from the rollups plus the agent's open last stretch, the rest (a
// range not on slot boundaries, the partial slot before now) from the log.
func (s *Store) stateFacts(ctx context.Context, b *buckets, agent string, now time.Time, f []facts) error {
	from, end := b.from(), b.end
	if now.Before(end) {
		end = now
	}
	if !from.Before(end) {
		return nil
	}
	lo := micros(from)
	whole := micros(end) / slotMicros * slotMicros
	if lo%slotMicros != 0 || lo < 0 || whole <= lo {
		return s.rawStateFacts(ctx, b, agent, from, end, f)
	}
	if err := s.stateRollupFacts(ctx, b, agent, lo/slotMicros, whole/slotMicros, f); err != nil {
		return err
	}
	// The open stretch: the last entry before whole, when none follows it.
	var (
		state, reason string
		at            int64
		later         sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT state, reason, at FROM agent_state_log WHERE agent = ? AND at < ?
ORDER BY at DESC, id DESC LIMIT 1`), agent, whole).Scan(&state, &reason, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("store: report agent states of %q: %w", agent, err)
	default:
		if err := s.db.QueryRowContext(ctx, s.d.q(`SELECT MIN(at) FROM agent_state_log WHERE agent = ? AND at >= ?`),
			agent, whole).Scan(&later); err != nil {
			return fmt.Errorf("store: report agent states of %q: %w", agent, err)
		}
		if !later.Valid {
			b.addSpan(f, state, reason, fromMicros(max(at, lo)), fromMicros(whole))
		}
	}
	return s.rawStateFacts(ctx, b, agent, fromMicros(whole), end, f)
}

// stateRollupFacts adds the rollups of slots [lo, hi). With buckets wider than a slot
// the database sums the slots per bucket (the buckets' slot ranges are given as a
// table), so that a month's report reads a few rows per agent and day, not every slot.
func (s *Store) stateRollupFacts(ctx context.Context, b *buckets, agent string, lo, hi int64, f []facts) error {
	type span struct{ i, lo, hi int64 }
	var spans []span
	for i := range b.starts {
		start, end := b.bounds(i)
		sLo, sHi := max(micros(start)/slotMicros, lo), min(micros(end)/slotMicros, hi)
		if sLo < sHi {
			spans = append(spans, span{int64(i), sLo, sHi})
		}
	}
	if len(spans) == 0 {
		return nil
	}
	if hi-lo <= int64(len(spans)) || len(spans) > 2000 { // one slot per bucket, or too many buckets: read the slots
		return s.eachRow(ctx, "agent state rollups", `SELECT slot, state, reason, dur_us FROM report_agent_state_slots
WHERE agent = ? AND slot >= ? AND slot < ?`, []any{agent, lo, hi}, func(rows *sql.Rows) error {
			var (
				slot, dur     int64
				state, reason string
			)
			if err := rows.Scan(&slot, &state, &reason, &dur); err != nil {
				return err
			}
			f[b.slot(slot)].addState(state, reason, time.Duration(dur)*usec)
			return nil
		})
	}
	var q strings.Builder
	args := make([]any, 0, 3*len(spans)+1)
	q.WriteString("WITH b (i, lo, hi) AS (VALUES ")
	for j, sp := range spans {
		if j > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))")
		args = append(args, sp.i, sp.lo, sp.hi)
	}
	q.WriteString(`)
SELECT b.i, r.state, r.reason, CAST(SUM(r.dur_us) AS BIGINT) FROM b
JOIN report_agent_state_slots r ON r.agent = ? AND r.slot >= b.lo AND r.slot < b.hi
GROUP BY b.i, r.state, r.reason`)
	args = append(args, agent)
	return s.eachRow(ctx, "agent state rollups", q.String(), args, func(rows *sql.Rows) error {
		var (
			i, dur        int64
			state, reason string
		)
		if err := rows.Scan(&i, &state, &reason, &dur); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(f)) {
			return fmt.Errorf("bucket %d of %d", i, len(f))
		}
		f[i].addState(state, reason, time.Duration(dur)*usec)
		return nil
	})
}

// rawStateFacts adds an agent's time per state in [lo, hi) from the log. The state in
// force at lo is the last one logged before it.
func (s *Store) rawStateFacts(ctx context.Context, b *buckets, agent string, lo, hi time.Time, f []facts) error {
	if !lo.Before(hi) {
		return nil
	}
	type entry struct {
		at            time.Time
		state, reason string
	}
	var (
		log           []entry
		state, reason string
		at            int64
	)
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT state, reason, at FROM agent_state_log WHERE agent = ? AND at < ?
ORDER BY at DESC, id DESC LIMIT 1`), agent, micros(lo)).Scan(&state, &reason, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("store: report agent states of %q: %w", agent, err)
	default:
		log = append(log, entry{lo, state, reason})
	}
	err = s.eachRow(ctx, "agent states", `SELECT state, reason, at FROM agent_state_log WHERE agent = ? AND at >= ? AND at < ?
ORDER BY at, id`, []any{agent, micros(lo), micros(hi)}, func(rows *sql.Rows) error {
		if err := rows.Scan(&state, &reason, &at); err != nil {
			return err
		}
		log = append(log, entry{fromMicros(at), state, reason})
		return nil
	})
	if err != nil {
		return err
	}
	for i, e := range log {
		stop := hi
		if i+1 < len(log) {
			stop = log[i+1].at
		}
		b.addSpan(f, e.state, e.reason, e.at, stop)
	}
	return nil
}
