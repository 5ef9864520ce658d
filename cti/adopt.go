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

	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

// Channel variables in which ctid keeps what a later run needs to take a call over
// (Asterisk does not re-send StasisStart; the channel's dialplan app_data, which
// telephony.Resync.StasisArgs carries, has the arguments but not the arrival time,
// the agent or the state of the call):
const (
	// argsVar: the call's Stasis arguments (queue, priority, skills, variables).
	argsVar = "CTID_ARGS"
	// surveyMark is argsVar's value while the caller answers the post-call survey
	// (survey.go): a next run releases them instead of queueing them again.
	surveyMark = "survey"
	// arrivedVar: when the caller first arrived (Unix nanoseconds), so that a
	// re-queued caller keeps their wait and their place.
	arrivedVar = "CTID_ARRIVED"
	// agentVar: "<agent>;<answered Unix ns>;<agent leg id>" while an agent talks
	// with the caller, so that a later run can restore the conversation.
	agentVar = "CTID_AGENT"
	// holdVar: when the caller was put on hold (Unix nanoseconds), "" when not
	// held, so that a held call is restored held with its hold time (adopt_parts.go).
	holdVar = "CTID_HOLD"
	// partyVar, on a consulted or conference party's leg: "<call id>;<agent>;<number>;
	// <since Unix ns>", so that a later run can close the party's segment (adopt_parts.go).
	partyVar = "CTID_PARTY"
	// extVar: "<outside leg id>;<answered Unix ns>" once a caller transferred to an
	// outside number talks with it, so that a later run can follow that call to its
	// end (adopt_parts.go).
	extVar = "CTID_EXT"
)

// adoptee is a channel of the application that no call of this ctid owns, with
// what its variables say.
type adoptee struct {
	ch      ari.ChannelData
	bridge  *ari.BridgeData // the bridge it is in, if any
	args    string
	arrived time.Time
	agent   string
	answer  time.Time
	leg     string
	held    time.Time // on hold since (zero: not held)
	ext     string    // the outside party's leg after a transfer to a number
	extAt   time.Time // when the outside party answered
	maxLeg  int       // highest leg number of the call's legs seen in its bridges
	camp    campMark  // a connected campaign call's mark (campaign_adopt.go)
	campErr error     // why camp is unusable (missing, garbled)
	cb      cbMark    // a connected keep-your-place callback's mark (callback_adopt.go)
	cbErr   error     // why cb is unusable (missing, garbled)
	err     error     // reading the variables failed (not "not set")
}

// adoptLater looks, off the event pump, at the channels the application holds that
// no call of this ctid owns: waiting callers of an earlier run are queued again
// (oldest first, with their original arrival); calls that were talking with an
// agent are restored with that agent; orphaned legs of ctid's own making are hung
// up.
func (o *Orchestrator) adoptLater(ctx context.Context, rs *telephony.Resync) {
	bridgeOf := map[string]*ari.BridgeData{}
	for i := range rs.Bridges {
		for _, id := range rs.Bridges[i].ChannelIDs {
			bridgeOf[id] = &rs.Bridges[i]
		}
	}
	alive := map[string]bool{}
	for _, ch := range rs.Channels {
		alive[ch.ID] = true
	}
	o.mu.Lock()
	var unknown []adoptee
	for _, ch := range rs.Channels {
		// A channel ctid is still letting go of (its hang-up failed while ARI was
		// failing) is no caller to take over.
		if o.byChannel[ch.ID] == nil && !o.stranded.releasing(ch.ID) {
			unknown = append(unknown, adoptee{ch: ch, bridge: bridgeOf[ch.ID]})
		}
	}
	o.mu.Unlock()
	if len(unknown) == 0 {
		o.took.finish()
		return
	}
	o.wg.Go(func() {
		defer o.took.finish() // also when ctx ends half-way
		for i := range unknown {
			if ctx.Err() != nil {
				return
			}
			o.readAdoptee(ctx, &unknown[i])
		}
		// Oldest first: a caller who waited longest is queued (and offered) first.
		slices.SortStableFunc(unknown, func(x, y adoptee) int { return x.arrived.Compare(y.arrived) })
		var unmarked []adoptee
		for _, ad := range unknown {
			if ctx.Err() != nil {
				return
			}
			if ad.err == nil && ad.args == "" && !isCtidLeg(ad.ch.ID) && ad.bridge == nil {
				unmarked = append(unmarked, ad)
				continue
			}
			o.adopt(ctx, ad, alive, bridgeOf)
		}
		o.took.finish() // the calls are ours; the sweeps below need no desktop to wait
		o.sweepLeftoverBridges(ctx, rs.Bridges)
		o.releaseUnmarked(ctx, unmarked, rs.StasisArgs)
	})
}

