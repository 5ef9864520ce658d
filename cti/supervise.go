package cti

import (
	"context"
	"errors"
	"fmt"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ctid/ctid/telephony"
)

// Supervision modes.
const (
	ModeListen  = "listen"  // hear caller and agent
	ModeWhisper = "whisper" // hear both, speak to the agent only
	ModeBarge   = "barge"   // join the conversation
)

// monitor is one supervisor attached to a call.
type monitor struct {
	supervisor, mode string
	snoop            string // snoop channel (listen, whisper)
	leg              string // the supervisor's ExternalMedia leg
	bridge           string // the snoop bridge (listen, whisper)
}

type superviseMsg struct {
	supervisor, mode string
}

func (m superviseMsg) agentName() string { return "" }

// Supervise attaches a supervisor's softphone to the call an agent is on.
func (o *Orchestrator) Supervise(ctx context.Context, supervisor, agent, mode string) error {
	switch mode {
	case ModeListen, ModeWhisper, ModeBarge:
	default:
		return fmt.Errorf("%w: supervision mode %q", ErrCallState, mode)
	}
	o.mu.Lock()
	var target *callActor
	for _, a := range o.calls {
		if a.talkingWith() == agent {
			target = a
			break
		}
	}
	o.mu.Unlock()
	if target == nil {
		return fmt.Errorf("%w: agent %s is not on a call", ErrUnknownCall, agent)
	}
	return target.ask(ctx, superviseMsg{supervisor: supervisor, mode: mode})
}

// talkingWith names the agent connected to the call (read under o.mu by Supervise:
// the actor publishes it in connectedAgent).
func (a *callActor) talkingWith() string {
	if v := a.connectedAgent.Load(); v != nil {
		if s, ok := v.(string); ok {
			return s
		}
	}
	return ""
}

// supervise stages the supervisor's legs: a snoop on the agent's leg (spy both;
// whisper out for whisper) bridged with the supervisor's softphone leg, or for barge
// the supervisor's leg straight into the call's bridge.
func (a *callActor) supervise(ctx context.Context, m superviseMsg) error {
	if a.state != stateTalking && a.state != stateHeld {
		return fmt.Errorf("%w: supervise in state %s", ErrCallState, a.state)
	}
	if a.o.media == nil {
		return fmt.Errorf("%w: supervisors need the softphone", ErrNoAudioPath)
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	a.monitors++
	mon := &monitor{supervisor: m.supervisor, mode: m.mode, leg: fmt.Sprintf("%s-sup-%d", a.id, a.monitors)}
	if m.mode != ModeBarge {
		mon.snoop = fmt.Sprintf("%s-snoop-%d", a.id, a.monitors)
		a.o.own(a, mon.snoop)
		whisper := "none"
		if m.mode == ModeWhisper {
			whisper = "out"
		}
		if _, err := a.o.ari.Snoop(octx, a.agentLeg, telephony.SnoopParams{SnoopID: mon.snoop, Spy: "both", Whisper: whisper,
			AppArgs: []string{"snoop", a.id}}); err != nil {
			return err
		}
	}
	a.supervisors = append(a.supervisors, mon)
	a.log.Info().Str("supervisor", m.supervisor).Str("mode", m.mode).Str("agent", a.agent).Msg("supervisor attached")
	if m.mode == ModeBarge {
		return a.supervisorLeg(ctx, mon)
	}
	return nil // the snoop's StasisStart continues in onSupervisionEvent
}

// supervisorLeg asks for the supervisor's ExternalMedia leg.
func (a *callActor) supervisorLeg(ctx context.Context, mon *monitor) error {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	host, err := a.o.media.AttachCall(octx, mon.supervisor, mon.leg)
	if err != nil {
		return err
	}
	a.o.own(a, mon.leg)
	ch, err := a.o.ari.ExternalMedia(octx, telephony.ExternalMediaParams{ChannelID: mon.leg, ExternalHost: host, Format: "ulaw"})
	if err != nil {
		return err
	}
	if ch != nil {
		a.latchLeg(mon.supervisor, mon.leg, ch.ChannelVars)
	}
	return nil
}

// onSupervisionEvent continues a supervision when its channels enter Stasis. It
// reports whether the event was one of the supervisors' channels.
func (a *callActor) onSupervisionEvent(ctx context.Context, ss *ari.StasisStart) bool {
	for _, mon := range a.supervisors {
		switch ss.Channel.ID {
		case mon.snoop:
			octx, cancel := a.opCtx(ctx)
			br, err := a.o.ari.CreateBridge(octx, "", "mixing", "ctid-snoop-"+mon.snoop)
			cancel()
			if err != nil {
				a.log.Error().Err(err).Msg("snoop bridge")
				return true
			}
			mon.bridge = br.ID
			if err := a.supervisorLeg(ctx, mon); err != nil {
				a.log.Error().Err(err).Str("supervisor", mon.supervisor).Msg("supervisor leg")
			}
			return true
		case mon.leg:
			a.latchLeg(mon.supervisor, mon.leg, ss.Channel.ChannelVars)
			octx, cancel := a.opCtx(ctx)
			defer cancel()
			var err error
			if mon.mode == ModeBarge {
				err = a.o.ari.AddChannel(octx, a.bridge, mon.leg)
			} else {
				err = a.o.ari.AddChannel(octx, mon.bridge, mon.snoop, mon.leg)
			}
			if err != nil {
				a.log.Error().Err(err).Msg("bridging the supervisor")
				return true
			}
			a.o.publish(mon.supervisor, "supervisor.connected", map[string]any{"call_id": a.id, "agent": a.agent, "mode": mon.mode})
			return true
		}
	}
	return false
}

// endSupervision releases every supervisor's channels and bridges.
func (a *callActor) endSupervision(ctx context.Context) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	for _, mon := range a.supervisors {
		for _, ch := range []string{mon.leg, mon.snoop} {
			if ch == "" {
				continue
			}
			if err := a.o.ari.Hangup(octx, ch, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
				a.log.Warn().Err(err).Msg("hang up supervisor channel")
			}
		}
		if mon.bridge != "" {
			if err := a.o.ari.DestroyBridge(octx, mon.bridge); err != nil && !errors.Is(err, telephony.ErrNotFound) {
				a.log.Warn().Err(err).Msg("destroy snoop bridge")
			}
		}
		if err := a.o.media.DetachCall(octx, mon.supervisor, mon.leg); err != nil {
			a.log.Debug().Err(err).Msg("detach supervisor leg")
		}
		a.o.publish(mon.supervisor, "supervisor.ended", map[string]any{"call_id": a.id})
	}
	a.supervisors = nil
}
