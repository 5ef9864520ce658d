package cti

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue/dialer"
	"github.com/ctid/ctid/telephony"
)

// campCall is the campaign side of a call actor: one dialled line, from originate
// to the agent's connection (after which the call is an ordinary connected call:
// hold, transfer, hang-up, wrap-up).
//
// Answering machines: with Asterisk, originate through a dialplan context that runs
// AMD() on the answered leg and sets AMDSTATUS on the channel (or on the Local ;2 half
// via MASTER_CHANNEL) before the leg enters Stasis; ctid reads AMDSTATUS=MACHINE from
// the ChannelVarset. The emulator's `machine` far end stands for it: its Local half
// runs callers,machine (ChannelDialplan) before the answer.
type campCall struct {
	c          *campaignActor
	dial       dialer.Dial
	contact    CampaignContact
	far        string // the Local ;2 half, when the endpoint is a Local channel
	dialstatus string // last Dial event's status
	machine    bool
	answered   bool
	noAnswer   bool   // ctid hung up at the ring timeout
	reported   bool   // the line's fate went to the campaign
	harbour    string // safe-harbour playback id
	offered    bool   // the agent has the screen-pop
	manual     bool   // an agent's manual dial
}

// Messages from the campaign actor to a line's call actor.
type (
	campaignMsg    interface{ campaignLine() }
	campConnectMsg struct{ agent string }
	campHangupMsg  struct {
		cause    string
		noAnswer bool
	}
	campSafeHarbourMsg struct{ media []string }
	campHarbourLimit   struct{ playback string }
)

func (campConnectMsg) campaignLine()     {}
func (campHangupMsg) campaignLine()      {}
func (campSafeHarbourMsg) campaignLine() {}
func (campHarbourLimit) campaignLine()   {}

// safeHarbourMax bounds the safe-harbour message before ctid hangs up anyway.
const safeHarbourMax = 30 * time.Second

// startCampaignCall creates and starts the call actor of a planned line.
func (o *Orchestrator) startCampaignCall(ctx context.Context, c *campaignActor, l *campLine) {
	k := &campCall{c: c, dial: l.dial, contact: l.contact, manual: l.manual}
	if strings.HasPrefix(strings.ToLower(c.cfg.Endpoint), "local/") {
		k.far = l.callID + "-far"
	}
	a := &callActor{
		o: o, id: l.callID, channel: l.callID, in: inbound{vars: map[string]string{}},
		caller: ari.CallerID{Number: l.dial.Number, Name: l.contact.Name}, dialled: l.dial.Number,
		arrived: o.now(), box: newMailbox(), done: make(chan struct{}), agent: l.agent, camp: k,
	}
	a.log = o.log.With().Str("call_id", a.id).Str("campaign", c.id).Str("attempt", string(l.dial.Attempt)).Logger()
	o.mu.Lock()
	o.calls[a.id] = a
	o.byChannel[a.channel] = a
	if k.far != "" {
		o.byChannel[k.far] = a
	}
	o.mu.Unlock()
	o.wg.Go(func() { a.run(ctx) })
}

func (a *callActor) direction() store.Direction {
	if a.camp != nil {
		return store.Outbound
	}
	return store.Inbound
}

// dialCampaign originates the line. A reserved agent sees the contact while it rings.
func (a *callActor) dialCampaign(ctx context.Context) {
	k := a.camp
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	a.setState(stateArriving)
	a.o.record(func(r Records) error {
		return r.SaveInteraction(store.Interaction{ID: a.id, CallID: a.channel, Direction: store.Outbound, Campaign: k.c.id,
			CallerNumber: k.dial.Number, CallerName: k.contact.Name, Dialled: k.dial.Number, Created: a.arrived})
	})
	if a.agent != "" {
		a.offer()
	}
	// Asterisk's own ring timeout is a backstop: the dialer hangs up at its own.
	timeout := int((k.dial.RingTimeout + originateSlack) / time.Second)
	_, err := a.o.ari.Originate(octx, telephony.OriginateParams{
		Endpoint: k.c.cfg.endpoint(k.dial.Number), ChannelID: a.channel, OtherChannelID: k.far,
		AppArgs: []string{"campaign", k.c.id, string(k.dial.Attempt)}, CallerID: k.c.cfg.CallerID, Timeout: timeout,
	})
	if err != nil {
		a.log.Error().Err(err).Str("number", k.dial.Number).Msg("originate failed")
		a.lineFailed(ctx, dialer.Congestion, "originate failed: "+err.Error())
		return
	}
	a.log.Info().Str("number", k.dial.Number).Str("agent", a.agent).Msg("campaign line dialling")
}

