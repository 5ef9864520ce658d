package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// rollupChurn saves n inbound calls of queues a and b through the writer the way a
// call goes: created and queued, then answered with segments or abandoned, closed;
// some moved to another queue, some answered earlier on a later save (their wait
// shrinks), numbers shared so that later contacts change earlier calls' FCR, saved
// in shuffled order.
func rollupChurn(t *testing.T, s *Store, rng *rand.Rand, prefix string, start time.Time, n int) {
	t.Helper()
	ctx := testCtx(t)
	rollupChurnWith(t, s, rng, prefix, start, n, func(r Record) { require.NoError(t, s.SaveDurable(ctx, r)) })
}

// rollupChurnWith is rollupChurn with each record handed to save.
func rollupChurnWith(t *testing.T, s *Store, rng *rand.Rand, prefix string, start time.Time, n int, save func(Record)) {
	t.Helper()
	ctx := testCtx(t)
	for _, i := range rng.Perm(n) {
		id := fmt.Sprintf("%s%03d", prefix, i)
		created := start.Add(time.Duration(i)*97*time.Second + time.Duration(rng.IntN(1000))*time.Millisecond)
		q := []string{"a", "b"}[i%2]
		num := fmt.Sprintf("+4860%d", rng.IntN(8))
		if i%9 == 0 {
			num = ""
		}
		save(Interaction{ID: id, Direction: Inbound, Queue: q, CallerNumber: num,
			Created: created, Queued: created})
		wait := time.Duration(rng.IntN(40_000)) * time.Millisecond
		switch {
		case i%5 == 0: // abandoned
			save(InteractionClose{ID: id, Ended: created.Add(wait), Outcome: "abandoned"})
		case i%7 == 3: // still waiting
		default:
			ans := created.Add(wait)
			if i%8 == 2 { // first saved with the longest wait of its slot
				ans = ans.Add(5 * time.Minute)
			}
			if i%6 == 1 { // moved to the other queue when answered
				q = []string{"b", "a"}[i%2]
			}
			agent := []string{"x", "y"}[i%3%2]
			segs := []Segment{{Kind: SegRinging, Agent: agent, Start: ans.Add(-3 * time.Second), End: ans},
				{Kind: SegTalking, Agent: agent, Start: ans, End: ans.Add(time.Minute)}}
			if i%4 == 0 {
				segs = append(segs, Segment{Kind: SegHold, Agent: agent, Start: ans.Add(10 * time.Second), End: ans.Add(20 * time.Second)})
			}
			if i%5 == 1 { // the call goes to another agent
				other := []string{"y", "x"}[i%3%2]
				segs = append(segs, Segment{Kind: SegRinging, Agent: other, Start: ans.Add(30 * time.Second), End: ans.Add(35 * time.Second)},
					Segment{Kind: SegTalking, Agent: other, Start: ans.Add(35 * time.Second), End: ans.Add(time.Minute)})
			}
			save(Interaction{ID: id, Direction: Inbound, Queue: q, Created: created,
				Answered: ans, Segments: segs})
			if i%8 == 2 { // the answer time corrected: the wait shrinks; sometimes the queue too
				if i%3 == 0 {
					q = []string{"b", "a"}[i%2]
				}
				save(Interaction{ID: id, Direction: Inbound, Queue: q, Created: created,
					Answered: created.Add(wait / 3)})
			}
			save(Segment{InteractionID: id, Kind: SegTransfer, Agent: agent,
				Start: ans.Add(time.Minute), End: ans.Add(time.Minute)})
			save(Segment{InteractionID: id, Kind: SegWrapUp, Agent: agent,
				Start: ans.Add(time.Minute)})
			save(InteractionClose{ID: id, Ended: ans.Add(2 * time.Minute), Outcome: "answered"})
			// Records that leave the rollups as they are (withRollup skipped): the
			// queued stretch, a consultation, the disposition after wrap-up.
			save(Segment{InteractionID: id, Kind: SegQueued, Start: created, End: ans})
			save(Segment{InteractionID: id, Kind: SegConsult, Agent: agent, Start: ans.Add(40 * time.Second),
				End: ans.Add(50 * time.Second)})
			save(InteractionClose{ID: id, Disposition: "sale", Notes: "called back"})
		}
	}
	require.NoError(t, s.Sync(ctx))
}

