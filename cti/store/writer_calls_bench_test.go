package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkWriterCallRecords: the records ctid's call path queues for an inbound
// call answered by a bot agent (as in BenchmarkStandaloneEmulatorThroughput), for
// 200 calls a second of simulated time with each call's records spread over ~1.2 s,
// through the writer with its default batching (SQLite). Reported: the writer's CPU
// per call (this process, getrusage), independent of what else runs on the machine.
// Per call: the arrival save, the ringing, talking, queued and wrap-up segments, the
// answer save, the close, the durable disposition close, and the agent's four state
// entries.
func BenchmarkWriterCallRecords(b *testing.B) {
	c := DefaultConfig()
	c.Path = filepath.Join(b.TempDir(), "ctid.db")
	s, err := Open(context.Background(), c, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	}()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	const perSecond, agents = 200, 300
	// A call's records as ctid queues them, by offset from its arrival.
	type step struct {
		at  time.Duration
		rec func(id, agent string, arrived time.Time) Record
	}
	steps := []step{
		{0, func(id, _ string, a time.Time) Record {
			return Interaction{ID: id, CallID: id, Direction: Inbound, Queue: "sales", CallerNumber: "9" + id, Created: a, Queued: a}
		}},
		{5 * time.Millisecond, func(_, ag string, a time.Time) Record {
			return AgentStateEntry{Agent: ag, State: "ringing", At: a.Add(5 * time.Millisecond)}
		}},
		{30 * time.Millisecond, func(id, ag string, a time.Time) Record {
			return Segment{InteractionID: id, Kind: SegRinging, Agent: ag, Start: a.Add(5 * time.Millisecond), End: a.Add(30 * time.Millisecond)}
		}},
		{30 * time.Millisecond, func(id, _ string, a time.Time) Record {
			return Segment{InteractionID: id, Kind: SegQueued, Start: a, End: a.Add(30 * time.Millisecond)}
		}},
		{90 * time.Millisecond, func(id, _ string, a time.Time) Record {
			return Interaction{ID: id, Direction: Inbound, Created: a, Answered: a.Add(90 * time.Millisecond)}
		}},
		{90 * time.Millisecond, func(_, ag string, a time.Time) Record {
			return AgentStateEntry{Agent: ag, State: "talking", At: a.Add(90 * time.Millisecond)}
		}},
		{1100 * time.Millisecond, func(id, ag string, a time.Time) Record {
			return Segment{InteractionID: id, Kind: SegTalking, Agent: ag, Start: a.Add(90 * time.Millisecond), End: a.Add(1100 * time.Millisecond)}
		}},
		{1100 * time.Millisecond, func(id, _ string, a time.Time) Record {
			return InteractionClose{ID: id, Ended: a.Add(1100 * time.Millisecond), Outcome: "answered", Cause: "agent hung up"}
		}},
		{1100 * time.Millisecond, func(_, ag string, a time.Time) Record {
			return AgentStateEntry{Agent: ag, State: "wrapup", At: a.Add(1100 * time.Millisecond)}
		}},
		{1110 * time.Millisecond, func(id, _ string, _ time.Time) Record { return InteractionClose{ID: id} }},
		{1110 * time.Millisecond, func(id, ag string, a time.Time) Record {
			return Segment{InteractionID: id, Kind: SegWrapUp, Agent: ag, Start: a.Add(1100 * time.Millisecond), End: a.Add(1110 * time.Millisecond)}
		}},
		{1110 * time.Millisecond, func(_, ag string, a time.Time) Record {
			return AgentStateEntry{Agent: ag, State: "ready", At: a.Add(1110 * time.Millisecond)}
		}},
	}
	type pending struct {
		at  time.Duration // simulated time
		rec Record
	}
	n := b.N
	// Simulated time orders the records; they are queued in that order, Sync'd every
	// 200 ms of it (the writer's flush interval) so that batches hold what a real
	// flush would.
	var recs []pending
	for i := range n {
		arrived := time.Duration(i) * time.Second / perSecond
		id := fmt.Sprintf("c%07d", i)
		agent := fmt.Sprintf("bot%03d", i%agents)
		for _, st := range steps {
			recs = append(recs, pending{arrived + st.at, st.rec(id, agent, t0.Add(arrived))})
		}
	}
	sortPending := func(p []pending) { // stable by simulated time
		for i := 1; i < len(p); i++ {
			for j := i; j > 0 && p[j].at < p[j-1].at; j-- {
				p[j], p[j-1] = p[j-1], p[j]
			}
		}
	}
	sortPending(recs)
	b.ResetTimer()
	cpu0 := cpuTime()
	next := 200 * time.Millisecond
	for _, p := range recs {
		if p.at >= next {
			if err := s.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			next += 200 * time.Millisecond
		}
		var err error
		if ic, ok := p.rec.(InteractionClose); ok && ic.Ended.IsZero() {
			err = s.Enqueue(ic) // SaveDurable in ctid; waiting here would split the batch
		} else {
			err = s.Enqueue(p.rec)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e6, "writer-cpu-ms/call")
	b.ReportMetric(0, "ns/op")
}
