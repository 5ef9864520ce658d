package desktop

import (
	"testing"
	"time"
)

func TestHubSessionsCount(t *testing.T) {
	hs := newHarness(t, nil)
	if n := hs.srv.Hub().Sessions(); n != 0 {
		t.Fatalf("sessions before any socket: %d", n)
	}
	alice, _ := hs.login("alice")
	bob, _ := hs.login("bob")
	hs.dial(alice, "")
	hs.h.waitSession(t)
	b := hs.dial(bob, "")
	hs.h.waitSession(t)
	if n := hs.srv.Hub().Sessions(); n != 2 {
		t.Fatalf("sessions with two sockets: %d", n)
	}
	if err := b.conn.CloseNow(); err != nil {
		t.Fatal(err)
	}
	hs.h.waitSession(t) // SessionClosed
	deadline := time.Now().Add(10 * time.Second)
	for hs.srv.Hub().Sessions() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions after one closed: %d", hs.srv.Hub().Sessions())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
