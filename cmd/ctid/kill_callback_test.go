package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony/ariemu"
)

// ctid is SIGKILLed while it keeps a keep-your-place callback it has not dialled
// yet (the caller pressed 1 and hung up; nobody was ready) with a later caller
// waiting behind it, and restarted against the same emulator and store: the new
// process takes the callback back at its place (both in the queue before anyone is
// ready), and when anna goes ready the callback is her first offer, dialled,
// answered and connected to her phone; after it she gets the later caller. The
// caller's one record is closed answered, the callbacks row done.
func TestKillNineWithCallbackKept(t *testing.T) {
	emu, srvURL, dbPath := killPBX(t)
	config := killConfig(t, srvURL+"/ari", dbPath)
	withCallbacks(t, config)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := startChild(t, config)
	const number, later = "5550000", "+442079460151" // 5550000 answers a callback at once
	caller, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: number, Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	waitCallback(t, "the caller queued with music", func() bool { ch, ok := emu.Channel(caller); return ok && ch.MOH })
	behind, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: later, Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	waitCallback(t, "the later caller queued with music", func() bool { ch, ok := emu.Channel(behind); return ok && ch.MOH })
	if err := emu.SendDTMF(caller, "1"); err != nil {
		t.Fatal(err)
	}
	waitCallback(t, "the caller released after choosing a callback", func() bool { _, ok := emu.Channel(caller); return !ok })

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := first.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("first ctid not killed: %v", err)
	}

	second := startChild(t, config)
	waitCallback(t, "the callback and the later caller both waiting in the new process", func() bool {
		_, body := get(t, second.base+"/metrics")
		return strings.Contains(body, `ctid_queue_calls_waiting{queue="sales"} 2`)
	})
	anna := dialDesk(t, ctx, second.base, "anna")
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready %v", r)
	}
	offer := anna.wait("an offer", func(f map[string]any) bool { return f["event"] == "call.offered" })
	if offer["call_id"] != caller || offer["direction"] != "callback" {
		t.Fatalf("anna's first offer after the restart %v, want the callback %s\n%s", offer, caller, second.stderr)
	}
	anna.wait("connected", event("call.connected", caller))
	if r := anna.do(ctx, "call.hangup", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("hangup of the callback %v", r)
	}
	anna.wait("wrap-up", event("wrapup.started", caller))
	if r := anna.do(ctx, "wrapup.done", map[string]any{"call_id": caller, "disposition": "called back"}); r["ok"] != true {
		t.Fatalf("wrapup %v", r)
	}
	anna.wait("the later caller offered", event("call.offered", behind))
	if err := emu.Hangup(behind, 16); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the last records are queued
	db := second.stopAndOpenStore(t, dbPath)
	ix, err := db.Interaction(ctx, caller)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Ended.IsZero() || ix.Outcome != "answered" || ix.Answered.IsZero() || ix.Disposition != "called back" {
		t.Fatalf("record of the callback kept over the kill %+v", ix)
	}
	if cb, err := db.Callback(ctx, caller); err != nil || cb.Status != store.CallbackDone || cb.Attempts != 1 || cb.Agent != "anna" {
		t.Fatalf("callback row %+v %v", cb, err)
	}
	if list, err := db.InteractionsByNumber(ctx, number, 10); err != nil || len(list) != 1 {
		t.Fatalf("records for %s: %d %v", number, len(list), err)
	}
}

// withCallbacks gives a kill test's config keep-your-place callbacks
// (calls.callback_endpoint to the emulator's far ends).
func withCallbacks(t *testing.T, config string) {
	t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "calls:\n  offer_timeout: 60s\n",
		"calls:\n  offer_timeout: 60s\n  callback_endpoint: \"Local/{number}@callers\"\n", 1)
	if s == string(b) {
		t.Fatal("kill config has no calls section to extend")
	}
	if err := os.WriteFile(config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitCallback polls cond for up to 15 s.
func waitCallback(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
