package cti

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/desktop"
)

// A desktop opened before the first take-over waits for it (its snapshot, taken
// after SessionOpened, then has the restored calls), and no longer than the bound.
func TestDeskSessionWaitsForFirstTakeOver(t *testing.T) {
	o := &Orchestrator{took: newFirstTakeOver()}
	d := &Desk{o: o, log: zerolog.Nop(), takeOverWait: time.Minute}
	opened := make(chan struct{})
	go func() {
		d.SessionOpened(desktop.Principal{User: "sam", Role: desktop.RoleSupervisor})
		close(opened)
	}()
	select {
	case <-opened:
		t.Fatal("the session opened before the take-over was done")
	case <-time.After(100 * time.Millisecond):
	}
	o.took.finish()
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("the session still waits after the take-over")
	}
	o.took.finish() // a second resync's take-over: no double close

	// Past the bound the desktop is served anyway.
	d = &Desk{o: &Orchestrator{took: newFirstTakeOver()}, log: zerolog.Nop(), takeOverWait: 20 * time.Millisecond}
	done := make(chan struct{})
	go func() {
		d.SessionOpened(desktop.Principal{User: "sam", Role: desktop.RoleSupervisor})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the session waited past its bound")
	}
	// An Orchestrator not built by New has nothing to wait for.
	select {
	case <-(&Orchestrator{}).TakeOverDone():
	default:
		t.Fatal("TakeOverDone of a bare Orchestrator is open")
	}
}
