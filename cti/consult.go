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

// ErrBadTarget means a transfer or consultation target is malformed (not exactly
// one of agent, queue or number; a number with other characters than + and digits).
var ErrBadTarget = errors.New("cti: bad transfer target")

// consult is an agent's consultation while the caller holds: with another agent,
// with whichever agent a queue offers next, or with an outside number.
type consult struct {
	target     string // the consulted agent ("" for a number, or a queue before its offer)
	number     string // the outside number consulted
	queue      string // the queue whose next agent is consulted
	engineID   string // the engine's call id for the target's part
	leg        string // the target's leg (ExternalMedia, SIP device or outside number)
	bridge     string // the consultation bridge (agent + target)
	media      bool   // the target's leg is a browser softphone leg
	reserved   bool   // the engine holds the target for this consultation
	up         bool   // the target's leg is bridged
	blind      bool   // complete as soon as the target is connected
	dialStatus string // the outside leg's last Dial status (BUSY, NOANSWER, ...)
	start      time.Time
}

// label names the consulted party in events: the agent, or the number.
func (c *consult) label() string {
	if c.number != "" {
		return c.number
	}
	return c.target
}

// to is the consulted party as in call.transfer's "to".
func (c *consult) to() map[string]any {
	switch {
	case c.number != "":
		return map[string]any{"number": c.number}
	case c.queue != "":
		return map[string]any{"queue": c.queue, "agent": c.target}
	}
	return map[string]any{"agent": c.target}
}

// Consultation endings.
const (
	ConsultComplete   = "complete"   // the caller joins the target; the agent leaves
	ConsultCancel     = "cancel"     // back to the caller; the target leaves
	ConsultConference = "conference" // caller, agent and target together
)

// ConsultTarget is whom a consultation (or blind transfer) reaches: exactly one of
// an agent, a queue (its next agent) or an outside number.
type ConsultTarget struct {
	Agent, Queue, Number string
}

type (
	consultMsg struct {
		agent string
		to    ConsultTarget
		blind bool
	}
	consultEndMsg struct{ agent, how string }
	// consultDecision is an engine decision about a consultation's engine call
	// (the offer of a queue consultation to an agent, its withdrawal, overflow).
	consultDecision struct{ d queue.Decision }
)

func (m consultMsg) agentName() string    { return m.agent }
func (m consultEndMsg) agentName() string { return m.agent }

// ecall is the engine's id for the current agent's part of the call.
func (a *callActor) ecall() queue.CallID {
	if a.engineCall != "" {
		return queue.CallID(a.engineCall)
	}
	return queue.CallID(a.id)
}

// Consult starts an attended transfer: the caller holds, the agent talks to target.
func (o *Orchestrator) Consult(ctx context.Context, agent, callID, target string) error {
	return o.askCall(ctx, callID, consultMsg{agent: agent, to: ConsultTarget{Agent: target}})
}

// ConsultTo starts an attended transfer to an agent, a queue's next agent or an
// outside number (through calls.external_endpoint).
func (o *Orchestrator) ConsultTo(ctx context.Context, agent, callID string, to ConsultTarget) error {
	return o.askCall(ctx, callID, consultMsg{agent: agent, to: to})
}

// TransferToAgent blind-transfers the caller to another agent: the target's leg is
// set up as for a consultation and the transfer completes as soon as it connects.
func (o *Orchestrator) TransferToAgent(ctx context.Context, agent, callID, target string) error {
	return o.askCall(ctx, callID, consultMsg{agent: agent, to: ConsultTarget{Agent: target}, blind: true})
}

// EndConsult completes, cancels or turns the consultation into a conference.
func (o *Orchestrator) EndConsult(ctx context.Context, agent, callID, how string) error {
	return o.askCall(ctx, callID, consultEndMsg{agent: agent, how: how})
}

