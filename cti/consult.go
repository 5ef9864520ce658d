package cti

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

// consult is an agent's consultation with another agent while the caller holds.
type consult struct {
	target   string // the consulted agent
	engineID string // the engine's call id for the target's part
	leg      string // the target's ExternalMedia leg
	bridge   string // the consultation bridge (agent + target)
	up       bool   // the target's leg is bridged
	blind    bool   // complete as soon as the target is connected
	start    time.Time
}

// Consultation endings.
const (
	ConsultComplete   = "complete"   // the caller joins the target; the agent leaves
	ConsultCancel     = "cancel"     // back to the caller; the target leaves
	ConsultConference = "conference" // caller, agent and target together
)

type (
	consultMsg struct {
		agent, target string
		blind         bool
	}
	consultEndMsg struct{ agent, how string }
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
	return o.askCall(ctx, callID, consultMsg{agent: agent, target: target})
}

// TransferToAgent blind-transfers the caller to another agent: the target's leg is
// set up as for a consultation and the transfer completes as soon as it connects.
func (o *Orchestrator) TransferToAgent(ctx context.Context, agent, callID, target string) error {
	return o.askCall(ctx, callID, consultMsg{agent: agent, target: target, blind: true})
}

// EndConsult completes, cancels or turns the consultation into a conference.
func (o *Orchestrator) EndConsult(ctx context.Context, agent, callID, how string) error {
	return o.askCall(ctx, callID, consultEndMsg{agent: agent, how: how})
}

func (a *callActor) startConsult(ctx context.Context, target string, blind bool) error {
	if a.state != stateTalking && a.state != stateHeld {
		return fmt.Errorf("%w: consult in state %s", ErrCallState, a.state)
	}
	if target == a.agent {
		return fmt.Errorf("%w: consulting yourself", ErrCallState)
	}
	if a.o.cfg.deviceOf(target) != DeviceWebRTC || a.o.media == nil {
		return fmt.Errorf("%w: consultation needs the target's browser softphone", ErrNoAudioPath)
	}
	a.legs++
	c := &consult{blind: blind, target: target, engineID: fmt.Sprintf("%s-consult-%d", a.id, a.legs), leg: fmt.Sprintf("%s-agent-%d", a.id, a.legs), start: a.o.now()}
	// The target must be free: the engine reserves them (first come, first served).
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.DialerReserve(now, queue.CallID(c.engineID), queue.AgentID(target))
	}); err != nil {
		return err
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	fail := func(err error) error {
		a.consult = c
		a.dropConsult(ctx, "consultation failed")
		return err
	}
	if a.state == stateTalking {
		if err := a.o.ari.StartMOH(octx, a.channel, a.o.cfg.MOHClass); err != nil {
			return fail(err)
		}
		a.holdStart = a.o.now()
	} else if err := a.o.ari.Unmute(octx, a.agentLeg, "in"); err != nil { // held: the agent's mic was muted
		return fail(err)
	}
	br, err := a.o.ari.CreateBridge(octx, "", "mixing", "ctid-consult-"+a.id)
	if err != nil {
		return fail(err)
	}
	c.bridge = br.ID
	if err := a.o.ari.AddChannel(octx, c.bridge, a.agentLeg); err != nil { // moves the agent out of the call
		return fail(err)
	}
	host, err := a.o.media.AttachCall(octx, target, c.engineID)
	if err != nil {
		return fail(err)
	}
	a.o.own(a, c.leg)
	a.consult = c
	if _, err := a.o.ari.ExternalMedia(octx, telephony.ExternalMediaParams{ChannelID: c.leg, ExternalHost: host, Format: "ulaw"}); err != nil {
		return fail(err)
	}
	a.setState(stateConsulting)
	a.o.publish(target, "call.offered", map[string]any{"call_id": a.id, "direction": "consult", "from_agent": a.agent,
		"caller_number": a.caller.Number, "caller_name": a.caller.Name, "queue": a.in.queue, "history": a.history})
	return nil
}

// consultUp bridges the target with the consulting agent.
func (a *callActor) consultUp(ctx context.Context, vars map[string]string) {
	c := a.consult
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if host, port := vars["UNICASTRTP_LOCAL_ADDRESS"], vars["UNICASTRTP_LOCAL_PORT"]; host != "" && port != "" {
		if err := a.o.media.SetRemote(c.target, c.engineID, net.JoinHostPort(host, port)); err != nil {
			a.log.Warn().Err(err).Msg("consulted agent's softphone remote address")
		}
	}
	if err := a.o.ari.AddChannel(octx, c.bridge, c.leg); err != nil {
		a.log.Error().Err(err).Msg("bridging the consulted agent")
		a.dropConsult(ctx, "bridge failed")
		return
	}
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.OfferAccepted(now, queue.CallID(c.engineID), queue.AgentID(c.target))
	}); err != nil {
		a.log.Warn().Err(err).Msg("engine consult accepted")
	}
	c.up, c.start = true, a.o.now()
	if c.blind {
		if err := a.endConsult(ctx, ConsultComplete); err != nil {
			a.log.Error().Err(err).Msg("completing the blind transfer")
		}
		return
	}
	a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": c.target, "state": "connected"})
	a.o.publish(c.target, "call.connected", map[string]any{"call_id": a.id, "agent": c.target, "consult": true, "from_agent": a.agent})
}

