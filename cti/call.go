package cti

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

// callState is where an inbound call is in its flow.
type callState int

const (
	stateArriving   callState = iota // entered Stasis, being answered and queued
	stateQueued                      // waiting in a queue with music on hold
	stateOffered                     // offered to an agent's desktop
	stateConnecting                  // accepted; the agent's leg is being set up
	stateTalking                     // caller and agent bridged
	stateHeld                        // caller on hold
	stateConsulting                  // caller on hold while the agent consults another agent
	stateExternal                    // transferred to an outside number (ringing or talking)
	stateSurvey                      // agent gone; the caller answers the post-call survey (survey.go)
	stateEnded                       // gone; the actor stops
)

func (s callState) String() string {
	switch s {
	case stateArriving:
		return "arriving"
	case stateQueued:
		return "queued"
	case stateOffered:
		return "offered"
	case stateConnecting:
		return "connecting"
	case stateTalking:
		return "talking"
	case stateHeld:
		return "held"
	case stateConsulting:
		return "consulting"
	case stateExternal:
		return "external"
	case stateSurvey:
		return "survey"
	case stateEnded:
		return "ended"
	}
	return fmt.Sprintf("callState(%d)", int(s))
}

// Messages to a call actor.
type (
	offerMsg struct {
		agent    string
		deadline time.Time
	}
	withdrawMsg   struct{ agent string }
	leaveQueueMsg struct {
		kind   queue.DecisionKind
		target queue.Target
		reason string
	}
	callerGone struct{ cause string }
	// announceMsg asks for a position / estimated-wait announcement.
	announceMsg struct {
		position int
		ewt      time.Duration
	}
	// announceDeadline ends an announcement whose playback never reported its end.
	announceDeadline struct{ playback string }
	// offerCallbackMsg: the engine suggests offering the caller a callback.
	offerCallbackMsg struct{}

	// requests carry a reply.
	request    interface{ agentName() string }
	connectMsg struct{ agent string }
	holdMsg    struct {
		agent string
		on    bool
	}
	muteMsg struct {
		agent string
		on    bool
	}
	dtmfMsg struct {
		agent, digits string
	}
	hangupMsg struct{ agent string }
	// transferMsg is a blind transfer of the caller to another queue.
	transferMsg struct {
		agent, queue string
	}

	envelope struct {
		req   request
		reply chan error
	}
)

func (m connectMsg) agentName() string  { return m.agent }
func (m holdMsg) agentName() string     { return m.agent }
func (m muteMsg) agentName() string     { return m.agent }
func (m dtmfMsg) agentName() string     { return m.agent }
func (m hangupMsg) agentName() string   { return m.agent }
func (m transferMsg) agentName() string { return m.agent }

// callActor owns one inbound call: its channels, bridge and flow state. All ARI
// I/O for the call happens on its goroutine.
type callActor struct {
	o       *Orchestrator
	id      string
	channel string
	in      inbound
	caller  ari.CallerID
	dialled string
	arrived time.Time // entered the current queue (segments, the screen-pop's wait)
	// enqueued is the first queue entry, kept across transfers to other queues
	// (calls.transfer_keeps_enqueue_time).
	enqueued time.Time
	log      zerolog.Logger
	box      *mailbox
	done     chan struct{}

	state      callState
	agent      string // offered to, or talking with
	bridge     string
	agentLeg   string
	mediaAgent string // agent whose softphone has a leg attached
	legs       int    // agent legs staged so far
	queued     bool   // known to the engine

	// interaction record: the open segments
	history   []map[string]any // previous contacts from this number, for the screen-pop
	crm       map[string]any   // CRM lookup answer (nil: none yet)
	popped    bool             // a screen-pop went out without CRM data
	ringStart time.Time        // offered to a.agent since
	talkStart time.Time
	holdStart time.Time
	answered  bool
	// ringing: the caller's channel is left ringing, unanswered, until an agent
	// accepts (queues[].answer: on_connect; answer.go). upOnArrival: it was already
	// answered when it entered (a caller taken over from an earlier run).
	ringing, upOnArrival bool
	// chanVars: the caller channel's channelvars as StasisStart carried them (the
	// variables ari.conf's channelvars lists), for the screen-pop (popvars.go).
	chanVars map[string]string
	// holdMarked: holdVar on the caller's channel holds a hold start (adopt_parts.go).
	holdMarked bool

	announcing string // playback id of the announcement playing, if any
	announces  int

	outcome  string // set when the call ends some other way than answered/abandoned
	callback string // number to call back (callback actors only)
	adopted  bool   // a waiting caller of an earlier ctid run
	restored bool   // a conversation of an earlier ctid run, taken over talking (adopt.go)
	// pendingLeg is a fresh browser-audio leg replacing a restored call's stale one.
	pendingLeg string

	engineCall string     // the engine's id for the current agent's part ("" = a.id)
	mediaCall  string     // the softphone leg's key for the current agent ("" = a.id)
	consult    *consult   // consultation in progress
	conference []*consult // further agents in a three-way call
	extLeg     string     // outside number's leg after a transfer to a number
	extUp      bool

	camp *campCall // outbound campaign line (campaign_flow.go); nil for other calls
	svy  *survey   // post-call survey in progress (survey.go)
	// agentEnded: the agent's side ended the conversation (the survey may follow).
	agentEnded bool
	// arriving is closed once the arrival's ARI requests are answered (nil: none
	// out); held are the messages that wait for them, in order (arrival.go).
	arriving chan struct{}
	held     []any
	rec      recState // the call's recording (recording.go, recording_demand.go)

	supervisors    []*monitor
	monitors       int
	connectedAgent atomic.Value // string: the agent talking (read by Supervise)
}

