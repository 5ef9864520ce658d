package cti_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// Restart fidelity for calls that were not simply talking when ctid died: a call on
// hold, a consultation in progress and a three-way conference (adopt_parts.go).

// closedRecord waits for the interaction of call to be closed in db and returns it.
func closedRecord(t *testing.T, db *store.Store, call string) store.Interaction {
	t.Helper()
	ctx := context.Background()
	var ix store.Interaction
	waitUntil(t, 10*time.Second, "the interaction closed", func() bool {
		if err := db.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var err error
		ix, err = db.Interaction(ctx, call)
		return err == nil && !ix.Ended.IsZero()
	})
	return ix
}

// segmentsOf counts the interaction's segments of kind.
func segmentsOf(ix store.Interaction, kind store.SegmentKind) []store.Segment {
	var out []store.Segment
	for _, sg := range ix.Segments {
		if sg.Kind == kind {
			out = append(out, sg)
		}
	}
	return out
}

// noChannelsLeft waits until the emulator holds no channel and no bridge.
func noChannelsLeft(t *testing.T, emu *ariemu.Emulator) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(emu.ChannelIDs()) > 0 || len(emu.Bridges()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("left in the emulator: channels %v, bridges %+v", emu.ChannelIDs(), emu.Bridges())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// oneRecordFor checks that the caller from number has exactly one interaction.
func oneRecordFor(t *testing.T, db *store.Store, number string) {
	t.Helper()
	if list, err := db.InteractionsByNumber(context.Background(), number, 10); err != nil || len(list) != 1 {
		t.Fatalf("records for %s: %d %v", number, len(list), err)
	}
}

// A call on hold when ctid dies comes back on hold: the caller still hears music,
// anna's desktop is told the call is held (with the original hold start), the
// engine has her on hold; unhold works and the record's hold segment starts at the
// original hold.
func TestRestartRestoresHeldCallOnHold(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	run1 := startRun(t, srvURL, qc, db)
	talk, bridge := annaTalking(t, run1, emu, "600")
	before := time.Now()
	if err := run1.orch.Hold(ctx, "anna", talk); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	run1.desk.wait(t, "anna", "call.held", nil)
	time.Sleep(100 * time.Millisecond) // some hold time before the stop
	run1.stop()

	run2 := startRun(t, srvURL, qc, db)
	run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == talk && e["restored"] == true })
	held := run2.desk.wait(t, "anna", "call.held", func(e map[string]any) bool { return e["call_id"] == talk })
	since, err := time.Parse(time.RFC3339Nano, held["held_since"].(string))
	if err != nil || since.Before(before) || since.After(after) {
		t.Fatalf("held_since %v (%v), hold was asked between %v and %v", held["held_since"], err, before, after)
	}
	if ch, ok := emu.Channel(talk); !ok || !ch.MOH || ch.Bridge != bridge {
		t.Fatalf("caller after the restart %+v %v: want music on hold, in bridge %s", ch, ok, bridge)
	}
	waitUntil(t, 10*time.Second, "anna on hold in the engine, her audio on a fresh leg", func() bool {
		s, err := run2.orch.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := bridgeMembers(emu, bridge)
		return agentState(s, "anna").State == queue.OnHold && len(m) == 2 && contains(m, talk+"-agent-2")
	})
	// A second hold is refused (the call is held), unhold works.
	if err := run2.orch.Hold(ctx, "anna", talk); err == nil {
		t.Fatal("hold of a held call accepted after the restart")
	}
	if err := run2.orch.Unhold(ctx, "anna", talk); err != nil {
		t.Fatalf("unhold after the restart: %v", err)
	}
	run2.desk.wait(t, "anna", "call.unheld", func(e map[string]any) bool { return e["call_id"] == talk })
	if ch, _ := emu.Channel(talk); ch.MOH {
		t.Fatal("the caller still hears music after unhold")
	}
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State != queue.Talking {
		t.Fatalf("anna after unhold: %+v", a)
	}
	if err := run2.orch.Hangup(ctx, "anna", talk); err != nil {
		t.Fatal(err)
	}
	run2.desk.wait(t, "anna", "wrapup.started", nil)
	ix := closedRecord(t, db, talk)
	holds := segmentsOf(ix, store.SegHold)
	if len(holds) != 1 || !holds[0].Start.Equal(since.Truncate(time.Microsecond)) || holds[0].End.Sub(holds[0].Start) < 100*time.Millisecond || holds[0].Agent != "anna" {
		t.Fatalf("hold segments %+v, want one from %v", holds, since)
	}
	if len(segmentsOf(ix, store.SegTalking)) != 1 || ix.Outcome != "answered" {
		t.Fatalf("record %+v", ix)
	}
	oneRecordFor(t, db, "600")
	noChannelsLeft(t, emu)
}