// consultGone: the consulted agent hung up; the agent returns to the held caller.
func (a *callActor) consultGone(ctx context.Context) {
	c := a.consult
	a.consult = nil
	a.closeConsult(ctx, c)
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.AddChannel(octx, a.bridge, a.agentLeg); err != nil {
		a.log.Error().Err(err).Msg("returning the agent to the caller")
	}
	if err := a.o.ari.Mute(octx, a.agentLeg, "in"); err != nil {
		a.log.Warn().Err(err).Msg("mute agent while the caller holds")
	}
	a.setState(stateHeld)
	a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": c.target, "state": "ended"})
	a.o.publish(a.agent, "call.held", map[string]any{"call_id": a.id})
}

func (a *callActor) endConsult(ctx context.Context, how string) error {
	c := a.consult
	if a.state != stateConsulting || c == nil {
		return fmt.Errorf("%w: no consultation in progress", ErrCallState)
	}
	if !c.up && how != ConsultCancel {
		return fmt.Errorf("%w: the consulted agent is not connected yet", ErrCallState)
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
		a.o.publish(a.agent, "call.consult", map[string]any{"call_id": a.id, "target": c.target, "state": "cancelled"})
		return nil
	case ConsultComplete:
		if err := a.o.ari.AddChannel(octx, a.bridge, c.leg); err != nil { // the target joins the caller
			return err
		}
		a.resumeCaller(octx, now)
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
			if err := a.o.media.DetachCall(octx, a.mediaAgent, a.id); err != nil {
				a.log.Debug().Err(err).Msg("detach the transferring agent")
			}
		}
		a.segment(store.SegTalking, old, a.talkStart, now)
		a.segment(store.SegConsult, c.target, c.start, now)
		a.segment(store.SegTransfer, old, now, now)
		a.agent, a.agentLeg, a.mediaAgent, a.engineCall = c.target, c.leg, c.target, c.engineID
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
		a.o.publish(old, "call.transferred", map[string]any{"call_id": a.id, "to": map[string]any{"agent": c.target}, "mode": mode})
		a.o.publish(c.target, "call.connected", map[string]any{"call_id": a.id, "agent": c.target, "bridge_id": a.bridge, "transferred_from": old})
		a.o.publish(old, "call.ended", map[string]any{"call_id": a.id, "reason": "transferred"})
		a.log.Info().Str("from", old).Str("to", c.target).Msg("attended transfer completed")
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
		a.o.publish(a.agent, "call.conference", map[string]any{"call_id": a.id, "parties": []string{a.agent, c.target}})
		a.o.publish(c.target, "call.conference", map[string]any{"call_id": a.id, "parties": []string{a.agent, c.target}})
		return nil
	}
	return fmt.Errorf("%w: consultation end %q", ErrCallState, how)
}

// resumeCaller takes the caller off hold after a consultation.
func (a *callActor) resumeCaller(octx context.Context, now time.Time) {
	if err := a.o.ari.StopMOH(octx, a.channel); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("stop music on hold")
	}
	if !a.holdStart.IsZero() {
		a.segment(store.SegHold, a.agent, a.holdStart, now)
		a.holdStart = time.Time{}
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
	if err := a.o.ari.Hangup(octx, c.leg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("hang up the consulted agent")
	}
	a.closeConsult(ctx, c)
	a.o.publish(c.target, "call.ended", map[string]any{"call_id": a.id, "reason": "consultation " + cause})
}

// closeConsult ends the target's engine part and frees their media and bridge.
func (a *callActor) closeConsult(ctx context.Context, c *consult) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		if c.up {
			return e.CallEnded(now, queue.CallID(c.engineID))
		}
		return e.DialerRelease(now, queue.CallID(c.engineID))
	}); err != nil {
		a.log.Warn().Err(err).Msg("engine: consultation ended")
	}
	if c.up {
		a.segment(store.SegConsult, c.target, c.start, a.o.now())
	}
	if err := a.o.media.DetachCall(octx, c.target, c.engineID); err != nil {
		a.log.Debug().Err(err).Msg("detach consulted agent")
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
