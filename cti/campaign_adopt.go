package cti

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/queue/dialer"
)

// Taking over a campaign call after a restart (docs/RELIABILITY.md).
//
// When an agent is connected to a campaign line (dialer or manual dial), the
// customer's channel gets campVar besides the agent mark (agentVar): the campaign,
// the contact, the number, whether it is a manual dial and the campaign lease's
// owner (the node that placed it). A later run that finds the customer bridged with
// the agent's leg takes the call over instead of ending it: the campaign actor takes
// the attempt back as connected (dialer.RestoreConnected: the contact is not dialled
// again, the attempt and its live answer are not counted again), the engine has the
// agent Talking on it (queue.Engine.RestoreOutbound), and a call actor follows it
// from the talking state: the agent's desktop gets call.connected (restored, with
// the campaign's screen-pop fields), hold and hang-up work, and at the end the agent
// wraps up and records the disposition of that attempt as after any campaign call.
// The interaction record and the attempt row (keyed by the call id) are continued.
//
// Which node takes it over: the node the call's PBX reports it to (only it can see
// and control the channels). For a dialer line, provided its campaign actor runs the
// campaign there (stored running or paused; a take-over never starts a draft), that
// is holds the campaign's lease; an agent's manual dial needs neither the dialer nor
// the lease (its disposition is recorded as is). A lease still held by the run that placed the
// call (the mark's owner: that process is gone, its channels are orphans in this
// node's application) is taken over from it at once instead of waiting for it to
// expire. A lease held by any other node means that node now dials the campaign and
// has rebuilt its dialer from the store without this attempt: the call is ended
// cleanly as before (endOutboundOfEarlierRun), and so it is when the campaign is
// unknown or over, the contact is not loaded, the agent is busy or cannot be
// restored, or the mark is missing or garbled. Keep-your-place callbacks are taken
// over from their own mark (callback_adopt.go).

// campVar is the campaign mark on a connected campaign customer's channel.
const campVar = "CTID_CAMPAIGN"

// Errors of a take-over that falls back to ending the call.
var (
	errNoCampaignMark = errors.New("cti: no campaign mark on the call")
	errNotTakenOver   = errors.New("cti: the campaign call cannot be taken over")
	// errTakenOver: this run took the call over already (a second resync, after an
	// ARI reconnect, found it before its actor owned the channels): leave it be.
	errTakenOver = errors.New("cti: the campaign call is taken over already")
)

// campMark is what campVar says.
type campMark struct {
	campaign, contact, number, owner string
	manual                           bool
}

func (m campMark) String() string {
	v := url.Values{}
	v.Set("c", m.campaign)
	v.Set("k", m.contact)
	v.Set("n", m.number)
	v.Set("o", m.owner)
	if m.manual {
		v.Set("m", "1")
	}
	return v.Encode()
}

func parseCampMark(s string) (campMark, error) {
	v, err := url.ParseQuery(s)
	if err != nil {
		return campMark{}, fmt.Errorf("%w: %q: %w", errNoCampaignMark, s, err)
	}
	m := campMark{campaign: v.Get("c"), contact: v.Get("k"), number: v.Get("n"), owner: v.Get("o"), manual: v.Get("m") == "1"}
	if m.campaign == "" || m.contact == "" || m.number == "" {
		return campMark{}, fmt.Errorf("%w: %q", errNoCampaignMark, s)
	}
	return m, nil
}

