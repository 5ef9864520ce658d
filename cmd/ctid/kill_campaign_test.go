package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ctid is SIGKILLed while anna talks on her manual dial (an outbound call through
// calls.external_endpoint) and restarted against the same emulator and store: the
// call is taken over, not ended — the customer is still bridged with anna's phone,
// her reconnected desktop shows her talking on it, she hangs up, gets wrap-up and
// records the disposition; the call is one interaction record, closed once,
// answered, with her disposition.
func TestKillNineWithManualDialTalking(t *testing.T) {
	emu, srvURL, dbPath := killPBX(t)
	config := killConfig(t, srvURL+"/ari", dbPath)
	withDial(t, config)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := startChild(t, config)
	anna := dialDesk(t, ctx, first.base, "anna")
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready %v", r)
	}
	const number = "+442079460150" // the far end answers and talks
	r := anna.do(ctx, "call.dial", map[string]any{"number": number})
	call, _ := r["call_id"].(string)
	if r["ok"] != true || call == "" {
		t.Fatalf("dial %v", r)
	}
	conn := anna.wait("connected", event("call.connected", call))

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := first.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("first ctid not killed: %v", err)
	}
	for _, id := range []string{call, call + "-agent"} {
		if _, ok := emu.Channel(id); !ok {
			t.Fatalf("%s gone with ctid; Asterisk keeps calls when its ARI client dies", id)
		}
	}

	second := startChild(t, config)
	anna = dialDesk(t, ctx, second.base, "anna")
	deadline := time.Now().Add(15 * time.Second)
	for {
		snap := anna.wait("snapshot", func(f map[string]any) bool { return f["event"] == "snapshot" })
		b, err := json.Marshal(snap)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"state":"talking"`) && strings.Contains(string(b), call) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("anna's snapshot after the restart: %s\n%s", b, second.stderr)
		}
		// the take-over may land just after her desktop's snapshot: ask again
		time.Sleep(200 * time.Millisecond)
		anna = dialDesk(t, ctx, second.base, "anna")
	}
	if ch, _ := emu.Channel(call); ch.Bridge != conn["bridge_id"] {
		t.Fatalf("customer in bridge %q, was %v", ch.Bridge, conn["bridge_id"])
	}
	if r := anna.do(ctx, "call.hangup", map[string]any{"call_id": call}); r["ok"] != true {
		t.Fatalf("hangup of the taken-over call %v\n%s", r, second.stderr)
	}
	anna.wait("wrap-up", event("wrapup.started", call))
	if r := anna.do(ctx, "wrapup.done", map[string]any{"call_id": call, "disposition": "sale"}); r["ok"] != true {
		t.Fatalf("wrapup %v", r)
	}
	time.Sleep(300 * time.Millisecond) // the last records are queued
	db := second.stopAndOpenStore(t, dbPath)
	ix, err := db.Interaction(ctx, call)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Ended.IsZero() || ix.Outcome != "answered" || ix.Cause == "ctid restarted" || ix.Disposition != "sale" {
		t.Fatalf("taken-over call's record %+v", ix)
	}
	if list, err := db.InteractionsByNumber(ctx, number, 10); err != nil || len(list) != 1 {
		t.Fatalf("records for %s: %d %v", number, len(list), err)
	}
}

// withDial gives a kill test's config manual dial: calls.external_endpoint (the
// emulator's far ends) and a default region.
func withDial(t *testing.T, config string) {
	t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "calls:\n  offer_timeout: 60s\n",
		"calls:\n  offer_timeout: 60s\n  default_region: GB\n  external_endpoint: \"Local/{number}@callers\"\n", 1)
	if s == string(b) {
		t.Fatal("kill config has no calls section to extend")
	}
	if err := os.WriteFile(config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