func newCallActor(o *Orchestrator, ch ari.ChannelData, in inbound) *callActor {
	id := ch.ID
	a := &callActor{
		o: o, id: id, channel: ch.ID, in: in, arrived: o.now(),
		box: newMailbox(), done: make(chan struct{}),
	}
	if ch.Caller != nil {
		a.caller = *ch.Caller
	}
	if ch.Dialplan != nil {
		a.dialled = ch.Dialplan.Exten
	}
	a.upOnArrival = ch.State == "Up"
	a.chanVars = ch.ChannelVars
	a.log = o.log.With().Str("call_id", id).Str("channel_id", ch.ID).Str("queue", in.queue).Logger()
	return a
}

// ask sends a request and waits for the actor's answer.
func (a *callActor) ask(ctx context.Context, r request) error {
	reply := make(chan error, 1)
	if !a.box.send(envelope{req: r, reply: reply}) {
		return fmt.Errorf("%w: %s has ended", ErrUnknownCall, a.id)
	}
	select {
	case err := <-reply:
		return err
	case <-a.done:
		return fmt.Errorf("%w: %s has ended", ErrUnknownCall, a.id)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *callActor) setState(s callState) {
	if a.state == s {
		return
	}
	a.log.Info().Str("from", a.state.String()).Str("to", s.String()).Str("agent", a.agent).Msg("call state")
	a.state = s
}

func (a *callActor) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.o.cfg.OpTimeout)
}

func (a *callActor) run(ctx context.Context) {
	defer close(a.done)
	defer a.o.forget(a)
	switch {
	case a.restored: // an inbound or campaign call taken over from an earlier run
		a.reattachMedia(ctx)
	case a.camp != nil:
		a.dialCampaign(ctx)
	case a.callback != "":
		a.dialBack(ctx)
	default:
		a.start(ctx)
	}
	for a.state != stateEnded {
		m, ok := a.box.receive(ctx)
		if !ok {
			break
		}
		if a.holdWhileArriving(m) {
			a.held = append(a.held, m)
			continue
		}
		if am, ok := m.(arrivedMsg); ok {
			a.arriving = nil
			if am.answerErr != nil && !a.adopted {
				a.answerFailed(ctx, am.answerErr) // the held messages are refused below
			}
			held := a.held
			a.held = nil
			for i, h := range held {
				if a.state == stateEnded {
					a.held = held[i:] // refused below, like the mailbox's rest
					break
				}
				a.handle(ctx, h)
			}
			continue
		}
		a.handle(ctx, m)
	}
	if a.arriving != nil { // the requests are bounded by the operation timeout
		<-a.arriving
	}
	for _, m := range append(a.held, a.box.close()...) {
		if env, ok := m.(envelope); ok {
			env.reply <- fmt.Errorf("%w: %s has ended", ErrUnknownCall, a.id)
		}
	}
}

// start answers the caller, starts music on hold and queues the call.
func (a *callActor) start(ctx context.Context) {
	a.log.Info().Str("caller", a.caller.Number).Int("priority", a.in.priority).Bool("adopted", a.adopted).Msg("inbound call")
	// A caller arriving while ARI answers 5xx or nothing is answered once it
	// recovers (bounded), not dropped.
	history := a.fetchHistory(ctx)   // read while the caller is answered
	a.ringing = a.ringOnArrival(ctx) // left ringing (answer.go): indicated before queueing
	a.arrive(ctx)                    // answer, re-adoption marks and music on hold under way (arrival.go)
	a.history = <-history
	a.setState(stateQueued)
	a.enqueued = a.arrived
	a.startCRM(ctx)
	a.o.record(func(r Records) error {
		return r.SaveInteraction(store.Interaction{ID: a.id, CallID: a.channel, Direction: store.Inbound, Queue: a.in.queue,
			CallerNumber: a.caller.Number, CallerName: a.caller.Name, Dialled: a.dialled, Created: a.arrived, Queued: a.o.now()})
	})
	err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.CallArrived(now, queue.Call{ID: queue.CallID(a.id), Queue: queue.QueueID(a.in.queue),
			Priority: a.in.priority, Skills: a.in.skills, Arrived: a.arrived})
	})
	if err != nil {
		a.waitArrival(ctx) // the fallback acts on the channel the requests are about
		a.log.Warn().Err(err).Msg("cannot queue the call; applying fallback")
		a.o.record(func(r Records) error {
			return r.CloseInteraction(store.InteractionClose{ID: a.id, Ended: a.o.now(), Outcome: "rejected", Cause: err.Error()})
		})
		a.setState(stateEnded)
		a.o.fallback(ctx, a.channel, a.log)
		return
	}
	a.queued = true
}

