package cti

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
)

// Taking over a keep-your-place callback after a restart (docs/RELIABILITY.md).
//
// A callback is a queue call to the engine: the caller's place was kept as a
// virtual caller of its queue (queue.Engine.RequestCallback), the agent accepted it
// as an offer of that queue (OfferAccepted), and the wrap-up after it counts for
// that queue. When the customer answers and the agent is connected, the customer's
// "<call>-cb-N" channel gets cbVar besides the agent mark (agentVar): the queue,
// the number called back and when the callback was placed (the callback actor's
// start; the caller's first arrival is not known to it, and the record keeps its
// own creation time from the first save). A later run that finds
// the customer bridged with the agent's leg restores it as the queue call it was
// (queue.Engine.RestoreConnected into that queue, the agent Talking, or OnHold with
// holdVar), a call actor follows it from the talking state (hold, hang-up, the
// wrap-up for the queue afterwards), the agent's desktop gets call.connected
// (restored, direction "callback") and the caller's interaction record is
// continued. When that cannot be (no or garbled mark, queue or agent unknown to
// this run, agent busy, the agent's leg not in the customer's bridge), the call is
// ended cleanly as before (endOutboundOfEarlierRun, cause "ctid restarted").
//
// Which node: the one whose PBX the call is on (callbacks are per node: placed by
// the node whose engine held the kept place, on its own PBX, and followed only
// there).

// cbVar is the callback mark on a connected callback's customer channel.
const cbVar = "CTID_CALLBACK"

// errNoCallbackMark: the callback carries no usable cbVar.
var errNoCallbackMark = errors.New("cti: no callback mark on the call")

// cbMark is what cbVar says.
type cbMark struct {
	queue, number string
	arrived       time.Time // when the callback was placed (zero: unknown)
}

func (m cbMark) String() string {
	v := url.Values{}
	v.Set("q", m.queue)
	v.Set("n", m.number)
	if !m.arrived.IsZero() {
		v.Set("t", strconv.FormatInt(m.arrived.UnixNano(), 10))
	}
	return v.Encode()
}

func parseCbMark(s string) (cbMark, error) {
	v, err := url.ParseQuery(s)
	if err != nil {
		return cbMark{}, fmt.Errorf("%w: %q: %w", errNoCallbackMark, s, err)
	}
	m := cbMark{queue: v.Get("q"), number: v.Get("n")}
	if m.queue == "" || m.number == "" {
		return cbMark{}, fmt.Errorf("%w: %q", errNoCallbackMark, s)
	}
	if t := v.Get("t"); t != "" {
		ns, err := strconv.ParseInt(t, 10, 64)
		if err != nil || ns <= 0 {
			return cbMark{}, fmt.Errorf("%w: arrival %q", errNoCallbackMark, t)
		}
		m.arrived = time.Unix(0, ns)
	}
	return m, nil
}

// isCallbackChannel tells a callback's customer channel ("<call>-cb-N").
func isCallbackChannel(id string) bool { return strings.Contains(id, "-cb-") }

