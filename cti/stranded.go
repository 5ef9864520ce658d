package cti

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ctid/ctid/telephony"
)

// A caller must never stay in the Stasis application because ARI failed at the
// moment ctid let go of them. When the last operation on a channel (the fallback,
// or hanging up the caller at the end of a call) fails because Asterisk answered
// 5xx or not at all, the channel is "stranded": one goroutine retries the fallback
// with backoff until it succeeds, the channel is gone, or ctid stops.

// transientBudget bounds how long a call flow retries an ARI step that failed with a
// server error or no answer before it gives up on the call (and strands it).
const transientBudget = 30 * time.Second

// Stranded-channel retry backoff.
const (
	strandRetryMin = 250 * time.Millisecond
	strandRetryMax = 5 * time.Second
)

// transient tells ARI failures that may pass (server error, no answer) from those
// that will not.
func transient(err error) bool {
	return errors.Is(err, telephony.ErrServer) || errors.Is(err, telephony.ErrUnavailable)
}

// retryTransient runs op until it succeeds, fails for good, or transientBudget
// passes, backing off between attempts; the last error is returned.
func (o *Orchestrator) retryTransient(ctx context.Context, op func(context.Context) error) error {
	deadline := time.Now().Add(transientBudget)
	wait := strandRetryMin
	for {
		octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
		err := op(octx)
		cancel()
		if err == nil || !transient(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, strandRetryMax)
	}
}

// strandKind is what is retried on a stranded resource.
type strandKind int

const (
	retryFallback      strandKind = iota // a caller: the configured fallback
	retryHangup                          // a channel to hang up normally
	retryDestroyBridge                   // a bridge of a finished call: destroy it
)

func (k strandKind) String() string {
	switch k {
	case retryFallback:
		return "fallback"
	case retryHangup:
		return "hangup"
	case retryDestroyBridge:
		return "destroy bridge"
	}
	return "strandKind(?)"
}

type stranded struct {
	kind strandKind
	id   string
}

// strand hands a caller channel whose final operation failed to the retry loop.
// err is that failure: only transient ones are retried (a refusal would be refused
// again).
func (o *Orchestrator) strand(channelID string, err error) {
	o.strandAs(retryFallback, channelID, err)
}

// strandHangup does the same for a channel to hang up normally: a leg ctid created,
// or a caller whose conversation is over.
func (o *Orchestrator) strandHangup(channelID string, err error) {
	o.strandAs(retryHangup, channelID, err)
}

// strandBridge does the same for the bridge of a finished call.
func (o *Orchestrator) strandBridge(bridgeID string, err error) {
	o.strandAs(retryDestroyBridge, bridgeID, err)
}

func (o *Orchestrator) strandAs(kind strandKind, id string, err error) {
	if !transient(err) || id == "" {
		return
	}
	o.log.Warn().Str("id", id).Str("retry", kind.String()).Err(err).Msg("ARI failing: retried until it succeeds")
	if kind != retryDestroyBridge {
		o.stranded.mark(id, true)
	}
	o.stranded.box.send(stranded{kind: kind, id: id})
}

// retryStranded owns the stranded set: it retries each channel's fallback or
// hang-up, or each bridge's teardown, until it succeeds or the resource is gone.
func (o *Orchestrator) retryStranded(ctx context.Context) {
	pending := map[stranded]bool{}
	wait := strandRetryMin
	for {
		var fire <-chan time.Time
		var t *time.Timer
		if len(pending) > 0 {
			t = time.NewTimer(wait)
			fire = t.C
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-o.stranded.box.signal:
		case <-fire:
			for s := range pending {
				if ctx.Err() != nil {
					return
				}
				if o.releaseOnce(ctx, s) {
					delete(pending, s)
					o.stranded.mark(s.id, false)
				}
			}
			wait = min(2*wait, strandRetryMax)
			if len(pending) == 0 {
				wait = strandRetryMin
			}
		}
		if t != nil {
			t.Stop()
		}
		for _, m := range o.stranded.box.drain() {
			if s, ok := m.(stranded); ok {
				pending[s] = true
			}
		}
	}
}

// releaseOnce tries a stranded resource once; true when done with it.
func (o *Orchestrator) releaseOnce(ctx context.Context, s stranded) bool {
	octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	defer cancel()
	var err error
	switch {
	case s.kind == retryDestroyBridge:
		err = o.ari.DestroyBridge(octx, s.id)
	case s.kind == retryFallback && o.cfg.Fallback == FallbackContinue:
		err = o.ari.Continue(octx, s.id, "", "", 0)
	case s.kind == retryFallback:
		err = o.ari.Hangup(octx, s.id, o.cfg.FallbackReason)
	default:
		err = o.ari.Hangup(octx, s.id, "normal")
	}
	log := o.log.With().Str("id", s.id).Str("retry", s.kind.String()).Logger()
	switch {
	case err == nil:
		log.Info().Msg("stranded resource released")
		return true
	case errors.Is(err, telephony.ErrNotFound):
		return true
	case transient(err):
		return false
	default:
		log.Error().Err(err).Msg("stranded resource refused; giving up on it")
		return true
	}
}

// strandedSet hands stranded resources to the retry loop and remembers the channels
// being released, so that a resync after a reconnect does not take them over again
// as callers of an earlier run.
type strandedSet struct {
	box *mailbox
	mu  sync.Mutex
	ids map[string]bool
}

func newStrandedSet() *strandedSet { return &strandedSet{box: newMailbox(), ids: map[string]bool{}} }

func (s *strandedSet) mark(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.ids[id] = true
	} else {
		delete(s.ids, id)
	}
}

// releasing reports whether ctid is still letting go of channel id.
func (s *strandedSet) releasing(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}
