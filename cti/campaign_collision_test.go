package cti_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/queue/dialer"
)

// Issue 4, Deliver 9: an outbound contact is locked to at most one agent. These
// tests race the real campaign and call code (no copy): many agents' planning
// steps, accepts and manual dials of the same contact at once. Run with -race.

var lockAgents = []string{"a1", "a2", "a3", "a4", "a5", "a6"}

const lockNumber = "+442079461001"

// outboundOriginates counts the lines ctid originated to far ends (agents here use
// the browser softphone, whose legs are ExternalMedia, not POST /channels).
func outboundOriginates(w *campWorld) int {
	n := 0
	for _, r := range w.emu.Requests() {
		if r.Method == "POST" && r.Path == "/channels" {
			n++
		}
	}
	return n
}

// events lists (agent, call id) of every event named name, over all agents.
func (w *campWorld) eventsNamed(name string) []string {
	w.desk.mu.Lock()
	defer w.desk.mu.Unlock()
	var out []string
	for user, evs := range w.desk.events {
		for _, e := range evs {
			if e["event"] == name {
				out = append(out, fmt.Sprintf("%s:%v", user, e["call_id"]))
			}
		}
	}
	return out
}

// race runs every f at once (released together) and waits for all.
func race(fs ...func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, f := range fs {
		wg.Go(func() {
			<-start
			f()
		})
	}
	close(start)
	wg.Wait()
}