func (a *callActor) startConsult(ctx context.Context, to ConsultTarget, blind bool) error {
	if a.state != stateTalking && a.state != stateHeld {
		return fmt.Errorf("%w: consult in state %s", ErrCallState, a.state)
	}
	n := 0
	for _, s := range []string{to.Agent, to.Queue, to.Number} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: consult needs exactly one of agent, queue or number", ErrBadTarget)
	}
	if blind && to.Agent == "" {
		return fmt.Errorf("%w: blind transfers through a consultation leg go to agents only", ErrBadTarget)
	}
	if to.Number != "" {
		if err := a.checkNumber(to.Number); err != nil {
			return err
		}
	}
	if to.Agent == a.agent {
		return fmt.Errorf("%w: consulting yourself", ErrCallState)
	}
	a.legs++
	c := &consult{blind: blind, target: to.Agent, number: to.Number, queue: to.Queue,
		engineID: fmt.Sprintf("%s-consult-%d", a.id, a.legs), leg: fmt.Sprintf("%s-agent-%d", a.id, a.legs), start: a.o.now()}
	switch {
	case to.Agent != "":
		if err := a.checkAgentLeg(to.Agent); err != nil {
			return err
		}
		// The target must be free: the engine reserves them (first come, first served).
		if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.DialerReserve(now, queue.CallID(c.engineID), queue.AgentID(to.Agent))
		}); err != nil {
			return err
		}
		c.reserved = true
	case to.Number != "":
		c.leg = fmt.Sprintf("%s-ext-%d", a.id, a.legs)
	default:
		c.leg = "" // staged when the engine offers the consultation to an agent
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	fail := func(err error) error {
		a.consult = c
		a.dropConsult(ctx, "consultation failed")
		a.backToCaller(ctx)
		a.o.publish(a.agent, "call.held", map[string]any{"call_id": a.id})
		return err
	}
	if a.state == stateTalking {
		if err := a.o.ari.StartMOH(octx, a.channel, a.o.cfg.MOHClass); err != nil {
			a.consult = c
			a.dropConsult(ctx, "consultation failed")
			return err
		}
		a.holdStart = a.o.now()
		a.markHold(octx)
	} else if err := a.o.ari.Unmute(octx, a.agentLeg, "in"); err != nil { // held: the agent's mic was muted
		a.consult = c
		a.dropConsult(ctx, "consultation failed")
		return err
	}
	a.setState(stateConsulting)
	br, err := a.o.ari.CreateBridge(octx, "", "mixing", "ctid-consult-"+a.id)
	if err != nil {
		return fail(err)
	}
	c.bridge = br.ID
	if err := a.o.ari.AddChannel(octx, c.bridge, a.agentLeg); err != nil { // moves the agent out of the call
		return fail(err)
	}
	a.consult = c
	switch {
	case to.Agent != "":
		if err := a.dialConsultAgent(octx, c); err != nil {
			return fail(err)
		}
	case to.Number != "":
		a.o.own(a, c.leg)
		if _, err := a.o.ari.Originate(octx, telephony.OriginateParams{
			Endpoint: strings.ReplaceAll(a.o.cfg.ExternalEndpoint, "{number}", to.Number), ChannelID: c.leg,
			AppArgs: []string{"consult", a.id}, CallerID: fmt.Sprintf("%q <%s>", a.caller.Name, a.caller.Number),
			Timeout: int(a.o.cfg.ExternalAnswerTimeout / time.Second),
		}); err != nil {
			return fail(err)
		}
		a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": c.label(), "to": c.to(), "state": "ringing"})
	default:
		// The engine offers the consultation to the queue's next agent like a call;
		// the offer comes back as a consultDecision.
		if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.CallArrived(now, queue.Call{ID: queue.CallID(c.engineID), Queue: queue.QueueID(to.Queue), Priority: a.in.priority,
				Consult: true})
		}); err != nil {
			return fail(err)
		}
		c.reserved = true
		a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": "", "to": c.to(), "state": "queued"})
	}
	return nil
}

