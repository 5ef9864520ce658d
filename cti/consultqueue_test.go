package cti_test

import (
	"slices"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// supportConfig: sales has anna; support has boris and carl.
func supportConfig() queue.Config {
	qc := salesConfig("anna", "boris", "carl")
	qc.Queues[0].Members = qc.Queues[0].Members[:1]
	qc.Queues = append(qc.Queues, queue.QueueConfig{ID: "support", WrapUp: 30 * time.Second, OfferTimeout: time.Second,
		Members: []queue.Member{{Agent: "boris", Tier: 1}, {Agent: "carl", Tier: 1}}})
	return qc
}

// originates returns the bodies of POST /channels requests for channel ids with prefix.
func originates(emu *ariemu.Emulator, endpoint string) []map[string]any {
	var out []map[string]any
	for _, r := range emu.Requests() {
		if r.Method == "POST" && r.Path == "/channels" && r.Query.Get("endpoint") == endpoint {
			out = append(out, r.Body)
		}
	}
	return out
}

func autoAnswered(body map[string]any) bool {
	vars, _ := body["variables"].(map[string]any)
	return vars["PJSIP_HEADER(add,Call-Info)"] == "<uri>;answer-after=0" && vars["PJSIP_HEADER(add,Alert-Info)"] == "auto-answer"
}

// Attended transfer to a queue: the consultation goes to whichever agent the engine
// offers next; a SIP phone that does not answer in the offer time is withdrawn and
// the next agent gets it; cancel works before anyone is picked.
func TestAttendedTransferToQueue(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.Devices = []cti.AgentDevice{{Agent: "boris", Device: "PJSIP/5550002", AutoAnswer: true}} // rings, never answers
	w := newWorldCfg(t, supportConfig(), cc)
	w.ready(t, "anna")
	caller, bridge := connectedCall(t, w, "anna")
	agentLeg := caller + "-agent"
	if err := w.orch.ConsultTo(w.ctx, "anna", caller, cti.ConsultTarget{Queue: "nope"}); err == nil {
		t.Fatal("consulted an unknown queue")
	}
	if err := w.orch.ConsultTo(w.ctx, "anna", caller, cti.ConsultTarget{Queue: "support", Agent: "boris"}); err == nil {
		t.Fatal("consulted two targets at once")
	}
	// Nobody in support is ready: the consultation waits; anna cancels it.
	if err := w.orch.ConsultTo(w.ctx, "anna", caller, cti.ConsultTarget{Queue: "support"}); err != nil {
		t.Fatalf("consult queue: %v", err)
	}
	w.desk.wait(t, "anna", "call.consult", consultState("queued"))
	if err := w.orch.EndConsult(w.ctx, "anna", caller, cti.ConsultComplete); err == nil {
		t.Fatal("completed a consultation nobody answered")
	}
	if err := w.orch.EndConsult(w.ctx, "anna", caller, cti.ConsultCancel); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	waitBridge(t, w, bridge, caller, agentLeg)

	// boris (SIP, no answer) is offered first and withdrawn; carl gets it.
	w.ready(t, "boris")
	if err := w.orch.ConsultTo(w.ctx, "anna", caller, cti.ConsultTarget{Queue: "support"}); err != nil {
		t.Fatalf("consult queue: %v", err)
	}
	w.desk.wait(t, "boris", "call.offered", func(e map[string]any) bool { return e["direction"] == "consult" && e["call_id"] == caller })
	w.desk.wait(t, "boris", "call.withdrawn", func(e map[string]any) bool { return e["call_id"] == caller })
	if o := originates(w.emu, "PJSIP/5550002"); len(o) != 1 || !autoAnswered(o[0]) {
		t.Fatalf("boris's phone originate %v", o)
	}
	w.ready(t, "carl")
	w.desk.wait(t, "carl", "call.connected", func(e map[string]any) bool { return e["consult"] == true && e["call_id"] == caller })
	c := w.desk.wait(t, "anna", "call.consult", consultState("connected"))
	if c["target"] != "carl" {
		t.Fatalf("consulted %v", c)
	}
	waitGone(t, w, caller+"-agent-4")  // boris's withdrawn leg
	time.Sleep(100 * time.Millisecond) // the consultation
	if err := w.orch.EndConsult(w.ctx, "anna", caller, cti.ConsultComplete); err != nil {
		t.Fatalf("complete: %v", err)
	}
	conn := w.desk.wait(t, "carl", "call.connected", func(e map[string]any) bool { return e["transferred_from"] == "anna" })
	w.desk.wait(t, "anna", "wrapup.started", func(e map[string]any) bool { return e["call_id"] == caller })
	m := bridgeMembers(w.emu, conn["bridge_id"].(string))
	if len(m) != 2 || !contains(m, caller) || contains(m, agentLeg) {
		t.Fatalf("after complete %v", m)
	}
	if err := w.orch.Hangup(w.ctx, "carl", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "carl", "wrapup.started", nil)
	ix := w.ended(t, caller)
	var kinds []string
	for _, sg := range ix.Segments {
		kinds = append(kinds, sg.Kind.String()+":"+sg.Agent)
	}
	for _, k := range []string{"talking:anna", "consult:carl", "transfer:anna", "talking:carl"} {
		if !slices.Contains(kinds, k) {
			t.Fatalf("segments %v lack %s", kinds, k)
		}
	}
	if slices.Contains(kinds, "consult:boris") || slices.Contains(kinds, "talking:boris") {
		t.Fatalf("boris never answered: %v", kinds)
	}
}

// A queue consultation turned into a conference keeps the caller, anna and the
// queue's agent together.
func TestAttendedTransferToQueueConference(t *testing.T) {
	w := newWorld(t, supportConfig())
	w.ready(t, "anna")
	caller, bridge := connectedCall(t, w, "anna")
	w.ready(t, "carl")
	if err := w.orch.ConsultTo(w.ctx, "anna", caller, cti.ConsultTarget{Queue: "support"}); err != nil {
		t.Fatalf("consult queue: %v", err)
	}
	w.desk.wait(t, "anna", "call.consult", consultState("connected"))
	if err := w.orch.EndConsult(w.ctx, "anna", caller, cti.ConsultConference); err != nil {
		t.Fatalf("conference: %v", err)
	}
	w.desk.wait(t, "carl", "call.conference", nil)
	if m := bridgeMembers(w.emu, bridge); len(m) != 3 || !contains(m, caller) || !contains(m, caller+"-agent") {
		t.Fatalf("conference bridge %v", m)
	}
	if err := w.orch.Hangup(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "carl", "call.ended", func(e map[string]any) bool { return e["reason"] == "conference ended" })
}

// A blind transfer to a queue keeps the caller's original enqueue time there (the
// default), or counts them as a new arrival (calls.transfer_keeps_enqueue_time: false).
func TestBlindTransferToQueueEnqueueTime(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(map[bool]string{true: "kept", false: "new"}[keep], func(t *testing.T) {
			cc := cti.DefaultConfig()
			cc.TransferKeepsEnqueueTime = keep
			w := newWorldCfg(t, supportConfig(), cc)
			w.ready(t, "anna")
			before := time.Now()
			caller, _ := connectedCall(t, w, "anna")
			time.Sleep(50 * time.Millisecond) // the transfer comes strictly later than the arrival
			transferAt := time.Now()
			if err := w.orch.TransferToQueue(w.ctx, "anna", caller, "support"); err != nil {
				t.Fatal(err)
			}
			snap, err := w.orch.Snapshot(w.ctx)
			if err != nil {
				t.Fatal(err)
			}
			var arrived time.Time
			for _, c := range snap.Calls {
				if string(c.ID) == caller {
					arrived = c.Arrived
				}
			}
			if arrived.IsZero() {
				t.Fatalf("transferred call not waiting in support: %+v", snap.Calls)
			}
			if kept := arrived.Before(transferAt); kept != keep || arrived.Before(before) {
				t.Fatalf("keep=%v: arrived %v, call came at %v, transfer at %v", keep, arrived, before, transferAt)
			}
		})
	}
}
