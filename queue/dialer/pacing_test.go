package dialer

import (
	"math"
	"testing"
	"time"
)

func pacing() PacingConfig { return Config{ID: "x"}.WithDefaults().Pacing }

func TestBrake(t *testing.T) {
	p := pacing() // BrakeAt 0.8, TargetShare 0.3, MinSample 100
	cases := []struct {
		rate   float64
		sample int
		want   float64
	}{
		{0, 0, 1},            // no data: the prior (0.9 %) is under 2.4 %
		{0.5, 2, 1},          // 1 abandon of 2 calls: shrunk to ~1.4 %, no brake
		{0.02, 10000, 1},     // 2 % < 2.4 %
		{0.027, 100000, 0.5}, // half-way between 2.4 % and 3 %
		{0.03, 100000, 0},    // at the cap: full brake
		{0.05, 1000, 0},      // over the cap
	}
	for _, c := range cases {
		got := Brake(c.rate, c.sample, 0.03, p)
		if math.Abs(got-c.want) > 0.02 {
			t.Errorf("Brake(%.3f, %d) = %.3f, want %.3f", c.rate, c.sample, got, c.want)
		}
	}
}

func TestPaceTable(t *testing.T) {
	p := pacing()
	// a window with 100,000 live-answered calls and no abandon: the hard budget does
	// not bind and the table shows the model (TestPaceAbandonBudget covers the budget)
	base := PaceInput{ConnectRate: 0.15, Limit: 0.03, MaxLines: 1000, Pacing: p, Answered: 100000}
	cases := []struct {
		name  string
		mod   func(*PaceInput)
		check func(PaceDecision) bool
	}{
		{"no agents: no lines", func(in *PaceInput) {}, func(d PaceDecision) bool { return d.Lines == 0 }},
		{"one agent, 15% connect: a few lines, pooled", func(in *PaceInput) { in.Free = 1 },
			func(d PaceDecision) bool { return d.Lines >= 1 && d.Lines <= 3 && !d.Reserve }},
		{"ten agents: over-dial around 1/p", func(in *PaceInput) { in.Free = 10 },
			func(d PaceDecision) bool { return d.Lines >= 25 && d.Lines <= 70 }},
		{"100 agents: close to A/p", func(in *PaceInput) { in.Free = 100 },
			func(d PaceDecision) bool { return d.Lines >= 450 && d.Lines <= 667 }},
		{"answers in flight cover the agents", func(in *PaceInput) {
			in.Free = 2
			in.InFlight = []float64{0.9, 0.9, 0.9}
			in.Ringing = 3
		}, func(d PaceDecision) bool { return d.Lines == 0 }},
		{"waiting answers use up agents", func(in *PaceInput) { in.Free = 3; in.Waiting = 3 },
			func(d PaceDecision) bool { return d.Lines == 0 }},
		{"soon-free agents add lines", func(in *PaceInput) { in.Free = 10; in.Soon = 10 },
			func(d PaceDecision) bool {
				return d.Lines > Pace(PaceInput{Free: 10, ConnectRate: 0.15, Limit: 0.03, MaxLines: 1000, Pacing: p, Answered: 100000}).Lines
			}},
		{"max lines", func(in *PaceInput) { in.Free = 100; in.MaxLines = 40 },
			func(d PaceDecision) bool { return d.Lines == 40 }},
		{"max lines reached", func(in *PaceInput) { in.Free = 100; in.MaxLines = 40; in.Ringing = 40 },
			func(d PaceDecision) bool { return d.Lines == 0 && d.Reason == "max-lines" }},
		{"half brake: fewer lines", func(in *PaceInput) { in.Free = 10; in.Soon = 10; in.AbandonRate = 0.027; in.Sample = 100000 },
			func(d PaceDecision) bool {
				return d.Brake > 0.4 && d.Brake < 0.6 && d.Lines < Pace(PaceInput{Free: 10, Soon: 10, ConnectRate: 0.15, Limit: 0.03, MaxLines: 1000, Pacing: p, Answered: 100000}).Lines
			}},
		{"full brake: progressive, one reserved line per uncovered agent", func(in *PaceInput) {
			in.Free = 10
			in.AbandonRate = 0.031
			in.Sample = 100000
			in.InFlight = []float64{0.5, 0.5}
			in.Ringing = 2
		}, func(d PaceDecision) bool { return d.Reserve && d.Brake == 0 && d.Lines >= 7 && d.Lines <= 9 }},
	}
	for _, c := range cases {
		in := base
		c.mod(&in)
		d := Pace(in)
		if !c.check(d) {
			t.Errorf("%s: %+v", c.name, d)
		}
	}
}