// callbackNumber is N of a callback channel "<call>-cb-N" (0 when not one).
func callbackNumber(channelID string) int {
	i := strings.LastIndex(channelID, "-cb-")
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(channelID[i+len("-cb-"):])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// markCallback marks the callback's customer channel as its agent is connected
// (read by takeOverCallback after a restart).
func (a *callActor) markCallback(ctx context.Context) {
	m := cbMark{queue: a.in.queue, number: a.callback, arrived: a.arrived}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.SetVar(octx, a.channel, cbVar, m.String()); err != nil {
		a.log.Warn().Err(err).Msg("could not mark the callback for a take-over after a restart")
	}
}

// takeOverCallback takes over a callback an earlier run connected (see above); an
// error means it was not, and nothing of it is held by this run (errTakenOver: this
// run has it already).
func (o *Orchestrator) takeOverCallback(ctx context.Context, ad adoptee, alive map[string]bool, log zerolog.Logger) error {
	if ad.agent == "" || ad.leg == "" || !alive[ad.leg] || !slices.Contains(ad.bridge.ChannelIDs, ad.leg) {
		return fmt.Errorf("%w: the agent's leg is not in the callback's bridge", errNotTakenOver)
	}
	if ad.cbErr != nil {
		return ad.cbErr
	}
	m := ad.cb
	id := outboundCallID(&ad)
	answered := ad.answer
	arrived := m.arrived
	if arrived.IsZero() || arrived.After(answered) {
		arrived = answered
	}
	err := o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.RestoreConnected(now, queue.Call{ID: queue.CallID(id), Queue: queue.QueueID(m.queue), Arrived: arrived},
			queue.AgentID(ad.agent), answered)
	})
	switch {
	case errors.Is(err, queue.ErrDuplicateCall):
		return fmt.Errorf("%w: %w", errTakenOver, err)
	case err != nil:
		return fmt.Errorf("%w: agent %s, queue %s: %w", errNotTakenOver, ad.agent, m.queue, err)
	}
	a := &callActor{
		o: o, id: id, channel: ad.ch.ID, in: inbound{queue: m.queue, vars: map[string]string{}},
		caller: ari.CallerID{Number: m.number}, arrived: arrived, box: newMailbox(), done: make(chan struct{}),
		callback: m.number,
	}
	a.log = o.log.With().Str("call_id", id).Str("channel_id", a.channel).Str("queue", m.queue).Logger()
	a.agent, a.bridge, a.agentLeg = ad.agent, ad.bridge.ID, ad.leg
	a.legs = max(legNumber(a.id, ad.leg), ad.maxLeg)
	a.state, a.queued, a.answered, a.restored = stateTalking, true, true, true
	a.talkStart = answered
	if !ad.held.IsZero() {
		if err := o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.RestoreHeld(now, queue.CallID(id), ad.held)
		}); err != nil {
			log.Warn().Err(err).Msg("engine: restore the callback on hold")
		}
		a.state, a.holdStart, a.holdMarked = stateHeld, ad.held, true
	}
	a.connectedAgent.Store(ad.agent)
	o.dropPartiesOfEarlierRun(ctx, &ad, log) // a conference comes back two-party (adopt_parts.go)
	a.legs = max(a.legs, ad.maxLeg)          // a fresh leg never takes a dropped party's leg id
	// Before any segment is written (a run killed within the writer's batching
	// window may not have stored the record).
	o.record(func(r Records) error {
		return r.SaveInteraction(store.Interaction{ID: a.id, CallID: a.channel, Direction: store.Inbound, Queue: m.queue,
			CallerNumber: m.number, Created: arrived, Answered: answered})
	})
	if !o.register(a, a.channel, a.agentLeg) {
		// Someone of this run owns the channels already: undo the engine side.
		if _, eerr := o.loop.Do(ctx, func(e *queue.Engine) ([]queue.Decision, error) {
			return e.CallEnded(o.now(), queue.CallID(id))
		}); eerr != nil {
			log.Warn().Err(eerr).Msg("undo the callback's restore")
		}
		log.Warn().Msg("the callback is owned already")
		return nil
	}
	o.mu.Lock()
	// a later callback for this call id gets a fresh channel id, and a late answer of
	// this one is not an earlier run's (earlierOutbound)
	o.callbacks[id] = max(o.callbacks[id], callbackNumber(a.channel))
	o.mu.Unlock()
	log.Info().Str("agent", a.agent).Str("queue", m.queue).Time("answered", a.talkStart).
		Msg("took over a keep-your-place callback connected by an earlier ctid run")
	o.publish(a.agent, "call.connected", map[string]any{"call_id": a.id, "agent": a.agent, "bridge_id": a.bridge,
		"restored": true, "direction": "callback", "caller_number": m.number, "queue": m.queue})
	if a.state == stateHeld {
		o.publish(a.agent, "call.held", map[string]any{"call_id": a.id, "restored": true,
			"held_since": a.holdStart.UTC().Format(time.RFC3339Nano)})
	}
	o.expectDesktop(a.agent)
	a.saveCallbackRow(ctx, store.CallbackDone) // not for the sweep (callback_sweep.go)
	o.wg.Go(func() { a.run(ctx) })
	return nil
}
