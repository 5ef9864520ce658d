package store

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReportRollupsExactBatched: the same churn queued without waiting, so that a
// call's records (and the later contacts that change earlier calls' FCR) share the
// writer's transactions, where withRollup starts from the contribution it kept
// instead of reading it again: the rollups must still equal the interactions.
func TestReportRollupsExactBatched(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		c := e.config(t)
		c.Writer.FlushInterval = time.Minute // batches close at batch_size or Sync only
		c.Writer.BatchSize = 300
		s := mustOpen(t, c)
		rng := rand.New(rand.NewPCG(7, 11))
		start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		enqueue := func(r Record) { require.NoError(t, s.Enqueue(r)) }
		// A call two days before, so that the agent rollups of the range are used.
		old := start.Add(-50 * time.Hour)
		enqueue(Interaction{ID: "old", Direction: Inbound, Queue: "a", Created: old, Queued: old,
			Answered: old.Add(time.Second), Ended: old.Add(time.Minute), Outcome: "answered",
			Segments: []Segment{{Kind: SegTalking, Agent: "x", Start: old.Add(time.Second), End: old.Add(time.Minute)}}})
		rollupChurnWith(t, s, rng, "q", start, 120, enqueue)
		spec := QueueSpec{SLThreshold: 20 * time.Second, ShortAbandon: 5 * time.Second}
		hourly := ReportRequest{From: start, To: start.Add(4 * time.Hour), Interval: IntervalHour, FCRWindow: 10 * time.Minute}
		requireRollupsExact(t, s, hourly, spec)
		require.NoError(t, s.Sync(testCtx(t)))  // the rollups are recounted for these thresholds
		requireRollupsExact(t, s, hourly, spec) // read from the rollups alone
		// More calls from the same numbers while the rollups hold the thresholds: their
		// records change the threshold counts (FCR of earlier contacts) in the batches.
		// Interleaved, as concurrent calls are: a call's next record comes after later
		// contacts from its number were saved.
		var order []string
		byCall := map[string][]Record{}
		rollupChurnWith(t, s, rng, "p", start.Add(10*time.Minute), 90, func(r Record) {
			id := recordCall(t, r)
			if _, seen := byCall[id]; !seen {
				order = append(order, id)
			}
			byCall[id] = append(byCall[id], r)
		})
		// Call k starts at round k/4 and saves one record a round: its answer, transfer,
		// wrap-up and close come after later calls' first saves.
		for round, left := 0, true; left; round++ {
			left = false
			for k, id := range order {
				if rs := byCall[id]; len(rs) > 0 {
					left = true
					if round >= k/4 {
						enqueue(rs[0])
						byCall[id] = rs[1:]
					}
				}
			}
		}
		require.NoError(t, s.Sync(testCtx(t)))
		requireRollupsExact(t, s, hourly, spec)
		st := s.Stats()
		require.Zero(t, st.Rejected, "no record refused")
	})
}

func recordCall(t *testing.T, r Record) string {
	t.Helper()
	switch r := r.(type) {
	case Interaction:
		return r.ID
	case Segment:
		return r.InteractionID
	case InteractionClose:
		return r.ID
	}
	t.Fatalf("unexpected record %T", r)
	return ""
}