// checkAgentLeg says whether ctid can reach agent's device for a consultation.
func (a *callActor) checkAgentLeg(agent string) error {
	if a.o.cfg.deviceOf(agent) == DeviceWebRTC && a.o.media == nil {
		return fmt.Errorf("%w: agent %s uses the browser softphone but no media gateway is configured", ErrNoAudioPath, agent)
	}
	return nil
}

// checkNumber validates an outside number for a transfer or consultation.
func (a *callActor) checkNumber(number string) error {
	if a.o.cfg.ExternalEndpoint == "" {
		return fmt.Errorf("%w: transfers to numbers need calls.external_endpoint", ErrCallState)
	}
	if number == "" || strings.Trim(number, "+0123456789") != "" || strings.LastIndex(number, "+") > 0 {
		return fmt.Errorf("%w: number %q", ErrBadTarget, number)
	}
	return nil
}

// dialConsultAgent sets up the consulted agent's leg (c.target): an ExternalMedia
// leg relayed to their browser, or a call to their SIP device. The leg's
// StasisStart bridges it (consultUp).
func (a *callActor) dialConsultAgent(octx context.Context, c *consult) error {
	if err := a.checkAgentLeg(c.target); err != nil {
		return err
	}
	a.o.own(a, c.leg)
	device := a.o.cfg.deviceOf(c.target)
	if device == DeviceWebRTC {
		host, err := a.o.media.AttachCall(octx, c.target, c.engineID)
		if err != nil {
			return err
		}
		c.media = true
		ch, err := a.o.ari.ExternalMedia(octx, telephony.ExternalMediaParams{ChannelID: c.leg, ExternalHost: host, Format: "ulaw"})
		if err != nil {
			return err
		}
		if ch != nil {
			a.latchLeg(c.target, c.engineID, ch.ChannelVars)
		}
	} else if _, err := a.o.ari.Originate(octx, a.deviceOriginate(c.target, device, c.leg, "consult")); err != nil {
		return err
	}
	a.o.publish(c.target, "call.offered", map[string]any{"call_id": a.id, "direction": "consult", "from_agent": a.agent,
		"caller_number": a.caller.Number, "caller_name": a.caller.Name, "queue": a.in.queue, "history": a.history})
	return nil
}

// onConsultDecision follows the engine's decisions about a queue consultation.
func (a *callActor) onConsultDecision(ctx context.Context, d queue.Decision) {
	c := a.consult
	if c == nil || c.engineID != string(d.Call) || c.queue == "" {
		return // a consultation that has ended already, or an agent reservation
	}
	switch d.Kind {
	case queue.DecOfferCall:
		if c.target != "" {
			return
		}
		c.target = string(d.Agent)
		a.legs++
		c.leg = fmt.Sprintf("%s-agent-%d", a.id, a.legs)
		octx, cancel := a.opCtx(ctx)
		defer cancel()
		if err := a.dialConsultAgent(octx, c); err != nil {
			a.log.Error().Err(err).Str("target", c.target).Msg("reaching the queue's agent for the consultation")
			a.consultFailed(ctx, "unreachable")
			return
		}
		a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": c.target, "to": c.to(), "state": "ringing"})
	case queue.DecWithdrawOffer:
		if c.target != string(d.Agent) || c.up {
			return
		}
		// The offer timed out (a SIP phone that did not answer): the engine offers
		// the next agent.
		octx, cancel := a.opCtx(ctx)
		defer cancel()
		if err := a.o.ari.Hangup(octx, c.leg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("hang up the withdrawn consultation leg")
		}
		if c.media {
			if err := a.o.media.DetachCall(octx, c.target, c.engineID); err != nil {
				a.log.Debug().Err(err).Msg("detach withdrawn consulted agent")
			}
		}
		a.o.publish(c.target, "call.ended", map[string]any{"call_id": a.id, "reason": "consultation withdrawn"})
		c.target, c.leg, c.media = "", "", false
	case queue.DecOverflow, queue.DecClosedAction:
		if d.Target.Kind == queue.TargetQueue {
			return // the engine moved it to another queue, whose agent is consulted
		}
		c.reserved = false // the engine has let go of it
		a.consultFailed(ctx, d.Reason)
	}
}