// offer sends the agent the screen-pop (direction outbound, the contact's fields).
func (a *callActor) offer() {
	if a.camp.offered || a.agent == "" {
		return
	}
	a.camp.offered = true
	a.ringStart = a.o.now()
	a.o.publish(a.agent, "call.offered", a.campaignPop())
}

func (a *callActor) campaignPop() map[string]any {
	k := a.camp
	fields := map[string]string{}
	for key, v := range k.contact.Fields {
		fields[key] = v
	}
	f := map[string]any{
		"call_id": a.id, "direction": "outbound", "campaign_id": k.c.id, "campaign": k.c.cfg.Name,
		"contact_id": string(k.dial.Contact), "contact_name": k.contact.Name, "contact": fields,
		"caller_number": k.dial.Number, "caller_name": k.contact.Name, "caller_e164": k.dial.Number,
		"dialled": k.dial.Number, "zone": k.dial.Zone, "attempt_id": string(k.dial.Attempt),
		"callback": k.dial.Callback, "history": []map[string]any{},
		"dispositions": campaignDispositions(k.c.cfg.Dialer.Dispositions, k.c.cfg.DispositionLabels),
	}
	if k.c.cfg.Script != "" {
		f["script"] = k.c.cfg.Script
	}
	return f
}

// campaignEvent follows the line until an agent takes it; it reports whether the
// event was handled here.
func (a *callActor) campaignEvent(ctx context.Context, ev telephony.Event) bool {
	k := a.camp
	switch e := ev.ARI.(type) {
	case *ari.Dial:
		if e.Peer.ID == a.channel && e.Dialstatus != "" {
			k.dialstatus = e.Dialstatus
		}
		return e.Peer.ID == a.channel || e.Peer.ID == k.far
	case *ari.ChannelDialplan:
		if e.Channel.ID == k.far && e.Channel.Dialplan != nil && e.Channel.Dialplan.Context == "callers" && e.Channel.Dialplan.Exten == "machine" {
			k.machine = true
		}
		return e.Channel.ID == k.far
	case *ari.ChannelVarset:
		if (e.Channel.ID == a.channel || e.Channel.ID == k.far) && e.Variable == "AMDSTATUS" {
			k.machine = strings.EqualFold(e.Value, "MACHINE")
		}
		return e.Channel.ID == k.far
	case *ari.StasisStart:
		if e.Channel.ID != a.channel || k.answered {
			return false
		}
		k.answered = true
		a.setState(stateQueued)
		a.log.Info().Bool("machine", k.machine).Msg("campaign line answered")
		k.c.box.send(lineAnswered{callID: a.id, machine: k.machine})
		return true
	case *ari.ChannelDestroyed:
		if e.Channel.ID == k.far {
			return true
		}
		if e.Channel.ID != a.channel || k.reported {
			return false
		}
		if !k.answered {
			a.lineFailed(ctx, a.failOutcome(e.Cause), e.CauseTxt)
			return true
		}
		if a.state == stateQueued {
			a.lineFailed(ctx, dialer.Human, "contact hung up before an agent")
			return true
		}
		return false
	case *ari.StasisEnd:
		if e.Channel.ID != a.channel {
			return false
		}
		if k.harbour != "" || (k.answered && a.state == stateQueued) {
			a.lineFailed(ctx, dialer.Human, "contact hung up before an agent")
			return true
		}
		return false
	case *ari.PlaybackFinished:
		if k.harbour != "" && e.Playback.ID == k.harbour {
			a.hangupLine(ctx, "safe-harbour message played")
			return true
		}
	}
	return false
}

