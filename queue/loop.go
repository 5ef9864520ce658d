package queue

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Loop owns an *Engine from one goroutine (Run) and serialises commands sent from
// any goroutine; each command gets its result synchronously. Decisions returned by
// Loop methods are copies and stay valid.
type Loop struct {
	e    *Engine
	cmds chan loopCmd
	done chan struct{}
}

type loopCmd struct {
	fn    func(*Engine) ([]Decision, error)
	reply chan loopReply
}

type loopReply struct {
	ds  []Decision
	err error
}

// NewLoop wraps an engine. Do not use e directly after this.
func NewLoop(e *Engine) *Loop {
	return &Loop{e: e, cmds: make(chan loopCmd), done: make(chan struct{})}
}

// Run executes commands until ctx is cancelled. It returns ctx.Err().
func (l *Loop) Run(ctx context.Context) error {
	defer close(l.done)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-l.cmds:
			ds, err := c.fn(l.e)
			c.reply <- loopReply{ds: slices.Clone(ds), err: err}
		}
	}
}

// Do runs fn on the loop goroutine and returns its (copied) decisions.
func (l *Loop) Do(ctx context.Context, fn func(*Engine) ([]Decision, error)) ([]Decision, error) {
	reply := make(chan loopReply, 1)
	select {
	case l.cmds <- loopCmd{fn: fn, reply: reply}:
	case <-l.done:
		return nil, ErrLoopStopped
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrLoopStopped, ctx.Err())
	}
	// Run always replies to a command it has received.
	r := <-reply
	return r.ds, r.err
}

// AgentLogin — see Engine.AgentLogin.
func (l *Loop) AgentLogin(ctx context.Context, now time.Time, id AgentID) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.AgentLogin(now, id) })
}

// AgentReady — see Engine.AgentReady.
func (l *Loop) AgentReady(ctx context.Context, now time.Time, id AgentID) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.AgentReady(now, id) })
}

// AgentNotReady — see Engine.AgentNotReady.
func (l *Loop) AgentNotReady(ctx context.Context, now time.Time, id AgentID, reason string) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.AgentNotReady(now, id, reason) })
}

// AgentLogout — see Engine.AgentLogout.
func (l *Loop) AgentLogout(ctx context.Context, now time.Time, id AgentID) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.AgentLogout(now, id) })
}

// CallArrived — see Engine.CallArrived.
func (l *Loop) CallArrived(ctx context.Context, now time.Time, c Call) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.CallArrived(now, c) })
}

// CallAbandoned — see Engine.CallAbandoned.
func (l *Loop) CallAbandoned(ctx context.Context, now time.Time, id CallID) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.CallAbandoned(now, id) })
}

// OfferAccepted — see Engine.OfferAccepted.
func (l *Loop) OfferAccepted(ctx context.Context, now time.Time, id CallID, a AgentID) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.OfferAccepted(now, id, a) })
}

// OfferRejected — see Engine.OfferRejected.
func (l *Loop) OfferRejected(ctx context.Context, now time.Time, id CallID, a AgentID) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.OfferRejected(now, id, a) })
}

// CallEnded — see Engine.CallEnded.
func (l *Loop) CallEnded(ctx context.Context, now time.Time, id CallID) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.CallEnded(now, id) })
}

// WrapUpDone — see Engine.WrapUpDone.
func (l *Loop) WrapUpDone(ctx context.Context, now time.Time, id AgentID) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.WrapUpDone(now, id) })
}

// Tick — see Engine.Tick.
func (l *Loop) Tick(ctx context.Context, now time.Time) ([]Decision, error) {
	return l.Do(ctx, func(e *Engine) ([]Decision, error) { return e.Tick(now), nil })
}

// Snapshot — see Engine.Snapshot.
func (l *Loop) Snapshot(ctx context.Context, now time.Time) (Snapshot, error) {
	var s Snapshot
	_, err := l.Do(ctx, func(e *Engine) ([]Decision, error) { s = e.Snapshot(now); return nil, nil })
	return s, err
}

// QueueStats — see Engine.QueueStats.
func (l *Loop) QueueStats(ctx context.Context, now time.Time, id QueueID) (QueueStats, error) {
	var s QueueStats
	var qerr error
	_, err := l.Do(ctx, func(e *Engine) ([]Decision, error) { s, qerr = e.QueueStats(now, id); return nil, nil })
	if err != nil {
		return s, err
	}
	return s, qerr
}

// NextTimer — see Engine.NextTimer: when the orchestrator should call Tick next.
func (l *Loop) NextTimer(ctx context.Context) (time.Time, bool, error) {
	var at time.Time
	var ok bool
	_, err := l.Do(ctx, func(e *Engine) ([]Decision, error) { at, ok = e.NextTimer(); return nil, nil })
	return at, ok, err
}
