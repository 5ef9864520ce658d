package cti

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony"
)

// Keep-your-place callbacks still ringing when a run died (docs/RELIABILITY.md).
//
// The caller's record was closed callback_requested when they asked for the
// callback; nothing else said whether the callback ever reached them. Each request
// now has a row in the store's callbacks table (the one the queue reports count:
// callbacks requested, completed, time from request to completion), keyed by the
// call id, interaction the caller's record: pending from the request (stored before
// the engine has it; cancelled if the engine refuses it) and again while the engine
// keeps it parked for a retry after a dial that was not answered, in_progress
// from each dial (attempts: the dial's N in "<call>-cb-N", due: when it was
// dialled), done once answered (or taken over after a restart), failed when the
// engine drops it (its dials used up). The row also names the node keeping it and
// the caller's place (callback_restore.go). A run that dies while
// one rings leaves it in_progress; the PBX ends it at its originate timeout
// (callbackRingTimeout) without the next run hearing of it (a ringing originated
// channel is not in the application). At start-up each run reads the in_progress
// rows placed before it started; once one is past its originate timeout plus
// sweepMargin, if its channel is gone in the PBX and the caller's record is not
// answered: this node's callback with a dial left under the retry policy is put
// back at its place for that dial (requeueSwept, callback_restore.go); any other is
// closed, the record callback_failed with cbSweptCause (ended at the originate
// timeout) and the row failed. A callback answered meanwhile (its late answer got
// the fallback, or another node follows it) is left alone.
//
// Several nodes on one database: callbacks are per node (placed by the node whose
// engine kept the place, on its own PBX) but the rows carry no node; every node
// sweeps every earlier row, which is safe for the same reason as the campaign sweep
// (campaign_sweep.go): a never-answered callback older than its originate timeout
// has ended on whichever PBX it rang, and a live node's answer is in the record well
// before the sweep looks (it is written at the answer, seconds before the timeout).

// callbackRingTimeout is a callback dial's originate timeout (dialBack).
const callbackRingTimeout = 30 * time.Second

// cbSweptCause is the interaction cause of a callback closed by the sweep.
const cbSweptCause = "callback ended unanswered while ctid was down"

// The caller's record outcomes of a keep-your-place callback.
const (
	cbRequested = "callback_requested" // the caller asked for it (the record closes then)
	cbFailed    = "callback_failed"    // it did not reach the caller
)

// callbackSweepLimit bounds the rows one start-up reads.
const callbackSweepLimit = 1000

// callbackRows reads the store's callback rows (*store.Store).
type callbackRows interface {
	CallbacksByStatus(ctx context.Context, status store.CallbackStatus, limit int) ([]store.Callback, error)
	Callback(ctx context.Context, id string) (store.Callback, error)
}

// saveCallbackRequest records the caller's request: pending, or cancelled when the
// engine refused it (see above).
func (a *callActor) saveCallbackRequest(ctx context.Context, number string, status store.CallbackStatus) {
	row := store.Callback{ID: a.id, Queue: a.in.queue, Number: number, InteractionID: a.id, Status: status, Requested: a.o.now(),
		Node: a.o.cfg.Node, Arrived: a.arrived, Priority: a.in.priority, Skills: a.in.skills} // its place (callback_restore.go)
	if status != store.CallbackPending {
		row.Completed = row.Requested
	}
	a.saveRow(ctx, row)
}

// saveCallbackRow records where this callback dial stands (see above). The request
// time is the pending row's (an upsert keeps it); a.arrived only stands in when
// that row is missing.
func (a *callActor) saveCallbackRow(ctx context.Context, status store.CallbackStatus) {
	row := store.Callback{ID: a.id, Queue: a.in.queue, Number: a.callback, InteractionID: a.id, Status: status,
		Requested: a.arrived, Due: a.ringStart, Attempts: max(callbackNumber(a.channel), 1), Agent: a.agent, Node: a.o.cfg.Node}
	if row.Due.IsZero() {
		row.Due = a.arrived
	}
	if status != store.CallbackInProgress {
		row.Completed = a.o.now()
	}
	a.saveRow(ctx, row)
}

