package dialer

import (
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/queue"
)

// BenchmarkPace: one predictive decision for 100 agents with 600 lines ringing.
func BenchmarkPace(b *testing.B) {
	qs := make([]float64, 600)
	for i := range qs {
		qs[i] = 0.15 * float64(i%20) / 20
	}
	// late in the day: 30,000 live-answered calls in the window, 240 abandons; the
	// budget is checked and does not bind (worst case 588 ≤ ⌊3 % × 30,600⌋ − 240)
	in := PaceInput{Free: 12, Soon: 9.5, Ringing: 600, InFlight: qs, ConnectRate: 0.15, AbandonRate: 0.008, Sample: 30000,
		Limit: 0.03, MaxLines: 2000, Pacing: pacing(), Pooled: 600, Answered: 30000, Abandons: 240}
	b.ReportAllocs()
	for b.Loop() {
		if d := Pace(in); d.Reason == "" {
			b.Fatal("no decision")
		}
	}
}

// BenchmarkPaceSmallTeam: the exact (Poisson-binomial) path, 8 agents, 40 lines ringing.
func BenchmarkPaceSmallTeam(b *testing.B) {
	qs := make([]float64, 40)
	for i := range qs {
		qs[i] = 0.15 * float64(i%20) / 20
	}
	in := PaceInput{Free: 8, Soon: 3, Ringing: 40, InFlight: qs, ConnectRate: 0.15, Limit: 0.03, MaxLines: 500, Pacing: pacing(),
		Pooled: 40, Answered: 5000}
	b.ReportAllocs()
	for b.Loop() {
		Pace(in)
	}
}

// BenchmarkPlan: Dialer.Plan on a 100-agent predictive campaign with lines in
// flight (~300) and 200,000 contacts loaded (selection + pacing + bookkeeping); the lines it
// places are failed at once so that the state stays steady.
func BenchmarkPlan(b *testing.B) {
	cs := make([]Contact, 200000)
	for i := range cs {
		cs[i] = Contact{ID: ContactID("k" + itoa(i)), Numbers: []string{"+4420" + itoa(70000000+i)}}
	}
	d := newDialer(b, Config{Mode: Predictive, Windows: alwaysOpen(), MaxLines: 2000}, cs...)
	now := mon
	all := make([]queue.AgentID, 100)
	for i := range all {
		all[i] = queue.AgentID("a" + itoa(i))
	}
	for range 20000 { // a window with 20,000 live-answered calls: the budget lets ~600 over-dialled lines through
		d.abandon.Add(now.Add(-time.Hour), false)
	}
	if n := len(d.Plan(now, Load{Free: all, LikelyFree: 100}).Dials); n < 250 {
		b.Fatalf("setup placed %d lines", n)
	}
	load := Load{Free: agents("a1", "a2"), LikelyFree: 4, Busy: 98}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(10 * time.Millisecond)
		for _, dl := range d.Plan(now, load).Dials {
			if _, err := d.Result(now, dl.Attempt, Busy); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSimulate: one simulated hour of a 20-agent predictive floor.
func BenchmarkSimulate(b *testing.B) {
	cfg := SimConfig{Seed: 1, Agents: 20, Duration: time.Hour, Modes: []Mode{Predictive}}
	for b.Loop() {
		if r := Simulate(cfg); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkSimulateFloor is the docs/BENCHMARKS.md table: 100 agents, 15 % connect
// rate, 120 s mean talk, 15 s wrap-up, 4 h per mode. Run with -benchtime 1x -v.
func BenchmarkSimulateFloor(b *testing.B) {
	cfg := SimConfig{Seed: 1, Agents: 100, Duration: 4 * time.Hour}
	var sb strings.Builder
	for b.Loop() {
		sb.Reset()
		if err := RunSim(&sb, cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.Log("\n" + sb.String())
}
