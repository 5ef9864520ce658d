package cti

import (
	"context"
	"net"
)

// resyncMsg tells a call actor which channels Asterisk still has after the ARI
// events connection came back: events of the gap are lost, so the actor checks its
// own legs (it owns them; the pump must not read them).
type resyncMsg struct {
	alive map[string]bool
}

// onResync reconciles the call with the channels that survived the gap: a caller
// who left during it abandoned or ended the call; an agent leg that vanished ends
// the conversation; an agent leg that came up unseen is joined now.
func (a *callActor) onResync(ctx context.Context, m resyncMsg) {
	switch {
	case a.state == stateEnded:
		return
	case !m.alive[a.channel]:
		a.callerLeft(ctx, causeGoneDuringGap)
		return
	}
	if a.agentLeg == "" {
		return
	}
	switch a.state {
	case stateTalking, stateHeld, stateConsulting:
		if !m.alive[a.agentLeg] {
			a.agentLegGone(ctx, "agent leg gone while ARI was disconnected")
		}
	case stateConnecting:
		if !m.alive[a.agentLeg] {
			// Not up yet, or gone: the StasisStart (if any) is still to come, or
			// the origination failed unseen. Both end the same way once we know,
			// and an unanswered phone is bounded by AgentAnswerTimeout in Asterisk.
			return
		}
		a.log.Info().Str("agent_leg", a.agentLeg).Msg("agent leg came up while ARI was disconnected; joining it")
		if a.mediaAgent != "" {
			a.resyncMediaRemote(ctx)
		}
		a.agentLegUp(ctx)
	}
}

// causeGoneDuringGap is the cause recorded for a call whose caller channel was gone
// when the ARI events connection came back (hang-up unseen, or a PBX restart).
const causeGoneDuringGap = "caller channel gone while ARI was disconnected (hang-up or PBX restart)"

// resyncMediaRemote reads an ExternalMedia leg's RTP address (normally carried by
// its StasisStart) so that the softphone relay knows where to send.
func (a *callActor) resyncMediaRemote(ctx context.Context) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	host, herr := a.o.ari.GetVar(octx, a.agentLeg, "UNICASTRTP_LOCAL_ADDRESS")
	port, perr := a.o.ari.GetVar(octx, a.agentLeg, "UNICASTRTP_LOCAL_PORT")
	if herr != nil || perr != nil || host == "" || port == "" {
		a.log.Warn().AnErr("address", herr).AnErr("port", perr).Msg("softphone remote address unknown after resync")
		return
	}
	if err := a.o.media.SetRemote(a.mediaAgent, a.mediaKey(), net.JoinHostPort(host, port)); err != nil {
		a.log.Warn().Err(err).Msg("softphone remote address")
	}
}
