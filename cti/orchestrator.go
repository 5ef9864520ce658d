package cti

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

// Sentinel errors of the orchestrator; the desktop API maps them to stable codes.
var (
	ErrUnknownCall  = errors.New("cti: unknown call")
	ErrNotYourCall  = errors.New("cti: call is not offered or connected to this agent")
	ErrCallState    = errors.New("cti: call is not in a state that allows this")
	ErrNotStarted   = errors.New("cti: orchestrator not running")
	ErrUnknownAgent = errors.New("cti: unknown agent")
)

// Params are the orchestrator's dependencies.
type Params struct {
	Config Config
	Log    zerolog.Logger
	ARI    Telephony
	// Engine is the ACD; the orchestrator runs its loop.
	Engine *queue.Engine
	Media  Media    // nil: every agent must have a SIP device
	Notify Notifier // nil: events are dropped
	// Records stores interactions and their segments; nil keeps no records.
	Records Records
	Now     func() time.Time
	// Contacts and Attempts serve outbound campaigns (campaign.go); nil Contacts:
	// campaigns cannot start, nil Attempts: no attempt history is kept.
	Contacts ContactSource
	Attempts AttemptSink
}

// Orchestrator turns ARI events and agent commands into queue decisions and ARI
// operations. It owns: the event pump (routes events to per-call actors, nothing
// else), the ACD engine loop, the engine's timer, and one actor per call.
type Orchestrator struct {
	cfg     Config
	log     zerolog.Logger
	ari     Telephony
	loop    *queue.Loop
	media   Media
	notify  Notifier
	records Records
	http    *http.Client // CRM webhooks
	now     func() time.Time

	kick  chan struct{}
	wbReq chan wbRequest // wallboard snapshot requests (cti/wallboard.go)
	names displayNames   // agents' display names (cti/displaynames.go)

	stranded *strandedSet // channels and bridges whose release failed transiently (stranded.go)
	presence presence     // agents whose desktop is gone (presence.go)

	mu        sync.Mutex
	wg        sync.WaitGroup
	calls     map[string]*callActor // by call id
	byChannel map[string]*callActor // every channel of every call
	wrapups   map[string]wrapup     // agent -> the wrap-up in progress
	callbacks map[string]int        // call id -> callback attempts dialled
	runCtx    context.Context       // set by Run, for actors started by decisions

	camps    *campaignSet
	contacts ContactSource
	attempts AttemptSink

	surveyMetrics atomic.Pointer[SurveyMetrics] // metrics_survey.go; nil: none

	took *firstTakeOver // closed once the first take-over is done (takeover_gate.go)
}

// wrapup is an agent's after-call work for one call.
type wrapup struct {
	callID string
	start  time.Time
}

// New checks the parameters.
func New(p Params) (*Orchestrator, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.ARI == nil || p.Engine == nil {
		return nil, fmt.Errorf("%w: ARI and Engine are required", ErrInvalidConfig)
	}
	if p.Config.Node == "" {
		p.Config.Node = defaultNode() // callback_restore.go
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	return &Orchestrator{
		cfg: p.Config, log: p.Log.With().Str("component", "cti").Logger(),
		ari: p.ARI, loop: queue.NewLoop(p.Engine), media: p.Media, notify: p.Notify, records: p.Records, now: now,
		wrapups:   map[string]wrapup{},
		callbacks: map[string]int{},
		http:      &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16}},
		kick:      make(chan struct{}, 1),
		wbReq:     make(chan wbRequest),
		camps:     newCampaignSet(), contacts: p.Contacts, attempts: p.Attempts,
		stranded:  newStrandedSet(),
		calls:     map[string]*callActor{},
		byChannel: map[string]*callActor{},
		took:      newFirstTakeOver(),
	}, nil
}

// SetNotifier sets where desktop events go. Call it before Run (the desktop server
// is built after the orchestrator, whose Desk it takes as handler).
func (o *Orchestrator) SetNotifier(n Notifier) { o.notify = n }

// Run runs the engine loop, its timer and the event pump until ctx ends. Calls in
// progress keep their channels in Asterisk; a later run re-adopts nothing yet.
func (o *Orchestrator) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer o.stopPresence()
	defer o.took.finish() // nobody waits on a take-over that will not come
	o.mu.Lock()
	o.runCtx = ctx
	o.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := o.loop.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			o.log.Error().Err(err).Msg("engine loop stopped")
		}
	})
	wg.Go(func() { o.timers(ctx) })
	wg.Go(func() { o.runWallboard(ctx) })
	wg.Go(func() { o.retryStranded(ctx) })
	started := o.now()
	wg.Go(func() { o.sweepCallbacks(ctx, started) })   // callback_sweep.go
	wg.Go(func() { o.restoreCallbacks(ctx, started) }) // callback_restore.go
	o.pump(ctx)
	cancel()
	wg.Wait()
	o.wg.Wait()
	return nil
}

