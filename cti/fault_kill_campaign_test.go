package cti_test

import (
	"context"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// ctid dies while anna talks on a manual-dial campaign call, and the next run has
// manual dial off: the call's campaign is gone, so it cannot be taken over
// (campaign_adopt.go) and the fallback ends it cleanly (adopt_outbound.go) — both
// legs hung up, the bridge destroyed, anna told, the record closed once with the
// cause "ctid restarted" and her talking segment — and anna can take calls again.
func TestRestartEndsCampaignCallConnectedAtTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers" // 5550000: the far end answers and talks
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	if err := run1.orch.EnableManualDial(func(n string) (string, error) { return n, nil }); err != nil {
		t.Fatal(err)
	}
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
	if m := bridgeMembers(emu, bridge); len(m) != 2 || !contains(m, call) {
		t.Fatalf("campaign bridge after the kill: %v", m)
	}

	run2 := startRunCfg(t, srvURL, qc, cc, db)
	run2.desk.wait(t, "anna", "call.ended", func(e map[string]any) bool {
		return e["call_id"] == call && e["reason"] == "ctid restarted"
	})
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Cause != "ctid restarted" || ix.Outcome != "answered" || ix.Direction != store.Outbound || ix.Answered.IsZero() {
		t.Fatalf("record of the campaign call %+v", ix)
	}
	if talks := segmentsOf(ix, store.SegTalking); len(talks) != 1 || talks[0].Agent != "anna" || talks[0].End.IsZero() {
		t.Fatalf("talking segments %+v", talks)
	}
	oneRecordFor(t, db, number)
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State == queue.Talking || a.State == queue.OnHold || a.Call != "" {
		t.Fatalf("anna after the restart: %+v", a)
	}
	// anna takes an inbound call on the new run as usual.
	talk, _ := annaTalking(t, run2, emu, "810")
	if err := run2.orch.Hangup(ctx, "anna", talk); err != nil {
		t.Fatal(err)
	}
	if ix := closedRecord(t, db, talk); ix.Outcome != "answered" {
		t.Fatalf("inbound record after the restart %+v", ix)
	}
	noChannelsLeft(t, emu)
}

// ctid dies while a campaign line rings (the far end answers 3 s after the dial);
// the answer reaches the next run, which does not know the line: the customer gets
// the fallback (hung up) and the record the dead run opened is closed, abandoned
// with the cause "ctid restarted" (adopt_outbound.go) instead of staying open.
func TestRestartClosesCampaignLineAnsweredAfterTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers" // 5550008: answers after 3 s
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	if err := run1.orch.EnableManualDial(func(n string) (string, error) { return n, nil }); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	const number = "5550008"
	call, err := run1.orch.ManualDial(ctx, "anna", number, "")
	if err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == call })
	waitUntil(t, 10*time.Second, "the line ringing", func() bool { _, ok := emu.Channel(call); return ok })
	waitUntil(t, 10*time.Second, "the record stored", func() bool {
		if err := db.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := db.Interaction(ctx, call)
		return err == nil
	})
	run1.stop()

	startRunCfg(t, srvURL, qc, cc, db)
	ix := closedRecord(t, db, call)
	if ix.Cause != "ctid restarted" || ix.Outcome != "abandoned" || ix.Direction != store.Outbound {
		t.Fatalf("record of the line answered after the restart %+v", ix)
	}
	oneRecordFor(t, db, number)
	noChannelsLeft(t, emu)
}

// callbackAtTheKill: anna talks on a keep-your-place callback (the caller queued,
// pressed 1, hung up, and was called back once anna went ready) when run1 is
// killed (after, if given, before(call id) ran); it returns the call id and the
// callback's bridge.
func callbackAtTheKill(t *testing.T, emu *ariemu.Emulator, run1 *ctidRun, number string, before ...func(string)) (string, string) {
	t.Helper()
	ctx := context.Background()
	caller, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: number, Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the caller queued with music", func() bool { ch, ok := emu.Channel(caller); return ok && ch.MOH })
	if err := emu.SendDTMF(caller, "1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the caller released after choosing a callback", func() bool { return !contains(emu.ChannelIDs(), caller) })
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	conn := run1.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == caller })
	bridge, _ := conn["bridge_id"].(string)
	for _, f := range before {
		f(caller)
	}
	run1.stop()
	if m := bridgeMembers(emu, bridge); len(m) != 2 || !contains(m, caller+"-cb-1") {
		t.Fatalf("callback bridge after the kill: %v", m)
	}
	return caller, bridge
}