func (a *callActor) handle(ctx context.Context, m any) {
	switch m := m.(type) {
	case telephony.Event:
		a.onEvent(ctx, m)
	case offerMsg:
		a.agent = m.agent
		a.ringStart = a.o.now()
		a.setState(stateOffered)
		a.o.publish(m.agent, "call.offered", a.screenPop(m.deadline))
		if a.crm == nil {
			a.popped = true
		}
	case withdrawMsg:
		if a.state == stateOffered && a.agent == m.agent {
			a.closeRinging()
			a.agent = ""
			a.setState(stateQueued)
		}
	case leaveQueueMsg:
		a.leaveQueue(ctx, m)
	case callerGone:
		a.callerLeft(ctx, m.cause)
	case resyncMsg:
		a.onResync(ctx, m)
	case reattachMsg:
		a.onReattach(ctx)
	case crmResult:
		a.onCRM(m)
	case announceMsg:
		a.announce(ctx, announcementMedia(m.position, m.ewt))
	case campaignMsg:
		a.onCampaignMsg(ctx, m)
	case offerCallbackMsg:
		if a.o.cfg.CallbackEndpoint != "" {
			a.announce(ctx, []string{a.o.cfg.CallbackPrompt})
		}
	case surveyTimer:
		a.onSurveyTimer(ctx, m)
	case announceDeadline:
		if a.announcing == m.playback {
			a.log.Warn().Str("playback_id", m.playback).Msg("announcement never finished; back to music on hold")
			a.announceDone(ctx, true)
		}
	case consultDecision:
		a.onConsultDecision(ctx, m.d)
	case envelope:
		m.reply <- a.request(ctx, m.req)
	default:
		a.log.Error().Str("message", fmt.Sprintf("%T", m)).Msg("unexpected message")
	}
}

func (a *callActor) screenPop(deadline time.Time) map[string]any {
	f := map[string]any{
		"call_id":       a.id,
		"direction":     "inbound",
		"caller_number": a.caller.Number,
		"caller_name":   a.caller.Name,
		"caller_e164":   e164(a.caller.Number, a.o.cfg.DefaultRegion),
		"dialled":       a.dialled,
		"queue":         a.in.queue,
		"priority":      a.in.priority,
		"wait_seconds":  int(a.o.now().Sub(a.arrived).Seconds()),
		"variables":     a.popVariables(),
		"args":          a.in.vars,
		"channel_vars":  a.popChannelVars(),
		"history":       a.history,
	}
	if a.crm != nil {
		f["crm"] = a.crm
	}
	if d, ok := a.o.cfg.deskOf(a.in.queue); ok {
		if d.CRMLink != "" {
			f["crm_link"] = expand(d.CRMLink, a.templateVals())
		}
		if d.Script != "" {
			f["script"] = d.Script
		}
		if d.KBLink != "" {
			f["kb_link"] = expand(d.KBLink, a.templateVals())
		}
		if len(d.Dispositions) > 0 {
			f["dispositions"] = popDispositions(d.Dispositions)
		}
	}
	if !deadline.IsZero() {
		f["offer_expires_at"] = deadline.UTC().Format(time.RFC3339Nano)
	}
	return f
}

