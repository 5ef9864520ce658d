package cti_test

import (
	"errors"
	"testing"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/telephony/ariemu"
)

// SIP agent devices take calls and transfers; an agent with auto_answer gets the
// PJSIP auto-answer headers on the originate, one without does not.
func TestSIPAgentDevicesAutoAnswer(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.Devices = []cti.AgentDevice{{Agent: "boris", Device: "PJSIP/1001", AutoAnswer: true}, {Agent: "carl", Device: "PJSIP/1002"}}
	w := newWorldCfg(t, salesConfig("anna", "boris", "carl"), cc)
	w.ready(t, "boris")
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48600100200", Dialled: "1", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "boris", "call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	if err := w.orch.Accept(w.ctx, "boris", caller); err != nil {
		t.Fatal(err)
	}
	conn := w.desk.wait(t, "boris", "call.connected", func(e map[string]any) bool { return e["call_id"] == caller })
	bridge := conn["bridge_id"].(string)
	waitBridge(t, w, bridge, caller, caller+"-agent")
	if o := originates(w.emu, "PJSIP/1001"); len(o) != 1 || !autoAnswered(o[0]) {
		t.Fatalf("boris's phone originate %v", o)
	}
	// A blind transfer to carl's SIP phone (no auto-answer).
	w.ready(t, "carl")
	if err := w.orch.TransferToAgent(w.ctx, "boris", caller, "carl"); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	w.desk.wait(t, "carl", "call.connected", func(e map[string]any) bool { return e["call_id"] == caller && e["transferred_from"] == "boris" })
	waitBridge(t, w, bridge, caller, caller+"-agent-2")
	o := originates(w.emu, "PJSIP/1002")
	if len(o) != 1 || o[0]["variables"] != nil {
		t.Fatalf("carl's phone originate %v", o)
	}
	// A consultation from carl's SIP phone to anna's browser, then back.
	w.ready(t, "anna")
	if err := w.orch.Consult(w.ctx, "carl", caller, "anna"); err != nil {
		t.Fatalf("consult: %v", err)
	}
	w.desk.wait(t, "carl", "call.consult", consultState("connected"))
	if err := w.orch.EndConsult(w.ctx, "carl", caller, cti.ConsultCancel); err != nil {
		t.Fatal(err)
	}
	waitBridge(t, w, bridge, caller, caller+"-agent-2")
	if err := w.orch.Hangup(w.ctx, "carl", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "carl", "wrapup.started", nil)
}

func TestAutoAnswerNeedsPJSIP(t *testing.T) {
	for _, dev := range []string{"SIP/1001", "webrtc"} {
		cc := cti.DefaultConfig()
		cc.Devices = []cti.AgentDevice{{Agent: "boris", Device: dev, AutoAnswer: true}}
		if err := cc.Validate(); !errors.Is(err, cti.ErrInvalidConfig) {
			t.Fatalf("auto_answer on %s: %v", dev, err)
		}
	}
	cc := cti.DefaultConfig()
	cc.Devices = []cti.AgentDevice{{Agent: "boris", Device: "PJSIP/1001", AutoAnswer: true}}
	if err := cc.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A consulted SIP phone that is busy: anna is told why and is back with her held
// caller, and the engine frees the consulted agent.
func TestConsultBusySIPAgent(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.Devices = []cti.AgentDevice{{Agent: "boris", Device: "PJSIP/5550001"}} // busy
	w := newWorldCfg(t, salesConfig("anna", "boris"), cc)
	w.ready(t, "anna")
	caller, bridge := connectedCall(t, w, "anna")
	w.ready(t, "boris")
	if err := w.orch.Consult(w.ctx, "anna", caller, "boris"); err != nil {
		t.Fatalf("consult: %v", err)
	}
	f := w.desk.wait(t, "anna", "call.consult", consultState("failed"))
	if f["reason"] != "busy" || f["target"] != "boris" {
		t.Fatalf("failure reported as %v", f)
	}
	waitBridge(t, w, bridge, caller, caller+"-agent")
	snap, err := w.orch.Snapshot(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range snap.Agents {
		if a.ID == "boris" && a.State.String() != "ready" {
			t.Fatalf("boris %s after the failed consultation", a.State)
		}
	}
	if err := w.orch.Unhold(w.ctx, "anna", caller); err != nil {
		t.Fatalf("unhold: %v", err)
	}
}
