package cti_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/telephony/ariemu"
)

// botDesk is a Notifier whose agents accept every offer at once, hang up after
// hold, and finish wrap-up at once; it measures injection → call.offered.
type botDesk struct {
	w    *world
	hold time.Duration
	ctx  context.Context

	mu        sync.Mutex
	injected  map[string]time.Time
	latencies []time.Duration
	completed int
	wg        sync.WaitGroup
}

func (b *botDesk) Publish(user, event string, f map[string]any) {
	id, _ := f["call_id"].(string)
	switch event {
	case "call.offered":
		b.mu.Lock()
		if t0, ok := b.injected[id]; ok {
			b.latencies = append(b.latencies, time.Since(t0))
		}
		b.mu.Unlock()
		b.wg.Go(func() { _ = b.w.orch.Accept(b.ctx, user, id) })
	case "call.connected":
		b.wg.Go(func() {
			select {
			case <-time.After(b.hold):
			case <-b.ctx.Done():
				return
			}
			_ = b.w.orch.Hangup(b.ctx, user, id)
		})
	case "wrapup.started":
		b.mu.Lock()
		b.completed++
		b.mu.Unlock()
		b.wg.Go(func() { _ = b.w.orch.WrapUpDone(b.ctx, user, cti.WrapUpResult{CallID: id}) })
	}
}

// BenchmarkInboundCallThroughput pushes callers through ctid (emulator → ARI adapter
// → orchestrator → ACD → bot desktops → bridge with an agent leg → hang-up →
// wrap-up) at a fixed offered rate and reports completed calls/s and the offer
// latency (injection to call.offered at the desktop).
func BenchmarkInboundCallThroughput(b *testing.B) {
	for _, rate := range []int{100, 200, 300} {
		b.Run(fmt.Sprintf("offered=%d/s", rate), func(b *testing.B) {
			agents := make([]string, 300)
			for i := range agents {
				agents[i] = fmt.Sprintf("bot%03d", i)
			}
			qc := salesConfig(agents...)
			qc.Queues[0].WrapUp = 0
			w := newWorldB(b, qc)
			bots := &botDesk{w: w, hold: time.Second, ctx: w.ctx, injected: map[string]time.Time{}}
			w.desk.forward(bots)
			for _, a := range agents {
				if err := w.orch.AgentLogin(w.ctx, a); err != nil {
					b.Fatal(err)
				}
				if err := w.orch.AgentReady(w.ctx, a); err != nil {
					b.Fatal(err)
				}
			}
			const seconds = 5
			b.ResetTimer()
			start := time.Now()
			tick := time.NewTicker(time.Second / time.Duration(rate))
			n := 0
			for time.Since(start) < seconds*time.Second {
				<-tick.C
				t0 := time.Now()
				id, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: fmt.Sprint(n), Dialled: "1",
					Args: []string{"inbound", "sales"}, Behaviour: "silence"})
				if err != nil {
					b.Fatal(err)
				}
				bots.mu.Lock()
				bots.injected[id] = t0
				bots.mu.Unlock()
				n++
			}
			tick.Stop()
			window := time.Since(start)
			deadline := time.Now().Add(10 * time.Second)
			for {
				bots.mu.Lock()
				done := bots.completed
				bots.mu.Unlock()
				if done >= n || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			b.StopTimer()
			bots.mu.Lock()
			lat := slices.Clone(bots.latencies)
			done := bots.completed
			bots.mu.Unlock()
			slices.Sort(lat)
			if len(lat) == 0 {
				b.Fatal("no offers")
			}
			// Completed calls over the injection window: the sustained rate when every
			// injected call completed.
			b.ReportMetric(float64(done)/window.Seconds(), "calls/s")
			b.ReportMetric(float64(n), "injected")
			b.ReportMetric(float64(done), "completed")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "offer-p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "offer-p99-ms")
		})
	}
}
