package ariemu

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"
)

// A long-running emulator keeps the newest Config.RequestLog requests, oldest first.
func TestRequestLogKeepsTheNewest(t *testing.T) {
	emu, err := New(Config{RequestLog: 3, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
	})
	for i := range 5 {
		emu.record("GET", fmt.Sprintf("/r%d", i), nil, nil, 200)
		reqs := emu.Requests()
		if want := min(i+1, 3); len(reqs) != want {
			t.Fatalf("after %d requests: %d kept, want %d", i+1, len(reqs), want)
		}
		if last := reqs[len(reqs)-1].Path; last != fmt.Sprintf("/r%d", i) {
			t.Fatalf("after %d requests the newest is %s", i+1, last)
		}
	}
	var got []string
	for _, r := range emu.Requests() {
		got = append(got, r.Path)
	}
	if fmt.Sprint(got) != "[/r2 /r3 /r4]" {
		t.Fatalf("kept %v, want [/r2 /r3 /r4]", got)
	}
}

// Ended ExternalMedia legs keep their RTP counters for the keptRTPStats most
// recent ones; older ones are forgotten so a soak does not grow.
func TestEndedRTPStatsAreBounded(t *testing.T) {
	emu, err := New(Config{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
	})
	emu.mu.Lock()
	for i := range keptRTPStats + 2 {
		id := fmt.Sprintf("em-%d", i)
		emu.rtpLegs[id] = &rtpLeg{}
		emu.forgetRTPLater(id)
	}
	n := len(emu.rtpLegs)
	_, first := emu.rtpLegs["em-0"]
	_, second := emu.rtpLegs["em-1"]
	_, third := emu.rtpLegs["em-2"]
	_, last := emu.rtpLegs[fmt.Sprintf("em-%d", keptRTPStats+1)]
	emu.mu.Unlock()
	if n != keptRTPStats || first || second || !third || !last {
		t.Fatalf("%d legs kept (want %d); em-0 %v em-1 %v em-2 %v newest %v", n, keptRTPStats, first, second, third, last)
	}
}