// markCampaign marks the customer's channel of a campaign line as it is connected to
// its agent (read by takeOverCampaignCall after a restart).
func (a *callActor) markCampaign(ctx context.Context) {
	k := a.camp
	m := campMark{campaign: k.c.id, contact: string(k.dial.Contact), number: k.dial.Number, owner: k.c.leaseOwner(),
		manual: k.manual}
	if m.contact == "" {
		m.contact = "manual"
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.SetVar(octx, a.channel, campVar, m.String()); err != nil {
		a.log.Warn().Err(err).Msg("could not mark the campaign call for a take-over after a restart")
	}
}

// leaseOwner is this node's name in campaign leases ("" without leases).
func (c *campaignActor) leaseOwner() string {
	if o, ok := c.leaser().(interface{ LeaseOwner() string }); ok {
		return o.LeaseOwner()
	}
	return ""
}

// LeaseOwner is this node's name in campaign leases.
func (s *StoreCampaigns) LeaseOwner() string { return s.p.NodeID }

// TakeOverLease gives this node the campaign's lease still held by from (a run
// that is gone), at now; ErrLeaseHeld when from does not hold it.
func (s *StoreCampaigns) TakeOverLease(ctx context.Context, id, from string, now time.Time) error {
	ls, ok := s.p.Store.(interface {
		TakeOverLease(ctx context.Context, campaignID, from, to string, now time.Time, ttl time.Duration) error
	})
	if !ok {
		return nil // a store without leases: a single node
	}
	if err := ls.TakeOverLease(ctx, id, from, s.p.NodeID, now, s.p.LeaseTTL); err != nil {
		if errors.Is(err, store.ErrLeaseHeld) {
			return errors.Join(ErrLeaseHeld, err)
		}
		return err
	}
	return nil
}

// takeOverCampaignCall takes over a campaign call an earlier run connected (see
// above); an error means it was not, and nothing of it is held by this run.
func (o *Orchestrator) takeOverCampaignCall(ctx context.Context, ad adoptee, alive map[string]bool, log zerolog.Logger) error {
	if ad.agent == "" || ad.leg == "" || !alive[ad.leg] || !slices.Contains(ad.bridge.ChannelIDs, ad.leg) {
		return fmt.Errorf("%w: the agent's leg is not in the call's bridge", errNotTakenOver)
	}
	if ad.campErr != nil {
		return ad.campErr
	}
	m := ad.camp
	id := outboundCallID(&ad)
	if m.manual && m.campaign == manualCampaign && !o.manualDialEnabled() {
		return fmt.Errorf("%w: manual dial is not enabled on this run", errNotTakenOver)
	}
	c, err := o.campaign(ctx, m.campaign)
	if err != nil {
		return err
	}
	req := &campAdopt{callID: id, agent: ad.agent, answered: ad.answer, mark: m}
	if err := c.ask(ctx, req); err != nil {
		return err
	}
	o.dropPartiesOfEarlierRun(ctx, &ad, log) // a conference comes back two-party, as an inbound one (adopt_parts.go)
	k := &campCall{c: c, dial: req.dial, contact: req.contact, answered: true, reported: true, offered: true, manual: m.manual}
	a := &callActor{
		o: o, id: id, channel: ad.ch.ID, in: inbound{vars: map[string]string{}},
		caller: ari.CallerID{Number: m.number, Name: req.contact.Name}, dialled: m.number,
		arrived: ad.answer, box: newMailbox(), done: make(chan struct{}), camp: k,
	}
	a.log = o.log.With().Str("call_id", a.id).Str("campaign", c.id).Str("attempt", string(req.dial.Attempt)).Logger()
	a.agent, a.bridge, a.agentLeg = ad.agent, ad.bridge.ID, ad.leg
	a.legs = max(legNumber(a.id, ad.leg), ad.maxLeg)
	a.state, a.queued, a.answered, a.restored = stateTalking, true, true, true
	a.talkStart = ad.answer
	if !ad.held.IsZero() {
		// on hold at the kill: the customer still hears music, the agent's leg is muted
		if err := o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.RestoreHeld(now, queue.CallID(id), ad.held)
		}); err != nil {
			log.Warn().Err(err).Msg("engine: restore the campaign call on hold")
		}
		a.state, a.holdStart, a.holdMarked = stateHeld, ad.held, true
	}
	a.connectedAgent.Store(ad.agent)
	// Before any segment is written (a run killed within the writer's batching
	// window may not have stored the record).
	o.record(func(r Records) error {
		return r.SaveInteraction(store.Interaction{ID: a.id, CallID: a.channel, Direction: store.Outbound, Campaign: c.id,
			CallerNumber: m.number, CallerName: req.contact.Name, Dialled: m.number, Created: ad.answer, Answered: ad.answer})
	})
	if !o.register(a, a.channel, a.agentLeg) {
		// A StasisStart for the customer cannot come (it is in the application
		// already); the call is someone's: leave it.
		log.Warn().Msg("the campaign call is owned already")
		return nil
	}
	log.Info().Str("agent", a.agent).Str("campaign", c.id).Str("contact", m.contact).Time("answered", a.talkStart).
		Msg("took over a campaign call connected by an earlier ctid run")
	f := a.campaignPop()
	f["agent"], f["bridge_id"], f["restored"] = a.agent, a.bridge, true
	o.publish(a.agent, "call.connected", f)
	if a.state == stateHeld {
		o.publish(a.agent, "call.held", map[string]any{"call_id": a.id, "restored": true,
			"held_since": a.holdStart.UTC().Format(time.RFC3339Nano)})
	}
	o.expectDesktop(a.agent)
	o.wg.Go(func() { a.run(ctx) })
	return nil
}

// campAdopt asks a campaign actor to take back an attempt an earlier run connected.
type campAdopt struct {
	callID, agent string
	answered      time.Time
	mark          campMark
	// out: the line as this run knows it
	dial    dialer.Dial
	contact CampaignContact
}