// requireRollupsExact compares each queue's call facts read through the rollups with
// the same facts counted from the interactions alone, for one request.
func requireRollupsExact(t *testing.T, s *Store, req ReportRequest, spec QueueSpec) {
	t.Helper()
	ctx := testCtx(t)
	for _, q := range []string{"a", "b"} {
		spec.Queue = q
		b, err := newBuckets(req, 1)
		require.NoError(t, err)
		from, to := b.rangeArgs()
		got, want := make([]facts, len(b.starts)), make([]facts, len(b.starts))
		require.NoError(t, s.callFacts(ctx, b, &spec, from, to, req.FCRWindow, got))
		th := thresholds{sl: spec.SLThreshold.Microseconds(), short: spec.ShortAbandon.Microseconds(), fcr: req.FCRWindow.Microseconds()}
		require.NoError(t, s.rawCallFacts(ctx, b, q, from, to, th, want))
		require.Equal(t, want, got, "queue %s, %s %s..%s", q, req.Interval, req.From, req.To)
		var offered int
		for _, x := range want {
			offered += x.offered
		}
		require.Positive(t, offered, "queue %s has calls in the range", q)
	}
	for _, agent := range []string{"x", "y"} {
		b, err := newBuckets(req, 1)
		require.NoError(t, err)
		from, to := b.rangeArgs()
		got, want := make([]facts, len(b.starts)), make([]facts, len(b.starts))
		require.NoError(t, s.agentCallFacts(ctx, b, agent, from, to, req.FCRWindow, got))
		require.NoError(t, s.rawAgentFacts(ctx, b, agent, from, to, req.FCRWindow, want))
		require.Equal(t, want, got, "agent %s, %s %s..%s", agent, req.Interval, req.From, req.To)
		var answered int
		for _, x := range want {
			answered += x.answered
		}
		require.Positive(t, answered, "agent %s has calls in the range", agent)
	}
}

func TestReportRollupsExact(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		c := e.config(t)
		c.Retention.InteractionsDays = 1
		s := mustOpen(t, c)
		ctx := testCtx(t)
		rng := rand.New(rand.NewPCG(3, 5))
		start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		// A call two days before: the agent rollups of the range are then trusted
		// (more than purgeMargin after the oldest call).
		old := start.Add(-50 * time.Hour)
		require.NoError(t, s.SaveDurable(ctx, Interaction{ID: "old", Direction: Inbound, Queue: "a", Created: old,
			Queued: old, Answered: old.Add(time.Second), Ended: old.Add(time.Minute), Outcome: "answered",
			Segments: []Segment{{Kind: SegTalking, Agent: "x", Start: old.Add(time.Second), End: old.Add(time.Minute)}}}))
		rollupChurn(t, s, rng, "r", start, 120) // 09:00 to ~12:15
		spec := QueueSpec{SLThreshold: 20 * time.Second, ShortAbandon: 5 * time.Second}
		hourly := ReportRequest{From: start, To: start.Add(4 * time.Hour), Interval: IntervalHour, FCRWindow: time.Hour}
		// A custom range with partial 15-minute slots at both ends.
		custom := ReportRequest{From: start.Add(7 * time.Minute), To: start.Add(3*time.Hour + 2*time.Minute),
			Interval: IntervalRange, FCRWindow: time.Hour}
		for _, req := range []ReportRequest{hourly, custom} {
			requireRollupsExact(t, s, req, spec) // thresholds not counted yet: from the interactions
			require.NoError(t, s.Sync(ctx))
			requireRollupsExact(t, s, req, spec) // recounted by the writer
		}
		// Other thresholds, then more traffic while the rollups hold these.
		spec2 := QueueSpec{SLThreshold: 30 * time.Second, ShortAbandon: 3 * time.Second}
		hourly.FCRWindow = 30 * time.Minute
		requireRollupsExact(t, s, hourly, spec2)
		require.NoError(t, s.Sync(ctx))
		rollupChurn(t, s, rng, "s", start.Add(20*time.Minute), 90)
		requireRollupsExact(t, s, hourly, spec2)
		// The retention purge cuts the range in the middle of a slot.
		now := start.Add(24*time.Hour + 100*time.Minute + 30*time.Second)
		res, err := s.Purge(ctx, now)
		require.NoError(t, err)
		require.Positive(t, res.Interactions)
		requireRollupsExact(t, s, hourly, spec2)
	})
}

