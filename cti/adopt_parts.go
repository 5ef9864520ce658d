package cti

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony"
)

// What a restarted ctid does with a call that was on hold, in a consultation or in
// a three-way conference when the earlier run died (docs/RELIABILITY.md):
//
//   - on hold: restored on hold with its agent (the caller still hears music, the
//     agent's leg stays muted, the desktop gets call.held with the original hold
//     start, the hold segment counts from it);
//   - consulting (caller on hold, agent talking to a colleague or a number): the
//     consultation is ended as if the consulted party had hung up: their leg is
//     hung up, the consultation bridge destroyed, the agent is back with the
//     caller, who stays on hold; the agent unholds or consults again;
//   - in a conference: the call is restored with the agent who owns it; the other
//     parties are hung up and told (call.ended), their segments closed.
//
// The consulted agent of the earlier run cannot be restored onto the engine
// (their part was a reservation of the dead process), and a browser party's audio
// pointed at the dead process: ending their part is what the agent who owns the
// call can recover from with one click.

// markHold keeps the caller's hold start on their channel (holdVar) for a later
// run, or clears it when the caller is no longer held.
func (a *callActor) markHold(octx context.Context) {
	v := ""
	if !a.holdStart.IsZero() {
		v = strconv.FormatInt(a.holdStart.UnixNano(), 10)
	} else if !a.holdMarked {
		return // nothing to clear: no ARI request on calls never held
	}
	if err := a.o.ari.SetVar(octx, a.channel, holdVar, v); err != nil {
		a.log.Warn().Err(err).Msg("could not mark the hold for restoring after a restart")
		return
	}
	a.holdMarked = v != ""
}

// markParty marks a consulted party's answered leg with the call, the party (agent
// or number) and since when, so that a later run can close the party's segment.
func (a *callActor) markParty(octx context.Context, c *consult) {
	v := fmt.Sprintf("%s;%s;%s;%d", a.id, c.target, c.number, c.start.UnixNano())
	if err := a.o.ari.SetVar(octx, c.leg, partyVar, v); err != nil {
		a.log.Warn().Err(err).Str("leg", c.leg).Msg("could not mark the consulted party for a restart")
	}
}

// party is what partyVar says about a leg.
type party struct {
	call, agent, number string
	since               time.Time
}

// readParty reads partyVar on leg; ok is false when the leg carries no mark.
func (o *Orchestrator) readParty(ctx context.Context, leg string) (party, bool) {
	octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	defer cancel()
	v, err := o.ari.GetVar(octx, leg, partyVar)
	if err != nil {
		return party{}, false
	}
	parts := strings.Split(v, ";")
	if len(parts) != 4 {
		return party{}, false
	}
	ns, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return party{}, false
	}
	return party{call: parts[0], agent: parts[1], number: parts[2], since: time.Unix(0, ns)}, true
}

// endPartyOfEarlierRun hangs up a consulted or conference party's leg left by an
// earlier run and closes their part of the interaction (call id callID).
func (o *Orchestrator) endPartyOfEarlierRun(ctx context.Context, callID, leg, why string, log zerolog.Logger) {
	p, marked := o.readParty(ctx, leg)
	octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	defer cancel()
	if err := o.ari.Hangup(octx, leg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		log.Warn().Err(err).Str("leg", leg).Msg("hang up a party of the earlier run")
		o.strandHangup(leg, err)
	}
	if !marked || p.call != callID {
		log.Info().Str("leg", leg).Msg("hung up a leg of the earlier run's consultation")
		return
	}
	now := o.now()
	seg := store.Segment{InteractionID: callID, Kind: store.SegConsult, Agent: p.agent, Start: p.since, End: now}
	if p.agent != "" {
		o.publish(p.agent, "call.ended", map[string]any{"call_id": callID, "reason": why})
	}
	o.record(func(r Records) error { return r.AppendSegment(seg) })
	log.Info().Str("leg", leg).Str("agent", p.agent).Str("number", p.number).Time("since", p.since).Str("why", why).
		Msg("ended a party of the earlier run")
}

// endConsultOfEarlierRun: the caller's agent was consulting when the earlier run
// died (their leg sits in the consultation bridge). The consulted party is hung up,
// the consultation bridge destroyed and the agent's leg moved back, muted, into
// the caller's bridge; ad then describes a call on hold with its agent.
func (o *Orchestrator) endConsultOfEarlierRun(ctx context.Context, ad *adoptee, cb *ari.BridgeData, log zerolog.Logger) error {
	for _, id := range cb.ChannelIDs {
		ad.maxLeg = max(ad.maxLeg, partyLegNumber(ad.ch.ID, id))
		if id != ad.leg && isCtidLeg(id) {
			o.endPartyOfEarlierRun(ctx, ad.ch.ID, id, "consultation ended: ctid restarted", log)
		}
	}
	octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	defer cancel()
	if err := o.ari.AddChannel(octx, ad.bridge.ID, ad.leg); err != nil { // moves it out of the consultation
		return fmt.Errorf("agent leg back to the caller's bridge: %w", err)
	}
	if err := o.ari.Mute(octx, ad.leg, "in"); err != nil {
		log.Warn().Err(err).Msg("mute the agent while the caller holds")
	}
	if err := o.ari.DestroyBridge(octx, cb.ID); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		log.Warn().Err(err).Msg("destroy the earlier run's consultation bridge")
		o.strandBridge(cb.ID, err)
	}
	nb := *ad.bridge
	nb.ChannelIDs = append(slices.Clone(nb.ChannelIDs), ad.leg)
	ad.bridge = &nb
	if ad.held.IsZero() { // a consultation holds the caller; the mark may have failed
		ad.held = o.now()
	}
	o.publish(ad.agent, "call.consult", map[string]any{"call_id": ad.ch.ID, "state": "ended", "reason": "ctid restarted"})
	log.Info().Str("agent", ad.agent).Msg("the consultation of the earlier run is over; the agent is back with the held caller")
	return nil
}