// failOutcome maps how an unanswered line ended to the dialer's outcome: the last Dial
// status first (busy and congestion differ only there), then the hang-up cause.
func (a *callActor) failOutcome(cause int) dialer.Outcome {
	if a.camp.noAnswer {
		return dialer.NoAnswer
	}
	switch a.camp.dialstatus {
	case "BUSY":
		return dialer.Busy
	case "CONGESTION":
		return dialer.Congestion
	case "CHANUNAVAIL":
		if cause == 1 || cause == 3 || cause == 28 {
			return dialer.Invalid
		}
		return dialer.Congestion
	}
	switch cause {
	case 17:
		return dialer.Busy
	case 21:
		return dialer.Rejected
	case 1, 3, 28:
		return dialer.Invalid
	case 34, 38, 41, 42:
		return dialer.Congestion
	}
	return dialer.NoAnswer
}

// lineFailed reports the line's end (before an agent) and ends the actor. For an
// answered line the dialer counts it at its deadline; outcome is then ignored.
func (a *callActor) lineFailed(ctx context.Context, o dialer.Outcome, cause string) {
	k := a.camp
	if !k.reported {
		k.reported = true
		k.c.box.send(lineFailed{callID: a.id, outcome: o, cause: cause})
	}
	a.outcome = o.String()
	if k.harbour != "" {
		a.outcome = "abandoned"
	}
	if a.agent != "" && !k.answered {
		a.agent = "" // the campaign releases and tells the reserved agent
	}
	a.finish(ctx, cause)
}

// hangupLine hangs the contact up and ends the actor (machine, ring timeout handled
// by events, safe harbour done).
func (a *callActor) hangupLine(ctx context.Context, cause string) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.Hangup(octx, a.channel, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("hang up campaign line")
	}
	a.camp.reported = true
	if a.state != stateEnded {
		a.finish(ctx, cause)
	}
}

func (a *callActor) onCampaignMsg(ctx context.Context, m campaignMsg) {
	k := a.camp
	if k == nil || a.state == stateEnded {
		return
	}
	switch m := m.(type) {
	case campConnectMsg:
		a.agent = m.agent
		a.queued = true // the engine has the agent Talking on this call
		a.offer()
		if err := a.connect(ctx, m.agent); err != nil {
			a.log.Error().Err(err).Str("agent", m.agent).Msg("connecting the agent to the campaign line")
			return
		}
		a.markCampaign(ctx) // for a take-over after a restart (campaign_adopt.go)
	case campHangupMsg:
		if !k.answered {
			k.noAnswer = m.noAnswer
			octx, cancel := a.opCtx(ctx)
			defer cancel()
			if err := a.o.ari.Hangup(octx, a.channel, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
				a.log.Warn().Err(err).Msg("hang up ringing line")
			}
			return // ChannelDestroyed reports the outcome
		}
		a.outcome = "machine"
		a.hangupLine(ctx, m.cause)
	case campSafeHarbourMsg:
		a.safeHarbour(ctx, m.media)
	case campHarbourLimit:
		if k.harbour == m.playback {
			a.log.Warn().Msg("safe-harbour message never finished; hanging up")
			a.hangupLine(ctx, "safe-harbour message timed out")
		}
	default:
		a.log.Error().Str("message", fmt.Sprintf("%T", m)).Msg("unexpected campaign message")
	}
}

// safeHarbour plays the campaign's message to an answered contact no agent reached,
// then hangs up. A contact is never left in silence: a failed playback hangs up now.
func (a *callActor) safeHarbour(ctx context.Context, media []string) {
	k := a.camp
	if a.state != stateQueued {
		return
	}
	a.outcome = "abandoned"
	id := a.id + "-harbour"
	k.harbour = id
	a.o.own(a, playbackRef(id))
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if _, err := a.o.ari.Play(octx, telephony.PlayTarget{ChannelID: a.channel}, id, media...); err != nil {
		a.log.Warn().Err(err).Msg("safe-harbour message failed; hanging up")
		a.hangupLine(ctx, "safe-harbour message failed")
		return
	}
	a.log.Info().Msg("safe-harbour message playing")
	a.o.wg.Go(func() {
		t := time.NewTimer(safeHarbourMax)
		defer t.Stop()
		select {
		case <-t.C:
			a.box.send(campHarbourLimit{playback: id})
		case <-a.done:
		case <-ctx.Done():
		}
	})
}