// pump routes ARI events to call actors. It does no I/O itself.
func (o *Orchestrator) pump(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-o.ari.Events():
			switch ev.Kind {
			case telephony.KindConnected:
				o.resync(ctx, ev.Resync)
			case telephony.KindDisconnected:
				o.log.Warn().Err(ev.Err).Msg("ARI disconnected; calls keep running in Asterisk")
			case telephony.KindARI:
				o.route(ctx, ev)
			}
		}
	}
}

func (o *Orchestrator) route(ctx context.Context, ev telephony.Event) {
	if ss, ok := ev.ARI.(*ari.StasisStart); ok {
		o.mu.Lock()
		a := o.byChannel[ss.Channel.ID]
		o.mu.Unlock()
		if a == nil {
			o.stasisStart(ctx, ss)
			return
		}
	}
	delivered := map[*callActor]bool{}
	for _, k := range ev.ARI.Keys() {
		var id string
		switch k.Kind {
		case ari.ChannelKey:
			id = k.ID
		case ari.PlaybackKey:
			id = playbackRef(k.ID)
		default:
			continue
		}
		o.mu.Lock()
		a := o.byChannel[id]
		o.mu.Unlock()
		if a != nil && !delivered[a] {
			delivered[a] = true
			a.box.send(ev)
		}
	}
}

// stasisStart handles a channel entering the app that no call owns yet.
func (o *Orchestrator) stasisStart(ctx context.Context, ss *ari.StasisStart) {
	log := o.log.With().Str("channel_id", ss.Channel.ID).Logger()
	in, err := parseInbound(ss.Args)
	if err != nil {
		log.Warn().Err(err).Strs("args", ss.Args).Msg("channel entered the Stasis app but ctid cannot place it; applying fallback")
		o.wg.Go(func() {
			o.fallback(ctx, ss.Channel.ID, log)
			o.closeLateOutbound(ctx, ss.Channel.ID, ss.Args) // an earlier run's outbound line (adopt_outbound.go)
		})
		return
	}
	a := newCallActor(o, ss.Channel, in)
	o.mu.Lock()
	if o.byChannel[ss.Channel.ID] != nil {
		// The StasisStart taken for lost (adopt.go releaseUnmarked) came after all,
		// or the other way round: one call per channel.
		o.mu.Unlock()
		log.Debug().Msg("channel already has its call")
		return
	}
	o.calls[a.id] = a
	o.byChannel[ss.Channel.ID] = a
	o.mu.Unlock()
	o.wg.Go(func() { a.run(ctx) })
}

// fallback hangs up or continues a channel ctid cannot place — never silence.
func (o *Orchestrator) fallback(ctx context.Context, channelID string, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	defer cancel()
	var err error
	if o.cfg.Fallback == FallbackContinue {
		err = o.ari.Continue(ctx, channelID, "", "", 0)
	} else {
		err = o.ari.Hangup(ctx, channelID, o.cfg.FallbackReason)
	}
	if err != nil && !errors.Is(err, telephony.ErrNotFound) {
		log.Error().Err(err).Str("fallback", o.cfg.Fallback).Msg("fallback failed")
		o.strand(channelID, err)
		return
	}
	log.Info().Str("fallback", o.cfg.Fallback).Msg("fallback applied")
}

// inbound is what Stasis(ctid,inbound,<queue>[,priority=N][,k=v...]) says.
type inbound struct {
	queue    string
	priority int
	skills   string
	vars     map[string]string
}

// args renders the arguments back (for the re-adoption variable).
func (in inbound) args() string {
	parts := []string{"inbound", in.queue}
	if in.priority > 0 {
		parts = append(parts, "priority="+strconv.Itoa(in.priority))
	}
	if in.skills != "" {
		parts = append(parts, "skills="+in.skills)
	}
	keys := make([]string, 0, len(in.vars))
	for k := range in.vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+in.vars[k])
	}
	return strings.Join(parts, ",")
}

var errBadArgs = errors.New("unsupported Stasis arguments")