func (a *callActor) onEvent(ctx context.Context, ev telephony.Event) {
	if a.camp != nil && a.campaignEvent(ctx, ev) {
		return
	}
	if a.state == stateSurvey {
		a.onSurveyEvent(ctx, ev)
		return
	}
	switch e := ev.ARI.(type) {
	case *ari.StasisStart:
		if a.onMediaLegUp(ctx, e) {
			return
		}
		if a.onSupervisionEvent(ctx, e) || a.onExternalEvent(ctx, e.Channel.ID, true, false) {
			return
		}
		if a.isConsultLeg(e.Channel.ID) {
			a.consultUp(ctx, e.Channel.ChannelVars)
			return
		}
		if a.callback != "" && e.Channel.ID == a.channel && a.state == stateOffered {
			a.callbackAnswered(ctx)
			return
		}
		if e.Channel.ID == a.agentLeg && a.state == stateConnecting {
			if a.mediaAgent != "" {
				a.latchLeg(a.mediaAgent, a.id, e.Channel.ChannelVars)
			}
			a.agentLegUp(ctx)
		}
	case *ari.ChannelDtmfReceived:
		if e.Channel.ID == a.channel && e.Digit == "1" && a.state == stateQueued && !a.ringing && a.o.cfg.CallbackEndpoint != "" && a.caller.Number != "" {
			a.requestCallback(ctx)
		}
	case *ari.Dial:
		if a.isConsultLeg(e.Peer.ID) && e.Dialstatus != "" {
			a.consult.dialStatus = e.Dialstatus
		}
	case *ari.PlaybackFinished:
		if e.Playback.ID == a.announcing {
			a.announceDone(ctx, false)
		}
	case *ari.StasisEnd:
		if a.onExternalEvent(ctx, e.Channel.ID, false, true) {
			return
		}
		if a.isConsultLeg(e.Channel.ID) {
			a.consultGone(ctx, 0)
			return
		}
		if a.leaveConference(ctx, e.Channel.ID) {
			return
		}
		switch e.Channel.ID {
		case a.channel:
			a.callerLeft(ctx, "caller hung up")
		case a.agentLeg:
			a.agentLegGone(ctx, "agent leg left")
		}
	case *ari.ChannelDestroyed:
		if a.onExternalEvent(ctx, e.Channel.ID, false, true) {
			return
		}
		if a.isConsultLeg(e.Channel.ID) {
			a.consultGone(ctx, e.Cause)
			return
		}
		if a.callback != "" && e.Channel.ID == a.channel && a.state == stateOffered {
			a.callbackFailed(ctx, e.CauseTxt)
			return
		}
		switch e.Channel.ID {
		case a.agentLeg:
			a.agentLegGone(ctx, fmt.Sprintf("agent leg destroyed: %s", e.CauseTxt))
		case a.channel:
			a.callerLeft(ctx, "caller channel destroyed")
		}
	}
}

func (a *callActor) request(ctx context.Context, r request) error {
	// The engine has already decided an accept (first accept wins under ring-all);
	// every other request must come from the agent connected to the call.
	_, isConnect := r.(connectMsg)
	_, isSupervise := r.(superviseMsg)
	if !isConnect && !isSupervise && a.agent != r.agentName() {
		return fmt.Errorf("%w: %s", ErrNotYourCall, a.id)
	}
	switch r := r.(type) {
	case connectMsg:
		if a.state != stateOffered && a.state != stateQueued {
			return fmt.Errorf("%w: accept in state %s", ErrCallState, a.state)
		}
		return a.connect(ctx, r.agent)
	case holdMsg:
		return a.hold(ctx, r.on)
	case muteMsg:
		if a.state != stateTalking && a.state != stateHeld {
			return fmt.Errorf("%w: mute in state %s", ErrCallState, a.state)
		}
		octx, cancel := a.opCtx(ctx)
		defer cancel()
		if r.on {
			return a.o.ari.Mute(octx, a.agentLeg, "in")
		}
		return a.o.ari.Unmute(octx, a.agentLeg, "in")
	case dtmfMsg:
		if a.state != stateTalking {
			return fmt.Errorf("%w: dtmf in state %s", ErrCallState, a.state)
		}
		octx, cancel := a.opCtx(ctx)
		defer cancel()
		return a.o.ari.SendDTMF(octx, a.channel, r.digits)
	case superviseMsg:
		return a.supervise(ctx, r)
	case numberMsg:
		return a.transferToNumber(ctx, r.number)
	case consultMsg:
		return a.startConsult(ctx, r.to, r.blind)
	case consultEndMsg:
		return a.endConsult(ctx, r.how)
	case transferMsg:
		if a.state != stateTalking && a.state != stateHeld {
			return fmt.Errorf("%w: transfer in state %s", ErrCallState, a.state)
		}
		return a.transferToQueue(ctx, r.queue)
	case agentLostMsg:
		return a.requeueLostAgent(ctx)
	case recordMsg:
		return a.recordControl(ctx, r.op)
	case hangupMsg:
		if a.state != stateTalking && a.state != stateHeld && a.state != stateConnecting && a.state != stateConsulting {
			return fmt.Errorf("%w: hangup in state %s", ErrCallState, a.state)
		}
		a.agentEnded = true
		a.endTalk(ctx, "agent hung up", true)
		return nil
	}
	return fmt.Errorf("%w: unknown request %T", ErrCallState, r)
}

