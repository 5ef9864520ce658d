package cti

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

// AnswerMode says when ctid answers an inbound caller's channel (queues[].answer).
type AnswerMode int

const (
	// AnswerOnArrival answers the caller as it enters Stasis: music on hold,
	// announcements and the callback offer while it waits (the default).
	AnswerOnArrival AnswerMode = iota
	// AnswerOnConnect leaves the caller ringing (ctid indicates ringing; no music,
	// announcements or callback offer, which need an answered channel) and answers
	// only when an agent accepts, just before the caller is bridged. The caller's
	// carrier keeps billing off until someone actually talks to them.
	AnswerOnConnect
)

// String is the name used in ctid.yaml.
func (m AnswerMode) String() string {
	switch m {
	case AnswerOnArrival:
		return "on_arrival"
	case AnswerOnConnect:
		return "on_connect"
	}
	return fmt.Sprintf("AnswerMode(%d)", int(m))
}

// ParseAnswerMode reads on_arrival (or "") and on_connect.
func ParseAnswerMode(s string) (AnswerMode, error) {
	switch s {
	case "", "on_arrival":
		return AnswerOnArrival, nil
	case "on_connect":
		return AnswerOnConnect, nil
	}
	return AnswerOnArrival, fmt.Errorf("%w: %q: must be on_arrival or on_connect", ErrInvalidConfig, s)
}

// QueueAnswer sets a queue's answer mode (a queue not listed answers on arrival).
type QueueAnswer struct {
	Queue string
	Mode  AnswerMode
}

func validateAnswers(list []QueueAnswer) error {
	seen := map[string]bool{}
	for i, q := range list {
		if q.Queue == "" || seen[q.Queue] {
			return fmt.Errorf("%w: queues[%d].answer: queue %q: must be a unique, non-empty queue id", ErrInvalidConfig, i, q.Queue)
		}
		seen[q.Queue] = true
		if q.Mode != AnswerOnArrival && q.Mode != AnswerOnConnect {
			return fmt.Errorf("%w: queues[%d].answer: %s: must be on_arrival or on_connect", ErrInvalidConfig, i, q.Mode)
		}
	}
	return nil
}

func (c Config) answerOf(queue string) AnswerMode {
	for _, q := range c.Answers {
		if q.Queue == queue {
			return q.Mode
		}
	}
	return AnswerOnArrival
}

// ringOnArrival: an inbound caller is answered on arrival (the default), or left
// ringing with a ringing indication when the queue answers on connect and the
// channel is not up yet (a caller taken over from an earlier run may be). It
// reports whether the caller is left ringing.
//
// The answer itself is sent by the arrival (arrival.go), off the offer's path;
// ringOnArrival only decides and indicates ringing, which it does before the call is
// queued.
func (a *callActor) ringOnArrival(ctx context.Context) (ringing bool) {
	if a.o.cfg.answerOf(a.in.queue) != AnswerOnConnect || a.upOnArrival {
		return false
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.Ring(octx, a.channel); err != nil {
		// The caller hears whatever the network gives before an answer; the
		// call goes on and is answered on connect as configured.
		a.log.Warn().Err(err).Msg("could not indicate ringing to the caller")
	}
	return true
}

// answerFailed ends a call whose answer on arrival failed for good (after the
// transient retries): it was queued, and maybe offered, while the answer was out
// (arrival.go), so it leaves the engine like a caller who hung up (the engine has
// no other way out for a waiting call: it counts as abandoned there), the agent it
// was offered to is told, its record is closed failed, and the fallback applies.
func (a *callActor) answerFailed(ctx context.Context, err error) {
	if errors.Is(err, telephony.ErrNotFound) { // the caller hung up before the answer
		a.callerLeft(ctx, "caller left before the answer")
		return
	}
	a.log.Error().Err(err).Msg("answer failed; applying fallback")
	if a.queued {
		if eerr := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.CallAbandoned(now, queue.CallID(a.id))
		}); eerr != nil {
			a.log.Warn().Err(eerr).Msg("engine abandon")
		}
		a.queued = false
	}
	if a.state == stateOffered && a.agent != "" {
		a.o.publish(a.agent, "call.ended", map[string]any{"call_id": a.id, "reason": "answer failed"})
	}
	a.outcome = "failed"
	a.finish(ctx, "answer failed")
	a.o.fallback(ctx, a.channel, a.log)
}

// answerOnConnect answers a caller left ringing (queues[].answer: on_connect), just
// before it is bridged with the agent who accepted. An answer that fails because
// the caller is already gone is left to the StasisEnd that follows.
func (a *callActor) answerOnConnect(ctx context.Context) error {
	if !a.ringing {
		return nil
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.Answer(octx, a.channel); err != nil {
		if errors.Is(err, telephony.ErrNotFound) {
			return fmt.Errorf("%w: the caller left before the answer", ErrCallState)
		}
		return fmt.Errorf("answer the caller on connect: %w", err)
	}
	a.ringing = false
	a.log.Info().Str("agent", a.agent).Msg("caller answered on connect")
	return nil
}