// dropPartiesOfEarlierRun hangs up every other leg of ctid's making in a restored
// conversation's bridge (conference parties, supervisors' legs) but the agent's.
func (o *Orchestrator) dropPartiesOfEarlierRun(ctx context.Context, ad *adoptee, log zerolog.Logger) {
	// The call id: a callback's customer channel is "<call>-cb-N", its legs and its
	// parties' marks are the call's ("<call>-agent-N").
	callID := ad.ch.ID
	if isCallbackChannel(callID) {
		callID = outboundCallID(ad)
	}
	for _, id := range ad.bridge.ChannelIDs {
		ad.maxLeg = max(ad.maxLeg, partyLegNumber(callID, id))
		if id != ad.ch.ID && id != ad.leg && isCtidLeg(id) {
			o.endPartyOfEarlierRun(ctx, callID, id, "conference ended: ctid restarted", log)
		}
	}
}

// partyLegNumber is the leg number in a leg id of the call's making
// ("<call>-agent-N", "<call>-ext-N"; 0 for anything else), so that a restored call
// never stages a leg id an earlier leg had.
func partyLegNumber(callID, leg string) int {
	for _, mark := range []string{"-agent-", "-ext-"} {
		if n, err := strconv.Atoi(strings.TrimPrefix(leg, callID+mark)); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// sweepLeftoverBridges hangs up the legs of bridges that only hold legs of ctid's
// making (agents', supervisors', snoops, outside parties; never a customer) that no
// call of this run owns (a supervisor's listen bridge with its snoop
// channel, a consultation whose call is gone) and destroys those bridges: nobody
// can reach them any more. Run after the callers were adopted.
func (o *Orchestrator) sweepLeftoverBridges(ctx context.Context, bridges []ari.BridgeData) {
	for _, b := range bridges {
		if len(b.ChannelIDs) == 0 || ctx.Err() != nil {
			continue
		}
		leftover := true
		o.mu.Lock()
		for _, id := range b.ChannelIDs {
			// A callback's customer ("-cb-") is a caller, not a leg: a callback
			// conversation is not a leftover (it is not taken over either).
			if !isCtidLeg(id) || strings.Contains(id, "-cb-") || o.byChannel[id] != nil {
				leftover = false
				break
			}
		}
		o.mu.Unlock()
		if !leftover {
			continue
		}
		log := o.log.With().Str("bridge_id", b.ID).Strs("channels", b.ChannelIDs).Logger()
		log.Info().Msg("hanging up a leftover bridge of an earlier ctid run")
		octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
		for _, id := range b.ChannelIDs {
			if err := o.ari.Hangup(octx, id, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
				log.Warn().Err(err).Str("leg", id).Msg("hang up a leftover leg")
				o.strandHangup(id, err)
			}
		}
		if err := o.ari.DestroyBridge(octx, b.ID); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			log.Warn().Err(err).Msg("destroy a leftover bridge")
			o.strandBridge(b.ID, err)
		}
		cancel()
	}
}

// markExternal marks the caller, now talking with an outside number after a
// transfer, for a later run (extVar).
func (a *callActor) markExternal(octx context.Context) {
	v := fmt.Sprintf("%s;%d", a.extLeg, a.talkStart.UnixNano())
	if err := a.o.ari.SetVar(octx, a.channel, extVar, v); err != nil {
		a.log.Warn().Err(err).Msg("could not mark the transfer to a number for a restart")
	}
}

// restoreExternal takes over a caller an earlier run transferred to an outside
// number who is still talking with it: the call is followed to its end (either
// side hanging up ends it, the transfer segment runs from the answer), with no
// agent and nothing in the engine.
func (o *Orchestrator) restoreExternal(ctx context.Context, a *callActor, ad adoptee) error {
	a.bridge, a.extLeg, a.extUp = ad.bridge.ID, ad.ext, true
	a.talkStart, a.answered, a.restored = ad.extAt, true, true
	a.legs = max(partyLegNumber(a.id, ad.ext), ad.maxLeg)
	a.state = stateExternal
	if !o.register(a, a.channel, a.extLeg) {
		return nil // a StasisStart beat us to it
	}
	a.log.Info().Str("outside_leg", a.extLeg).Time("answered", a.talkStart).
		Msg("following a caller an earlier ctid run transferred to an outside number")
	o.wg.Go(func() { a.run(ctx) })
	return nil
}

// saveTakenOver writes (upserts) the interaction of a conversation taken over from
// an earlier run: that run may have died before its first write reached the store,
// and a call that ends with no record is worse than one without its early segments.
// Fields already stored are kept (the upsert never clears them); answered is given
// only when it is the call's first answer (zero: keep what is stored).
func (o *Orchestrator) saveTakenOver(a *callActor, answered time.Time) {
	o.record(func(r Records) error {
		return r.SaveInteraction(store.Interaction{ID: a.id, CallID: a.channel, Direction: a.direction(), Queue: a.in.queue,
			CallerNumber: a.caller.Number, CallerName: a.caller.Name, Dialled: a.dialled, Created: a.arrived, Answered: answered})
	})
}