// connect bridges the caller with the agent's device. The agent's leg is staged
// with an id ctid chose, so its StasisStart finds this call (stage, subscribe,
// execute); the bridge join completes on that event.
func (a *callActor) connect(ctx context.Context, agent string) error {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if a.agent == agent {
		a.closeRinging()
	}
	if a.announcing != "" {
		if err := a.o.ari.StopPlayback(octx, a.announcing); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("stop announcement")
		}
		a.announcing = ""
	}
	a.agent = agent
	if a.callback == "" && a.camp == nil {
		a.segment(store.SegQueued, "", a.arrived, a.o.now())
	}
	a.setState(stateConnecting)
	br, err := a.o.ari.CreateBridge(octx, "", "mixing", "ctid-"+a.id)
	if err != nil {
		a.connectFailed(ctx, err)
		return err
	}
	a.bridge = br.ID
	if a.ringing {
		if err := a.answerOnConnect(ctx); err != nil { // queues[].answer: on_connect (answer.go)
			a.connectFailed(ctx, err)
			return err
		}
	} else if err := a.o.ari.StopMOH(octx, a.channel); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("stop music on hold")
	}
	if err := a.o.ari.AddChannel(octx, a.bridge, a.channel); err != nil {
		a.connectFailed(ctx, err)
		return err
	}
	// Every connect stages a fresh id: a transferred call's next agent leg must not
	// be confused with the last one's late events, nor collide with it in Asterisk.
	a.legs++
	a.agentLeg = a.id + "-agent"
	if a.legs > 1 {
		a.agentLeg = fmt.Sprintf("%s-agent-%d", a.id, a.legs)
	}
	a.o.own(a, a.agentLeg)
	device := a.o.cfg.deviceOf(agent)
	if device == DeviceWebRTC {
		if a.o.media == nil {
			err := fmt.Errorf("%w: agent %s uses the browser softphone but no media gateway is configured", ErrCallState, agent)
			a.connectFailed(ctx, err)
			return err
		}
		host, err := a.o.media.AttachCall(octx, agent, a.id)
		if err != nil {
			a.connectFailed(ctx, err)
			return err
		}
		a.mediaAgent = agent
		ch, err := a.o.ari.ExternalMedia(octx, telephony.ExternalMediaParams{ChannelID: a.agentLeg, ExternalHost: host, Format: "ulaw"})
		if err != nil {
			a.connectFailed(ctx, err)
			return err
		}
		if ch != nil {
			a.latchLeg(agent, a.id, ch.ChannelVars)
		}
		return nil
	}
	_, err = a.o.ari.Originate(octx, a.deviceOriginate(agent, device, a.agentLeg, "agent"))
	if err != nil {
		a.connectFailed(ctx, err)
		return err
	}
	return nil
}

func (a *callActor) agentLegUp(ctx context.Context) {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.AddChannel(octx, a.bridge, a.agentLeg); err != nil {
		a.log.Error().Err(err).Msg("could not bridge the agent's leg")
		a.endTalk(ctx, "bridge failed", true)
		return
	}
	a.setState(stateTalking)
	a.connectedAgent.Store(a.agent)
	a.talkStart, a.answered = a.o.now(), true
	if err := a.o.ari.SetVar(octx, a.channel, agentVar, a.agentMark()); err != nil {
		a.log.Warn().Err(err).Msg("could not mark the conversation for restoring after a restart")
	}
	a.markHold(octx) // a hold before a transfer is over
	a.o.record(func(r Records) error {
		return r.SaveInteraction(store.Interaction{ID: a.id, Direction: a.direction(), Created: a.arrived, Answered: a.talkStart})
	})
	a.o.publish(a.agent, "call.connected", map[string]any{"call_id": a.id, "agent": a.agent, "bridge_id": a.bridge})
	a.startRecording(ctx)
}

func (a *callActor) connectFailed(ctx context.Context, err error) {
	a.log.Error().Err(err).Msg("connecting the agent failed")
	a.o.publish(a.agent, "error", map[string]any{"call_id": a.id, "code": "internal", "message": "could not connect the call: " + err.Error()})
	a.endTalk(ctx, "connect failed", true)
}

func (a *callActor) hold(ctx context.Context, on bool) error {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	switch {
	case on && a.state == stateTalking:
		if err := a.o.ari.Mute(octx, a.agentLeg, "in"); err != nil {
			return err
		}
		if err := a.o.ari.StartMOH(octx, a.channel, a.o.cfg.MOHClass); err != nil {
			return err
		}
		if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.CallHeld(now, a.ecall())
		}); err != nil {
			a.log.Warn().Err(err).Msg("engine hold")
		}
		a.holdStart = a.o.now()
		a.markHold(octx)
		a.setState(stateHeld)
		a.o.publish(a.agent, "call.held", map[string]any{"call_id": a.id})
	case !on && a.state == stateHeld:
		if err := a.o.ari.StopMOH(octx, a.channel); err != nil {
			return err
		}
		if err := a.o.ari.Unmute(octx, a.agentLeg, "in"); err != nil {
			return err
		}
		if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.CallUnheld(now, a.ecall())
		}); err != nil {
			a.log.Warn().Err(err).Msg("engine unhold")
		}
		a.segment(store.SegHold, a.agent, a.holdStart, a.o.now())
		a.holdStart = time.Time{}
		a.markHold(octx)
		a.setState(stateTalking)
		a.o.publish(a.agent, "call.unheld", map[string]any{"call_id": a.id})
	default:
		return fmt.Errorf("%w: hold=%v in state %s", ErrCallState, on, a.state)
	}
	return nil
}

