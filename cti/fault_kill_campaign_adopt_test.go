package cti_test

import (
	"context"
	"testing"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
)

// ctid dies while anna talks on her manual dial; the next run (manual dial enabled)
// takes the call over from its campaign mark: the customer stays bridged with anna,
// her desktop gets call.connected (restored, with the call's screen-pop fields), the
// engine has her talking; she hangs up, wraps up and records the disposition of
// that attempt; the call has one record, closed once, answered by her.
func TestRestartTakesOverManualDialConnectedAtTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers" // 5550000: the far end answers and talks
	manual := runHooks{orch: func(o *cti.Orchestrator) {
		if err := o.EnableManualDial(func(n string) (string, error) { return n, nil }); err != nil {
			t.Fatal(err)
		}
	}}
	run1 := startRunHooked(t, srvURL, qc, cc, db, manual)
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	const number = "5550000"
	call, err := run1.orch.ManualDial(ctx, "anna", number, "")
	if err != nil {
		t.Fatal(err)
	}
	conn := run1.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call })
	bridge, _ := conn["bridge_id"].(string)
	run1.stop()

	run2 := startRunHooked(t, srvURL, qc, cc, db, manual)
	back := run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call && e["restored"] == true })
	if back["bridge_id"] != bridge || back["direction"] != "outbound" || back["dialled"] != number {
		t.Fatalf("restored call.connected %v", back)
	}
	if m := bridgeMembers(emu, bridge); len(m) != 2 || !contains(m, call) {
		t.Fatalf("campaign bridge after the take-over: %v", m)
	}
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State != queue.Talking || string(a.Call) != call {
		t.Fatalf("anna after the take-over: %+v", a)
	}
	if err := run2.orch.Hangup(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: call, Disposition: "sale", Notes: "after the restart"}); err != nil {
		t.Fatal(err)
	}
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Outcome != "answered" || ix.Cause == "ctid restarted" || ix.Direction != store.Outbound || ix.Answered.IsZero() || ix.Campaign != "_manual" || ix.Disposition != "sale" {
		t.Fatalf("record of the taken-over call %+v", ix)
	}
	if talks := segmentsOf(ix, store.SegTalking); len(talks) != 1 || talks[0].Agent != "anna" || !talks[0].Start.Equal(ix.Answered) {
		t.Fatalf("talking segments %+v (answered %s)", talks, ix.Answered)
	}
	oneRecordFor(t, db, number)
}