func parseInbound(args []string) (inbound, error) {
	if len(args) < 2 || args[0] != "inbound" || strings.TrimSpace(args[1]) == "" {
		return inbound{}, fmt.Errorf("%w: want inbound,<queue>[,priority=N][,k=v...], got %q", errBadArgs, strings.Join(args, ","))
	}
	in := inbound{queue: strings.TrimSpace(args[1]), vars: map[string]string{}}
	for _, kv := range args[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return inbound{}, fmt.Errorf("%w: argument %q is not key=value", errBadArgs, kv)
		}
		switch k {
		case "priority":
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 10 {
				return inbound{}, fmt.Errorf("%w: priority=%q: must be 1..10", errBadArgs, v)
			}
			in.priority = p
		case "skills":
			in.skills = v
		default:
			in.vars[k] = v
		}
	}
	return in, nil
}

// resync reconciles calls with the channels Asterisk still has after a reconnect:
// a call whose caller channel is gone ended while ctid could not see it.
func (o *Orchestrator) resync(ctx context.Context, rs *telephony.Resync) {
	if rs == nil {
		return
	}
	o.adoptLater(ctx, rs)
	if !rs.Reconnect {
		return
	}
	alive := map[string]bool{}
	for _, ch := range rs.Channels {
		alive[ch.ID] = true
	}
	o.mu.Lock()
	var gone int
	actors := make([]*callActor, 0, len(o.calls))
	for _, a := range o.calls {
		if !alive[a.channel] {
			gone++
		}
		actors = append(actors, a)
	}
	o.mu.Unlock()
	for _, a := range actors { // each actor checks its own legs (resync.go)
		a.box.send(resyncMsg{alive: alive})
	}
	o.log.Info().Int("channels", len(rs.Channels)).Int("calls", len(actors)).Int("calls_lost", gone).Msg("reconciled calls after ARI reconnect")
}

func (o *Orchestrator) forget(a *callActor) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.calls[a.id] == a { // a callback may already have taken the id over
		delete(o.calls, a.id)
	}
	for ch, x := range o.byChannel {
		if x == a {
			delete(o.byChannel, ch)
		}
	}
}

// publicCallID maps the engine's id for a consulted agent's part of a call back to
// the call's id (consult ids are "<call id>-consult-<n>").
func publicCallID(engineID string) string {
	if i := strings.Index(engineID, "-consult-"); i > 0 {
		return engineID[:i]
	}
	return engineID
}

// playbackRef is the routing key of a playback (kept apart from channel ids).
func playbackRef(id string) string { return "playback:" + id }

func (o *Orchestrator) own(a *callActor, channelID string) {
	o.mu.Lock()
	o.byChannel[channelID] = a
	o.mu.Unlock()
}

func (o *Orchestrator) call(id string) (*callActor, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.calls[id]
	if a == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCall, id)
	}
	return a, nil
}

// timers fires the engine's timers (offer timeouts, wrap-up ends, announcements).
func (o *Orchestrator) timers(ctx context.Context) {
	for {
		var next time.Time
		var has bool
		_, err := o.loop.Do(ctx, func(e *queue.Engine) ([]queue.Decision, error) {
			next, has = e.NextTimer()
			return nil, nil
		})
		if err != nil {
			return
		}
		var fire <-chan time.Time
		var t *time.Timer
		if has {
			t = time.NewTimer(max(0, next.Sub(o.now())))
			fire = t.C
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-o.kick:
		case <-fire:
			now := o.now()
			if _, err := o.loop.Do(ctx, func(e *queue.Engine) ([]queue.Decision, error) {
				o.apply(e.Tick(now))
				return nil, nil
			}); err != nil {
				return
			}
		}
		if t != nil {
			t.Stop()
		}
	}
}

