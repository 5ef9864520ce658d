package cti

import (
	"context"
	"errors"
	"os"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
)

// Keep-your-place callbacks a killed run was keeping (docs/RELIABILITY.md).
//
// A requested callback that is not being dialled lives only in the engine (a
// virtual caller at the caller's place in its queue); its store row (callbacks,
// callback_sweep.go) is pending. Each row names the node keeping it (Config.Node,
// default the host name: stable across restarts of one node) and the place itself:
// the caller's original arrival, priority and skill expression. A row stays pending
// while the engine holds the entry: from the request, and again after a dial that was
// not answered and that the engine parks for a retry (completed_at: when that dial
// ended; attempts: the dials so far); it is failed only when the engine drops it.
//
// After the first ARI resync (the PBX's channels taken over first), the run reads
// its own node's pending rows requested before it started and puts each back into
// its queue at its place (queue.Engine.RestoreCallback: the original arrival and
// priority, the failed dials counted, parked until its retry time when the last one
// failed less than the retry delay ago), so it is dialled when its turn comes, ahead
// of callers who arrived later, as if ctid had not died; the caller's record (closed
// callback_requested at the request) is continued by that dial as usual. A row the
// engine cannot take back (its queue is no longer configured, its dials are used up
// under the current retry setting) is closed failed, the record callback_failed with
// cbRestoreCause. A row whose call id the engine already has is left to it.
//
// A callback that was ringing at the kill and ended unanswered while ctid was down
// (the sweep, callback_sweep.go) is put back the same way when it is this node's and
// the engine allows it another dial (the queue's retry policy, as after any dial that
// is not answered, rather than failing the customer for ctid's restart); it is
// failed only when that was its last dial.
//
// Other nodes' rows are left alone: the store has no fact that tells a dead node from
// a live one for callbacks (campaign leases exist only for running campaigns), and a
// live node's engine holds its pending callbacks. Rows written before schema version
// 10 have no node and are left alone too.

// cbRestoreCause is the interaction cause of a callback the restart could not take back.
const cbRestoreCause = "callback could not be restored after ctid restarted"

// callbackNodeRows reads one node's callback rows (*store.Store).
type callbackNodeRows interface {
	CallbacksOfNode(ctx context.Context, node string, status store.CallbackStatus, limit int) ([]store.Callback, error)
}

// defaultNode is the host name (Config.Node's default).
func defaultNode() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "ctid"
	}
	return host
}

// restoreCallbacks takes back, after the first ARI resync's take-over of the earlier
// run's calls, the callbacks this node's earlier run was keeping (see above). It
// returns when done or when ctx ends.
func (o *Orchestrator) restoreCallbacks(ctx context.Context, started time.Time) {
	src, ok := o.records.(callbackNodeRows)
	if !ok {
		return
	}
	// After the take-over of the earlier run's calls: an agent it restores onto a
	// call must not be offered a callback first.
	select {
	case <-ctx.Done():
		return
	case <-o.TakeOverDone():
	}
	if ctx.Err() != nil {
		return // Run ended before the first take-over
	}
	rctx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	rows, err := src.CallbacksOfNode(rctx, o.cfg.Node, store.CallbackPending, callbackSweepLimit)
	cancel()
	if err != nil {
		o.log.Warn().Err(err).Msg("cannot read the callbacks an earlier run was keeping")
		return
	}
	n := 0
	for _, r := range rows {
		if ctx.Err() != nil {
			return
		}
		if !r.Requested.Before(started) {
			continue // this run's own request
		}
		var last time.Time
		if r.Attempts > 0 {
			last = r.Completed
		}
		if o.restoreCallback(ctx, r, last) {
			n++
		}
	}
	if n > 0 {
		o.log.Info().Int("callbacks", n).Str("node", o.cfg.Node).Msg("keep-your-place callbacks of an earlier run back at their place")
	}
}

// restoreCallback puts r back into its queue at its place, r.Attempts dials failed
// (the last at lastFailed); false when the engine did not take it (the row and the
// record are then closed failed, unless the engine has that call id already).
func (o *Orchestrator) restoreCallback(ctx context.Context, r store.Callback, lastFailed time.Time) bool {
	log := o.log.With().Str("call_id", r.ID).Str("queue", r.Queue).Logger()
	dropped, err := o.putBack(ctx, r, lastFailed)
	switch {
	case errors.Is(err, queue.ErrDuplicateCall):
		log.Info().Msg("a callback of an earlier run is held by this run already")
		return false
	case ctx.Err() != nil:
		return false
	case err != nil:
		log.Warn().Err(err).Msg("a callback of an earlier run cannot be put back in its queue: closed failed")
		o.closeCallback(ctx, r, o.now(), cbRestoreCause+": "+err.Error(), log)
		return false
	case dropped:
		log.Info().Int("attempts", r.Attempts).Msg("a callback of an earlier run has used up its dials: closed failed")
		o.closeCallback(ctx, r, o.now(), cbRestoreCause+": its dials are used up", log)
		return false
	}
	log.Info().Int("failed_dials", r.Attempts).Str("number", r.Number).
		Msg("took back a keep-your-place callback an earlier run was keeping")
	return true
}

