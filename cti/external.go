package cti

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

type numberMsg struct{ agent, number string }

func (m numberMsg) agentName() string { return m.agent }

// TransferToNumber blind-transfers the caller to an outside number through
// calls.external_endpoint; if the number does not answer the caller goes back to
// the queue.
func (o *Orchestrator) TransferToNumber(ctx context.Context, agent, callID, number string) error {
	return o.askCall(ctx, callID, numberMsg{agent: agent, number: number})
}

func (a *callActor) transferToNumber(ctx context.Context, number string) error {
	if a.state != stateTalking && a.state != stateHeld {
		return fmt.Errorf("%w: transfer in state %s", ErrCallState, a.state)
	}
	if err := a.checkNumber(number); err != nil {
		return err
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	now := a.o.now()
	if a.holdStart.IsZero() { // a held caller hears music already
		if err := a.o.ari.StartMOH(octx, a.channel, a.o.cfg.MOHClass); err != nil {
			a.log.Warn().Err(err).Msg("music while the number rings")
		}
	}
	engineCall := a.ecall()
	agent := a.releaseAgent(ctx, now)
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.CallEnded(now, engineCall)
	}); err != nil {
		a.log.Warn().Err(err).Msg("engine: transferring agent ended")
	}
	a.queued = false
	a.agent = ""
	a.legs++
	a.extLeg = fmt.Sprintf("%s-ext-%d", a.id, a.legs)
	a.o.own(a, a.extLeg)
	a.setState(stateExternal)
	a.o.publish(agent, "call.transferred", map[string]any{"call_id": a.id, "to": map[string]any{"number": number}, "mode": "blind"})
	a.o.publish(agent, "call.ended", map[string]any{"call_id": a.id, "reason": "transferred"})
	_, err := a.o.ari.Originate(octx, telephony.OriginateParams{
		Endpoint: strings.ReplaceAll(a.o.cfg.ExternalEndpoint, "{number}", number), ChannelID: a.extLeg,
		AppArgs: []string{"external", a.id}, CallerID: fmt.Sprintf("%q <%s>", a.caller.Name, a.caller.Number),
		Timeout: int(a.o.cfg.ExternalAnswerTimeout / time.Second),
	})
	if err != nil {
		a.log.Error().Err(err).Str("number", number).Msg("dialling the transfer number failed")
		a.externalFailed(ctx)
	}
	a.log.Info().Str("agent", agent).Str("number", number).Msg("blind transfer to a number")
	return nil
}

// onExternalEvent follows the outside leg; it reports whether the event was its.
func (a *callActor) onExternalEvent(ctx context.Context, channelID string, started, ended bool) bool {
	if a.extLeg == "" || channelID != a.extLeg {
		return false
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	switch {
	case started && !a.extUp:
		a.extUp = true
		if err := a.o.ari.StopMOH(octx, a.channel); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("stop music")
		}
		a.talkStart = a.o.now()
		a.markExternal(octx) // before the bridge: a restart finding them bridged finds the mark
		if err := a.o.ari.AddChannel(octx, a.bridge, a.extLeg); err != nil {
			a.log.Error().Err(err).Msg("bridging the outside number")
		}
	case ended && !a.extUp:
		a.externalFailed(ctx)
	case ended:
		a.extLeg = ""
		if err := a.o.ari.Hangup(octx, a.channel, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("hang up caller after the outside party")
		}
		a.segment(store.SegTransfer, "", a.talkStart, a.o.now())
		a.talkStart = time.Time{} // the outside party's time is the transfer segment, not an agent's talk
		a.finish(ctx, "outside party hung up")
	}
	return true
}

// externalFailed puts the caller back in their queue when the number did not answer.
func (a *callActor) externalFailed(ctx context.Context) {
	a.extLeg, a.extUp = "", false
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.StartMOH(octx, a.channel, a.o.cfg.MOHClass); err != nil {
		a.log.Warn().Err(err).Msg("music after a failed transfer")
	}
	a.arrived = a.o.now()
	a.setState(stateQueued)
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		c := queue.Call{ID: queue.CallID(a.id), Queue: queue.QueueID(a.in.queue), Priority: a.in.priority, Skills: a.in.skills}
		if a.o.cfg.TransferKeepsEnqueueTime {
			c.Arrived = a.enqueued
		}
		return e.CallArrived(now, c)
	}); err != nil {
		a.log.Error().Err(err).Msg("re-queueing after a failed transfer")
		a.outcome = "failed"
		if herr := a.o.ari.Hangup(octx, a.channel, "normal"); herr != nil && !errors.Is(herr, telephony.ErrNotFound) {
			a.log.Warn().Err(herr).Msg("hang up caller")
		}
		a.finish(ctx, "transfer failed")
		return
	}
	a.queued = true
	a.log.Info().Msg("transfer number did not answer; caller back in the queue")
}

// externalCallerLeft: the caller hung up while transferred to a number.
func (a *callActor) externalCallerLeft(ctx context.Context, cause string) {
	if a.extLeg != "" {
		octx, cancel := a.opCtx(ctx)
		if err := a.o.ari.Hangup(octx, a.extLeg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("hang up outside party")
		}
		cancel()
		if a.extUp {
			a.segment(store.SegTransfer, "", a.talkStart, a.o.now())
			a.talkStart = time.Time{}
		}
	}
	a.extLeg = ""
	a.finish(ctx, cause)
}