// annaConsultsBoris puts anna on a call from number and into a consultation with
// boris (both browser agents); it returns the call and its bridge.
func annaConsultsBoris(t *testing.T, run *ctidRun, emu *ariemu.Emulator, number string) (string, string) {
	t.Helper()
	ctx := context.Background()
	talk, bridge := annaTalking(t, run, emu, number)
	if err := run.orch.AgentLogin(ctx, "boris"); err != nil {
		t.Fatal(err)
	}
	if err := run.orch.AgentReady(ctx, "boris"); err != nil {
		t.Fatal(err)
	}
	if err := run.orch.Consult(ctx, "anna", talk, "boris"); err != nil {
		t.Fatal(err)
	}
	run.desk.wait(t, "anna", "call.consult", consultState("connected"))
	run.desk.wait(t, "boris", "call.connected", func(e map[string]any) bool { return e["consult"] == true })
	return talk, bridge
}

// ctid dies while anna consults boris (the caller on hold): the next run ends the
// consultation as if boris had hung up — his leg and the consultation bridge go,
// he is told — and anna is back with the caller, who is still on hold; she can
// unhold and hang up as usual. One record, with boris's consultation segment.
func TestRestartDuringConsultationReturnsAgentToHeldCaller(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna", "boris")
	run1 := startRun(t, srvURL, qc, db)
	talk, bridge := annaConsultsBoris(t, run1, emu, "700")
	consultLeg := talk + "-agent-2"
	if _, ok := emu.Channel(consultLeg); !ok {
		t.Fatalf("no consultation leg %s among %v", consultLeg, emu.ChannelIDs())
	}
	time.Sleep(100 * time.Millisecond)
	run1.stop()

	run2 := startRun(t, srvURL, qc, db)
	run2.desk.wait(t, "anna", "call.consult", func(e map[string]any) bool { return e["call_id"] == talk && e["state"] == "ended" })
	run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == talk && e["restored"] == true })
	run2.desk.wait(t, "anna", "call.held", func(e map[string]any) bool { return e["call_id"] == talk })
	run2.desk.wait(t, "boris", "call.ended", func(e map[string]any) bool { return e["call_id"] == talk })
	waitUntil(t, 10*time.Second, "boris's leg gone, anna back in the caller's bridge on a fresh leg, no consultation bridge", func() bool {
		_, borisUp := emu.Channel(consultLeg)
		m := bridgeMembers(emu, bridge)
		return !borisUp && len(emu.Bridges()) == 1 && len(m) == 2 && contains(m, talk) && contains(m, talk+"-agent-3")
	})
	if ch, _ := emu.Channel(talk); !ch.MOH {
		t.Fatal("the caller should still be on hold")
	}
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State != queue.OnHold || string(a.Call) != talk {
		t.Fatalf("anna after the restart: %+v", a)
	}
	if b := agentState(s, "boris"); b.State == queue.Talking || b.State == queue.OnHold {
		t.Fatalf("boris after the restart: %+v", b)
	}
	// anna can consult again? Not needed: she unholds and ends the call.
	if err := run2.orch.Unhold(ctx, "anna", talk); err != nil {
		t.Fatalf("unhold: %v", err)
	}
	if err := run2.orch.Hangup(ctx, "anna", talk); err != nil {
		t.Fatal(err)
	}
	ix := closedRecord(t, db, talk)
	consults := segmentsOf(ix, store.SegConsult)
	if len(consults) != 1 || consults[0].Agent != "boris" || consults[0].End.Before(consults[0].Start) {
		t.Fatalf("consultation segments %+v", consults)
	}
	if len(segmentsOf(ix, store.SegHold)) != 1 || len(segmentsOf(ix, store.SegTalking)) != 1 || ix.Outcome != "answered" {
		t.Fatalf("record %+v", ix)
	}
	oneRecordFor(t, db, "700")
	noChannelsLeft(t, emu)
}

// ctid dies during a three-way conference: the call comes back with anna, who
// owned it, talking with the caller; boris's leg is hung up (he is told) and his
// part closed in the record.
func TestRestartDuringConferenceKeepsOwnerDropsParty(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna", "boris")
	run1 := startRun(t, srvURL, qc, db)
	talk, bridge := annaConsultsBoris(t, run1, emu, "800")
	if err := run1.orch.EndConsult(ctx, "anna", talk, cti.ConsultConference); err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.conference", nil)
	if m := bridgeMembers(emu, bridge); len(m) != 3 {
		t.Fatalf("conference bridge %v", m)
	}
	run1.stop()

	run2 := startRun(t, srvURL, qc, db)
	run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == talk && e["restored"] == true })
	run2.desk.wait(t, "boris", "call.ended", func(e map[string]any) bool {
		r, _ := e["reason"].(string)
		return e["call_id"] == talk && strings.Contains(r, "conference")
	})
	waitUntil(t, 10*time.Second, "caller and anna's fresh leg alone in the bridge", func() bool {
		m := bridgeMembers(emu, bridge)
		_, borisUp := emu.Channel(talk + "-agent-2")
		return !borisUp && len(m) == 2 && contains(m, talk) && contains(m, talk+"-agent-3")
	})
	if n := run2.desk.count("anna", "call.held"); n != 0 {
		t.Fatalf("a conference is restored talking, got %d call.held", n)
	}
	if ch, _ := emu.Channel(talk); ch.MOH {
		t.Fatal("the caller hears music in a restored conversation")
	}
	if err := run2.orch.Hangup(ctx, "anna", talk); err != nil {
		t.Fatal(err)
	}
	ix := closedRecord(t, db, talk)
	if c := segmentsOf(ix, store.SegConsult); len(c) != 1 || c[0].Agent != "boris" {
		t.Fatalf("boris's part %+v", c)
	}
	oneRecordFor(t, db, "800")
	noChannelsLeft(t, emu)
}