// callerLeft handles the caller's channel leaving: abandon while waiting, end of
// conversation while talking.
func (a *callActor) callerLeft(ctx context.Context, cause string) {
	switch a.state {
	case stateEnded:
		return
	case stateSurvey:
		a.log.Info().Str("cause", cause).Msg("caller left during the post-call survey")
		a.setState(stateEnded)
	case stateExternal:
		a.externalCallerLeft(ctx, cause)
	case stateArriving, stateQueued, stateOffered:
		agent := a.agent
		if a.queued {
			if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
				return e.CallAbandoned(now, queue.CallID(a.id))
			}); err != nil {
				a.log.Warn().Err(err).Msg("engine abandon")
			}
		}
		a.log.Info().Str("cause", cause).Dur("waited", a.o.now().Sub(a.arrived)).Msg("caller abandoned")
		a.o.publish(agent, "call.ended", map[string]any{"call_id": a.id, "reason": "abandoned"})
		a.finish(ctx, cause)
	default:
		a.endTalk(ctx, cause, false)
	}
}

func (a *callActor) agentLegGone(ctx context.Context, cause string) {
	switch a.state {
	case stateTalking, stateHeld, stateConnecting, stateConsulting:
		a.agentEnded = true
		a.endTalk(ctx, cause, true)
	}
}

// endTalk ends a connected (or connecting) call: both legs are hung up, the engine
// is told, and the agent goes to wrap-up.
func (a *callActor) endTalk(ctx context.Context, cause string, hangupCaller bool) {
	if a.state == stateEnded {
		return
	}
	// The agent hung up first on a queue with a survey: the caller stays for it.
	surveyAgent := ""
	if hangupCaller && a.agentEnded && a.wantsSurvey() {
		hangupCaller, surveyAgent = false, a.agent
	}
	a.dropConsult(ctx, "call ended")
	for _, c := range a.conference {
		a.closeParty(ctx, c)
	}
	a.conference = nil
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if a.agentLeg != "" {
		if err := a.o.ari.Hangup(octx, a.agentLeg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("hang up agent leg")
			a.o.strandHangup(a.agentLeg, err)
		}
	}
	a.dropPendingLeg(octx)
	if hangupCaller {
		if err := a.o.ari.Hangup(octx, a.channel, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("hang up caller")
			a.o.strandHangup(a.channel, err)
		}
	}
	if a.queued {
		if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.CallEnded(now, a.ecall())
		}); err != nil {
			a.log.Warn().Err(err).Msg("engine call ended")
		}
	}
	a.o.publish(a.agent, "call.ended", map[string]any{"call_id": a.id, "reason": cause})
	a.finish(ctx, cause)
	if surveyAgent != "" {
		a.startSurvey(ctx, surveyAgent)
	}
}

// leaveQueue carries out an overflow or closed decision that takes the call out of
// ctid (queue-to-queue overflow happens inside the engine).
func (a *callActor) leaveQueue(ctx context.Context, m leaveQueueMsg) {
	a.log.Info().Str("decision", m.kind.String()).Str("target", m.target.Kind.String()).Str("reason", m.reason).Msg("call leaves the queue")
	if m.target.Kind == queue.TargetQueue {
		return
	}
	a.queued = false // the engine has let go of it
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	var err error
	switch m.target.Kind {
	case queue.TargetNumber, queue.TargetVoicemail:
		// Hand the call back to the dialplan, which knows how to reach numbers and
		// mailboxes (extensions.conf: the priority after Stasis()). A caller left
		// ringing (answer: on_connect) has no music to stop.
		if !a.ringing {
			if verr := a.o.ari.StopMOH(octx, a.channel); verr != nil && !errors.Is(verr, telephony.ErrNotFound) {
				a.log.Warn().Err(verr).Msg("stop music on hold")
			}
		}
		err = a.o.ari.Continue(octx, a.channel, "", "", 0)
	default:
		err = a.o.ari.Hangup(octx, a.channel, "normal")
	}
	if err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Error().Err(err).Msg("leaving the queue failed")
		a.o.strand(a.channel, err)
	}
	a.finish(ctx, m.reason)
}

// finish releases what the call holds.
func (a *callActor) finish(ctx context.Context, cause string) {
	a.endSupervision(ctx)
	a.connectedAgent.Store("")
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if a.bridge != "" {
		if err := a.o.ari.DestroyBridge(octx, a.bridge); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("destroy bridge")
			a.o.strandBridge(a.bridge, err)
		}
	}
	if a.mediaAgent != "" && a.o.media != nil {
		if err := a.o.media.DetachCall(octx, a.mediaAgent, a.mediaKey()); err != nil {
			a.log.Warn().Err(err).Msg("detach softphone leg")
		}
	}
	now := a.o.now()
	a.closeRinging()
	if !a.holdStart.IsZero() {
		a.segment(store.SegHold, a.agent, a.holdStart, now)
	}
	if !a.talkStart.IsZero() {
		a.segment(store.SegTalking, a.agent, a.talkStart, now)
	} else if a.callback == "" && a.camp == nil && (a.state == stateQueued || a.state == stateOffered || a.state == stateArriving) {
		a.segment(store.SegQueued, "", a.arrived, now)
	}
	outcome := "abandoned"
	switch {
	case a.outcome != "":
		outcome = a.outcome
	case a.answered:
		outcome = "answered"
	case a.state == stateConnecting:
		outcome = "failed"
	}
	a.o.record(func(r Records) error {
		return r.CloseInteraction(store.InteractionClose{ID: a.id, Ended: now, Outcome: outcome, Cause: cause})
	})
	a.setState(stateEnded)
	if a.camp != nil {
		a.camp.c.box.send(lineEnded{callID: a.id, connected: a.answered})
	}
	a.log.Info().Str("cause", cause).Str("outcome", outcome).Msg("call finished")
}