// ctid dies while anna talks on a keep-your-place callback (no Stasis arguments):
// the next run takes it over from its callback mark — anna Talking on it again in
// the engine, her desktop told call.connected (restored, direction callback), the
// bridge untouched; she hangs up and wraps up as after any queue call, and the
// caller's one record is continued and closed answered, not "ctid restarted".
func TestRestartTakesOverCallbackConnectedAtTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	const number = "5550000"
	call, bridge := callbackAtTheKill(t, emu, run1, number)

	run2 := startRunCfg(t, srvURL, qc, cc, db)
	back := run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call && e["restored"] == true })
	if back["bridge_id"] != bridge || back["direction"] != "callback" || back["caller_number"] != number || back["queue"] != "sales" {
		t.Fatalf("restored call.connected %v", back)
	}
	if m := bridgeMembers(emu, bridge); len(m) != 2 || !contains(m, call+"-cb-1") {
		t.Fatalf("callback bridge after the take-over: %v", m)
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
	run2.desk.wait(t, "anna", "call.ended", func(e map[string]any) bool { return e["call_id"] == call })
	s, err = run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State != queue.WrapUp {
		t.Fatalf("anna after hanging up the taken-over callback: %+v", a)
	}
	if err := run2.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: call, Disposition: "called back", Notes: "after the restart"}); err != nil {
		t.Fatal(err)
	}
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Outcome != "answered" || ix.Cause == "ctid restarted" || ix.Direction != store.Inbound || ix.Queue != "sales" ||
		ix.Answered.IsZero() || ix.Disposition != "called back" {
		t.Fatalf("record of the taken-over callback %+v", ix)
	}
	if cb, err := db.Callback(ctx, call); err != nil || cb.Status != store.CallbackDone || cb.Completed.IsZero() || cb.Attempts != 1 {
		t.Fatalf("callback row of the taken-over callback %+v %v", cb, err) // done: not for the sweep
	}
	if talks := segmentsOf(ix, store.SegTalking); len(talks) != 1 || talks[0].Agent != "anna" || !talks[0].Start.Equal(ix.Answered) {
		t.Fatalf("talking segments %+v (answered %s)", talks, ix.Answered)
	}
	oneRecordFor(t, db, number)
}

// ctid dies while anna holds a keep-your-place callback: the next run takes it over
// on hold — call.held with the original held_since, the customer still hearing
// music, anna on_hold in the engine; unhold and hang-up work, and the record has one
// hold segment from the original hold start.
func TestRestartTakesOverCallbackOnHold(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	const number = "5550000"
	var before time.Time
	hold := func(call string) {
		before = time.Now()
		if err := run1.orch.Hold(ctx, "anna", call); err != nil {
			t.Fatal(err)
		}
		run1.desk.wait(t, "anna", "call.held", nil)
	}
	call, _ := callbackAtTheKill(t, emu, run1, number, hold)

	run2 := startRunCfg(t, srvURL, qc, cc, db)
	run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call && e["restored"] == true })
	held := run2.desk.wait(t, "anna", "call.held", func(e map[string]any) bool { return e["call_id"] == call })
	hs, _ := held["held_since"].(string)
	since, err := time.Parse(time.RFC3339Nano, hs)
	if err != nil || since.Before(before) || since.After(time.Now()) {
		t.Fatalf("held_since %v %v", held["held_since"], err)
	}
	if ch, _ := emu.Channel(call + "-cb-1"); !ch.MOH {
		t.Fatalf("the customer hears no music after the take-over: %+v", ch)
	}
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State != queue.OnHold || string(a.Call) != call {
		t.Fatalf("anna after the take-over: %+v", a)
	}
	if err := run2.orch.Unhold(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.Hangup(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Outcome != "answered" || ix.Cause == "ctid restarted" {
		t.Fatalf("record of the taken-over callback %+v", ix)
	}
	if hs := segmentsOf(ix, store.SegHold); len(hs) != 1 || !hs[0].Start.Equal(since.Truncate(time.Microsecond)) {
		t.Fatalf("hold segments %+v (held since %s)", hs, since)
	}
	oneRecordFor(t, db, number)
}

// The fallback: ctid dies while anna talks on a keep-your-place callback, and the
// next run does not know anna (she cannot be restored onto it): it ends the call
// cleanly — the customer's "-cb-" leg and anna's leg hung up, the bridge destroyed,
// the caller's one record closed with the cause "ctid restarted".
func TestRestartEndsCallbackWhoseAgentIsGone(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	run1 := startRunCfg(t, srvURL, salesConfig("anna"), cc, db)
	const number = "5550000"
	call, _ := callbackAtTheKill(t, emu, run1, number)

	startRunCfg(t, srvURL, salesConfig("boris"), cc, db)
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Cause != "ctid restarted" || ix.Outcome != "answered" {
		t.Fatalf("record of the callback %+v", ix)
	}
	if talks := segmentsOf(ix, store.SegTalking); len(talks) != 1 || talks[0].Agent != "anna" {
		t.Fatalf("talking segments %+v", talks)
	}
	oneRecordFor(t, db, number)
}

// ctid dies after a campaign customer answered and was bridged but while boris's SIP
// phone still rings (no agent mark yet): the next run hangs up the customer and the
// ringing agent leg, destroys the bridge and closes the record abandoned, cause
// "ctid restarted" — the customer is not left alone in a bridge.
func TestRestartEndsCampaignCallWhoseAgentPhoneRang(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("boris")
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers"                            // 5550000: the far end answers and talks
	cc.Devices = []cti.AgentDevice{{Agent: "boris", Device: "PJSIP/5550002"}} // rings, never answers
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	if err := run1.orch.EnableManualDial(func(n string) (string, error) { return n, nil }); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentLogin(ctx, "boris"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "boris"); err != nil {
		t.Fatal(err)
	}
	const number = "5550000"
	call, err := run1.orch.ManualDial(ctx, "boris", number, "")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the customer bridged, boris's phone ringing", func() bool {
		ch, ok := emu.Channel(call)
		_, ringing := emu.Channel(call + "-agent")
		return ok && ch.Bridge != "" && ringing
	})
	run1.stop()

	startRunCfg(t, srvURL, qc, cc, db)
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Cause != "ctid restarted" || ix.Outcome != "abandoned" {
		t.Fatalf("record of the campaign call %+v", ix)
	}
	oneRecordFor(t, db, number)
}