// putBack gives the engine r at its place (queue.Engine.RestoreCallback); dropped:
// the engine dropped it at once (its dials used up).
func (o *Orchestrator) putBack(ctx context.Context, r store.Callback, lastFailed time.Time) (dropped bool, err error) {
	arrived := r.Arrived
	if arrived.IsZero() {
		arrived = r.Requested
	}
	// The next dial is "<call>-cb-<attempts+1>" (startCallback), whether the engine
	// dials it at once or later.
	o.mu.Lock()
	prev, had := o.callbacks[r.ID]
	o.callbacks[r.ID] = max(prev, r.Attempts)
	o.mu.Unlock()
	err = o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		ds, err := e.RestoreCallback(now, queue.Call{ID: queue.CallID(r.ID), Queue: queue.QueueID(r.Queue), Arrived: arrived,
			Priority: r.Priority, Skills: r.Skills}, r.Number, r.Attempts, lastFailed)
		dropped = err == nil && slices.ContainsFunc(ds, func(d queue.Decision) bool { return d.Kind == queue.DecCallbackDropped })
		return ds, err
	})
	if (err != nil && !errors.Is(err, queue.ErrDuplicateCall)) || dropped {
		o.mu.Lock()
		if had {
			o.callbacks[r.ID] = prev
		} else {
			delete(o.callbacks, r.ID)
		}
		o.mu.Unlock()
	}
	return dropped, err
}

// closeCallback closes a callback of an earlier run that will not be dialled (again):
// the caller's record, still callback_requested, becomes callback_failed with cause,
// ended at ended, and the row failed. A record answered (someone's call) or closed
// otherwise since the request is left as it is.
func (o *Orchestrator) closeCallback(ctx context.Context, r store.Callback, ended time.Time, cause string, log zerolog.Logger) bool {
	if r.InteractionID != "" {
		rctx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
		ix, err := o.records.Interaction(rctx, r.InteractionID)
		cancel()
		switch {
		case err != nil && !errors.Is(err, store.ErrNotFound):
			log.Warn().Err(err).Msg("cannot read the record of a callback of an earlier run; left open")
			return false
		case err == nil && !ix.Answered.IsZero():
			return false // answered: someone's call (another node's, its row not yet done)
		case err == nil && ix.Outcome != cbRequested:
			// closed otherwise since the request (a late answer got the fallback:
			// closeLateOutbound): only the row is left to close
		case err == nil:
			o.record(func(rs Records) error {
				return rs.CloseInteraction(store.InteractionClose{ID: r.InteractionID, Ended: ended, Outcome: cbFailed, Cause: cause})
			})
		}
	}
	r.Status, r.Completed = store.CallbackFailed, ended
	sctx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	defer cancel()
	if err := o.records.SaveDurable(sctx, r); err != nil {
		log.Warn().Err(err).Msg("callback row not saved")
		return false
	}
	return true
}

// requeueSwept puts a callback of this node that ended unanswered while ctid was
// down (at ended) back at its place for another dial, when the retry policy allows
// one (see above); false when it did not (the caller then closes it failed).
func (o *Orchestrator) requeueSwept(ctx context.Context, r store.Callback, ended time.Time, log zerolog.Logger) bool {
	if r.Node != o.cfg.Node {
		return false
	}
	// Pending first: the engine may dial it at once, and that dial's in_progress row
	// must not be overwritten by this one.
	row := r
	row.Status, row.Completed = store.CallbackPending, ended
	sctx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	err := o.records.SaveDurable(sctx, row)
	cancel()
	if err != nil {
		log.Warn().Err(err).Msg("callback row not saved; closing it instead of dialling it again")
		return false
	}
	dropped, err := o.putBack(ctx, r, ended)
	switch {
	case errors.Is(err, queue.ErrDuplicateCall):
		return true // the start-up restore took the pending row back first
	case err != nil:
		log.Warn().Err(err).Msg("a callback that ended unanswered while ctid was down cannot be put back in its queue")
		return false
	case dropped:
		return false
	}
	log.Info().Int("failed_dials", r.Attempts).Msg("a callback that ended unanswered while ctid was down is back at its place for another dial")
	return true
}