// engine runs one engine command and applies its decisions.
func (o *Orchestrator) engine(ctx context.Context, fn func(*queue.Engine, time.Time) ([]queue.Decision, error)) error {
	now := o.now()
	// Decisions are applied on the engine goroutine, in engine order, so that a
	// desktop never sees two engine steps' events swapped. apply does no I/O: it
	// only fills mailboxes and the desktop hub's buffers, neither of which blocks.
	_, err := o.loop.Do(ctx, func(e *queue.Engine) ([]queue.Decision, error) {
		ds, err := fn(e, now)
		if err == nil {
			o.apply(ds)
		}
		return nil, err
	})
	if err != nil {
		return err
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return nil
}

// tell sends m to the call's actor; a call that has already ended needs nothing.
func (o *Orchestrator) tell(id queue.CallID, m any) {
	if a, err := o.call(string(id)); err == nil {
		a.box.send(m)
	}
}

// apply carries out engine decisions: notify desktops, tell call actors.
func (o *Orchestrator) apply(ds []queue.Decision) {
	for _, d := range ds {
		o.log.Debug().Str("decision", d.Kind.String()).Str("call_id", string(d.Call)).Str("agent", string(d.Agent)).Msg("engine decision")
		if o.applyConsult(d) {
			continue
		}
		switch d.Kind {
		case queue.DecOfferCall:
			o.tell(d.Call, offerMsg{agent: string(d.Agent), deadline: d.Deadline})
		case queue.DecWithdrawOffer:
			o.publish(string(d.Agent), "call.withdrawn", map[string]any{"call_id": string(d.Call), "reason": d.Reason})
			o.tell(d.Call, withdrawMsg{agent: string(d.Agent)})
		case queue.DecAgentState:
			o.publish(string(d.Agent), "agent.state", map[string]any{"agent": string(d.Agent), "state": d.State.String(), "reason": d.Reason})
			if d.State == queue.Ready {
				o.kickCampaigns()
			}
			o.logAgentState(d)
		case queue.DecWrapUpStarted:
			callID := publicCallID(string(d.Call))
			o.mu.Lock()
			o.wrapups[string(d.Agent)] = wrapup{callID: callID, start: o.now()}
			o.mu.Unlock()
			f := map[string]any{"agent": string(d.Agent), "call_id": callID}
			if !d.Deadline.IsZero() {
				f["deadline"] = d.Deadline.UTC().Format(time.RFC3339Nano)
			}
			o.publish(string(d.Agent), "wrapup.started", f)
		case queue.DecOfferCallback:
			o.tell(d.Call, offerCallbackMsg{})
		case queue.DecOriginateCallback:
			o.mu.Lock()
			ctx := o.runCtx
			o.mu.Unlock()
			if ctx == nil {
				o.log.Error().Str("call_id", string(d.Call)).Msg("callback due before the orchestrator runs")
				break
			}
			o.startCallback(ctx, d)
		case queue.DecAnnounce:
			o.tell(d.Call, announceMsg{position: d.Position, ewt: d.EWT})
		case queue.DecClosedAction, queue.DecOverflow:
			o.tell(d.Call, leaveQueueMsg{kind: d.Kind, target: d.Target, reason: d.Reason})
		default:
			// DecCallbackDropped (the waiting caller is gone already) needs no action here.
			o.log.Debug().Str("decision", d.Kind.String()).Str("call_id", string(d.Call)).Msg("decision needs no action")
		}
	}
}

func (o *Orchestrator) publish(user, event string, f map[string]any) {
	if o.notify != nil && user != "" {
		o.notify.Publish(user, event, f)
	}
}

// --- agent commands -------------------------------------------------------------

// AgentLogin signs an agent in (state NotReady until Ready).
func (o *Orchestrator) AgentLogin(ctx context.Context, agent string) error {
	return o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.AgentLogin(now, queue.AgentID(agent))
	})
}

// AgentReady makes an agent available.
func (o *Orchestrator) AgentReady(ctx context.Context, agent string) error {
	return o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.AgentReady(now, queue.AgentID(agent))
	})
}

// AgentNotReady pauses an agent (pending until the current call's work ends).
func (o *Orchestrator) AgentNotReady(ctx context.Context, agent, reason string) error {
	return o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.AgentNotReady(now, queue.AgentID(agent), reason)
	})
}

// AgentLogout signs an agent out.
func (o *Orchestrator) AgentLogout(ctx context.Context, agent string) error {
	return o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.AgentLogout(now, queue.AgentID(agent))
	})
}

// Accept takes an offered call: the engine decides atomically (first accept wins
// for ring-all), then the call's actor connects the agent's device.
func (o *Orchestrator) Accept(ctx context.Context, agent, callID string) error {
	if ok, err := o.campaignPreview(ctx, agent, callID, true); ok {
		return err // a campaign preview: accept = dial
	}
	a, err := o.call(callID)
	if err != nil {
		return err
	}
	if err := o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.OfferAccepted(now, queue.CallID(callID), queue.AgentID(agent))
	}); err != nil {
		return err
	}
	return a.ask(ctx, connectMsg{agent: agent})
}

// Reject declines an offered call; the engine re-offers it.
func (o *Orchestrator) Reject(ctx context.Context, agent, callID string) error {
	if ok, err := o.campaignPreview(ctx, agent, callID, false); ok {
		return err // a campaign preview: reject = skip
	}
	if _, err := o.call(callID); err != nil {
		return err
	}
	return o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.OfferRejected(now, queue.CallID(callID), queue.AgentID(agent))
	})
}

// Hold puts the caller on hold (MOH to the caller, the agent's leg muted).
func (o *Orchestrator) Hold(ctx context.Context, agent, callID string) error {
	return o.askCall(ctx, callID, holdMsg{agent: agent, on: true})
}