// unmarkedGrace is how long a caller in the application that no call owns and ctid
// never marked may be a brand-new caller whose StasisStart is still on its way.
const unmarkedGrace = 2 * time.Second

// releaseUnmarked takes care of callers in the application that no call owns and
// ctid never marked: their StasisStart was lost (a damaged events frame, a dropped
// socket) or an earlier run died between it and queueing them. A channel some call
// owns by then (its StasisStart was just late) is left to that call. The others are
// handled as their StasisStart would have been, from the Stasis arguments Asterisk
// reports in the channel's dialplan (app_data "ctid,inbound,sales"); a caller whose
// arguments ctid cannot place gets the fallback — never silence.
func (o *Orchestrator) releaseUnmarked(ctx context.Context, unmarked []adoptee, stasisArgs map[string][]string) {
	if len(unmarked) == 0 {
		return
	}
	t := time.NewTimer(unmarkedGrace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	for _, ad := range unmarked {
		o.mu.Lock()
		owned := o.byChannel[ad.ch.ID] != nil
		o.mu.Unlock()
		if owned || ctx.Err() != nil {
			continue
		}
		log := o.log.With().Str("channel_id", ad.ch.ID).Logger()
		if args := stasisArgs[ad.ch.ID]; len(args) > 0 {
			if _, err := parseInbound(args); err == nil {
				log.Warn().Strs("args", args).Msg("a caller in the application that no ctid run queued (its StasisStart was lost); queueing them from their Stasis arguments")
				o.stasisStart(ctx, &ari.StasisStart{Channel: ad.ch, Args: args})
				continue
			}
		}
		log.Warn().Strs("args", stasisArgs[ad.ch.ID]).Msg("a caller in the application that no ctid run queued (its arguments are unknown); applying fallback")
		o.fallback(ctx, ad.ch.ID, log)
	}
}

// readAdoptee reads the channel variables ctid left on a channel.
func (o *Orchestrator) readAdoptee(ctx context.Context, ad *adoptee) {
	get := func(name string) string {
		if ad.err != nil {
			return ""
		}
		octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
		defer cancel()
		v, err := o.ari.GetVar(octx, ad.ch.ID, name)
		if err != nil && !errors.Is(err, telephony.ErrNotFound) {
			ad.err = err
		}
		return v
	}
	if ad.args = get(argsVar); ad.args == "" {
		if outboundCustomer(ad) {
			// A campaign call or callback: no arguments, but an agent mark once
			// connected (adopt_outbound.go).
			ad.agent, ad.answer, ad.leg = parseAgentMark(get(agentVar))
			if ad.agent != "" {
				if isCallbackChannel(ad.ch.ID) {
					ad.cb, ad.cbErr = parseCbMark(get(cbVar)) // callback_adopt.go
				} else {
					ad.camp, ad.campErr = parseCampMark(get(campVar)) // campaign_adopt.go
				}
				if ns, err := strconv.ParseInt(get(holdVar), 10, 64); err == nil && ns > 0 {
					ad.held = time.Unix(0, ns)
				}
			}
		}
		return
	}
	if ns, err := strconv.ParseInt(get(arrivedVar), 10, 64); err == nil {
		ad.arrived = time.Unix(0, ns)
	}
	if v := get(agentVar); v != "" {
		parts := strings.Split(v, ";")
		if len(parts) == 3 {
			if ns, err := strconv.ParseInt(parts[1], 10, 64); err == nil {
				ad.agent, ad.answer, ad.leg = parts[0], time.Unix(0, ns), parts[2]
			}
		}
		if ns, err := strconv.ParseInt(get(holdVar), 10, 64); err == nil && ns > 0 {
			ad.held = time.Unix(0, ns)
		}
	}
	if leg, at, ok := strings.Cut(get(extVar), ";"); ok {
		if ns, err := strconv.ParseInt(at, 10, 64); err == nil && leg != "" {
			ad.ext, ad.extAt = leg, time.Unix(0, ns)
		}
	}
}

func (o *Orchestrator) adopt(ctx context.Context, ad adoptee, alive map[string]bool, bridgeOf map[string]*ari.BridgeData) {
	ch := ad.ch
	log := o.log.With().Str("channel_id", ch.ID).Logger()
	switch {
	case ad.err != nil:
		log.Warn().Err(ad.err).Msg("cannot tell whether the channel is a caller of an earlier run")
		return
	case ad.args == "" && outboundCustomer(&ad):
		// Bridged without Stasis arguments: only campaign lines and callbacks are.
		// A campaign call or a callback talking with its agent is taken over
		// (campaign_adopt.go, callback_adopt.go); anything else, or when that cannot
		// be, is ended cleanly.
		takeOver := o.takeOverCampaignCall
		if isCallbackChannel(ch.ID) {
			takeOver = o.takeOverCallback
		}
		if err := takeOver(ctx, ad, alive, log); errors.Is(err, errTakenOver) {
			log.Info().Err(err).Msg("the outbound call is this run's already")
		} else if err != nil {
			log.Info().Err(err).Msg("the outbound call is not taken over")
			o.endOutboundOfEarlierRun(ctx, ad, log)
		}
		return
	case ad.args == "":
		if isCtidLeg(ch.ID) && ad.bridge == nil {
			log.Info().Msg("hanging up a leftover leg of an earlier ctid run")
			octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
			defer cancel()
			if herr := o.ari.Hangup(octx, ch.ID, "normal"); herr != nil && !errors.Is(herr, telephony.ErrNotFound) {
				log.Warn().Err(herr).Msg("hang up leftover leg")
			}
		}
		return
	}
	if ad.args == surveyMark {
		log.Info().Msg("the caller was answering the post-call survey when the earlier run stopped; applying fallback")
		o.fallback(ctx, ch.ID, log)
		return
	}
	in, err := parseInbound(strings.Split(ad.args, ","))
	if err != nil {
		log.Warn().Err(err).Msg("cannot re-queue the caller of an earlier run; applying fallback")
		o.fallback(ctx, ch.ID, log)
		return
	}
	a := newCallActor(o, ch, in)
	a.adopted = true
	if !ad.arrived.IsZero() && ad.arrived.Before(a.arrived) {
		a.arrived = ad.arrived
	}
	if ad.bridge != nil && (ad.agent != "" || ad.ext != "") {
		// Before any segment of the taken-over call is written (they need the row).
		answered := time.Time{} // after a transfer the original answer is not this agent's
		if ad.agent != "" && legNumber(a.id, ad.leg) == 1 {
			answered = ad.answer // the call's first agent leg: their answer is the call's
		}
		o.saveTakenOver(a, answered)
	}
	if ad.bridge != nil {
		if ad.agent != "" && alive[ad.leg] && !slices.Contains(ad.bridge.ChannelIDs, ad.leg) && bridgeOf[ad.leg] != nil {
			// The agent was consulting (their leg in the consultation bridge, the
			// caller on hold): the consultation is ended, the agent back with the
			// held caller (adopt_parts.go).
			if err := o.endConsultOfEarlierRun(ctx, &ad, bridgeOf[ad.leg], log); err != nil {
				log.Warn().Err(err).Str("agent", ad.agent).Msg("cannot return the consulting agent to the held caller; the caller is queued again")
				octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
				if herr := o.ari.Hangup(octx, ad.leg, "normal"); herr != nil && !errors.Is(herr, telephony.ErrNotFound) {
					o.strandHangup(ad.leg, herr)
				}
				cancel()
			}
		}
		if ad.agent != "" && alive[ad.leg] && slices.Contains(ad.bridge.ChannelIDs, ad.leg) {
			o.dropPartiesOfEarlierRun(ctx, &ad, log)
			if err := o.restoreTalking(ctx, a, ad); err == nil {
				return
			} else {
				log.Warn().Err(err).Str("agent", ad.agent).Msg("cannot restore the conversation; the caller is queued again")
			}
		} else if ad.ext != "" && alive[ad.ext] && slices.Contains(ad.bridge.ChannelIDs, ad.ext) {
			if err := o.restoreExternal(ctx, a, ad); err == nil {
				return
			}
		} else {
			log.Warn().Str("agent", ad.agent).Msg("the caller's agent leg is gone; the caller is queued again")
		}
		o.dismantle(ctx, ad, log)
	}
	if !o.register(a, ch.ID) {
		return
	}
	log.Info().Str("queue", in.queue).Time("arrived", a.arrived).Msg("re-queueing a caller who was waiting when ctid last stopped")
	o.wg.Go(func() { a.run(ctx) })
}

// register makes a the owner of its channels unless a StasisStart beat us to it.
func (o *Orchestrator) register(a *callActor, channels ...string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range channels {
		if o.byChannel[id] != nil {
			return false
		}
	}
	o.calls[a.id] = a
	for _, id := range channels {
		o.byChannel[id] = a
	}
	return true
}

// restoreTalking takes over a conversation that an earlier run connected: the
// engine is told the agent is talking with the call since it was answered, and
// the call's actor starts in the talking state with its bridge and agent leg. A
// browser agent's audio leg pointed at the dead process, so a fresh one is set up.
func (o *Orchestrator) restoreTalking(ctx context.Context, a *callActor, ad adoptee) error {
	err := o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.RestoreConnected(now, queue.Call{ID: queue.CallID(a.id), Queue: queue.QueueID(a.in.queue),
			Priority: a.in.priority, Skills: a.in.skills, Arrived: a.arrived}, queue.AgentID(ad.agent), ad.answer)
	})
	if err != nil {
		return err
	}
	a.agent, a.bridge, a.agentLeg = ad.agent, ad.bridge.ID, ad.leg
	a.legs = max(legNumber(a.id, ad.leg), ad.maxLeg)
	a.state, a.queued, a.answered, a.restored = stateTalking, true, true, true
	a.talkStart = ad.answer
	if !ad.held.IsZero() {
		if err := o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.RestoreHeld(now, queue.CallID(a.id), ad.held)
		}); err != nil {
			a.log.Warn().Err(err).Msg("engine: restore the call on hold")
		}
		a.state, a.holdStart, a.holdMarked = stateHeld, ad.held, true
	}
	a.connectedAgent.Store(ad.agent)
	if !o.register(a, a.channel, a.agentLeg) {
		// A StasisStart beat us to it: undo the engine side.
		if _, eerr := o.loop.Do(ctx, func(e *queue.Engine) ([]queue.Decision, error) {
			return e.CallEnded(o.now(), queue.CallID(a.id))
		}); eerr != nil {
			o.log.Warn().Err(eerr).Str("call_id", a.id).Msg("undo restore")
		}
		return nil
	}
	a.log.Info().Str("agent", a.agent).Str("bridge_id", a.bridge).Time("answered", a.talkStart).
		Msg("restored a conversation connected by an earlier ctid run")
	o.publish(a.agent, "call.connected", map[string]any{"call_id": a.id, "agent": a.agent, "bridge_id": a.bridge, "restored": true})
	if a.state == stateHeld {
		a.log.Info().Time("held_since", a.holdStart).Msg("the restored call is on hold")
		o.publish(a.agent, "call.held", map[string]any{"call_id": a.id, "restored": true,
			"held_since": a.holdStart.UTC().Format(time.RFC3339Nano)})
	}
	o.expectDesktop(a.agent) // an agent who never comes back is handled like a dropped desktop
	o.wg.Go(func() { a.run(ctx) })
	return nil
}