func TestAbandonBudget(t *testing.T) {
	cases := []struct{ answered, abandons, answers, want int }{
		{0, 0, 0, 0},
		{100, 0, 0, 3},     // 3 % of 100 (no floating-point 2.999…)
		{0, 0, 33, 0},      // 0.99: not one abandon
		{0, 0, 34, 1},      // 1.02
		{1000, 31, 10, -1}, // ⌊30.3⌋ − 31: already over
		{1000, 10, 100, 23},
	}
	for _, c := range cases {
		if got := AbandonBudget(0.03, c.answered, c.abandons, c.answers); got != c.want {
			t.Errorf("AbandonBudget(3%%, %d answered, %d abandons, +%d) = %d, want %d", c.answered, c.abandons, c.answers, got, c.want)
		}
	}
}

// The hard abandon budget: with every pooled line in flight and every new line
// answered at once and only the free agents to take them, the abandons must fit
// within ⌊3 % × (answered in the window + those answers)⌋ − abandons in the window.
func TestPaceAbandonBudget(t *testing.T) {
	p := pacing()
	flight := func(n int, q float64) []float64 {
		qs := make([]float64, n)
		for i := range qs {
			qs[i] = q
		}
		return qs
	}
	cases := []struct {
		name    string
		in      PaceInput
		lines   int
		reserve bool
		worst   int
		budget  int
		reason  string
	}{
		// k over-dialled lines fit while k ≤ ⌊0.03 × (100 + k)⌋: k = 3
		{"first call of the day, 100 agents", PaceInput{Free: 100},
			103, false, 3, 3, "abandon budget"},
		// ⌊0.03 × (10 + k)⌋ = 0 for any small k: no over-dial, reserved lines
		{"first call of the day, 10 agents", PaceInput{Free: 10},
			10, true, 0, 0, "abandon budget: progressive"},
		// k ≤ ⌊0.03 × (1000 + 100 + k)⌋ − 30: k = 3
		{"30 abandons in 1,000 answered", PaceInput{Free: 100, Answered: 1000, Abandons: 30},
			103, false, 3, 3, "abandon budget"},
		// 2 waiting + 20 pooled ringing + n new for 10 agents:
		// k = 12 + n ≤ ⌊0.03 × (1000 + 22 + n)⌋ − 15 → n = 3 (k 15 ≤ 30 − 15)
		{"answers in flight count", PaceInput{Free: 10, Waiting: 2, Ringing: 20, Pooled: 20, InFlight: flight(20, 0.15), Answered: 1000, Abandons: 15},
			3, false, 15, 15, "abandon budget"},
		// 10 pooled lines for 2 agents: 8 possible abandons, budget 0: nothing more
		{"agents left the pooled lines uncovered", PaceInput{Free: 2, Ringing: 10, Pooled: 10, InFlight: flight(10, 0.01)},
			0, false, 8, 0, "abandon budget"},
		// full brake: the reserved lines (one per agent not covered by the expected
		// answers: 10 − ⌈1.2 + 2 × 1.04⌉ = 6) take agents from 12 pooled lines; with
		// n reserved the worst case is 12 − (10 − n) abandons ≤ ⌊0.03 × 112⌋ − 0 = 3
		{"full brake, reserved lines bounded by the budget", PaceInput{Free: 10, Ringing: 12, Pooled: 12, InFlight: flight(12, 0.1), Answered: 100, AbandonRate: 0.031, Sample: 100000},
			1, true, 3, 3, "brake and abandon budget: progressive"},
		// the budget does not bind: the model's own number
		{"large window, no abandon", PaceInput{Free: 10, Answered: 100000},
			-1, false, -1, -1, "model"},
	}
	for _, c := range cases {
		in := c.in
		in.ConnectRate, in.Limit, in.MaxLines, in.Pacing = 0.15, 0.03, 1000, p
		d := Pace(in)
		if d.Reason != c.reason || (c.lines >= 0 && (d.Lines != c.lines || d.Worst != c.worst || d.Budget != c.budget)) || d.Reserve != c.reserve {
			t.Errorf("%s: %+v, want %d lines (reserved %v), worst %d, budget %d, %q", c.name, d, c.lines, c.reserve, c.worst, c.budget, c.reason)
		}
		if d.Lines > 0 && d.Worst > 0 && d.Worst > d.Budget {
			t.Errorf("%s: %d lines placed with worst case %d over the budget %d", c.name, d.Lines, d.Worst, d.Budget)
		}
	}
}