// adoptLine takes back a connected attempt of an earlier run (see above): the
// campaign must run here (its lease held, taken from the dead run if need be), the
// contact be loaded and the agent restorable; the engine then has the agent Talking
// on the call and the dialer the attempt connected.
func (c *campaignActor) adoptLine(ctx context.Context, m *campAdopt) error {
	mk := m.mark
	if c.byCall[m.callID] != nil {
		return fmt.Errorf("%w: %s is a line of campaign %s", errTakenOver, m.callID, c.id)
	}
	if c.holding[m.agent] != nil {
		return fmt.Errorf("%w: %s is on %s of campaign %s", errNotTakenOver, m.agent, c.holding[m.agent].callID, c.id)
	}
	contact := CampaignContact{ID: "manual", Name: mk.number, Numbers: []string{mk.number}}
	if !mk.manual {
		// A dialer line: the dialer takes the attempt back, so the campaign must run
		// here. (An agent's manual dial needs neither the dialer nor the lease: its
		// disposition is recorded as is, and a draft campaign is not started by it.)
		if c.d.State() == dialer.Draft {
			if cat := c.o.catalog(); cat != nil {
				def, err := cat.LoadCampaign(ctx, c.id)
				if err != nil {
					return fmt.Errorf("%w: %w", errNotTakenOver, err)
				}
				if def.State != dialer.Running.String() && def.State != dialer.Paused.String() {
					return fmt.Errorf("%w: campaign %s is %s", errNotTakenOver, c.id, def.State) // never started by a take-over
				}
			}
			c.takeLeaseOfDeadRun(ctx, mk.owner)
			// held now unless another node has it; then nothing is started here (a
			// standby actor's start would only be stored for that node, and would
			// un-pause a paused campaign: standbyCommand)
			if !c.takeLease(ctx, c.o.now()) {
				return fmt.Errorf("%w: %w: %s", errNotTakenOver, ErrLeaseHeld, c.id)
			}
			if err := c.resume(ctx); err != nil {
				return err
			}
		}
		if c.d.State() == dialer.Draft || !c.lease.dialing(c.o.now()) {
			return fmt.Errorf("%w: %w: %s", errNotTakenOver, ErrLeaseHeld, c.id)
		}
		x, ok := c.contacts[dialer.ContactID(mk.contact)]
		if !ok {
			return fmt.Errorf("%w: contact %s is not loaded in campaign %s (closed or unknown)", errNotTakenOver, mk.contact, c.id)
		}
		contact = x
	}
	callID := queue.CallID(m.callID)
	if err := c.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.RestoreOutbound(now, callID, queue.AgentID(m.agent), m.answered)
	}); err != nil {
		return fmt.Errorf("%w: agent %s: %w", errNotTakenOver, m.agent, err)
	}
	var att dialer.AttemptID
	if mk.manual {
		c.manuals++
		att = dialer.AttemptID(fmt.Sprintf("%s-manual-%d", c.id, c.manuals))
	} else {
		var err error
		if att, err = c.d.RestoreConnected(dialer.ContactID(mk.contact), mk.number, queue.AgentID(m.agent), m.answered); err != nil {
			if _, eerr := c.o.loop.Do(ctx, func(e *queue.Engine) ([]queue.Decision, error) {
				return e.CallEnded(c.o.now(), callID)
			}); eerr != nil {
				c.log.Warn().Err(eerr).Str("call_id", m.callID).Msg("undo the engine's restore")
			}
			return fmt.Errorf("%w: %w", errNotTakenOver, err)
		}
	}
	l := &campLine{dial: dialer.Dial{Attempt: att, Contact: dialer.ContactID(mk.contact), Number: mk.number, Agent: queue.AgentID(m.agent),
		RingTimeout: c.cfg.Dialer.RingTimeout}, callID: m.callID, contact: contact, agent: m.agent,
		answeredAt: m.answered, connected: true, manual: mk.manual}
	c.lines[att] = l
	c.byCall[l.callID] = l
	c.o.camps.setCall(l.callID, c)
	c.holding[l.agent] = l
	c.lastConn[l.agent] = c.o.now()
	m.dial, m.contact = l.dial, l.contact
	c.log.Info().Str("call_id", l.callID).Str("agent", l.agent).Str("contact", mk.contact).Str("attempt", string(att)).
		Msg("campaign attempt of an earlier run taken back connected")
	return nil
}

// takeLeaseOfDeadRun takes the campaign's lease from owner, the run that placed a
// call this node is taking over (that process is gone): without it the lease would
// block the take-over until it expired.
func (c *campaignActor) takeLeaseOfDeadRun(ctx context.Context, owner string) {
	l := c.leaser()
	t, ok := l.(interface {
		TakeOverLease(ctx context.Context, id, from string, now time.Time) error
	})
	if !ok || owner == "" || owner == c.leaseOwner() {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := t.TakeOverLease(lctx, c.id, owner, c.o.now()); err != nil {
		c.log.Info().Err(err).Str("owner", owner).Msg("campaign lease not taken from the earlier run")
		return
	}
	c.log.Info().Str("owner", owner).Msg("campaign lease taken from the earlier run that placed the call")
}