// TestRollupBackfill: a version-4 database with calls in it gets its rollups from
// migration 0005, equal to counting the interactions.
func TestRollupBackfill(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		ctx := testCtx(t)
		old, err := open(ctx, cfg, zerolog.Nop(), 4)
		require.NoError(t, err)
		start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		for i := range 40 {
			created := start.Add(time.Duration(i) * 7 * time.Minute)
			if i == 0 { // two days before: the agent rollups of the range are trusted
				created = start.Add(-50 * time.Hour)
			}
			wait := time.Duration(i%9) * 4 * time.Second
			answered, outcome := any(micros(created.Add(wait))), "answered"
			if i%4 == 0 {
				answered, outcome = nil, "abandoned"
			}
			var next any
			if i%3 == 0 {
				next = micros(created.Add(time.Duration(i) * time.Minute))
			}
			_, err := old.db.ExecContext(ctx, old.d.q(`INSERT INTO interactions (id, direction, queue, caller_number,
    created_at, queued_at, answered_at, ended_at, outcome, connected_us, hold_us, wrapup_us, transfers, next_contact_at)
VALUES (?, 'inbound', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), fmt.Sprintf("v%d", i), []string{"a", "b"}[i%2],
				fmt.Sprintf("+4861%d", i%5), micros(created), micros(created), answered, micros(created.Add(wait+time.Minute)),
				outcome, int64(i)*1_000_000, int64(i%3)*1_000_000, int64(i%2)*1_000_000, i%2, next)
			require.NoError(t, err)
			if answered != nil {
				for seq, kind := range []string{"ringing", "talking", "wrapup"} {
					_, err := old.db.ExecContext(ctx, old.d.q(`INSERT INTO interaction_segments (interaction_id, seq, kind, agent,
    started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)`), fmt.Sprintf("v%d", i), seq+1, kind, []string{"x", "y"}[i%3%2],
						micros(created.Add(wait+time.Duration(seq)*time.Second)), micros(created.Add(wait+time.Duration(seq+1)*time.Second)))
					require.NoError(t, err)
				}
			}
		}
		require.NoError(t, old.Close())
		s := mustOpen(t, cfg)
		spec := QueueSpec{SLThreshold: 20 * time.Second, ShortAbandon: 5 * time.Second}
		req := ReportRequest{From: start, To: start.Add(5 * time.Hour), Interval: Interval15Min, FCRWindow: 10 * time.Minute}
		requireRollupsExact(t, s, req, spec)
		require.NoError(t, s.Sync(ctx))
		requireRollupsExact(t, s, req, spec)
	})
}

// TestPurgeDropsCachedContributions: the writer keeps what an interaction adds to
// the rollups from one transaction to the next (contribCache), and each agent's
// latest state entry (lastStateCache); the retention purge deletes rows behind its
// back, so the next commit starts without them.
func TestPurgeDropsCachedContributions(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		c := e.config(t)
		c.Retention.InteractionsDays = 1
		s := mustOpen(t, c)
		ctx := testCtx(t)
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		save := func(id string, created time.Time) { // numbers differ: no FCR link drops p1
			require.NoError(t, s.SaveDurable(ctx, Interaction{ID: id, Direction: Inbound, Queue: "a", CallerNumber: "+48601" + id,
				Created: created, Queued: created}))
		}
		save("p1", at)
		require.NoError(t, s.SaveDurable(ctx, AgentStateEntry{Agent: "x", State: "ready", At: at}))
		// SaveDurable returns after the writer's commit: what it kept is visible here.
		_, kept := s.lastStates.get("x")
		require.True(t, kept, "the agent's latest state entry is kept")
		_, kept = s.contribs.get("p1")
		require.True(t, kept, "the contribution is kept for the interaction's next change")
		save("p2", at.Add(time.Minute))
		_, kept = s.contribs.get("p1")
		require.True(t, kept, "kept across transactions")
		res, err := s.Purge(ctx, at.Add(25*time.Hour))
		require.NoError(t, err)
		require.EqualValues(t, 2, res.Interactions)
		save("p3", at.Add(26*time.Hour))
		for _, id := range []string{"p1", "p2"} {
			_, kept = s.contribs.get(id)
			require.False(t, kept, "%s was purged: its cached contribution is dropped", id)
		}
		_, kept = s.contribs.get("p3")
		require.True(t, kept)
		_, kept = s.lastStates.get("x")
		require.False(t, kept, "the agent's state log may have been purged")
	})
}