// The exact and the normal overflow agree where both are good, and the exact one is
// 0 when there cannot be more answers than agents.
func TestOverflowModels(t *testing.T) {
	if got := overflowExact(nil, 3, 0.5, 3); got != 0 {
		t.Fatalf("3 lines, 3 agents: overflow %g", got)
	}
	if got := overflowExact([]float64{1, 1}, 0, 0.5, 1); math.Abs(got-0.5) > 1e-9 {
		t.Fatalf("2 certain answers, 1 agent: overflow %g, want 0.5", got)
	}
	// fractional agents interpolate
	lo, mid, hi := overflowExact(nil, 10, 0.5, 4), overflowExact(nil, 10, 0.5, 4.5), overflowExact(nil, 10, 0.5, 5)
	if !(lo > mid && mid > hi) || math.Abs(mid-(lo+hi)/2) > 1e-9 {
		t.Fatalf("interpolation: %g %g %g", lo, mid, hi)
	}
	for _, n := range []int{100, 150, 200} {
		ex := overflowExact(nil, n, 0.15, 30)
		mu, v := float64(n)*0.15, float64(n)*0.15*0.85
		nm := overflow(mu, v, 30)
		if math.Abs(ex-nm) > 0.01 {
			t.Fatalf("n=%d: exact %g vs normal %g", n, ex, nm)
		}
	}
}

func TestAbandonTrackerRollingWindow(t *testing.T) {
	for _, w := range []time.Duration{24 * time.Hour, 30 * 24 * time.Hour} {
		tr := NewAbandonTracker(w)
		t0 := mon
		for i := 0; i < 97; i++ {
			tr.Add(t0.Add(time.Duration(i)*time.Minute), false)
		}
		for i := 0; i < 3; i++ {
			tr.Add(t0.Add(time.Hour), true)
		}
		if a, x := tr.Counts(t0.Add(2 * time.Hour)); a != 100 || x != 3 || tr.Rate(t0.Add(2*time.Hour)) != 0.03 {
			t.Fatalf("window %s: %d/%d", w, x, a)
		}
		// just inside the window: everything counts; a window (+ one bucket) later: nothing
		if a, _ := tr.Counts(t0.Add(w - time.Hour)); a != 100 {
			t.Fatalf("window %s: %d calls just inside the window", w, a)
		}
		// the budget counts only calls certainly still in the exact window a horizon
		// ahead: 10 s before a day later, 10 minutes ahead, the buckets that start
		// before t0 + 9m50s (calls at t0 + 0…9 min) do not count
		if w == 24*time.Hour {
			at := t0.Add(w - 10*time.Second)
			if a := tr.AnsweredAhead(at, 10*time.Minute); a != 90 {
				t.Fatalf("%d calls still in the window 10 min ahead, want 90", a)
			}
			if a, _ := tr.Counts(at); a != 100 {
				t.Fatalf("AnsweredAhead changed the window: %d calls", a)
			}
		}
		if a, x := tr.Counts(t0.Add(w + 2*time.Hour + w/abandonBuckets)); a != 0 || x != 0 {
			t.Fatalf("window %s: %d/%d left after the window", w, x, a)
		}
		if tr.Rate(t0.Add(2*w)) != 0 {
			t.Fatal("empty rate not 0")
		}
	}
}