// segment appends a closed segment to the interaction.
func (a *callActor) segment(kind store.SegmentKind, agent string, start, end time.Time) {
	a.o.record(func(r Records) error {
		return r.AppendSegment(store.Segment{InteractionID: a.id, Kind: kind, Agent: agent, Start: start, End: end})
	})
}

// closeRinging ends the offer to a.agent, if one is open.
func (a *callActor) closeRinging() {
	if a.ringStart.IsZero() {
		return
	}
	a.segment(store.SegRinging, a.agent, a.ringStart, a.o.now())
	a.ringStart = time.Time{}
}

// historyTimeout bounds the contact-history lookup so that it never delays an offer
// noticeably.
const historyTimeout = 250 * time.Millisecond

// fetchHistory reads the caller's previous contacts for the screen-pop on a
// goroutine of its own (bounded by historyTimeout), so that the read overlaps the
// answer; the returned channel delivers the list once (empty when unavailable).
func (a *callActor) fetchHistory(ctx context.Context) <-chan []map[string]any {
	out := make(chan []map[string]any, 1)
	records, number, id, log := a.o.records, a.caller.Number, a.id, a.log
	if records == nil || number == "" {
		out <- []map[string]any{}
		return out
	}
	a.o.wg.Go(func() {
		hctx, cancel := context.WithTimeout(ctx, historyTimeout)
		defer cancel()
		history := []map[string]any{}
		list, err := records.InteractionsByNumber(hctx, number, 10)
		if err != nil {
			log.Warn().Err(err).Msg("contact history unavailable for the screen-pop")
		}
		for _, ix := range list {
			if ix.ID == id {
				continue
			}
			agents := []string{}
			for _, sg := range ix.Segments {
				if sg.Kind == store.SegTalking && sg.Agent != "" {
					agents = append(agents, sg.Agent)
				}
			}
			history = append(history, map[string]any{
				"interaction_id": ix.ID, "at": ix.Created.UTC().Format(time.RFC3339), "direction": ix.Direction.String(),
				"queue": ix.Queue, "agents": agents, "outcome": ix.Outcome, "disposition": ix.Disposition, "notes": ix.Notes,
			})
		}
		out <- history
	})
	return out
}

// transferToQueue blind-transfers the caller to another queue: the agent's leg goes,
// the agent goes to wrap-up for their part, and the caller waits with music on hold
// in the new queue, keeping their original enqueue time there (KPIs and place) if
// calls.transfer_keeps_enqueue_time says so.
func (a *callActor) transferToQueue(ctx context.Context, target string) error {
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	now := a.o.now()
	// The caller must be accepted by the target queue before the agent lets go.
	newCall := queue.Call{ID: queue.CallID(a.id), Queue: queue.QueueID(target), Priority: a.in.priority, Skills: a.in.skills}
	if a.o.cfg.TransferKeepsEnqueueTime {
		newCall.Arrived = a.enqueued
		if newCall.Arrived.IsZero() {
			newCall.Arrived = a.arrived
		}
	}
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		if _, err := e.QueueStats(now, newCall.Queue); err != nil {
			return nil, err
		}
		return e.CallEnded(now, a.ecall())
	}); err != nil {
		return err
	}
	agent := a.releaseAgent(ctx, now)
	if a.bridge != "" {
		if err := a.o.ari.DestroyBridge(octx, a.bridge); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("destroy bridge on transfer")
		}
		a.bridge = ""
	}
	if err := a.o.ari.StartMOH(octx, a.channel, a.o.cfg.MOHClass); err != nil {
		a.log.Warn().Err(err).Msg("music on hold after transfer")
	}
	a.o.publish(agent, "call.transferred", map[string]any{"call_id": a.id, "to": map[string]any{"queue": target}, "mode": "blind"})
	a.log.Info().Str("agent", agent).Str("to_queue", target).Msg("blind transfer to queue")
	a.agent = ""
	a.in.queue = target
	a.arrived = now
	a.log = a.log.With().Str("queue", target).Logger()
	a.setState(stateQueued)
	return a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.CallArrived(now, newCall)
	})
}

func (a *callActor) templateVals() map[string]string {
	return map[string]string{"caller": a.caller.Number, "dialled": a.dialled, "queue": a.in.queue, "call_id": a.id}
}

