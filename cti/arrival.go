package cti

import (
	"context"
	"strconv"
	"sync"
)

// arrive does what an inbound caller needs besides being queued: the answer (unless
// left ringing), then the marks that let a later ctid run re-adopt the call and music
// on hold (three ARI requests at once, each on its own short-lived goroutine). The
// contact history for the screen-pop is read meanwhile, from the call's start
// (start, fetchHistory).
//
// The call is queued — and may be offered — while the requests are still out: the
// offer only needs the history, so it does not wait for a round trip to Asterisk.
// What could act on the caller's channel waits for them instead: until arrivedMsg
// comes back (once every request is answered), the actor handles only offers (and
// their withdrawal) and holds every other message, in order, for afterwards (run,
// holdWhileArriving). An agent's accept therefore never bridges a caller who is not
// answered yet or whose music on hold is still starting. An answer that fails for
// good (after the transient retries) ends the call with the fallback then
// (answerFailed); nothing else is sent to a caller whose answer failed.
//
// A caller left ringing (queues[].answer: on_connect) gets no answer and no music.
// The goroutines end with their requests (each bounded by the operation timeout,
// the answer's retries by transientBudget). A failed mark or music is logged and
// the call goes on, as before: no mark means no re-adoption after a restart, no
// music means the caller waits in silence.
func (a *callActor) arrive(ctx context.Context) {
	var (
		answerErr, argsErr, arrivedErr, mohErr error
	)
	ari, channel, ringing, opTimeout := a.o.ari, a.channel, a.ringing, a.o.cfg.OpTimeout
	args, arrived, mohClass := a.in.args(), strconv.FormatInt(a.arrived.UnixNano(), 10), a.o.cfg.MOHClass
	done := make(chan struct{})
	a.arriving = done
	log := a.log
	box := a.box
	o := a.o
	go func() { // ends once the (bounded) requests have
		if !ringing {
			answerErr = o.retryTransient(ctx, func(c context.Context) error { return ari.Answer(c, channel) })
		}
		if answerErr == nil {
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			var wg sync.WaitGroup
			wg.Go(func() { argsErr = ari.SetVar(octx, channel, argsVar, args) })
			wg.Go(func() { arrivedErr = ari.SetVar(octx, channel, arrivedVar, arrived) })
			if !ringing { // a caller left ringing (answer: on_connect) gets no music
				wg.Go(func() { mohErr = ari.StartMOH(octx, channel, mohClass) })
			}
			wg.Wait()
			cancel()
		}
		if argsErr != nil {
			log.Warn().Err(argsErr).Msg("could not mark the call for re-adoption after a restart")
		}
		if arrivedErr != nil {
			log.Warn().Err(arrivedErr).Msg("could not mark the caller's arrival for re-adoption after a restart")
		}
		if mohErr != nil {
			log.Warn().Err(mohErr).Msg("music on hold failed; the caller waits in silence")
		}
		close(done)
		box.send(arrivedMsg{answerErr: answerErr}) // false once the call has ended: nothing waits then
	}()
}

// arrivedMsg: the arrival's ARI requests are all answered (arrive); answerErr is
// the answer's failure, if it failed for good.
type arrivedMsg struct{ answerErr error }

// waitArrival waits for the arrival's requests, for what must not overlap them
// outside the run loop (the fallback of a call the engine refused).
func (a *callActor) waitArrival(ctx context.Context) {
	if a.arriving == nil {
		return
	}
	select {
	case <-a.arriving:
		a.arriving = nil
	case <-ctx.Done():
	}
}

// holdWhileArriving reports whether m waits for the arrival's requests (arrive).
// Offers go through, ahead of held events (an offer racing a caller's hang-up is
// the same race as without the arrival). Every other message is held, and so is what
// could be reordered against it: a withdrawal once anything is held (it stays behind
// an accept the engine decided before it), an offer once a withdrawal is held (the
// withdrawn offer's ringing is closed first).
func (a *callActor) holdWhileArriving(m any) bool {
	if a.arriving == nil {
		return false
	}
	switch m.(type) {
	case arrivedMsg:
		return false
	case offerMsg:
		for _, h := range a.held {
			if _, ok := h.(withdrawMsg); ok {
				return true
			}
		}
		return false
	case withdrawMsg:
		return len(a.held) > 0
	}
	return true
}
