package cti

import "sync"

// firstTakeOver is closed once the first ARI connection's take-over of an earlier
// run's calls is done (adopt.go): desktops connecting before it would get a
// snapshot without their restored call (Desk.SessionOpened waits for it, bounded),
// and /readyz says not ready until then.
type firstTakeOver struct {
	once sync.Once
	done chan struct{}
}

func newFirstTakeOver() *firstTakeOver { return &firstTakeOver{done: make(chan struct{})} }

func (f *firstTakeOver) finish() {
	if f != nil {
		f.once.Do(func() { close(f.done) })
	}
}

// TakeOverDone is closed once the calls an earlier run left in Asterisk have been
// taken over after the first ARI connection (restored, re-queued or ended), or when
// Run ends. Calls found by later reconnects do not reopen it.
func (o *Orchestrator) TakeOverDone() <-chan struct{} {
	if o.took == nil { // an Orchestrator not built by New (internal tests)
		c := make(chan struct{})
		close(c)
		return c
	}
	return o.took.done
}