// consultFailed: the consultation could not reach its target (busy, no answer,
// closed queue); the agent is told why and is back with the held caller.
func (a *callActor) consultFailed(ctx context.Context, reason string) {
	c := a.consult
	if c == nil {
		return
	}
	a.dropConsult(ctx, reason)
	a.backToCaller(ctx)
	a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": c.label(), "to": c.to(), "state": "failed", "reason": reason})
	a.o.publish(a.agent, "call.held", map[string]any{"call_id": a.id})
	a.log.Info().Str("target", c.label()).Str("reason", reason).Msg("consultation failed")
}

// backToCaller returns the agent's leg to the call bridge with the caller on hold.
func (a *callActor) backToCaller(ctx context.Context) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.AddChannel(octx, a.bridge, a.agentLeg); err != nil {
		a.log.Error().Err(err).Msg("returning the agent to the caller")
	}
	if err := a.o.ari.Mute(octx, a.agentLeg, "in"); err != nil {
		a.log.Warn().Err(err).Msg("mute agent while the caller holds")
	}
	if a.holdStart.IsZero() {
		a.holdStart = a.o.now()
		a.markHold(octx)
	}
	a.setState(stateHeld)
}

// dialFailure names why an outside or SIP leg did not answer, from its Dial
// status or its hangup cause.
func dialFailure(status string, cause int) string {
	switch status {
	case "BUSY":
		return "busy"
	case "NOANSWER":
		return "no_answer"
	case "CONGESTION":
		return "congestion"
	case "CHANUNAVAIL":
		return "unavailable"
	}
	switch cause {
	case 17:
		return "busy"
	case 18, 19, 21:
		return "no_answer"
	case 34, 38, 42:
		return "congestion"
	}
	return "failed"
}

// consultUp bridges the answered target with the consulting agent.
func (a *callActor) consultUp(ctx context.Context, vars map[string]string) {
	c := a.consult
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if c.media {
		a.latchLeg(c.target, c.engineID, vars)
	}
	if err := a.o.ari.AddChannel(octx, c.bridge, c.leg); err != nil {
		a.log.Error().Err(err).Msg("bridging the consulted party")
		a.consultFailed(ctx, "bridge failed")
		return
	}
	if c.reserved {
		if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.OfferAccepted(now, queue.CallID(c.engineID), queue.AgentID(c.target))
		}); err != nil {
			a.log.Warn().Err(err).Msg("engine consult accepted")
		}
	}
	c.up, c.start = true, a.o.now()
	a.markParty(octx, c)
	if c.blind {
		if err := a.endConsult(ctx, ConsultComplete); err != nil {
			a.log.Error().Err(err).Msg("completing the blind transfer")
		}
		return
	}
	a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": c.label(), "to": c.to(), "state": "connected"})
	if c.target != "" {
		a.o.publish(c.target, "call.connected", map[string]any{"call_id": a.id, "agent": c.target, "consult": true, "from_agent": a.agent})
	}
}

// consultGone: the consulted party's leg ended. Before it answered, the
// consultation failed (busy, no answer); after, the party hung up. Either way the
// agent returns to the held caller.
func (a *callActor) consultGone(ctx context.Context, cause int) {
	c := a.consult
	if !c.up {
		a.consultFailed(ctx, dialFailure(c.dialStatus, cause))
		return
	}
	a.consult = nil
	a.closeConsult(ctx, c)
	a.backToCaller(ctx)
	a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": c.label(), "to": c.to(), "state": "ended"})
	a.o.publish(a.agent, "call.held", map[string]any{"call_id": a.id})
}

