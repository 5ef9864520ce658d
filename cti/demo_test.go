package cti_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/demo"
)

// The demo traffic on the wired stack: callers arrive, the bot (boris, on a SIP
// device the emulator answers) takes and finishes calls, the human agent who goes
// Ready gets a screen-pop within seconds, the wallboard counts it all, and the demo
// stops with its context.
func TestDemoTrafficBotsAndHumanPop(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.Devices = []cti.AgentDevice{{Agent: "boris", Device: "PJSIP/boris"}}
	cc.Wallboard.Every = 100 * time.Millisecond
	st := newStackCfg(t, nil, cc)
	ctx := st.ctx

	dc := demo.DefaultConfig()
	dc.Traffic, dc.Bots, dc.Seed = true, []string{"boris"}, 42
	dc.Every, dc.Step, dc.MaxWaiting, dc.HumanPop = 400*time.Millisecond, 50*time.Millisecond, 2, 300*time.Millisecond
	dc.TalkMin, dc.TalkMax = 200*time.Millisecond, 400*time.Millisecond
	dc.RingMin, dc.RingMax = 0, 100*time.Millisecond
	dc.WrapMin, dc.WrapMax = 50*time.Millisecond, 100*time.Millisecond
	dc.PatienceMin, dc.PatienceMax = 5*time.Second, 10*time.Second
	dc.BreakChance, dc.BreakMin, dc.BreakMax = 0.5, 100*time.Millisecond, 200*time.Millisecond
	d, err := demo.New(demo.Params{Config: dc, Log: zerolog.Nop(), Callers: st.emu, Agents: st.orch})
	if err != nil {
		t.Fatal(err)
	}
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(dctx) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("demo did not stop within 10s of its context ending")
		}
	}()

	stats := func() demo.Stats {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := d.Stats(sctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	deadline := time.Now().Add(60 * time.Second)
	for s := stats(); s.WrappedUp < 2 || s.Breaks < 1; s = stats() {
		if time.Now().After(deadline) {
			t.Fatalf("the bot finished fewer than 2 calls, or took no break, in 60s: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Back from the break, the bot takes calls again.
	for w, s := stats().WrappedUp, stats(); s.WrappedUp <= w; s = stats() {
		if time.Now().After(deadline) {
			t.Fatalf("the bot did not come back from its break: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The human agent goes Ready and gets a demo caller.
	anna := openDesk(t, ctx, st.web, login(t, st.web, "anna", "secret-anna"))
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready: %v", r)
	}
	pop := anna.event("call.offered", nil)
	call, _ := pop["call_id"].(string)
	if call == "" || pop["queue"] != "sales" || pop["priority"] == nil {
		t.Fatalf("screen-pop %v", pop)
	}
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": call}); r["ok"] != true {
		t.Fatalf("accept: %v", r)
	}
	anna.event("call.connected", nil)
	waitRTPBothWays(t, st.emu, st.udp, call) // the demo caller is audible
	if r := anna.do(ctx, "call.hangup", map[string]any{"call_id": call}); r["ok"] != true {
		t.Fatalf("hangup: %v", r)
	}
	anna.event("wrapup.started", nil)
	if r := anna.do(ctx, "wrapup.done", map[string]any{"call_id": call, "disposition": "resolved"}); r["ok"] != true {
		t.Fatalf("wrapup.done: %v", r)
	}

	// The wallboard counted the bot's calls and anna's.
	sam := openDesk(t, ctx, st.web, login(t, st.web, "sam", "secret-anna"))
	sam.event("queue.stats", func(e map[string]any) bool {
		n, _ := e["answered"].(float64)
		return e["queue"] == "sales" && n >= 3
	})
	s := stats()
	if s.Injected < 3 || s.Accepted < 2 || s.HungUp < 2 || s.MaxWaiting > dc.MaxWaiting+1 || s.Breaks > s.WrappedUp {
		t.Fatalf("demo stats %+v", s)
	}
}
