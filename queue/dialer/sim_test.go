package dialer

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func smallSim(seed uint64) SimConfig {
	return SimConfig{Seed: seed, Agents: 20, Duration: time.Hour}
}

func TestSimulateDeterministic(t *testing.T) {
	a, b := Simulate(smallSim(7)), Simulate(smallSim(7))
	if a.Err != nil || b.Err != nil {
		t.Fatal(a.Err, b.Err)
	}
	if !reflect.DeepEqual(a.Results, b.Results) {
		t.Fatalf("same seed, different results:\n%+v\n%+v", a.Results, b.Results)
	}
	c := Simulate(smallSim(8))
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	if reflect.DeepEqual(a.Results, c.Results) {
		t.Fatal("different seeds, same results")
	}
}

func TestSimulateModes(t *testing.T) {
	r := Simulate(smallSim(1))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(r.Results) != 3 {
		t.Fatalf("results %+v", r.Results)
	}
	pv, pg, pd := r.Results[0], r.Results[1], r.Results[2]
	if pv.Mode != Preview || pg.Mode != Progressive || pd.Mode != Predictive {
		t.Fatalf("modes %v %v %v", pv.Mode, pg.Mode, pd.Mode)
	}
	if pv.Abandons != 0 || pg.Abandons != 0 {
		t.Fatalf("preview / progressive abandoned calls: %d %d", pv.Abandons, pg.Abandons)
	}
	if pd.AbandonPct > 3 {
		t.Fatalf("predictive abandon %.2f%% over the cap", pd.AbandonPct)
	}
	// the hard budget: the rolling rate is within the cap right after every abandon
	// (no agent leaves a simulated floor, so nothing the budget does not cover)
	if pd.MaxRollingPct > 3 {
		t.Fatalf("predictive rolling abandon rate reached %.2f%% at an abandon", pd.MaxRollingPct)
	}
	if !(pd.TalkMinPerHour > pg.TalkMinPerHour && pg.TalkMinPerHour > pv.TalkMinPerHour) {
		t.Fatalf("talk min/h: preview %.1f, progressive %.1f, predictive %.1f", pv.TalkMinPerHour, pg.TalkMinPerHour, pd.TalkMinPerHour)
	}
	for _, m := range r.Results {
		// 15 % of dials reach a person; every conversation fits in the hour
		if m.Dials == 0 || m.Connects == 0 || m.Conversations > m.Connects || m.HandleMinPerHr > 60 || m.IdlePct < 0 || m.IdlePct > 100 {
			t.Fatalf("%s: implausible %+v", m.Mode, m)
		}
		if rate := float64(m.Connects) / float64(m.Dials); rate < 0.11 || rate > 0.19 {
			t.Fatalf("%s: connect rate %.3f, population has 0.15", m.Mode, rate)
		}
	}
	var buf bytes.Buffer
	if err := WriteSimTable(&buf, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"preview", "progressive", "predictive", "talk min/agent-h", "abandon %", "20 agents"} {
		if !strings.Contains(buf.String(), s) {
			t.Fatalf("table lacks %q:\n%s", s, buf.String())
		}
	}
}

// Two hours of a 20-agent predictive floor from an empty window: the first abandons
// come once the budget allows them, and the rolling rate is within the 3 % cap right
// after every one of them.
func TestSimulateCapHoldsAtEveryAbandon(t *testing.T) {
	r := Simulate(SimConfig{Seed: 1, Agents: 20, Duration: 2 * time.Hour, Modes: []Mode{Predictive}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	pd := r.Results[0]
	t.Logf("predictive: %d abandons / %d live answers, max rolling %.2f %%", pd.Abandons, pd.Connects, pd.MaxRollingPct)
	if pd.Abandons == 0 || pd.MaxRollingPct <= 0 {
		t.Fatalf("no abandon in two hours: the budget never let an over-dialled line through: %+v", pd)
	}
	if pd.MaxRollingPct > 3 {
		t.Fatalf("rolling abandon rate %.2f %% right after an abandon: over the 3 %% cap", pd.MaxRollingPct)
	}
}

func TestSimulateBadConfig(t *testing.T) {
	for i, c := range []SimConfig{
		{Agents: -1},
		{Duration: time.Second},
		{ConnectRate: 0.9, MachineRate: 0.5},
		{AnswerDelay: Dist{Kind: Uniform, Min: 5 * time.Second, Max: 30 * time.Second}},
	} {
		r := Simulate(c)
		if !errors.Is(r.Err, ErrInvalidConfig) {
			t.Fatalf("bad sim config %d: %v", i, r.Err)
		}
		if err := RunSim(&bytes.Buffer{}, c); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("RunSim %d: %v", i, err)
		}
	}
}
