package cti

import (
	"context"
	"strconv"
	"sync"
)

// arrive does what an answered inbound caller needs before it is queued: the marks
// that let a later ctid run re-adopt the call, music on hold, and the contact
// history for the screen-pop. They do not depend on one another, so they run at once
// (three ARI requests and a store read, each on its own short-lived goroutine) and
// the actor waits for all of them: one round trip on the offer's path instead of four.
// A caller left ringing (queues[].answer: on_connect) gets no music on hold.
// Each goroutine ends with its request (bounded by the operation timeout). A failure
// is logged and the call goes on, as before: no mark means no re-adoption after a
// restart, no music means the caller waits in silence.
func (a *callActor) arrive(ctx context.Context) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
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
	a.loadHistory(ctx) // here, on the actor's goroutine, while the requests are out
	wg.Wait()
	if argsErr != nil {
		a.log.Warn().Err(argsErr).Msg("could not mark the call for re-adoption after a restart")
	}
	if arrivedErr != nil {
		a.log.Warn().Err(arrivedErr).Msg("could not mark the caller's arrival for re-adoption after a restart")
	}
	if mohErr != nil {
		a.log.Warn().Err(mohErr).Msg("music on hold failed; the caller waits in silence")
	}
}
