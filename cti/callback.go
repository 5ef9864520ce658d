package cti

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

// requestCallback turns the waiting caller into a keep-your-place callback: the
// engine keeps the position, the caller is thanked and released.
func (a *callActor) requestCallback(ctx context.Context) {
	// The request's row (callback_sweep.go) is stored before the engine has it: the
	// callback can be dialled the moment it is requested, and the dial's row update
	// must not be overwritten by a later "pending".
	a.saveCallbackRequest(ctx, a.caller.Number, store.CallbackPending)
	err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.RequestCallback(now, queue.CallID(a.id), a.caller.Number)
	})
	if err != nil {
		a.log.Warn().Err(err).Msg("callback request refused")
		a.saveCallbackRequest(ctx, a.caller.Number, store.CallbackCancelled)
		return
	}
	a.log.Info().Str("number", a.caller.Number).Msg("caller chose a keep-your-place callback")
	a.queued = false // the engine keeps the place as a virtual caller
	a.outcome = cbRequested
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.Hangup(octx, a.channel, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("releasing the caller after the callback request")
	}
	a.finish(ctx, "callback requested")
}

// startCallback dials a callback whose turn has come, for the reserved agent.
func (o *Orchestrator) startCallback(ctx context.Context, d queue.Decision) {
	if o.cfg.CallbackEndpoint == "" {
		o.log.Error().Str("call_id", string(d.Call)).Msg("callback due but calls.callback_endpoint is not set")
		return
	}
	id := string(d.Call)
	// The caller's own actor may still be winding down (the callback can be due
	// the moment it is requested); the callback actor takes the call id over.
	o.mu.Lock()
	n := o.callbacks[id] + 1
	o.callbacks[id] = n
	o.mu.Unlock()
	a := &callActor{
		o: o, id: id, channel: fmt.Sprintf("%s-cb-%d", id, n), in: inbound{queue: string(d.Queue), vars: map[string]string{}},
		caller: ari.CallerID{Number: d.Number}, arrived: o.now(), box: newMailbox(), done: make(chan struct{}),
		callback: d.Number, agent: string(d.Agent),
	}
	a.log = o.log.With().Str("call_id", id).Str("channel_id", a.channel).Str("queue", a.in.queue).Logger()
	o.mu.Lock()
	o.calls[id] = a
	o.byChannel[a.channel] = a
	o.mu.Unlock()
	o.wg.Go(func() { a.run(ctx) })
}

// dialBack originates the callback; the agent is connected when the customer
// answers (StasisStart), and the engine is told either way.
func (a *callActor) dialBack(ctx context.Context) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	a.setState(stateOffered)
	a.ringStart = a.o.now()
	pop := a.screenPop(time.Time{})
	pop["direction"] = "callback"
	a.o.publish(a.agent, "call.offered", pop)
	a.saveCallbackRow(ctx, store.CallbackInProgress) // before the dial: a kill leaves it for the sweep (callback_sweep.go)
	_, err := a.o.ari.Originate(octx, telephony.OriginateParams{
		Endpoint:  strings.ReplaceAll(a.o.cfg.CallbackEndpoint, "{number}", a.callback),
		ChannelID: a.channel, AppArgs: []string{"callback", a.id},
		CallerID: a.o.cfg.CallbackCallerID, Timeout: int(callbackRingTimeout / time.Second),
	})
	if err != nil {
		a.callbackFailed(ctx, err.Error())
		return
	}
	a.log.Info().Str("number", a.callback).Str("agent", a.agent).Msg("dialling a callback")
}

// callbackAnswered connects the reserved agent to the customer who answered.
func (a *callActor) callbackAnswered(ctx context.Context) {
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.OfferAccepted(now, queue.CallID(a.id), queue.AgentID(a.agent))
	}); err != nil {
		a.log.Error().Err(err).Msg("engine refused the answered callback")
		a.outcome = "failed"
		a.saveCallbackRow(ctx, store.CallbackFailed)
		octx, cancel := a.opCtx(ctx)
		defer cancel()
		if herr := a.o.ari.Hangup(octx, a.channel, "normal"); herr != nil && !errors.Is(herr, telephony.ErrNotFound) {
			a.log.Warn().Err(herr).Msg("hang up callback")
		}
		a.finish(ctx, "engine refused")
		return
	}
	a.queued = true
	a.o.record(func(r Records) error {
		return r.SaveInteraction(store.Interaction{ID: a.id, Direction: store.Inbound, Created: a.arrived})
	})
	a.markCallback(ctx) // for a take-over after a restart (callback_adopt.go)
	a.saveCallbackRow(ctx, store.CallbackDone)
	if err := a.connect(ctx, a.agent); err != nil {
		a.log.Error().Err(err).Msg("connecting the agent to the callback")
	}
}

// callbackFailed: the dial was not answered. The engine parks the callback for a
// retry (its row pending again, completed_at the failure: a restart takes it back
// from there, callback_restore.go) or drops it when its dials are used up (failed).
func (a *callActor) callbackFailed(ctx context.Context, cause string) {
	a.log.Warn().Str("cause", cause).Msg("callback not answered")
	kept := false // set on the engine's goroutine; read after engine returns
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		ds, err := e.CallbackFailed(now, queue.CallID(a.id))
		kept = err == nil && !slices.ContainsFunc(ds, func(d queue.Decision) bool { return d.Kind == queue.DecCallbackDropped })
		return ds, err
	}); err != nil {
		a.log.Warn().Err(err).Msg("engine callback failed")
	}
	a.o.publish(a.agent, "call.ended", map[string]any{"call_id": a.id, "reason": "callback not answered"})
	a.outcome = cbFailed
	if kept {
		a.saveCallbackRow(ctx, store.CallbackPending)
	} else {
		a.saveCallbackRow(ctx, store.CallbackFailed)
	}
	a.finish(ctx, cause)
}