func (a *callActor) endConsult(ctx context.Context, how string) error {
	c := a.consult
	if a.state != stateConsulting || c == nil {
		return fmt.Errorf("%w: no consultation in progress", ErrCallState)
	}
	if !c.up && how != ConsultCancel {
		return fmt.Errorf("%w: the consulted party is not connected yet", ErrCallState)
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	now := a.o.now()
	switch how {
	case ConsultCancel:
		a.dropConsult(ctx, "cancelled")
		if err := a.o.ari.AddChannel(octx, a.bridge, a.agentLeg); err != nil {
			return err
		}
		a.resumeCaller(octx, now)
		a.setState(stateTalking)
		a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": c.label(), "to": c.to(), "state": "cancelled"})
		return nil
	case ConsultComplete:
		if err := a.o.ari.AddChannel(octx, a.bridge, c.leg); err != nil { // the target joins the caller
			return err
		}
		a.resumeCaller(octx, now)
		if c.number != "" {
			a.completeToNumber(ctx, c, now)
			return nil
		}
		old, oldLeg := a.agent, a.agentLeg
		if err := a.o.ari.Hangup(octx, oldLeg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("hang up the transferring agent")
		}
		if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.CallEnded(now, a.ecall())
		}); err != nil {
			a.log.Warn().Err(err).Msg("engine: transferring agent ended")
		}
		if a.mediaAgent != "" {
			if err := a.o.media.DetachCall(octx, a.mediaAgent, a.mediaKey()); err != nil {
				a.log.Debug().Err(err).Msg("detach the transferring agent")
			}
		}
		a.segment(store.SegTalking, old, a.talkStart, now)
		a.segment(store.SegConsult, c.target, c.start, now)
		a.segment(store.SegTransfer, old, now, now)
		a.agent, a.agentLeg, a.engineCall = c.target, c.leg, c.engineID
		a.mediaAgent = ""
		if c.media {
			a.mediaAgent = c.target
		}
		a.talkStart = now
		a.connectedAgent.Store(a.agent)
		a.consult = nil
		a.destroyBridge(octx, c.bridge)
		// The transferred leg's media is registered under the consult id.
		a.mediaCall = c.engineID
		a.setState(stateTalking)
		mode := "attended"
		if c.blind {
			mode = "blind"
		}
		a.o.publish(old, "call.transferred", map[string]any{"call_id": a.id, "to": c.to(), "mode": mode})
		a.o.publish(c.target, "call.connected", map[string]any{"call_id": a.id, "agent": c.target, "bridge_id": a.bridge, "transferred_from": old})
		a.o.publish(old, "call.ended", map[string]any{"call_id": a.id, "reason": "transferred"})
		a.log.Info().Str("from", old).Str("to", c.target).Str("mode", mode).Msg("transfer completed")
		return nil
	case ConsultConference:
		if err := a.o.ari.AddChannel(octx, a.bridge, a.agentLeg, c.leg); err != nil {
			return err
		}
		a.resumeCaller(octx, now)
		a.destroyBridge(octx, c.bridge)
		c.bridge = ""
		a.conference = append(a.conference, c)
		a.consult = nil
		a.setState(stateTalking)
		parties := []string{a.agent, c.label()}
		a.o.publish(a.agent, "call.conference", map[string]any{"call_id": a.id, "parties": parties})
		if c.target != "" {
			a.o.publish(c.target, "call.conference", map[string]any{"call_id": a.id, "parties": parties})
		}
		return nil
	}
	return fmt.Errorf("%w: consultation end %q", ErrCallState, how)
}

