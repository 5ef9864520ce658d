package cti

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony"
)

// Campaign (outbound) calls and callbacks carry no Stasis arguments (CTID_ARGS):
// the engine has no queue to restore them into. A campaign call an earlier run
// connected to an agent is taken over from its campaign mark (campaign_adopt.go),
// a keep-your-place callback from its callback mark (callback_adopt.go). One that
// cannot be (no mark; campaign gone or run by another node; agent not restorable)
// still has its agent mark (agentVar, set at connect like an inbound call's); the
// next run ends it cleanly instead of leaving it bridged with nothing to release the
// other party: every leg in its bridge is hung up, the bridge
// destroyed, the agent's talking segment written and the interaction closed with
// the cause "ctid restarted"; the agent's desktop is told the call ended. One whose
// customer was bridged before the agent's leg came up is ended the same way, and a
// line still ringing at the kill that is answered afterwards gets the fallback and
// its record closed (closeLateOutbound).

// restartCause is the interaction cause of a call ended because ctid restarted.
const restartCause = "ctid restarted"

// outboundCustomer tells whether a bridged channel without Stasis arguments may be
// the customer of a campaign call or a callback (not one of ctid's agent, party,
// snoop or outside legs).
func outboundCustomer(ad *adoptee) bool {
	return ad.bridge != nil && (!isCtidLeg(ad.ch.ID) || strings.Contains(ad.ch.ID, "-cb-"))
}

// outboundCallID is the call id of an earlier run's outbound call, from its agent
// leg ("<call>-agent[-N]"); without one, from the customer channel's id (a
// callback's "<call>-cb-N", a campaign line's own id).
func outboundCallID(ad *adoptee) string {
	if i := strings.LastIndex(ad.leg, "-agent"); i > 0 {
		return ad.leg[:i]
	}
	if id, _, ok := strings.Cut(ad.ch.ID, "-cb-"); ok && id != "" {
		return id
	}
	return ad.ch.ID
}

// endOutboundOfEarlierRun ends a campaign call or callback that an earlier run
// connected, or was connecting, to an agent (see above). Without an agent mark the
// customer was bridged while the agent's leg was still being set up (a SIP phone
// ringing): that leg, "<call>-agent", is not in the application yet and is hung up
// by its id.
func (o *Orchestrator) endOutboundOfEarlierRun(ctx context.Context, ad adoptee, log zerolog.Logger) {
	id := outboundCallID(&ad)
	log = log.With().Str("call_id", id).Str("agent", ad.agent).Str("bridge_id", ad.bridge.ID).Logger()
	log.Warn().Msg("an outbound call connected by an earlier ctid run cannot be taken over; ending it")
	octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	defer cancel()
	legs := append([]string{ad.ch.ID}, ad.bridge.ChannelIDs...)
	if ad.leg != "" {
		legs = append(legs, ad.leg)
	} else {
		legs = append(legs, id+"-agent")
	}
	done := map[string]bool{}
	for _, leg := range legs {
		if done[leg] {
			continue
		}
		done[leg] = true
		if err := o.ari.Hangup(octx, leg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			log.Warn().Err(err).Str("leg", leg).Msg("hang up a leg of the earlier outbound call")
			o.strandHangup(leg, err)
		}
	}
	if err := o.ari.DestroyBridge(octx, ad.bridge.ID); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		log.Warn().Err(err).Msg("destroy the earlier outbound call's bridge")
		o.strandBridge(ad.bridge.ID, err)
	}
	now := o.now()
	outcome := "abandoned" // the customer answered but never reached the agent
	if ad.agent != "" {
		outcome = "answered"
	}
	o.record(func(r Records) error {
		if ad.agent != "" && !ad.answer.IsZero() {
			if err := r.AppendSegment(store.Segment{InteractionID: id, Kind: store.SegTalking, Agent: ad.agent, Start: ad.answer, End: now}); err != nil {
				return err
			}
		}
		return r.CloseInteraction(store.InteractionClose{ID: id, Ended: now, Outcome: outcome, Cause: restartCause})
	})
	if ad.agent != "" {
		o.publish(ad.agent, "call.ended", map[string]any{"call_id": id, "reason": restartCause})
	}
}

// parseAgentMark reads agentVar's "<agent>;<answered Unix ns>;<agent leg id>"
// (zero values when unset or malformed).
func parseAgentMark(v string) (agent string, answered time.Time, leg string) {
	parts := strings.Split(v, ";")
	if len(parts) != 3 || parts[0] == "" {
		return "", time.Time{}, ""
	}
	ns, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", time.Time{}, ""
	}
	return parts[0], time.Unix(0, ns), parts[2]
}

// closeLateOutbound closes the record of an earlier run's campaign line or callback
// that was still ringing at the kill and was answered since (its StasisStart finds
// no call: the channel gets the fallback). A campaign line's call id is its channel
// id ("<attempt>.<nonce>", the nonce of the campaign actor that placed it); a
// callback's is its second argument. A line of this run (its actor already gone) is
// left alone, and so is a record already closed.
func (o *Orchestrator) closeLateOutbound(ctx context.Context, channelID string, args []string) {
	id := o.earlierOutbound(channelID, args)
	if id == "" || o.records == nil {
		return
	}
	ix, err := o.records.Interaction(ctx, id)
	if err == nil && len(args) > 0 && args[0] == "callback" && ix.Outcome == cbRequested && ix.Answered.IsZero() {
		// A callback's record was closed when the caller asked for it: it now says
		// the callback failed (its row is closed by the sweep, callback_sweep.go).
		o.log.Warn().Str("call_id", id).Str("channel_id", channelID).Msg("a callback of an earlier ctid run answered after the restart; closing its record")
		o.record(func(r Records) error {
			return r.CloseInteraction(store.InteractionClose{ID: id, Ended: o.now(), Outcome: cbFailed, Cause: restartCause})
		})
		return
	}
	if err != nil || !ix.Ended.IsZero() {
		return // no record of it (not ctid's), or closed already
	}
	o.log.Warn().Str("call_id", id).Str("channel_id", channelID).Msg("a line of an earlier ctid run answered after the restart; closing its record")
	o.record(func(r Records) error {
		return r.CloseInteraction(store.InteractionClose{ID: id, Ended: o.now(), Outcome: "abandoned", Cause: restartCause})
	})
}

// earlierOutbound is the call id of an outbound line that an earlier run placed
// ("" when the arguments are not an outbound line's or this run placed it).
func (o *Orchestrator) earlierOutbound(channelID string, args []string) string {
	if len(args) < 2 {
		return ""
	}
	switch args[0] {
	case "campaign":
		o.camps.mu.Lock()
		c := o.camps.byID[args[1]]
		o.camps.mu.Unlock()
		if c != nil && strings.HasSuffix(channelID, "."+c.nonce) {
			return ""
		}
		return channelID
	case "callback":
		o.mu.Lock()
		n := o.callbacks[args[1]]
		o.mu.Unlock()
		if n > 0 {
			return ""
		}
		return args[1]
	}
	return ""
}