// dismantle takes a bridged caller out of a conversation that cannot be restored:
// ctid's legs in the bridge are hung up and the bridge destroyed (the caller stays
// in the application, to be queued again).
func (o *Orchestrator) dismantle(ctx context.Context, ad adoptee, log zerolog.Logger) {
	octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	defer cancel()
	for _, id := range ad.bridge.ChannelIDs {
		if id != ad.ch.ID && isCtidLeg(id) {
			if err := o.ari.Hangup(octx, id, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
				log.Warn().Err(err).Str("leg", id).Msg("hang up a leg of the earlier conversation")
			}
		}
	}
	if err := o.ari.DestroyBridge(octx, ad.bridge.ID); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		log.Warn().Err(err).Msg("destroy the earlier conversation's bridge")
		o.strandBridge(ad.bridge.ID, err)
	}
}

// legNumber is how many agent legs a call had staged, from its latest leg's id
// ("<call>-agent" is 1, "<call>-agent-N" is N).
func legNumber(callID, leg string) int {
	if n, err := strconv.Atoi(strings.TrimPrefix(leg, callID+"-agent-")); err == nil && n > 0 {
		return n
	}
	return 1
}

// agentMark is agentVar's value for the agent now talking on the call.
func (a *callActor) agentMark() string {
	return fmt.Sprintf("%s;%d;%s", a.agent, a.talkStart.UnixNano(), a.agentLeg)
}