// Preview: six ready agents' planning steps race for one contact: one agent
// previews it. Then that agent's dial races every other agent's accept of the same
// preview and their manual dials of its number: exactly the owner wins, the others
// get not-your-call or contact-locked; one line is originated, one agent connected.
// The lock holds through the call and its wrap-up and is released by the disposition.
func TestOutboundContactLockedToOneAgentPreviewRace(t *testing.T) {
	w := newCampWorld(t, "lk", lockAgents...)
	w.contacts.Set("lk", []cti.CampaignContact{{ID: "c", Name: "Ada", Numbers: []string{lockNumber}, Zone: "Europe/London"},
		// closed at the test's clock: keeps the campaign running once Ada is done
		{ID: "tyo", Numbers: []string{"+81355550100"}, Zone: "Asia/Tokyo"}})
	w.addCampaign(t, cti.CampaignConfig{Name: "Lock", Endpoint: "Local/{digits}@callers", Tick: 20 * time.Millisecond,
		Dialer: dialer.Config{ID: "lk", Mode: dialer.Preview}})
	ctx := w.ctx
	if err := w.orch.CampaignStart(ctx, "lk"); err != nil {
		t.Fatal(err)
	}
	var steps []func()
	for range lockAgents {
		steps = append(steps, func() {
			for range 5 {
				if err := w.orch.StepCampaign(ctx, "lk"); err != nil {
					t.Errorf("step: %v", err)
				}
			}
		})
	}
	race(steps...)
	var previews []string
	for deadline := time.Now().Add(10 * time.Second); len(previews) == 0; previews = w.eventsNamed("campaign.preview") {
		if time.Now().After(deadline) {
			t.Fatal("no preview")
		}
		if err := w.orch.StepCampaign(ctx, "lk"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	race(steps...) // more planning while the contact is previewed
	if previews = w.eventsNamed("campaign.preview"); len(previews) != 1 {
		t.Fatalf("one contact previewed by %d agents: %v", len(previews), previews)
	}
	owner, callID, _ := strings.Cut(previews[0], ":")

	var mu sync.Mutex
	errs := map[string]error{}
	note := func(k string, err error) {
		mu.Lock()
		errs[k] = err
		mu.Unlock()
	}
	fs := []func(){func() { note(owner+" accept", w.orch.Accept(ctx, owner, callID)) }}
	for _, ag := range lockAgents {
		if ag == owner {
			continue
		}
		fs = append(fs,
			func() { note(ag+" accept", w.orch.Accept(ctx, ag, callID)) },
			func() {
				_, err := w.orch.ManualDial(ctx, ag, lockNumber, "lk")
				note(ag+" dial", err)
			})
	}
	race(fs...)
	for k, err := range errs {
		switch {
		case k == owner+" accept":
			if err != nil {
				t.Fatalf("the previewing agent's dial lost: %v", err)
			}
		case strings.HasSuffix(k, " accept"):
			// before the owner dialled: the preview is not theirs; after: the engine
			// never offered them the line
			if !errors.Is(err, cti.ErrNotYourCall) && !errors.Is(err, queue.ErrNotOffered) {
				t.Errorf("%s of another agent's preview: %v", k, err)
			}
		default:
			if !errors.Is(err, cti.ErrContactLocked) || !errors.Is(err, cti.ErrCallState) {
				t.Errorf("%s of a locked contact: %v", k, err)
			}
		}
	}
	w.desk.wait(t, owner, "call.connected", func(e map[string]any) bool { return e["call_id"] == callID })
	if got := w.eventsNamed("call.connected"); len(got) != 1 {
		t.Fatalf("connected: %v", got)
	}
	if n := outboundOriginates(w); n != 1 {
		t.Fatalf("%d lines originated to one contact", n)
	}
	other := lockAgents[0]
	if other == owner {
		other = lockAgents[1]
	}
	if err := w.orch.Hangup(ctx, owner, callID); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, owner, "wrapup.started", nil)
	if _, err := w.orch.ManualDial(ctx, other, lockNumber, "lk"); !errors.Is(err, cti.ErrContactLocked) {
		t.Fatalf("manual dial while the owner wraps the contact up: %v", err)
	}
	if err := w.orch.WrapUpDone(ctx, owner, cti.WrapUpResult{CallID: callID, Disposition: "not_interested"}); err != nil {
		t.Fatal(err)
	}
	id, err := w.orch.ManualDial(ctx, other, lockNumber, "lk")
	if err != nil {
		t.Fatalf("manual dial once the contact is released: %v", err)
	}
	w.desk.wait(t, other, "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
}

// Progressive: the planner (stepped from six goroutines) races six agents manually
// dialling the one contact's number. Whoever is first holds the number; the dialer
// never places a second line to it (a planned line to a number an agent dials is
// reported busy) and every later manual dial is refused: one line, one agent.
func TestOutboundContactLockedToOneAgentDialerVersusManualRace(t *testing.T) {
	w := newCampWorld(t, "lp", lockAgents...)
	w.contacts.Set("lp", []cti.CampaignContact{{ID: "c", Name: "Ada", Numbers: []string{lockNumber}, Zone: "Europe/London"}})
	w.addCampaign(t, cti.CampaignConfig{Name: "Lock", Endpoint: "Local/{digits}@callers", Tick: time.Hour,
		Dialer: dialer.Config{ID: "lp", Mode: dialer.Progressive}})
	ctx := w.ctx
	if err := w.orch.CampaignStart(ctx, "lp"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var won []string
	refused := 0
	var steps, dials []func()
	for _, ag := range lockAgents {
		steps = append(steps, func() {
			for range 3 {
				if err := w.orch.StepCampaign(ctx, "lp"); err != nil {
					t.Errorf("step: %v", err)
				}
			}
		})
		dials = append(dials, func() {
			id, err := w.orch.ManualDial(ctx, ag, lockNumber, "lp")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, ag+":"+id)
			case errors.Is(err, cti.ErrContactLocked):
				refused++
			case errors.Is(err, cti.ErrCallState) && strings.Contains(err.Error(), "owes a disposition"):
				refused++ // the agent the dialer reserved for the contact's line: they hold it already
			default:
				t.Errorf("manual dial by %s: %v", ag, err)
			}
		})
	}
	race(append(steps, dials...)...)
	race(steps...) // the planner again, the number still held
	var connected []string
	for deadline := time.Now().Add(10 * time.Second); len(connected) == 0; connected = w.eventsNamed("call.connected") {
		if time.Now().After(deadline) {
			t.Fatalf("nobody connected; manual winners %v", won)
		}
		time.Sleep(10 * time.Millisecond)
	}
	race(steps...)
	if n := outboundOriginates(w); n != 1 {
		t.Fatalf("%d lines originated to one contact (manual winners %v, refused %d)", n, won, refused)
	}
	if connected = w.eventsNamed("call.connected"); len(connected) != 1 {
		t.Fatalf("connected %v", connected)
	}
	if len(won) > 1 || refused != len(lockAgents)-len(won) {
		t.Fatalf("manual dials: won %v, refused %d", won, refused)
	}
	if len(won) == 1 && won[0] != connected[0] {
		t.Fatalf("the manual winner %v is not the one connected %v", won, connected)
	}
}

// The other order, made certain: an agent dials the contact's number by hand first;
// then the campaign starts and its planner (stepped from six goroutines) picks the
// contact — the planned line is not placed (reported busy, retried later), so the
// contact still has one line and one agent.
func TestOutboundContactManualDialFirstLocksOutTheDialer(t *testing.T) {
	w := newCampWorld(t, "lm", lockAgents...)
	w.contacts.Set("lm", []cti.CampaignContact{{ID: "c", Name: "Ada", Numbers: []string{lockNumber}, Zone: "Europe/London"}})
	w.addCampaign(t, cti.CampaignConfig{Name: "Lock", Endpoint: "Local/{digits}@callers", Tick: time.Hour,
		Dialer: dialer.Config{ID: "lm", Mode: dialer.Progressive}})
	ctx := w.ctx
	id, err := w.orch.ManualDial(ctx, "a1", lockNumber, "lm")
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "a1", "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
	if err := w.orch.CampaignStart(ctx, "lm"); err != nil {
		t.Fatal(err)
	}
	var steps []func()
	for range lockAgents {
		steps = append(steps, func() {
			for range 3 {
				if err := w.orch.StepCampaign(ctx, "lm"); err != nil {
					t.Errorf("step: %v", err)
				}
			}
		})
	}
	race(steps...)
	if n := outboundOriginates(w); n != 1 {
		t.Fatalf("%d lines originated to one number", n)
	}
	if got := w.eventsNamed("call.connected"); len(got) != 1 || got[0] != "a1:"+id {
		t.Fatalf("connected %v", got)
	}
	state, attempts, err := w.orch.CampaignContactState(ctx, "lm", "c")
	if err != nil || attempts != 1 || state != "scheduled" {
		t.Fatalf("contact state %q after %d attempts (%v): want one busy attempt, waiting for its retry", state, attempts, err)
	}
}
