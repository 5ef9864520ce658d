package cti_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/telephony/ariemu"
)

// BenchmarkResyncHundredCalls measures, with 100 calls up (40 talking with their
// RTP, 60 waiting), the time from the emulator cutting the ARI events socket to
// ctid being connected again with the resync done (channels and bridges listed,
// every call told). Target (issue 8): < 2 s. Run with -benchtime 5x.
func BenchmarkResyncHundredCalls(b *testing.B) {
	const talking, waiting = 40, 60
	qc, agents := manyAgents(talking)
	w := newFaultWorld(b, qc, cti.DefaultConfig())
	for _, a := range agents {
		if err := w.orch.AgentLogin(w.ctx, a); err != nil {
			b.Fatal(err)
		}
		if err := w.orch.AgentReady(w.ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	inject := func(n int) []string {
		var ids []string
		for i := range n {
			id, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: fmt.Sprintf("4823%06d", i), Dialled: "800",
				Args: []string{"inbound", "sales"}})
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	for _, id := range inject(talking) {
		var agent string
		waitUntil(b, 20*time.Second, "offer", func() bool {
			for _, a := range agents {
				if w.desk.countFor(a, "call.offered", id) > 0 {
					agent = a
					return true
				}
			}
			return false
		})
		if err := w.orch.Accept(w.ctx, agent, id); err != nil {
			b.Fatal(err)
		}
	}
	inject(waiting)
	waitUntil(b, 20*time.Second, "calls up", func() bool { return len(w.emu.Bridges()) == talking })
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		before := w.cli.Stats().Reconnects
		start := time.Now()
		w.emu.DropEventSockets("ctid")
		waitUntil(b, 20*time.Second, "reconnect", func() bool { return w.cli.Stats().Reconnects > before && w.cli.Ready() })
		// The calls have been told once the engine answers after the Connected event.
		if _, err := w.orch.Snapshot(w.ctx); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/resync")
}