// isCtidLeg tells the channels ctid creates with ids of its own making.
func isCtidLeg(id string) bool {
	for _, mark := range []string{"-agent", "-sup-", "-snoop-", "-ext-", "-cb-"} {
		if strings.Contains(id, mark) {
			return true
		}
	}
	return false
}

// reattachMedia gives a restored call's browser agent a fresh audio leg: the old
// ExternalMedia leg sends to a port of the dead process. The new leg joins the
// bridge on its StasisStart (onMediaLegUp), then the old one is hung up. Without a
// softphone session (the desktop has not reconnected) the call stays up as it is.
func (a *callActor) reattachMedia(ctx context.Context) {
	if a.agent == "" || a.o.cfg.deviceOf(a.agent) != DeviceWebRTC {
		return // a SIP phone's leg is still bridged: audio never stopped
	}
	if a.o.media == nil {
		a.log.Warn().Msg("restored call of a browser agent but no media gateway; the call has no audio to the agent")
		return
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	host, err := a.o.media.AttachCall(octx, a.agent, a.id)
	if err != nil {
		a.log.Warn().Err(err).Msg("cannot re-attach the agent's browser audio to the restored call; it stays up, the agent can still control it")
		return
	}
	a.mediaAgent = a.agent
	a.legs++
	leg := fmt.Sprintf("%s-agent-%d", a.id, a.legs)
	a.pendingLeg = leg
	a.o.own(a, leg)
	ch, err := a.o.ari.ExternalMedia(octx, telephony.ExternalMediaParams{ChannelID: leg, ExternalHost: host, Format: "ulaw"})
	if err != nil {
		a.log.Warn().Err(err).Msg("new audio leg for the restored call")
		a.pendingLeg = ""
		return
	}
	// Latch at once, from the answer's channelvars, as a first connect does: the
	// stale leg of the earlier run still sends to the port the restarted gateway
	// just handed out again (its range starts afresh), and the new port would
	// otherwise latch onto the stale leg's first packet (its StasisStart carries
	// the address only when ari.conf's channelvars names it).
	if ch != nil {
		a.latchLeg(a.mediaAgent, a.id, ch.ChannelVars)
	}
}

// dropPendingLeg hangs up a restored call's fresh audio leg that has not joined yet
// (the call ends or loses its agent first): its StasisStart would find no call.
func (a *callActor) dropPendingLeg(octx context.Context) {
	if a.pendingLeg == "" {
		return
	}
	leg := a.pendingLeg
	a.pendingLeg = ""
	if err := a.o.ari.Hangup(octx, leg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Str("leg", leg).Msg("hang up the restored call's unjoined audio leg")
		a.o.strandHangup(leg, err)
	}
}

// onMediaLegUp swaps a restored call's stale audio leg for the fresh one.
func (a *callActor) onMediaLegUp(ctx context.Context, e *ari.StasisStart) bool {
	if a.pendingLeg == "" || e.Channel.ID != a.pendingLeg {
		return false
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	a.latchLeg(a.mediaAgent, a.id, e.Channel.ChannelVars)
	if a.state == stateEnded {
		return true
	}
	leg := a.pendingLeg
	a.pendingLeg = ""
	if err := a.o.ari.AddChannel(octx, a.bridge, leg); err != nil {
		a.log.Warn().Err(err).Msg("joining the restored call's new audio leg")
		if herr := a.o.ari.Hangup(octx, leg, "normal"); herr != nil && !errors.Is(herr, telephony.ErrNotFound) {
			a.o.strandHangup(leg, herr)
		}
		return true
	}
	if a.state == stateHeld || a.state == stateConsulting {
		// The stale leg was muted for the hold; the fresh one must be too.
		if err := a.o.ari.Mute(octx, leg, "in"); err != nil {
			a.log.Warn().Err(err).Msg("mute the restored call's new audio leg while the caller holds")
		}
	}
	old := a.agentLeg
	a.agentLeg = leg
	if err := a.o.ari.Hangup(octx, old, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.o.strandHangup(old, err)
	}
	if err := a.o.ari.SetVar(octx, a.channel, agentVar, a.agentMark()); err != nil {
		a.log.Warn().Err(err).Msg("could not mark the conversation for restoring after a restart")
	}
	a.log.Info().Str("agent_leg", leg).Msg("the agent's browser audio is back on the restored call")
	return true
}

// reattachMsg: the agent's softphone is back; a restored call without browser audio
// can get its fresh leg now.
type reattachMsg struct{}

// SoftphoneReady is told when an agent's browser softphone (re)negotiated: a call
// restored from an earlier run that could not get the agent's audio at take-over
// (no softphone session then) gets it now.
func (o *Orchestrator) SoftphoneReady(agent string) {
	o.mu.Lock()
	var target *callActor
	for _, a := range o.calls {
		if a.talkingWith() == agent {
			target = a
			break
		}
	}
	o.mu.Unlock()
	if target != nil {
		target.box.send(reattachMsg{})
	}
}

// onReattach retries the audio leg of a restored call that has none.
func (a *callActor) onReattach(ctx context.Context) {
	if !a.restored || a.mediaAgent != "" || a.pendingLeg != "" || (a.state != stateTalking && a.state != stateHeld) {
		return
	}
	a.reattachMedia(ctx)
}
