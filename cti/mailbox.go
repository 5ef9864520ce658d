package cti

import (
	"context"
	"sync"
)

// mailbox is an unbounded FIFO for one actor. The event pump must never block on a
// slow call, so send never waits; the number of messages per call is bounded by what
// Asterisk and the agent do to that call.
type mailbox struct {
	mu     sync.Mutex
	items  []any
	closed bool
	signal chan struct{}
}

func newMailbox() *mailbox { return &mailbox{signal: make(chan struct{}, 1)} }

// send queues m; it reports false once the mailbox is closed.
func (b *mailbox) send(m any) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.items = append(b.items, m)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
	return true
}

// close refuses further messages and returns those not yet received.
func (b *mailbox) close() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	rest := b.items
	b.items = nil
	return rest
}

func (b *mailbox) receive(ctx context.Context) (any, bool) {
	for {
		b.mu.Lock()
		if len(b.items) > 0 {
			m := b.items[0]
			b.items[0] = nil
			b.items = b.items[1:]
			b.mu.Unlock()
			return m, true
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false
		case <-b.signal:
		}
	}
}

// drain returns and removes every queued message without waiting.
func (b *mailbox) drain() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.items
	b.items = nil
	return out
}