// Unhold resumes the conversation.
func (o *Orchestrator) Unhold(ctx context.Context, agent, callID string) error {
	return o.askCall(ctx, callID, holdMsg{agent: agent, on: false})
}

// Mute mutes (or unmutes) the agent's microphone on the call.
func (o *Orchestrator) Mute(ctx context.Context, agent, callID string, on bool) error {
	return o.askCall(ctx, callID, muteMsg{agent: agent, on: on})
}

// DTMF sends digits to the caller (IVR navigation on the far side).
func (o *Orchestrator) DTMF(ctx context.Context, agent, callID, digits string) error {
	return o.askCall(ctx, callID, dtmfMsg{agent: agent, digits: digits})
}

// TransferToQueue blind-transfers the agent's caller into another queue.
func (o *Orchestrator) TransferToQueue(ctx context.Context, agent, callID, target string) error {
	return o.askCall(ctx, callID, transferMsg{agent: agent, queue: target})
}

// Hangup ends the call from the agent's side.
func (o *Orchestrator) Hangup(ctx context.Context, agent, callID string) error {
	return o.askCall(ctx, callID, hangupMsg{agent: agent})
}

// WrapUpDone ends the agent's wrap-up; the disposition and notes are committed to
// the interaction before this returns (what the agent was told is saved, is).
func (o *Orchestrator) WrapUpDone(ctx context.Context, agent string, r WrapUpResult) error {
	o.mu.Lock()
	w, ok := o.wrapups[agent]
	o.mu.Unlock()
	if r.CallID == "" {
		r.CallID = w.callID
	}
	if ok && r.CallID != w.callID {
		return fmt.Errorf("%w: %s is wrapping up %s, not %s", ErrNotYourCall, agent, w.callID, r.CallID)
	}
	// A campaign call is checked by its campaign (the agent holding the line, in
	// wrap-up or with the call over); any other needs the agent's wrap-up.
	if !ok && r.CallID != "" && o.camps.ofCall(r.CallID) == nil {
		return fmt.Errorf("%w: %s is not wrapping up %s", ErrNotYourCall, agent, r.CallID)
	}
	if err := o.campaignDisposition(ctx, agent, r); err != nil {
		if !ok || !(errors.Is(err, errCampaignGone) || errors.Is(err, errLineSettled)) {
			return err
		}
		// The campaign settled the line without this call (e.g. a safe-harbour
		// decision racing the connect) or ended since: the agent still leaves
		// wrap-up and the disposition stays on the interaction.
		o.log.Warn().Str("agent", agent).Str("call_id", r.CallID).Str("disposition", r.Disposition).
			Err(err).Msg("campaign line settled before the wrap-up: disposition kept on the interaction only")
	}
	if o.records != nil && r.CallID != "" {
		if err := o.records.SaveDurable(ctx, store.InteractionClose{ID: r.CallID, Disposition: r.Disposition, Notes: r.Notes}); err != nil {
			return fmt.Errorf("saving the disposition: %w", err)
		}
		if ok {
			o.record(func(rec Records) error {
				return rec.AppendSegment(store.Segment{InteractionID: w.callID, Kind: store.SegWrapUp, Agent: agent, Start: w.start, End: o.now()})
			})
		}
	}
	if err := o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.WrapUpDone(now, queue.AgentID(agent))
	}); err != nil && !(ok && errors.Is(err, queue.ErrInvalidTransition)) {
		// (A tracked wrap-up the engine already ended — no wrap-up time on that
		// queue, or the timer ran out — just records the disposition.)
		return err
	}
	o.mu.Lock()
	delete(o.wrapups, agent)
	o.mu.Unlock()
	return nil
}

// WrapUpResult is what the agent filled in during wrap-up.
type WrapUpResult struct {
	CallID      string
	Disposition string
	Notes       string
	// CallbackAt schedules a campaign callback (a callback disposition), personal to
	// the agent unless CallbackShared.
	CallbackAt     *time.Time
	CallbackShared bool
}

// record runs a queued store write; a refused write (backlog full, store closed) is
// logged loudly, never silently dropped.
func (o *Orchestrator) record(write func(Records) error) {
	if o.records == nil {
		return
	}
	if err := write(o.records); err != nil {
		o.log.Error().Err(err).Msg("interaction record not queued")
	}
}

func (o *Orchestrator) askCall(ctx context.Context, callID string, m request) error {
	a, err := o.call(callID)
	if err != nil {
		return err
	}
	return a.ask(ctx, m)
}

// Snapshot returns the engine state (for desktops that resume too late).
func (o *Orchestrator) Snapshot(ctx context.Context) (queue.Snapshot, error) {
	return o.loop.Snapshot(ctx, o.now())
}
