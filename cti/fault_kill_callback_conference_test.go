package cti_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony/ariemu"
)

// ctid dies while anna has a keep-your-place callback in a three-way conference
// with boris: the next run takes the callback over from its mark as after a
// two-party one, and the conference comes back two-party with anna (adopt_parts.go,
// as for an inbound call): boris's leg hung up and he is told, the customer and
// anna's fresh leg alone in the bridge; anna hangs up and wraps up, and the caller's
// one record is closed answered with boris's part, the row done. (Before the fix in
// dropPartiesOfEarlierRun the parties were looked up under the customer's channel id
// "<call>-cb-1" instead of the call id: boris was not told, his part not written,
// and anna's fresh leg reused his leg's id "<call>-agent-2".)
func TestRestartTakesOverCallbackInConference(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna", "boris")
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	const number = "5550000"
	call, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: number, Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the caller queued with music", func() bool { ch, ok := emu.Channel(call); return ok && ch.MOH })
	if err := emu.SendDTMF(call, "1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the caller released after choosing a callback", func() bool { return !contains(emu.ChannelIDs(), call) })
	for _, agent := range []string{"anna", "boris"} {
		if err := run1.orch.AgentLogin(ctx, agent); err != nil {
			t.Fatal(err)
		}
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	conn := run1.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call })
	bridge, _ := conn["bridge_id"].(string)
	if err := run1.orch.AgentReady(ctx, "boris"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.Consult(ctx, "anna", call, "boris"); err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.consult", consultState("connected"))
	run1.desk.wait(t, "boris", "call.connected", func(e map[string]any) bool { return e["consult"] == true })
	if err := run1.orch.EndConsult(ctx, "anna", call, cti.ConsultConference); err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.conference", nil)
	if m := bridgeMembers(emu, bridge); len(m) != 3 || !contains(m, call+"-cb-1") {
		t.Fatalf("conference bridge at the kill %v", m)
	}
	run1.stop()

	run2 := startRunCfg(t, srvURL, qc, cc, db)
	back := run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call && e["restored"] == true })
	if back["direction"] != "callback" || back["bridge_id"] != bridge {
		t.Fatalf("restored call.connected %v", back)
	}
	run2.desk.wait(t, "boris", "call.ended", func(e map[string]any) bool {
		r, _ := e["reason"].(string)
		return e["call_id"] == call && strings.Contains(r, "conference")
	})
	// anna's fresh audio leg gets a leg number above boris's (never his leg's id)
	waitUntil(t, 10*time.Second, "the customer and anna's fresh leg alone in the bridge", func() bool {
		m := bridgeMembers(emu, bridge)
		_, borisUp := emu.Channel(call + "-agent-2")
		return !borisUp && len(m) == 2 && contains(m, call+"-cb-1") && contains(m, call+"-agent-3")
	})
	if err := run2.orch.Hangup(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	run2.desk.wait(t, "anna", "call.ended", func(e map[string]any) bool { return e["call_id"] == call })
	if err := run2.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: call, Disposition: "called back"}); err != nil {
		t.Fatal(err)
	}
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Outcome != "answered" || ix.Cause == "ctid restarted" || ix.Disposition != "called back" {
		t.Fatalf("record of the taken-over conference callback %+v", ix)
	}
	if c := segmentsOf(ix, store.SegConsult); len(c) != 1 || c[0].Agent != "boris" {
		t.Fatalf("boris's part %+v", ix.Segments)
	}
	if cb, err := db.Callback(ctx, call); err != nil || cb.Status != store.CallbackDone || cb.Attempts != 1 {
		t.Fatalf("callback row %+v %v", cb, err)
	}
	oneRecordFor(t, db, number)
}