// ctid dies while one supervisor listens to anna (snoop channel and listen leg in a
// bridge of their own) and another barges in (their leg in the call's bridge): the
// next run restores anna's conversation and hangs up both supervisors' legs and
// the snoop, and destroys the listen bridge; nothing is left once the call ends.
func TestRestartDuringSupervisionDropsSupervisorLegs(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	run1 := startRun(t, srvURL, qc, db)
	talk, bridge := annaTalking(t, run1, emu, "900")
	if err := run1.orch.Supervise(ctx, "sam", "anna", cti.ModeListen); err != nil {
		t.Fatalf("listen: %v", err)
	}
	run1.desk.wait(t, "sam", "supervisor.connected", nil)
	if err := run1.orch.Supervise(ctx, "sue", "anna", cti.ModeBarge); err != nil {
		t.Fatalf("barge: %v", err)
	}
	run1.desk.wait(t, "sue", "supervisor.connected", nil)
	if m := bridgeMembers(emu, bridge); len(m) != 3 || len(emu.Bridges()) != 2 {
		t.Fatalf("before the stop: call bridge %v, bridges %v", m, emu.Bridges())
	}
	run1.stop()

	run2 := startRun(t, srvURL, qc, db)
	run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == talk && e["restored"] == true })
	waitUntil(t, 10*time.Second, "supervisor legs and snoop gone, one bridge left with caller and anna", func() bool {
		ids := emu.ChannelIDs()
		for _, id := range ids {
			if strings.Contains(id, "-sup-") || strings.Contains(id, "-snoop-") {
				return false
			}
		}
		m := bridgeMembers(emu, bridge)
		return len(emu.Bridges()) == 1 && len(m) == 2 && contains(m, talk)
	})
	if err := run2.orch.Hangup(ctx, "anna", talk); err != nil {
		t.Fatal(err)
	}
	closedRecord(t, db, talk)
	oneRecordFor(t, db, "900")
	noChannelsLeft(t, emu)
}

// ctid dies while a caller anna transferred to an outside number talks with it: the
// next run leaves that conversation alone (the caller is not queued again, the
// outside party stays) and follows it to its end: when the outside party hangs up
// the caller is hung up and the one record closed with the transfer segment.
func TestRestartFollowsCallerTransferredToNumber(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers"
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	talk, bridge := annaTalking(t, run1, emu, "910")
	if err := run1.orch.TransferToNumber(ctx, "anna", talk, "5550000"); err != nil { // answers and talks
		t.Fatal(err)
	}
	ext := talk + "-ext-2"
	waitUntil(t, 10*time.Second, "the outside party bridged with the caller", func() bool {
		m := bridgeMembers(emu, bridge)
		return len(m) == 2 && contains(m, talk) && contains(m, ext)
	})
	run1.stop()

	run2 := startRunCfg(t, srvURL, qc, cc, db)
	if err := run2.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	// Taken over: the call is known again, and it is nobody's (no agent may act on it).
	waitUntil(t, 10*time.Second, "the transferred call taken over", func() bool {
		return errors.Is(run2.orch.Hangup(ctx, "anna", talk), cti.ErrNotYourCall)
	})
	if m := bridgeMembers(emu, bridge); len(m) != 2 || !contains(m, talk) || !contains(m, ext) {
		t.Fatalf("the transferred conversation after the restart: %v", m)
	}
	if n := run2.desk.count("anna", "call.offered"); n != 0 {
		t.Fatalf("the transferred caller was queued again (%d offers)", n)
	}
	if err := emu.Hangup(ext, 16); err != nil {
		t.Fatal(err)
	}
	ix := closedRecord(t, db, talk)
	if tr := segmentsOf(ix, store.SegTransfer); len(tr) < 2 || ix.Outcome != "answered" {
		t.Fatalf("record %+v", ix)
	}
	oneRecordFor(t, db, "910")
	noChannelsLeft(t, emu)
}
