package cti

import (
	"context"
	"strconv"
	"sync"
)

// arrive does what an answered inbound caller needs besides being queued: the marks
// that let a later ctid run re-adopt the call and music on hold (three ARI requests,
// each on its own short-lived goroutine). The contact history for the screen-pop is
// read meanwhile, from before the answer (start, fetchHistory).
//
// The call is queued — and may be offered — while the requests are still out: the
// offer only needs the history, so it does not wait for a round trip to Asterisk.
// What could act on the caller's channel waits for them instead: until arrivedMsg
// comes back (once every request is answered), the actor handles only offers (and
// their withdrawal) and holds every other message, in order, for afterwards (run,
// holdWhileArriving). An agent's accept therefore never bridges a caller whose music
// on hold is still starting.
//
// A caller left ringing (queues[].answer: on_connect) gets no music on hold.
// Each goroutine ends with its request (bounded by the operation timeout). A failure
// is logged and the call goes on, as before: no mark means no re-adoption after a
// restart, no music means the caller waits in silence.
func (a *callActor) arrive(ctx context.Context) {
	octx, cancel := a.opCtx(ctx)
	var (
		wg                          sync.WaitGroup
		argsErr, arrivedErr, mohErr error
	)
	wg.Go(func() { argsErr = a.o.ari.SetVar(octx, a.channel, argsVar, a.in.args()) })
	wg.Go(func() {
		arrivedErr = a.o.ari.SetVar(octx, a.channel, arrivedVar, strconv.FormatInt(a.arrived.UnixNano(), 10))
	})
	if !a.ringing { // a caller left ringing (answer: on_connect) gets no music
		wg.Go(func() { mohErr = a.o.ari.StartMOH(octx, a.channel, a.o.cfg.MOHClass) })
	}
	done := make(chan struct{})
	a.arriving = done
	log := a.log
	box := a.box
	go func() { // ends once the (bounded) requests have
		wg.Wait()
		cancel()
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
		box.send(arrivedMsg{}) // false once the call has ended: nothing waits then
	}()
}

// arrivedMsg: the arrival's ARI requests are all answered (arrive).
type arrivedMsg struct{}

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
