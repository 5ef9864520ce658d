package cti_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// The orchestrator writes every agent state change to the store's agent state log
// (the source of occupancy and utilisation in reports).
func TestAgentStatesAreLogged(t *testing.T) {
	w := newWorld(t, salesConfig("anna"))
	start := time.Now().Add(-time.Minute)
	w.ready(t, "anna")
	w.desk.wait(t, "anna", "agent.state", func(e map[string]any) bool { return e["state"] == queue.Ready.String() })
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234567", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.offered", nil)
	if err := w.orch.Accept(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.connected", nil)
	if err := w.orch.Hangup(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "agent.state", func(e map[string]any) bool { return e["state"] == queue.WrapUp.String() })
	if err := w.store.Sync(w.ctx); err != nil {
		t.Fatal(err)
	}
	log, err := w.store.AgentStates(w.ctx, "anna", start, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, e := range log {
		states = append(states, e.State)
	}
	want := "not_ready,ready,reserved,talking,wrap_up"
	if got := strings.Join(states, ","); got != want {
		t.Fatalf("agent state log %s, want %s", got, want)
	}
	if log[0].Reason != "login" {
		t.Fatalf("login entry %+v", log[0])
	}
}