// startCRM starts the queue's CRM lookup. It never delays the call: the answer
// comes back to the mailbox, and a screen-pop that went out before it gets a
// call.updated.
func (a *callActor) startCRM(ctx context.Context) {
	d, ok := a.o.cfg.deskOf(a.in.queue)
	if !ok || d.CRMURL == "" {
		return
	}
	vals := a.templateVals()
	a.o.wg.Go(func() {
		a.box.send(lookupCRM(ctx, a.o.http, d, vals))
	})
}

func (a *callActor) onCRM(r crmResult) {
	if r.err != nil {
		a.log.Warn().Err(r.err).Msg("CRM lookup failed; the screen-pop goes without CRM data")
		return
	}
	a.crm = r.fields
	if a.popped && a.agent != "" && a.state != stateEnded {
		a.o.publish(a.agent, "call.updated", map[string]any{"call_id": a.id, "crm": a.crm})
	}
}

// announceMax bounds how long an announcement may take before music resumes.
const announceMax = 30 * time.Second

// announce tells a waiting caller their position and estimated wait, pausing the
// music. It is skipped unless the caller is simply waiting, answered (a caller left
// ringing by answer: on_connect cannot hear it).
func (a *callActor) announce(ctx context.Context, media []string) {
	if a.state != stateQueued || a.announcing != "" || a.ringing {
		return
	}
	if len(media) == 0 {
		return
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.StopMOH(octx, a.channel); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("pause music for the announcement")
	}
	a.announces++
	id := fmt.Sprintf("%s-ann-%d", a.id, a.announces)
	a.o.own(a, playbackRef(id))
	a.announcing = id
	if _, err := a.o.ari.Play(octx, telephony.PlayTarget{ChannelID: a.channel}, id, media...); err != nil {
		a.log.Warn().Err(err).Msg("announcement failed")
		a.announceDone(ctx, false)
		return
	}
	a.log.Debug().Strs("media", media).Msg("announcement")
	a.o.wg.Go(func() {
		select {
		case <-time.After(announceMax):
			a.box.send(announceDeadline{playback: id})
		case <-a.done:
		case <-ctx.Done():
		}
	})
}

// announceDone resumes the music after an announcement.
func (a *callActor) announceDone(ctx context.Context, stop bool) {
	id := a.announcing
	a.announcing = ""
	if a.state != stateQueued && a.state != stateOffered {
		return
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if stop {
		if err := a.o.ari.StopPlayback(octx, id); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("stop announcement")
		}
	}
	if err := a.o.ari.StartMOH(octx, a.channel, a.o.cfg.MOHClass); err != nil {
		a.log.Warn().Err(err).Msg("resume music after the announcement")
	}
}

// announcementMedia is the prompt list for a position and estimated wait (EWT < 0:
// unknown), with Asterisk's standard queue sounds.
func announcementMedia(position int, ewt time.Duration) []string {
	var media []string
	switch {
	case position == 1:
		media = append(media, "sound:queue-youarenext")
	case position > 1:
		media = append(media, "sound:queue-thereare", fmt.Sprintf("number:%d", position-1), "sound:queue-callswaiting")
	}
	if ewt >= 0 {
		minutes := int((ewt + time.Minute - 1) / time.Minute)
		if minutes < 1 {
			media = append(media, "sound:queue-holdtime", "sound:queue-less-than", "number:1", "sound:queue-minutes")
		} else {
			media = append(media, "sound:queue-holdtime", fmt.Sprintf("number:%d", minutes), "sound:queue-minutes")
		}
	}
	return media
}

// releaseAgent lets the current agent go from a call being transferred: their
// supervisors, hold, talk and transfer segments, leg and softphone attachment. The
// engine is told by the caller of this (the order differs per transfer). It
// returns the agent's name.
func (a *callActor) releaseAgent(ctx context.Context, now time.Time) string {
	agent := a.agent
	a.endSupervision(ctx)
	a.connectedAgent.Store("")
	if !a.holdStart.IsZero() {
		a.segment(store.SegHold, agent, a.holdStart, now)
		a.holdStart = time.Time{}
	}
	a.segment(store.SegTalking, agent, a.talkStart, now)
	a.segment(store.SegTransfer, agent, now, now)
	a.talkStart = time.Time{}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := a.o.ari.Hangup(octx, a.agentLeg, "normal"); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("hang up agent leg on transfer")
	}
	a.dropPendingLeg(octx)
	a.markHold(octx)
	if a.mediaAgent != "" && a.o.media != nil {
		if err := a.o.media.DetachCall(octx, a.mediaAgent, a.mediaKey()); err != nil {
			a.log.Warn().Err(err).Msg("detach softphone leg on transfer")
		}
	}
	a.agentLeg, a.mediaAgent, a.mediaCall, a.engineCall = "", "", "", ""
	if a.rec == recActive || a.rec == recPaused {
		a.rec = recStopped // the bridge recorded goes with the agent's part
	}
	return agent
}