// completeToNumber hands the caller to the consulted outside party: the agent
// leaves (wrap-up), and the call goes on as a transfer to a number.
func (a *callActor) completeToNumber(ctx context.Context, c *consult, now time.Time) {
	engineCall := a.ecall()
	old := a.releaseAgent(ctx, now)
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.CallEnded(now, engineCall)
	}); err != nil {
		a.log.Warn().Err(err).Msg("engine: transferring agent ended")
	}
	a.segment(store.SegConsult, "", c.start, now)
	a.consult = nil
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	a.destroyBridge(octx, c.bridge)
	a.queued = false
	a.agent = ""
	a.extLeg, a.extUp = c.leg, true
	a.talkStart = now
	a.markExternal(octx)
	a.setState(stateExternal)
	a.o.publish(old, "call.transferred", map[string]any{"call_id": a.id, "to": c.to(), "mode": "attended"})
	a.o.publish(old, "call.ended", map[string]any{"call_id": a.id, "reason": "transferred"})
	a.log.Info().Str("from", old).Str("number", c.number).Msg("attended transfer to a number completed")
}

// resumeCaller takes the caller off hold after a consultation.
func (a *callActor) resumeCaller(octx context.Context, now time.Time) {
	if err := a.o.ari.StopMOH(octx, a.channel); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("stop music on hold")
	}
	if !a.holdStart.IsZero() {
		a.segment(store.SegHold, a.agent, a.holdStart, now)
		a.holdStart = time.Time{}
		a.markHold(octx)
	}
	a.o.publish(a.agent, "call.unheld", map[string]any{"call_id": a.id})
}

// dropConsult releases a consultation: the target's leg, bridge and engine part.
func (a *callActor) dropConsult(ctx context.Context, cause string) {
	c := a.consult
	if c == nil {
		return
	}
	a.consult = nil
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if c.leg != "" {
		if err := a.o.ari.Hangup(octx, c.leg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("hang up the consulted party")
		}
	}
	a.closeConsult(ctx, c)
	a.o.publish(c.target, "call.ended", map[string]any{"call_id": a.id, "reason": "consultation " + cause})
}

// closeConsult ends the target's engine part and frees their media and bridge.
func (a *callActor) closeConsult(ctx context.Context, c *consult) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if c.reserved {
		if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			switch {
			case c.up:
				return e.CallEnded(now, queue.CallID(c.engineID))
			case c.queue != "":
				return e.CallAbandoned(now, queue.CallID(c.engineID))
			}
			return e.DialerRelease(now, queue.CallID(c.engineID))
		}); err != nil {
			a.log.Warn().Err(err).Msg("engine: consultation ended")
		}
	}
	if c.up {
		a.segment(store.SegConsult, c.target, c.start, a.o.now())
	}
	if c.media {
		if err := a.o.media.DetachCall(octx, c.target, c.engineID); err != nil {
			a.log.Debug().Err(err).Msg("detach consulted agent")
		}
	}
	a.destroyBridge(octx, c.bridge)
}

func (a *callActor) destroyBridge(octx context.Context, id string) {
	if id == "" {
		return
	}
	if err := a.o.ari.DestroyBridge(octx, id); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("destroy bridge")
	}
}

// mediaKey is the softphone leg key of the current agent.
func (a *callActor) mediaKey() string {
	if a.mediaCall != "" {
		return a.mediaCall
	}
	return a.id
}

// leaveConference handles a conference party's leg leaving; the call goes on.
func (a *callActor) leaveConference(ctx context.Context, channelID string) bool {
	for i, c := range a.conference {
		if c.leg == channelID {
			a.conference = append(a.conference[:i], a.conference[i+1:]...)
			a.closeParty(ctx, c)
			return true
		}
	}
	return false
}

// closeParty hangs up a conference party and ends their part.
func (a *callActor) closeParty(ctx context.Context, c *consult) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.Hangup(octx, c.leg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("hang up conference party")
	}
	a.closeConsult(ctx, c)
	a.o.publish(c.target, "call.ended", map[string]any{"call_id": a.id, "reason": "conference ended"})
}

// isConsultLeg says whether channelID is the consulted party's leg.
func (a *callActor) isConsultLeg(channelID string) bool {
	return a.consult != nil && a.consult.leg != "" && channelID == a.consult.leg
}
