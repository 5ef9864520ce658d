package cti_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

func answerOnConnectWorld(t *testing.T, qc queue.Config, ec ariemu.Config) *world {
	t.Helper()
	cc := cti.DefaultConfig()
	cc.Answers = []cti.QueueAnswer{{Queue: "sales", Mode: cti.AnswerOnConnect}}
	cc.CallbackEndpoint = "Local/{number}@callers" // a callback offer would be made to an answered caller
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	return newWorldEmu(t, qc, cc, sc, ec)
}

// callerRequests lists the ARI requests as "METHOD suffix" for the channel
// operations a waiting caller may get (the emulator logs route templates; these
// tests have one caller and browser agents, whose legs are never answered, rung or
// given music).
func callerRequests(emu *ariemu.Emulator) []string {
	var out []string
	for _, r := range emu.Requests() {
		switch {
		case r.Path == "/bridges" && r.Method == "POST":
			out = append(out, "bridge")
		case strings.HasPrefix(r.Path, "/channels/{channelId}/"):
			op := strings.TrimPrefix(r.Path, "/channels/{channelId}/")
			switch op {
			case "answer", "ring", "moh", "play", "continue":
				out = append(out, r.Method+" "+op)
			}
		}
	}
	return out
}

func waitState(t *testing.T, emu *ariemu.Emulator, id, state string) ariemu.ChannelSnapshot {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, ok := emu.Channel(id)
		if ok && s.State == state {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s: %+v (live %v), want state %s", id, s, ok, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// queues[].answer: on_connect leaves the caller ringing (a ring indication, no
// music, announcements or callback offer) and answers them only when the agent
// accepts, just before bridging; the conversation then works as usual.
func TestAnswerOnConnectRingsUntilAccept(t *testing.T) {
	qc := salesConfig("anna")
	qc.Queues[0].Announce = queue.AnnounceConfig{Every: 300 * time.Millisecond, First: 100 * time.Millisecond, Always: true}
	w := answerOnConnectWorld(t, qc, ariemu.Config{})
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234567", Dialled: "800100200",
		Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(callerRequests(w.emu), "POST ring") {
		if time.Now().After(deadline) {
			t.Fatalf("no ring indication; requests %v", callerRequests(w.emu))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let several announcement and callback-offer periods pass with nobody ready:
	// none may reach a caller who is not answered.
	time.Sleep(1200 * time.Millisecond)
	if s := waitState(t, w.emu, caller, "Ring"); s.MOH || s.Bridge != "" {
		t.Fatalf("ringing caller %+v", s)
	}
	w.ready(t, "anna")
	w.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	waitState(t, w.emu, caller, "Ring")
	if err := w.orch.Accept(w.ctx, "anna", caller); err != nil {
		t.Fatalf("accept: %v", err)
	}
	conn := w.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == caller })
	if s := waitState(t, w.emu, caller, "Up"); s.Bridge == "" || s.Bridge != conn["bridge_id"] || s.MOH {
		t.Fatalf("connected caller %+v, call.connected %v", s, conn)
	}
	waitRTPBothWays(t, w.emu, w.media, caller)
	got := callerRequests(w.emu)
	want := []string{"POST ring", "bridge", "POST answer"}
	if len(got) != len(want) || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("caller requests %v, want %v (ring, no music or prompts, answered just before bridging)", got, want)
	}
	if err := w.orch.Hangup(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "wrapup.started", nil)
	if err := w.orch.WrapUpDone(w.ctx, "anna", cti.WrapUpResult{CallID: caller, Disposition: "resolved"}); err != nil {
		t.Fatal(err)
	}
	if ix := w.interaction(t, caller); ix.Outcome != "answered" || ix.Answered.IsZero() {
		t.Fatalf("interaction %+v", ix)
	}
}

// A ringing caller who hangs up while offered abandons (offer withdrawn, agent back
// to Ready, never answered); ring-no-answer re-queues them, still ringing.
func TestAnswerOnConnectAbandonAndRingNoAnswer(t *testing.T) {
	qc := salesConfig("anna", "boris")
	qc.OfferTimeout = time.Second
	w := answerOnConnectWorld(t, qc, ariemu.Config{})
	w.ready(t, "anna")
	first, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "100", Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == first })
	w.desk.wait(t, "anna", "call.withdrawn", func(e map[string]any) bool { return e["call_id"] == first })
	w.desk.wait(t, "anna", "agent.state", func(e map[string]any) bool { return e["state"] == queue.NotReady.String() })
	waitState(t, w.emu, first, "Ring")
	w.ready(t, "boris")
	w.desk.wait(t, "boris", "call.offered", func(e map[string]any) bool { return e["call_id"] == first })
	// The caller gives up while boris's desktop rings.
	if err := w.emu.Hangup(first, 19); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "boris", "call.ended", func(e map[string]any) bool { return e["call_id"] == first && e["reason"] == "abandoned" })
	w.desk.wait(t, "boris", "agent.state", func(e map[string]any) bool { return e["state"] == queue.Ready.String() })
	if err := w.orch.Accept(w.ctx, "boris", first); err == nil {
		t.Fatal("accept of an abandoned call succeeded")
	}
	// call.ended goes out before the record is closed: wait for the close.
	deadline := time.Now().Add(10 * time.Second)
	for ix := w.interaction(t, first); ix.Outcome != "abandoned"; ix = w.interaction(t, first) {
		if time.Now().After(deadline) {
			t.Fatalf("interaction %+v", ix)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, r := range callerRequests(w.emu) {
		if r == "POST answer" || r == "POST moh" {
			t.Fatalf("a caller who never reached an agent got %q; requests %v", r, callerRequests(w.emu))
		}
	}
}

// The overflow (max wait) to a number hands the ringing caller back to the
// dialplan without touching music it never had.
func TestAnswerOnConnectOverflowContinues(t *testing.T) {
	qc := salesConfig("anna")
	qc.Queues[0].MaxWait = 300 * time.Millisecond
	qc.Queues[0].MaxWaitTarget = queue.Target{Kind: queue.TargetNumber, Value: "5550100"}
	w := answerOnConnectWorld(t, qc, ariemu.Config{})
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "100", Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for slices.Contains(w.emu.ChannelIDs(), caller) {
		if time.Now().After(deadline) {
			t.Fatalf("caller never left; requests %v", callerRequests(w.emu))
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := callerRequests(w.emu)
	if strings.Join(got, ",") != "POST ring,POST continue" {
		t.Fatalf("caller requests %v, want ring then continue", got)
	}
}
