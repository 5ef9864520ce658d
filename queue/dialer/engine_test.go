package dialer

import (
	"slices"
	"testing"
	"time"

	"github.com/ctid/ctid/queue"
)

// LoadFromEngine reads free, likely-free and busy agents of the campaign from the ACD
// engine, and a progressive dial reserves / releases through the engine's hooks.
func TestLoadFromEngineAndReservation(t *testing.T) {
	wrap := 15 * time.Second
	var ac []queue.AgentConfig
	for _, id := range []queue.AgentID{"a1", "a2", "a3", "x9"} {
		c := queue.AgentConfig{ID: id, WrapUp: &wrap, Campaigns: []string{"c1"}}
		if id == "x9" {
			c.Campaigns = []string{"other"}
		}
		ac = append(ac, c)
	}
	e, err := queue.NewEngine(queue.Config{Agents: ac, DefaultAHT: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := mon
	for _, id := range []queue.AgentID{"a1", "a2", "a3", "x9"} {
		if _, err := e.AgentLogin(now, id); err != nil {
			t.Fatal(err)
		}
		if id != "a3" {
			if _, err := e.AgentReady(now, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := newDialer(t, Config{Mode: Progressive, Windows: alwaysOpen()},
		Contact{ID: "k1", Numbers: []string{"+442070000001"}}, Contact{ID: "k2", Numbers: []string{"+442070000002"}})
	load := LoadFromEngine(e, now, "c1", d.Horizon())
	if !slices.Equal(load.Free, agents("a1", "a2")) || load.LikelyFree != 2 || load.Busy != 0 {
		t.Fatalf("load %+v", load)
	}
	pl := d.Plan(now, load)
	if len(pl.Dials) != 2 {
		t.Fatalf("plan %+v", pl)
	}
	for _, dl := range pl.Dials {
		if _, err := e.DialerReserve(now, queue.CallID(dl.Attempt), dl.Agent); err != nil {
			t.Fatal(err)
		}
	}
	// k1 answers and talks to its agent; k2 is busy and its agent is released.
	now = now.Add(8 * time.Second)
	eff := mustResult(t, d, now, pl.Dials[0].Attempt, Human)
	if eff.Kind != EffConnect {
		t.Fatalf("effect %+v", eff)
	}
	if _, err := e.OfferAccepted(now, queue.CallID(eff.Attempt), eff.Agent); err != nil {
		t.Fatal(err)
	}
	if err := d.Connected(now, eff.Attempt, eff.Agent); err != nil {
		t.Fatal(err)
	}
	eff = mustResult(t, d, now, pl.Dials[1].Attempt, Busy)
	if eff.Kind != EffRetry || eff.Agent == "" {
		t.Fatalf("effect %+v", eff)
	}
	if _, err := e.DialerRelease(now, queue.CallID(eff.Attempt)); err != nil {
		t.Fatal(err)
	}
	load = LoadFromEngine(e, now, "c1", d.Horizon())
	if len(load.Free) != 1 || load.Busy != 1 {
		t.Fatalf("after connect: %+v", load)
	}
	// two minutes into the call the engine counts the talker as likely free soon
	later := now.Add(2 * time.Minute)
	if load := LoadFromEngine(e, later, "c1", d.Horizon()); load.LikelyFree != 2 || load.Busy != 1 {
		t.Fatalf("later: %+v", load)
	}
}
