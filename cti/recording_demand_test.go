package cti_test

import (
	"errors"
	"testing"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// recordingRequests lists the recording requests the emulator answered: method,
// path and status, with the recording's name and ifExists for starts.
func recordingRequests(w *world) []ariemu.RequestRecord {
	var out []ariemu.RequestRecord
	for _, r := range w.emu.Requests() {
		switch r.Path {
		case "/bridges/{bridgeId}/record", "/recordings/live/{recordingName}/pause", "/recordings/live/{recordingName}/stop":
			out = append(out, r)
		}
	}
	return out
}

func recordedCall(t *testing.T, w *world, agent string) string {
	t.Helper()
	w.ready(t, agent)
	w.desk.wait(t, agent, "agent.state", func(e map[string]any) bool { return e["state"] == queue.Ready.String() })
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234567", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agent, "call.offered", nil)
	if err := w.orch.Accept(w.ctx, agent, caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agent, "call.connected", nil)
	return caller
}

// On-demand recording: nothing is recorded until the agent starts it; pause and
// resume (card numbers) and stop reach ARI's live recording; a start after a stop
// appends to the call's one recording; its name is on the interaction. Invalid
// steps are refused with ErrCallState and change nothing.
func TestOnDemandRecordingStartPauseResumeStop(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.Recordings = []cti.QueueRecording{{Queue: "sales", Policy: cti.RecordOnDemand}}
	w := newWorldCfg(t, salesConfig("anna"), cc)
	caller := recordedCall(t, w, "anna")
	if n := len(recordingRequests(w)); n != 0 {
		t.Fatalf("recorded before the agent asked: %+v", recordingRequests(w))
	}
	if ix := w.interaction(t, caller); ix.RecordingName != "" {
		t.Fatalf("recording name before start: %q", ix.RecordingName)
	}
	refuse := func(op string) {
		t.Helper()
		if err := w.orch.RecordControl(w.ctx, "anna", caller, op); !errors.Is(err, cti.ErrCallState) {
			t.Fatalf("%s: %v, want ErrCallState", op, err)
		}
	}
	do := func(op, state string) {
		t.Helper()
		if err := w.orch.RecordControl(w.ctx, "anna", caller, op); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		w.desk.wait(t, "anna", "call.recording", func(e map[string]any) bool { return e["state"] == state })
	}
	refuse("pause")
	refuse("stop")
	if err := w.orch.RecordControl(w.ctx, "boris", caller, "start"); !errors.Is(err, cti.ErrNotYourCall) {
		t.Fatalf("another agent started the recording: %v", err)
	}
	do("start", "recording")
	refuse("start")
	refuse("resume")
	do("pause", "paused")
	refuse("pause")
	do("resume", "recording")
	do("stop", "stopped")
	refuse("pause")
	do("start", "recording") // appends to the same file
	if ix := w.interaction(t, caller); ix.RecordingName != "ctid-"+caller {
		t.Fatalf("recording name on the interaction: %q", ix.RecordingName)
	}
	want := []struct {
		method, path string
		status       int
	}{
		{"POST", "/bridges/{bridgeId}/record", 201},
		{"POST", "/recordings/live/{recordingName}/pause", 204},
		{"DELETE", "/recordings/live/{recordingName}/pause", 204},
		{"POST", "/recordings/live/{recordingName}/stop", 204},
		{"POST", "/bridges/{bridgeId}/record", 201},
	}
	got := recordingRequests(w)
	if len(got) != len(want) {
		t.Fatalf("recording requests %+v", got)
	}
	for i, r := range got {
		if r.Method != want[i].method || r.Path != want[i].path || r.Status != want[i].status {
			t.Fatalf("request %d: %s %s %d, want %+v", i, r.Method, r.Path, r.Status, want[i])
		}
		if r.Path == "/bridges/{bridgeId}/record" && (r.Query.Get("name") != "ctid-"+caller || r.Query.Get("ifExists") != "append") {
			t.Fatalf("record request %v", r.Query)
		}
	}
	if err := w.orch.Hangup(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.ended", nil)
	refuse2 := w.orch.RecordControl(w.ctx, "anna", caller, "pause")
	if refuse2 == nil {
		t.Fatal("recording control on an ended call accepted")
	}
}

// Under "always" the agent may pause and resume but not stop; under "never" there
// is nothing to start.
func TestRecordingPolicyLimitsAgentControl(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.Recordings = []cti.QueueRecording{{Queue: "sales", Policy: cti.RecordAlways}}
	w := newWorldCfg(t, salesConfig("anna"), cc)
	caller := recordedCall(t, w, "anna")
	waitFor(t, "the recording to start", func() bool { return len(recordingRequests(w)) == 1 })
	for _, c := range []struct {
		op string
		ok bool
	}{{"stop", false}, {"start", false}, {"pause", true}, {"resume", true}, {"stop", false}} {
		err := w.orch.RecordControl(w.ctx, "anna", caller, c.op)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, cti.ErrCallState)) {
			t.Fatalf("always: %s: %v", c.op, err)
		}
	}

	w2 := newWorldCfg(t, salesConfig("anna"), cti.DefaultConfig())
	c2 := recordedCall(t, w2, "anna")
	for _, op := range []string{"start", "pause", "stop"} {
		if err := w2.orch.RecordControl(w2.ctx, "anna", c2, op); !errors.Is(err, cti.ErrCallState) {
			t.Fatalf("never: %s: %v", op, err)
		}
	}
	if err := w2.orch.RecordControl(w2.ctx, "anna", c2, "rewind"); err == nil {
		t.Fatal("unknown recording operation accepted")
	}
	if n := len(recordingRequests(w2)); n != 0 {
		t.Fatalf("never-recorded queue: %+v", recordingRequests(w2))
	}
}
