package cti_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// waitN waits until user has received at least n events named name matching pred.
func (d *desk) waitN(t *testing.T, user, name string, n int, pred func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d.mu.Lock()
		got := 0
		for _, e := range d.events[user] {
			if e["event"] == name && (pred == nil || pred(e)) {
				got++
			}
		}
		d.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			d.mu.Lock()
			defer d.mu.Unlock()
			t.Fatalf("agent %s got %d of %d %s; events %v", user, got, n, name, d.events[user])
		}
		select {
		case <-d.signal:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func consultState(s string) func(map[string]any) bool {
	return func(e map[string]any) bool { return e["state"] == s }
}

// waitBridge waits until the bridge holds exactly want (any order).
func waitBridge(t *testing.T, w *world, bridge string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := bridgeMembers(w.emu, bridge)
		ok := len(m) == len(want)
		for _, x := range want {
			ok = ok && contains(m, x)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge %s has %v, want %v", bridge, m, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitGone(t *testing.T, w *world, channel string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); contains(w.emu.ChannelIDs(), channel); {
		if time.Now().After(deadline) {
			t.Fatalf("channel %s still up", channel)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ended reads a call's record once the call has ended (its actor wrote the last
// segments before closing the interaction).
func (w *world) ended(t *testing.T, id string) store.Interaction {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ix := w.interaction(t, id)
		if !ix.Ended.IsZero() {
			return ix
		}
		if time.Now().After(deadline) {
			t.Fatalf("interaction %s never ended: %+v", id, ix)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func numberConfig() cti.Config {
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers"
	cc.ExternalAnswerTimeout = time.Second
	return cc
}

// Attended transfer to an outside number: the caller holds while anna talks to
// the number in a consultation bridge; on complete the caller is bridged with the
// outside party, anna leaves, and the record shows her talk and the transfer.
func TestAttendedTransferToNumberComplete(t *testing.T) {
	w := newWorldCfg(t, salesConfig("anna"), numberConfig())
	w.ready(t, "anna")
	caller, bridge := connectedCall(t, w, "anna")
	time.Sleep(200 * time.Millisecond) // some talk time for anna
	if err := w.orch.ConsultTo(w.ctx, "anna", caller, cti.ConsultTarget{Number: "55x0000"}); err == nil {
		t.Fatal("consulted a malformed number")
	}
	if err := w.orch.ConsultTo(w.ctx, "anna", caller, cti.ConsultTarget{Number: "5550000"}); err != nil {
		t.Fatalf("consult: %v", err)
	}
	ext := caller + "-ext-2"
	w.desk.wait(t, "anna", "call.consult", consultState("connected"))
	if ch, ok := w.emu.Channel(caller); !ok || !ch.MOH {
		t.Fatal("caller has no music during the consultation")
	}
	waitBridge(t, w, bridge, caller)
	if !slices.ContainsFunc(w.emu.Bridges(), func(b ariemu.BridgeSnapshot) bool {
		return len(b.Channels) == 2 && contains(b.Channels, caller+"-agent") && contains(b.Channels, ext)
	}) {
		t.Fatalf("no consultation bridge of anna and the number: %+v", w.emu.Bridges())
	}
	if err := w.orch.EndConsult(w.ctx, "anna", caller, cti.ConsultComplete); err != nil {
		t.Fatalf("complete: %v", err)
	}
	tr := w.desk.wait(t, "anna", "call.transferred", nil)
	if to, _ := tr["to"].(map[string]any); to["number"] != "5550000" || tr["mode"] != "attended" {
		t.Fatalf("call.transferred %v", tr)
	}
	w.desk.wait(t, "anna", "wrapup.started", func(e map[string]any) bool { return e["call_id"] == caller })
	waitBridge(t, w, bridge, caller, ext)
	waitGone(t, w, caller+"-agent")
	if ch, _ := w.emu.Channel(caller); ch.MOH {
		t.Fatal("caller still hears music after the transfer")
	}
	if err := w.orch.Hangup(w.ctx, "anna", caller); err == nil {
		t.Fatal("anna still controls the transferred call")
	}
	time.Sleep(200 * time.Millisecond) // the caller talks with the outside party
	if err := w.emu.Hangup(ext, 16); err != nil {
		t.Fatal(err)
	}
	waitGone(t, w, caller)
	if err := w.orch.WrapUpDone(w.ctx, "anna", cti.WrapUpResult{CallID: caller, Disposition: "transferred"}); err != nil {
		t.Fatal(err)
	}
	ix := w.ended(t, caller)
	var kinds []string
	var annaEnd, extStart time.Time
	for _, sg := range ix.Segments {
		kinds = append(kinds, sg.Kind.String()+":"+sg.Agent)
		switch {
		case sg.Kind == store.SegTalking && sg.Agent == "anna":
			annaEnd = sg.End
			if sg.End.Sub(sg.Start) < 200*time.Millisecond {
				t.Fatalf("anna's talk %v", sg.End.Sub(sg.Start))
			}
		case sg.Kind == store.SegTransfer && sg.Agent == "":
			extStart = sg.Start
			if sg.End.Sub(sg.Start) < 200*time.Millisecond {
				t.Fatalf("outside party's part %v", sg.End.Sub(sg.Start))
			}
		}
	}
	for _, k := range []string{"talking:anna", "transfer:anna", "hold:anna", "consult:", "transfer:", "wrapup:anna"} {
		if !slices.Contains(kinds, k) {
			t.Fatalf("segments %v lack %s", kinds, k)
		}
	}
	if slices.Contains(kinds, "talking:") || extStart.Before(annaEnd) {
		t.Fatalf("the outside party's time must not count as talk nor overlap anna's: %v", kinds)
	}
	if ix.Outcome != "answered" || ix.Disposition != "transferred" {
		t.Fatalf("interaction %+v", ix)
	}
}

// Cancel, the outside party hanging up, busy and no answer all bring anna back
// to her caller; a conference puts the three together and survives the outside
// party leaving.
func TestAttendedTransferToNumberCancelFailConference(t *testing.T) {
	w := newWorldCfg(t, salesConfig("anna"), numberConfig())
	w.ready(t, "anna")
	caller, bridge := connectedCall(t, w, "anna")
	agentLeg := caller + "-agent"
	consult := func(number string) {
		t.Helper()
		if err := w.orch.ConsultTo(w.ctx, "anna", caller, cti.ConsultTarget{Number: number}); err != nil {
			t.Fatalf("consult %s: %v", number, err)
		}
	}
	// Cancel.
	consult("5550000")
	w.desk.waitN(t, "anna", "call.consult", 1, consultState("connected"))
	if err := w.orch.EndConsult(w.ctx, "anna", caller, cti.ConsultCancel); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	w.desk.wait(t, "anna", "call.consult", consultState("cancelled"))
	waitBridge(t, w, bridge, caller, agentLeg)
	waitGone(t, w, caller+"-ext-2")
	if ch, _ := w.emu.Channel(caller); ch.MOH {
		t.Fatal("caller still on hold after cancel")
	}
	// The outside party hangs up: anna is back with the held caller.
	consult("5550000")
	w.desk.waitN(t, "anna", "call.consult", 2, consultState("connected"))
	if err := w.emu.Hangup(caller+"-ext-3", 16); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.consult", consultState("ended"))
	waitBridge(t, w, bridge, caller, agentLeg)
	if ch, _ := w.emu.Channel(caller); !ch.MOH {
		t.Fatal("caller should still hold after the outside party left")
	}
	// Busy, then no answer: reported with a reason, anna back with the caller.
	consult("5550001")
	f := w.desk.wait(t, "anna", "call.consult", func(e map[string]any) bool { return e["state"] == "failed" })
	if f["reason"] != "busy" {
		t.Fatalf("busy number reported as %v", f)
	}
	waitBridge(t, w, bridge, caller, agentLeg)
	consult("5550002")
	w.desk.waitN(t, "anna", "call.consult", 1, func(e map[string]any) bool { return e["state"] == "failed" && e["reason"] == "no_answer" })
	waitBridge(t, w, bridge, caller, agentLeg)
	if err := w.orch.Unhold(w.ctx, "anna", caller); err != nil {
		t.Fatalf("unhold after failed consultations: %v", err)
	}
	// Conference.
	consult("5550000")
	w.desk.waitN(t, "anna", "call.consult", 3, consultState("connected"))
	if err := w.orch.EndConsult(w.ctx, "anna", caller, cti.ConsultConference); err != nil {
		t.Fatalf("conference: %v", err)
	}
	ext := caller + "-ext-6"
	waitBridge(t, w, bridge, caller, agentLeg, ext)
	conf := w.desk.wait(t, "anna", "call.conference", nil)
	if p, _ := conf["parties"].([]string); strings.Join(p, ",") != "anna,5550000" {
		t.Fatalf("call.conference %v", conf)
	}
	if err := w.emu.Hangup(ext, 16); err != nil {
		t.Fatal(err)
	}
	waitBridge(t, w, bridge, caller, agentLeg)
	if err := w.orch.Hangup(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "wrapup.started", func(e map[string]any) bool { return e["call_id"] == caller })
	snap, err := w.orch.Snapshot(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range snap.Agents {
		if a.ID == "anna" && a.State != queue.WrapUp {
			t.Fatalf("anna %s after the call", a.State)
		}
	}
}

// Over the desktop API: call.transfer attended to a number and to a queue, with
// malformed targets refused as invalid_argument.
func TestDesktopAttendedTransferToNumberAndQueue(t *testing.T) {
	cc := numberConfig()
	st := newStackCfg(t, nil, cc)
	ctx := st.ctx
	anna := openDesk(t, ctx, st.web, login(t, st.web, "anna", "secret-anna"))
	boris := openDesk(t, ctx, st.web, login(t, st.web, "boris", "secret-anna"))
	anna.do(ctx, "agent.ready", nil)
	anna.event("agent.state", func(e map[string]any) bool { return e["state"] == "ready" })
	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48600100200", Dialled: "1", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	anna.event("call.offered", nil)
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("accept %v", r)
	}
	anna.event("call.connected", nil)
	for _, to := range []map[string]any{{"number": "12ab"}, {"number": "5550000", "agent": "boris"}, {}} {
		if r := anna.do(ctx, "call.transfer", map[string]any{"call_id": caller, "to": to, "mode": "attended"}); errCode(r) != "invalid_argument" {
			t.Fatalf("attended transfer to %v: %v", to, r)
		}
	}
	if r := anna.do(ctx, "call.transfer", map[string]any{"call_id": caller, "to": map[string]any{"number": "5550001"}, "mode": "attended"}); r["ok"] != true {
		t.Fatalf("consult a busy number %v", r)
	}
	if f := anna.event("call.consult", func(e map[string]any) bool { return e["state"] == "failed" }); f["reason"] != "busy" {
		t.Fatalf("busy reported as %v", f)
	}
	boris.do(ctx, "agent.ready", nil)
	boris.event("agent.state", func(e map[string]any) bool { return e["state"] == "ready" })
	if r := anna.do(ctx, "call.transfer", map[string]any{"call_id": caller, "to": map[string]any{"queue": "sales"}, "mode": "attended"}); r["ok"] != true {
		t.Fatalf("consult the queue %v", r)
	}
	boris.event("call.connected", func(e map[string]any) bool { return e["consult"] == true })
	if r := anna.do(ctx, "call.transfer.complete", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("complete %v", r)
	}
	boris.event("call.connected", func(e map[string]any) bool { return e["transferred_from"] == "anna" })
	if r := boris.do(ctx, "call.hangup", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("boris hangup %v", r)
	}
	boris.event("wrapup.started", nil)
}