func (a *callActor) saveRow(ctx context.Context, row store.Callback) {
	if a.o.records == nil {
		return
	}
	octx, cancel := a.opCtx(context.WithoutCancel(ctx))
	defer cancel()
	if err := a.o.records.SaveDurable(octx, row); err != nil {
		a.log.Warn().Err(err).Str("status", row.Status.String()).Msg("callback row not saved")
	}
}

// sweepCallbacks closes the callbacks of earlier runs that ended unanswered while
// ctid was down (see above). It returns when done or when ctx ends.
func (o *Orchestrator) sweepCallbacks(ctx context.Context, started time.Time) {
	src, ok := o.records.(callbackRows)
	if !ok {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	rows, err := src.CallbacksByStatus(rctx, store.CallbackInProgress, callbackSweepLimit)
	cancel()
	if err != nil {
		o.log.Warn().Err(err).Msg("cannot read the callbacks an earlier run left dialling")
		return
	}
	var todo []store.Callback
	for _, r := range rows {
		if r.Due.Before(started) {
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return
	}
	o.log.Info().Int("callbacks", len(todo)).Msg("callbacks of an earlier run never seen to end: checked after their originate timeout")
	for _, r := range todo { // oldest due first
		due := r.Due.Add(callbackRingTimeout + sweepMargin)
		if wait := due.Sub(o.now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		o.sweepCallback(ctx, src, r)
	}
}

// sweepCallback closes one callback whose channel is gone and whose caller's record
// is not answered.
func (o *Orchestrator) sweepCallback(ctx context.Context, src callbackRows, r store.Callback) {
	channel := fmt.Sprintf("%s-cb-%d", r.ID, r.Attempts)
	log := o.log.With().Str("call_id", r.ID).Str("channel_id", channel).Time("dialled", r.Due).Logger()
	{
		// re-read: another live node's retry may have dialled it again meanwhile
		rctx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
		cur, err := src.Callback(rctx, r.ID)
		cancel()
		switch {
		case err != nil:
			log.Warn().Err(err).Msg("cannot re-read a callback of an earlier run; left open")
			return
		case cur.Status != store.CallbackInProgress || cur.Attempts != r.Attempts || !cur.Due.Equal(r.Due):
			return // moved on: someone follows it
		}
	}
	if g, ok := o.ari.(channelGetter); ok {
		octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
		_, err := g.Channel(octx, channel)
		cancel()
		switch {
		case err == nil:
			log.Info().Msg("a callback of an earlier run is still up in the PBX: left to whoever follows it")
			return
		case !errors.Is(err, telephony.ErrNotFound):
			log.Warn().Err(err).Msg("cannot tell whether a callback of an earlier run is gone; left open")
			return
		}
	}
	ended := r.Due.Add(callbackRingTimeout)
	if now := o.now(); now.Before(ended) {
		ended = now
	}
	if r.InteractionID != "" {
		rctx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
		ix, err := o.records.Interaction(rctx, r.InteractionID)
		cancel()
		switch {
		case err != nil && !errors.Is(err, store.ErrNotFound):
			log.Warn().Err(err).Msg("cannot read the record of a callback of an earlier run; left open")
			return
		case err == nil && !ix.Answered.IsZero():
			return // answered: someone's call (another node's, its row not yet done)
		case err == nil && (ix.Outcome == cbRequested || ix.Outcome == cbFailed && ix.Cause != restartCause) &&
			o.requeueSwept(ctx, r, ended, log):
			// this node's, dialled again when its turn comes (callback_restore.go); a
			// record callback_failed by an earlier unanswered dial is continued the same
			// way, one closed by a late answer's fallback (restartCause) is not
			return
		}
	}
	if o.closeCallback(ctx, r, ended, cbSweptCause, log) {
		log.Info().Msg("closed a callback of an earlier run that ended unanswered while ctid was down")
	}
}
