package cti

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/queue/dialer"
)

// Campaign errors (the desktop API maps them to stable codes).
var (
	ErrUnknownCampaign = errors.New("cti: unknown campaign")
	ErrCampaignExists  = errors.New("cti: campaign already added")
	ErrDoNotCall       = errors.New("cti: number is on a do-not-call list")
	ErrNoAgents        = errors.New("cti: the campaign has no agents")
)

// CampaignConfig is one outbound campaign as the orchestrator runs it: the pure
// dialer's config (mode, windows, retries, pacing, abandon cap, 2-second rule) plus
// how its lines reach Asterisk.
type CampaignConfig struct {
	Dialer dialer.Config
	Name   string
	// Endpoint is the originate template: {number} is the E.164 number, {digits} the
	// same without '+' (e.g. PJSIP/{number}@trunk; emulator: Local/{digits}@callers).
	Endpoint string
	CallerID string // caller id presented to the contact
	// SafeHarbourMedia is played to an answered contact no agent reached within the
	// safe-harbour time, before ctid hangs up (ARI media URIs, e.g. sound:ctid-sorry).
	SafeHarbourMedia []string
	// SafeHarbourMargin is taken off Dialer.SafeHarbour for the decision, the time
	// ctid needs to start the message (default 250 ms): the message starts within
	// the rule, not after it.
	SafeHarbourMargin time.Duration
	// Tick is how often the campaign re-plans (default 1 s; it also re-plans whenever
	// an agent becomes Ready and on every line event).
	Tick time.Duration
	// DispositionTimeout: a connected call whose agent recorded no disposition this
	// long after it ended gets "no_decision" (or the first disposition with no flag
	// but Final; default 10 min; negative: never), so the agent is dialled for again.
	DispositionTimeout time.Duration
	Script             string // shown in the screen-pop
	// DispositionLabels name the dispositions' codes for the agent (code → label).
	DispositionLabels map[string]string
	// Teams are the supervisor teams that run the campaign (campaign.* commands);
	// empty: any supervisor. Admins always may.
	Teams []string
	// CheckDial, when set, normalises a manually dialled number and checks it against
	// the do-not-call lists (campaigns.DNC.CheckDial): ErrDoNotCall or ErrCallState.
	CheckDial func(number string) (string, error)
	// OnDNC, when set, records a do-not-call disposition (campaigns.DNC.OnDisposition)
	// before the disposition is accepted; an error refuses the disposition.
	OnDNC func(agent, number, code string) error
}

// WithDefaults returns c with zero fields defaulted (the dialer's too).
func (c CampaignConfig) WithDefaults() CampaignConfig {
	c.Dialer = c.Dialer.WithDefaults()
	if c.SafeHarbourMargin == 0 {
		c.SafeHarbourMargin = 250 * time.Millisecond
	}
	if c.Tick == 0 {
		c.Tick = time.Second
	}
	if c.DispositionTimeout == 0 {
		c.DispositionTimeout = 10 * time.Minute
	}
	if c.SafeHarbourMedia == nil {
		c.SafeHarbourMedia = []string{"sound:ctid-safe-harbour"}
	}
	return c
}

// Validate checks a defaulted config.
func (c CampaignConfig) Validate() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: campaign %q: %s", ErrInvalidConfig, c.Dialer.ID, fmt.Sprintf(f, a...))
	}
	if err := c.Dialer.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	switch {
	case !strings.Contains(c.Endpoint, "/") || (!strings.Contains(c.Endpoint, "{number}") && !strings.Contains(c.Endpoint, "{digits}")):
		return bad("endpoint %q: must be TECH/resource with {number}, e.g. PJSIP/{number}@trunk", c.Endpoint)
	case len(c.SafeHarbourMedia) == 0:
		return bad("no safe-harbour message")
	case c.SafeHarbourMargin < 0 || c.SafeHarbourMargin >= c.Dialer.SafeHarbour:
		return bad("safe-harbour margin %s must be in [0, %s)", c.SafeHarbourMargin, c.Dialer.SafeHarbour)
	case c.Tick < 10*time.Millisecond:
		return bad("tick %s < 10ms", c.Tick)
	}
	return nil
}

func (c CampaignConfig) endpoint(number string) string {
	r := strings.NewReplacer("{number}", number, "{digits}", strings.TrimPrefix(number, "+"))
	return r.Replace(c.Endpoint)
}

// CampaignContact is one contact as the list store hands it over (numbers in E.164).
type CampaignContact struct {
	ID          string
	Name        string
	Numbers     []string
	Zone        string   // IANA zone; "" = the campaign's default
	NumberZones []string // optional, per number
	Fields      map[string]string
	// History of an earlier run (restart): attempts and lockouts per number, and a
	// pending callback (CallbackAt, personal to CallbackAgent unless "").
	History       []dialer.NumberHistory
	CallbackAt    time.Time
	CallbackAgent string
}

// ContactSource reads a campaign's contacts when it starts (the list store).
type ContactSource interface {
	CampaignContacts(ctx context.Context, campaign string) ([]CampaignContact, error)
}

// AttemptSink records what happens to each contact (the attempts table). Record must
// not block: queue the write.
type AttemptSink interface {
	RecordAttempt(AttemptRecord) error
}

// Attempt record events.
const (
	AttemptRejected    = "rejected"     // contact not loaded (Reason)
	AttemptDialled     = "dialled"      // line originated
	AttemptAnswered    = "answered"     // a person answered
	AttemptConnected   = "connected"    // agent connected
	AttemptOutcome     = "outcome"      // line ended without a person (Outcome)
	AttemptSafeHarbour = "safe_harbour" // abandoned: message played, hung up, lockout
	AttemptDisposition = "disposition"  // the agent's wrap-up outcome
	AttemptSkipped     = "skipped"      // preview skipped by the agent
)

// AttemptRecord is one step of a contact's history.
type AttemptRecord struct {
	Campaign, Attempt, Contact, Number, Agent, CallID string
	Event                                             string
	Outcome, Disposition, Notes, Reason               string
	At                                                time.Time
	AnsweredAt                                        time.Time // safe_harbour: when the contact answered
	RetryAt, CallbackAt                               time.Time
	CallbackAgent                                     string
	// outcome, safe_harbour, disposition: when Number may be dialled again (its retry
	// timer; zero: none) and whether it never will (kept to resume after a restart)
	NumberRetryAt time.Time
	NumberDead    bool
}

// MemContacts is an in-memory ContactSource (tests, demos).
type MemContacts struct {
	mu sync.Mutex
	m  map[string][]CampaignContact
}

// Set replaces a campaign's contacts.
func (s *MemContacts) Set(campaign string, cs []CampaignContact) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]CampaignContact{}
	}
	s.m[campaign] = slices.Clone(cs)
}

// CampaignContacts implements ContactSource.
func (s *MemContacts) CampaignContacts(_ context.Context, campaign string) ([]CampaignContact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.m[campaign]), nil
}

// MemAttempts is an in-memory AttemptSink.
type MemAttempts struct {
	mu  sync.Mutex
	rec []AttemptRecord
}

// RecordAttempt implements AttemptSink.
func (s *MemAttempts) RecordAttempt(r AttemptRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec = append(s.rec, r)
	return nil
}

// Records returns a copy of everything recorded.
func (s *MemAttempts) Records() []AttemptRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rec)
}

// CampaignStats is a campaign's progress as pushed to supervisors.
type CampaignStats struct {
	Campaign     string
	Mode         string
	State        string
	Contacts     int
	Done         int
	Pending      int
	Dials        int
	Connects     int // live answers connected to an agent
	Humans       int
	Machines     int
	Abandons     int
	AbandonRate  float64
	LinesInUse   int // ringing + answered waiting for an agent + talking
	Ringing      int
	Waiting      int // answered, no agent yet (the 2-second rule runs)
	Sales        int
	Rejected     int // contacts not loaded
	Progress     float64
	AwaitingDisp int
	Pace         dialer.PaceDecision // the last predictive decision, with its reasons
}

func (s CampaignStats) fields() map[string]any {
	return map[string]any{
		"campaign_id": s.Campaign, "mode": s.Mode, "state": s.State, "contacts": s.Contacts, "done": s.Done,
		"remaining": s.Pending, "dialled": s.Dials, "connected": s.Connects, "humans": s.Humans, "machines": s.Machines,
		"abandoned": s.Abandons, "abandon_rate": s.AbandonRate, "lines_in_use": s.LinesInUse,
		"ringing": s.Ringing, "waiting": s.Waiting, "sales": s.Sales,
		"rejected_contacts": s.Rejected, "progress": s.Progress, "awaiting_disposition": s.AwaitingDisp,
		"pacing": map[string]any{"lines": s.Pace.Lines, "reserve": s.Pace.Reserve, "brake": s.Pace.Brake,
			"target": s.Pace.Target, "available": s.Pace.Available, "expected": s.Pace.Expected, "reason": s.Pace.Reason,
			"worst_case_abandons": s.Pace.Worst, "abandon_budget": s.Pace.Budget},
	}
}

// campaignSet is the orchestrator's registry of campaigns and of their calls.
type campaignSet struct {
	mu     sync.Mutex
	byID   map[string]*campaignActor
	byCall map[string]*campaignActor
	// catalog: stored campaigns; manualCheck: manual dials without a campaign
	// (campaign_store.go)
	catalog     CampaignCatalog
	manualCheck func(number string) (string, error)
}

func newCampaignSet() *campaignSet {
	return &campaignSet{byID: map[string]*campaignActor{}, byCall: map[string]*campaignActor{}}
}

func (s *campaignSet) get(id string) (*campaignActor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byID[id]
	if c == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCampaign, id)
	}
	return c, nil
}

func (s *campaignSet) all() []*campaignActor {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*campaignActor, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	return out
}

func (s *campaignSet) ofCall(callID string) *campaignActor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byCall[callID]
}

func (s *campaignSet) setCall(callID string, c *campaignActor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c == nil {
		delete(s.byCall, callID)
		return
	}
	s.byCall[callID] = c
}

// --- orchestrator API ---------------------------------------------------------------

// AddCampaign registers a campaign (draft) and starts its actor. The orchestrator must
// be running. Contacts are read from Params.Contacts when the campaign starts.
func (o *Orchestrator) AddCampaign(cfg CampaignConfig) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	o.mu.Lock()
	ctx := o.runCtx
	o.mu.Unlock()
	if ctx == nil {
		return ErrNotStarted
	}
	dc := cfg.Dialer
	dc.SafeHarbour -= cfg.SafeHarbourMargin
	d, err := dialer.New(dc)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c := &campaignActor{
		o: o, cfg: cfg, d: d, dcfg: dc, id: dc.ID, box: newMailbox(), done: make(chan struct{}),
		kick: make(chan struct{}, 1), log: o.log.With().Str("campaign", dc.ID).Logger(),
		contacts: map[dialer.ContactID]CampaignContact{}, lines: map[dialer.AttemptID]*campLine{},
		byCall: map[string]*campLine{}, pending: map[string]*campLine{}, holding: map[string]*campLine{},
		lastConn: map[string]time.Time{},
		nonce:    runNonce(o.now()),
	}
	o.camps.mu.Lock()
	if o.camps.byID[c.id] != nil {
		o.camps.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrCampaignExists, c.id)
	}
	o.camps.byID[c.id] = c
	o.camps.mu.Unlock()
	o.wg.Go(func() { c.run(ctx) })
	return nil
}

// CampaignStart starts a draft campaign (loading its contacts) or resumes a paused one.
func (o *Orchestrator) CampaignStart(ctx context.Context, id string) error {
	return o.campaignAsk(ctx, id, campLifecycle{start: true})
}

// CampaignPause stops placing new lines; lines in progress go on.
func (o *Orchestrator) CampaignPause(ctx context.Context, id string) error {
	return o.campaignAsk(ctx, id, campLifecycle{in: dialer.InPause})
}

// CampaignStop ends the campaign for good; lines in progress go on to their end.
func (o *Orchestrator) CampaignStop(ctx context.Context, id string) error {
	return o.campaignAsk(ctx, id, campLifecycle{in: dialer.InStop})
}

// CampaignStats returns a campaign's progress.
func (o *Orchestrator) CampaignStats(ctx context.Context, id string) (CampaignStats, error) {
	c, err := o.campaign(ctx, id)
	if err != nil {
		return CampaignStats{}, err
	}
	var st CampaignStats
	err = c.ask(ctx, campStatsReq{out: &st})
	if errors.Is(err, errCampaignGone) {
		return c.finalStats(), nil
	}
	return st, err
}

// CampaignContactState is the dialer's view of one contact ("new", "scheduled",
// "callback", "in-progress", "done:<reason>") and its attempts.
func (o *Orchestrator) CampaignContactState(ctx context.Context, campaign, contact string) (string, int, error) {
	c, err := o.campaign(ctx, campaign)
	if err != nil {
		return "", 0, err
	}
	var q campContactReq
	q.id = dialer.ContactID(contact)
	err = c.ask(ctx, &q)
	if errors.Is(err, errCampaignGone) {
		<-c.done // the actor no longer touches the dialer
		return c.d.ContactState(q.id)
	}
	if err != nil {
		return "", 0, err
	}
	return q.state, q.attempts, q.err
}

func (o *Orchestrator) campaignAsk(ctx context.Context, id string, m any) error {
	c, err := o.campaign(ctx, id)
	if err != nil {
		return err
	}
	return c.ask(ctx, m)
}

// campaignDisposition hands a campaign call's wrap-up to its campaign; calls of no
// campaign are not its business (nil).
func (o *Orchestrator) campaignDisposition(ctx context.Context, agent string, r WrapUpResult) error {
	c := o.camps.ofCall(r.CallID)
	if c == nil {
		return nil
	}
	o.mu.Lock()
	w, wrapping := o.wrapups[agent]
	o.mu.Unlock()
	return c.ask(ctx, campDisposition{agent: agent, r: r, wrapping: wrapping && w.callID == r.CallID})
}

// kickCampaigns asks every campaign to re-plan (an agent became Ready). Never blocks.
func (o *Orchestrator) kickCampaigns() {
	for _, c := range o.camps.all() {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// broadcaster is what the desktop server offers for supervisor-wide events.
type broadcaster interface {
	Broadcast(role desktop.Role, event string, fields map[string]any)
}

// --- the campaign actor ------------------------------------------------------------

var errCampaignGone = errors.New("cti: campaign actor has ended")

// errLineSettled: the agent wraps up a campaign call whose line the campaign had
// already settled without it (a safe-harbour decision racing the connect).
var errLineSettled = errors.New("cti: the campaign settled this line already")

type (
	campLifecycle struct {
		start bool
		in    dialer.Input
	}
	campStatsReq   struct{ out *CampaignStats }
	campContactReq struct {
		id       dialer.ContactID
		state    string
		attempts int
		err      error
	}
	campDisposition struct {
		agent    string
		r        WrapUpResult
		wrapping bool // the engine has the agent in wrap-up for this call (e.g. after a transfer)
	}
	campPreviewAnswer struct {
		agent, callID string
		dial          bool
	}
	campManualDial struct {
		agent, number string
		callID        *string
	}
	campAsk struct {
		m     any
		reply chan error
	}
	// line events from call actors
	lineAnswered struct {
		callID  string
		machine bool
	}
	lineFailed struct {
		callID  string
		outcome dialer.Outcome
		cause   string
	}
	lineEnded struct {
		callID    string
		connected bool
	}
)

// campLine is one dialled attempt and its call.
type campLine struct {
	dial       dialer.Dial
	callID     string
	contact    CampaignContact
	agent      string // reserved or connected agent
	answeredAt time.Time
	deadline   time.Time // pooled answer: connect before
	connected  bool
	endedAt    time.Time // the connected call ended (awaiting the disposition)
	over       bool      // the call actor is gone
	manual     bool      // an agent's manual dial: not the dialer's attempt
	preview    bool      // shown to its agent, not dialled yet
}

type campaignActor struct {
	o     *Orchestrator
	cfg   CampaignConfig
	id    string
	d     *dialer.Dialer
	box   *mailbox
	done  chan struct{}
	kick  chan struct{}
	log   zerolog.Logger
	nonce string

	contacts map[dialer.ContactID]CampaignContact
	rejected int
	lines    map[dialer.AttemptID]*campLine
	byCall   map[string]*campLine
	pending  map[string]*campLine // agent -> ended connected line awaiting its disposition
	holding  map[string]*campLine // agent -> connected line, from connection to disposition
	lastConn map[string]time.Time // agent -> last connection (pooled answers: longest idle first)
	waiting  []*campLine          // answered pooled lines looking for an agent
	connects int
	manuals  int
	pace     dialer.PaceDecision
	lastPush time.Time

	finalMu sync.Mutex
	final   CampaignStats

	savedState string // the lifecycle state last written to the catalog

	dcfg  dialer.Config // the dialer's config (a new dialer after a lease takeover)
	lease leaseState    // campaign_resume.go
	sweep []sweepLine   // open lines of an earlier run to check (campaign_sweep.go)
}

func (c *campaignActor) ask(ctx context.Context, m any) error {
	reply := make(chan error, 1)
	if !c.box.send(campAsk{m: m, reply: reply}) {
		return errCampaignGone
	}
	select {
	case err := <-reply:
		return err
	case <-c.done:
		// The actor may have answered just before it ended (a stop ends the actor
		// of a campaign with nothing live): its answer wins over the end.
		select {
		case err := <-reply:
			return err
		default:
			return errCampaignGone
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *campaignActor) finalStats() CampaignStats {
	c.finalMu.Lock()
	defer c.finalMu.Unlock()
	return c.final
}

// poll returns a queued message without waiting.
func (b *mailbox) poll() (any, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.items) == 0 {
		return nil, false
	}
	m := b.items[0]
	b.items[0] = nil
	b.items = b.items[1:]
	return m, true
}

func (c *campaignActor) run(ctx context.Context) {
	defer close(c.done)
	// Answering-machine detection's result comes as a ChannelVarset (AMDSTATUS,
	// campaign_flow.go), a type ctid's default event filter leaves out (telephony
	// DefaultEventFilter): subscribed while a campaign runs, before its first line.
	if err := c.o.ari.SubscribeEvents(ctx, "ChannelVarset"); err != nil {
		c.log.Warn().Err(err).Msg("could not subscribe to ChannelVarset events: answering machines may be taken for people until ARI reconnects")
	}
	defer func() { // at shutdown (ctx done) the count drops and no request goes out
		if err := c.o.ari.UnsubscribeEvents(ctx, "ChannelVarset"); err != nil {
			c.log.Debug().Err(err).Msg("could not unsubscribe from ChannelVarset events")
		}
	}()
	tick := time.NewTicker(c.cfg.Tick)
	defer tick.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	stepNow := false
	for {
		for {
			m, ok := c.box.poll()
			if !ok {
				break
			}
			c.handle(ctx, m)
		}
		if stepNow {
			c.step(ctx)
			stepNow = false
		}
		c.stateChanged(ctx)
		if c.over() {
			c.finalMu.Lock()
			c.final = c.stats()
			c.finalMu.Unlock()
			for _, m := range c.box.close() {
				if a, ok := m.(campAsk); ok {
					a.reply <- errCampaignGone
				}
			}
			c.push(true)
			c.releaseLease(ctx)
			c.log.Info().Str("state", c.d.State().String()).Msg("campaign over")
			return
		}
		// Wake at the earliest safe-harbour deadline: the decision must not wait a tick.
		next := time.Hour
		for _, l := range c.waiting {
			next = min(next, max(0, l.deadline.Sub(c.o.now())))
		}
		wake.Reset(next)
		select {
		case <-ctx.Done():
			c.releaseLease(ctx)
			return
		case <-tick.C:
			stepNow = true
		case <-wake.C:
			stepNow = true
		case <-c.kick:
			stepNow = true
		case <-c.box.signal:
		}
	}
}

// over: a terminal campaign with nothing live left.
func (c *campaignActor) over() bool {
	st := c.d.State()
	return (st == dialer.Finished || st == dialer.Stopped) && len(c.lines) == 0
}

func (c *campaignActor) handle(ctx context.Context, m any) {
	switch m := m.(type) {
	case campAsk:
		m.reply <- c.request(ctx, m.m)
		c.step(ctx)
	case lineAnswered:
		c.answered(ctx, m)
		c.step(ctx)
	case lineFailed:
		c.failed(ctx, m)
		c.step(ctx)
	case lineEnded:
		c.ended(ctx, m)
		c.step(ctx)
	default:
		c.log.Error().Str("message", fmt.Sprintf("%T", m)).Msg("unexpected campaign message")
	}
}

func (c *campaignActor) request(ctx context.Context, m any) error {
	switch m := m.(type) {
	case campLifecycle:
		return c.lifecycle(ctx, m)
	case campStatsReq:
		*m.out = c.stats()
		return nil
	case *campContactReq:
		m.state, m.attempts, m.err = c.d.ContactState(m.id)
		return nil
	case campDisposition:
		return c.disposition(m)
	case campManualDial:
		return c.manualDial(ctx, m)
	case campPreviewAnswer:
		return c.previewAnswer(ctx, m)
	case campStep:
		return nil // handle steps after every request
	case campResume:
		return c.resume(ctx)
	case *campAdopt:
		return c.adoptLine(ctx, m) // campaign_adopt.go
	case campSweepOpen:
		return c.readOpenLines(ctx) // campaign_sweep.go
	}
	return fmt.Errorf("%w: unknown campaign request %T", ErrCallState, m)
}

// campStep asks for one planning step (tests drive a virtual clock with it).
type campStep struct{}

func (c *campaignActor) lifecycle(ctx context.Context, m campLifecycle) error {
	if done, err := c.standbyCommand(ctx, m); done {
		return err
	}
	in := m.in
	if m.start {
		in = dialer.InResume
		if c.d.State() == dialer.Draft {
			n := 0
			if err := c.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
				n = e.CampaignAgents(c.id)
				return nil, nil
			}); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%w: campaign %s: assign agents to it (agents[].campaigns)", ErrNoAgents, c.id)
			}
			if !c.takeLease(ctx, c.o.now()) {
				return nil // another node runs it: standby (checkLease takes over when it can)
			}
			if err := c.load(ctx); err != nil {
				return err
			}
			in = dialer.InStart
		}
	}
	if err := c.d.Apply(in); err != nil {
		return fmt.Errorf("%w: %w", ErrCallState, err)
	}
	c.log.Info().Str("input", in.String()).Str("state", c.d.State().String()).Msg("campaign lifecycle")
	c.stateChanged(ctx)
	c.push(true)
	return nil
}

// load reads the contacts. A contact the dialer refuses (bad number, unknown zone,
// duplicate) is reported and left out; the others are loaded.
func (c *campaignActor) load(ctx context.Context) error {
	if c.o.contacts == nil {
		return fmt.Errorf("%w: no contact source configured", ErrInvalidConfig)
	}
	cs, err := c.o.contacts.CampaignContacts(ctx, c.id)
	if err != nil {
		return fmt.Errorf("reading the contacts of campaign %s: %w", c.id, err)
	}
	for _, x := range cs {
		dc := dialer.Contact{ID: dialer.ContactID(x.ID), Numbers: x.Numbers, Zone: x.Zone, NumberZones: x.NumberZones}
		if err := c.d.AddContacts([]dialer.Contact{dc}); err != nil {
			c.rejected++
			c.record(AttemptRecord{Event: AttemptRejected, Contact: x.ID, Reason: err.Error()})
			continue
		}
		c.contacts[dc.ID] = x
		c.restore(x)
	}
	c.restorePacing(ctx)
	c.collectOpenLines() // campaign_sweep.go
	c.log.Info().Int("contacts", len(c.contacts)).Int("rejected", c.rejected).Msg("campaign contacts loaded")
	return nil
}

func (c *campaignActor) record(r AttemptRecord) {
	if c.o.attempts == nil {
		return
	}
	r.Campaign = c.id
	if r.At.IsZero() {
		r.At = c.o.now()
	}
	if err := c.o.attempts.RecordAttempt(r); err != nil {
		c.log.Error().Err(err).Str("event", r.Event).Str("contact", r.Contact).Msg("attempt record not queued")
	}
}

func (c *campaignActor) lineRecord(l *campLine, event string) AttemptRecord {
	return AttemptRecord{Event: event, Attempt: string(l.dial.Attempt), Contact: string(l.dial.Contact),
		Number: l.dial.Number, Agent: l.agent, CallID: l.callID}
}

// freeAgents are the engine's Ready agents of the campaign, less those still owing
// a disposition for one of its calls.
func (c *campaignActor) freeAgents(e *queue.Engine) []queue.AgentID {
	free := e.AgentsFree(c.id)
	return slices.DeleteFunc(free, func(a queue.AgentID) bool { return c.holding[string(a)] != nil })
}

// step runs the dialer's deadlines, connects waiting answers and places new lines.
func (c *campaignActor) step(ctx context.Context) {
	now := c.o.now()
	c.checkLease(ctx, now)
	c.sweepDue(ctx, now) // campaign_sweep.go
	for _, eff := range c.d.Tick(now) {
		c.effect(ctx, now, eff)
	}
	c.disposeStale(now)
	var dials []dialer.Dial
	var unplaced []dialer.AttemptID
	var connects []*campLine
	err := c.o.engine(ctx, func(e *queue.Engine, enow time.Time) ([]queue.Decision, error) {
		var ds []queue.Decision
		free := c.freeAgents(e)
		// answers go to the agent who has waited longest since their last campaign call
		pooled := slices.Clone(free)
		slices.SortStableFunc(pooled, func(a, b queue.AgentID) int { return c.lastConn[string(a)].Compare(c.lastConn[string(b)]) })
		for _, l := range c.waiting {
			if len(pooled) == 0 {
				break
			}
			if l.over || now.After(l.deadline) {
				continue // gone, or the safe-harbour message goes out instead
			}
			ag := pooled[0]
			pooled = pooled[1:]
			free = slices.DeleteFunc(free, func(x queue.AgentID) bool { return x == ag })
			out, err := e.DialerReserve(now, queue.CallID(l.callID), ag)
			if err != nil {
				c.log.Warn().Err(err).Str("agent", string(ag)).Msg("reserving an agent for an answer")
				continue
			}
			ds = append(ds, out...)
			out, err = e.OfferAccepted(now, queue.CallID(l.callID), ag)
			if err != nil {
				c.log.Warn().Err(err).Str("agent", string(ag)).Msg("connecting an agent to an answer")
				if out, rerr := e.DialerRelease(now, queue.CallID(l.callID)); rerr == nil {
					ds = append(ds, out...)
				}
				continue
			}
			ds = append(ds, out...)
			l.agent = string(ag)
			connects = append(connects, l)
		}
		if c.d.State() != dialer.Running || !c.lease.dialing(now) {
			return ds, nil
		}
		if c.cfg.Dialer.Mode == dialer.Preview {
			ds = append(ds, c.previews(e, now, free)...)
			c.d.Plan(now, dialer.Load{}) // places nothing in preview; finishes an exhausted list
			return ds, nil
		}
		load := dialer.LoadFromEngine(e, now, c.id, c.d.Horizon())
		load.Free = free
		plan := c.d.Plan(now, load)
		if c.cfg.Dialer.Mode == dialer.Predictive {
			c.pace = plan.Pace
		}
		for _, dl := range plan.Dials {
			if dl.Agent != "" {
				out, err := e.DialerReserve(now, queue.CallID(c.callID(dl.Attempt)), dl.Agent)
				if err != nil {
					// Cannot happen on this goroutine (the agent was free a moment ago);
					// the line goes unplaced and counts as congestion.
					c.log.Error().Err(err).Str("agent", string(dl.Agent)).Msg("reserving the agent of a planned line")
					unplaced = append(unplaced, dl.Attempt)
					continue
				}
				ds = append(ds, out...)
			}
			dials = append(dials, dl)
		}
		return ds, nil
	})
	if err != nil {
		c.log.Error().Err(err).Msg("campaign step: engine unavailable")
		return
	}
	c.waiting = slices.DeleteFunc(c.waiting, func(l *campLine) bool { return l.agent != "" })
	for _, l := range connects {
		c.connect(ctx, now, l)
	}
	for _, id := range unplaced {
		if _, err := c.d.Result(now, id, dialer.Congestion); err != nil {
			c.log.Error().Err(err).Msg("reporting an unplaced line")
		}
	}
	for _, dl := range dials {
		if c.lockedPlanned(ctx, now, dl) { // campaign_lock.go
			continue
		}
		c.originate(ctx, dl)
	}
	c.push(false)
}

func (c *campaignActor) callID(a dialer.AttemptID) string { return string(a) + "." + c.nonce }

// originate starts the call actor of a planned line.
func (c *campaignActor) originate(ctx context.Context, dl dialer.Dial) {
	l := &campLine{dial: dl, callID: c.callID(dl.Attempt), contact: c.contacts[dl.Contact], agent: string(dl.Agent)}
	c.lines[dl.Attempt] = l
	c.byCall[l.callID] = l
	c.o.camps.setCall(l.callID, c)
	c.record(c.lineRecord(l, AttemptDialled))
	c.o.startCampaignCall(ctx, c, l)
}

// answered: the contact picked up (or a machine did).
func (c *campaignActor) answered(ctx context.Context, m lineAnswered) {
	l := c.byCall[m.callID]
	if l == nil {
		return
	}
	now := c.o.now()
	if l.manual {
		l.answeredAt = now
		c.record(c.lineRecord(l, AttemptAnswered))
		if err := c.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.OfferAccepted(now, queue.CallID(l.callID), queue.AgentID(l.agent))
		}); err != nil {
			c.log.Warn().Err(err).Str("agent", l.agent).Msg("manual dial answered but the agent is gone; hanging up")
			c.o.tell(queue.CallID(l.callID), campHangupMsg{cause: "agent gone"})
			c.forget(l)
			return
		}
		c.connect(ctx, now, l)
		return
	}
	if m.machine {
		c.lineOver(ctx, now, l, dialer.Machine, "answering machine")
		c.o.tell(queue.CallID(l.callID), campHangupMsg{cause: "answering machine"})
		return
	}
	eff, err := c.d.Result(now, l.dial.Attempt, dialer.Human)
	if err != nil {
		c.log.Error().Err(err).Str("call_id", l.callID).Msg("answer refused by the dialer; hanging up")
		c.o.tell(queue.CallID(l.callID), campHangupMsg{cause: "dialer refused the answer"})
		return
	}
	l.answeredAt = now
	c.record(c.lineRecord(l, AttemptAnswered))
	switch eff.Kind {
	case dialer.EffConnect:
		if err := c.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.OfferAccepted(now, queue.CallID(l.callID), eff.Agent)
		}); err != nil {
			// The reserved agent is gone (logged out): treat the line as pooled.
			c.log.Warn().Err(err).Str("agent", string(eff.Agent)).Msg("reserved agent cannot take the answer")
			c.release(ctx, l.callID)
			l.agent, l.deadline = "", now.Add(c.d.Config().SafeHarbour)
			c.waiting = append(c.waiting, l)
			return
		}
		c.connect(ctx, now, l)
	case dialer.EffFindAgent:
		l.deadline = eff.Deadline
		c.waiting = append(c.waiting, l)
	}
}

// connect: the engine has l.agent Talking on the call; tell the dialer and the call.
func (c *campaignActor) connect(ctx context.Context, now time.Time, l *campLine) {
	c.holding[l.agent] = l
	c.lastConn[l.agent] = now
	if l.manual {
		l.connected = true
		c.record(c.lineRecord(l, AttemptConnected))
		c.o.tell(queue.CallID(l.callID), campConnectMsg{agent: l.agent})
		return
	}
	if err := c.d.Connected(now, l.dial.Attempt, queue.AgentID(l.agent)); err != nil {
		c.log.Error().Err(err).Str("call_id", l.callID).Msg("dialer refused the connection")
	}
	l.connected = true
	c.connects++
	c.record(c.lineRecord(l, AttemptConnected))
	c.o.tell(queue.CallID(l.callID), campConnectMsg{agent: l.agent})
}

// failed: the line ended without a person.
func (c *campaignActor) failed(ctx context.Context, m lineFailed) {
	l := c.byCall[m.callID]
	if l == nil {
		return
	}
	if l.connected {
		// The contact hung up as the agent was being connected: the agent's part
		// ends now (wrap-up, disposition as for any connected call).
		if err := c.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
			return e.CallEnded(now, queue.CallID(l.callID))
		}); err != nil {
			c.log.Warn().Err(err).Str("call_id", l.callID).Msg("ending the agent's part of a vanished call")
		}
		c.ended(ctx, lineEnded{callID: l.callID, connected: true})
		return
	}
	if !l.answeredAt.IsZero() {
		// answered and gone before an agent: the deadline counts it as abandoned
		l.over = true
		return
	}
	c.lineOver(ctx, c.o.now(), l, m.outcome, m.cause)
}

// lineOver reports a line's non-human end to the dialer and forgets it.
func (c *campaignActor) lineOver(ctx context.Context, now time.Time, l *campLine, o dialer.Outcome, cause string) {
	var eff dialer.Effect
	if l.manual {
		eff.Agent = queue.AgentID(l.agent)
	} else {
		var err error
		if eff, err = c.d.Result(now, l.dial.Attempt, o); err != nil {
			c.log.Error().Err(err).Str("call_id", l.callID).Msg("line result refused")
		}
	}
	if eff.Agent != "" {
		c.release(ctx, l.callID)
		if l.agent != "" {
			c.o.publish(l.agent, "call.ended", map[string]any{"call_id": l.callID, "reason": o.String()})
		}
	}
	r := c.lineRecord(l, AttemptOutcome)
	// stamped with the instant the dialer decided at, so that the stored end and the
	// retry timer agree (a second clock read could be later)
	r.At = now
	r.Outcome, r.Reason, r.RetryAt = o.String(), cause, eff.At
	r.NumberRetryAt, r.NumberDead = eff.NumberAt, eff.NumberDead
	c.record(r)
	c.forget(l)
}

func (c *campaignActor) forget(l *campLine) {
	delete(c.lines, l.dial.Attempt)
	delete(c.byCall, l.callID)
	c.o.camps.setCall(l.callID, nil)
	if l.agent != "" && c.holding[l.agent] == l {
		delete(c.holding, l.agent)
	}
	if l.agent != "" && c.pending[l.agent] == l {
		delete(c.pending, l.agent)
	}
}

// ended: the call actor is gone. A connected call now waits for its disposition; a
// line that vanished unanswered without a verdict (channel lost across an ARI
// reconnect) counts as not answered, so that it never rings forever in the dialer.
func (c *campaignActor) ended(ctx context.Context, m lineEnded) {
	l := c.byCall[m.callID]
	if l == nil || l.preview {
		return
	}
	l.over = true
	switch {
	case l.connected:
		l.endedAt = c.o.now()
		c.pending[l.agent] = l
	case l.answeredAt.IsZero():
		c.lineOver(ctx, c.o.now(), l, dialer.NoAnswer, "line lost")
	}
}

// effect carries out a dialer deadline.
func (c *campaignActor) effect(ctx context.Context, now time.Time, eff dialer.Effect) {
	l := c.lines[eff.Attempt]
	if l == nil {
		return
	}
	switch eff.Kind {
	case dialer.EffSafeHarbour:
		c.waiting = slices.DeleteFunc(c.waiting, func(x *campLine) bool { return x == l })
		r := c.lineRecord(l, AttemptSafeHarbour)
		r.AnsweredAt = l.answeredAt
		r.NumberRetryAt, r.NumberDead = eff.NumberAt, eff.NumberDead
		c.record(r)
		c.log.Info().Str("call_id", l.callID).Dur("after", now.Sub(l.answeredAt)).Msg("no agent within the safe-harbour time: message and hang-up")
		if !l.over {
			c.o.tell(queue.CallID(l.callID), campSafeHarbourMsg{media: c.cfg.SafeHarbourMedia})
		}
		c.forget(l)
	case dialer.EffHangup:
		c.o.tell(queue.CallID(l.callID), campHangupMsg{cause: "ring timeout", noAnswer: true})
	case dialer.EffAutoDial:
		l.preview = false
		l.dial = eff.Dial
		c.record(c.lineRecord(l, AttemptDialled))
		c.o.startCampaignCall(ctx, c, l)
	default:
		c.log.Debug().Str("effect", eff.Kind.String()).Msg("effect needs no action")
	}
}

// disposition records the agent's wrap-up outcome with the dialer.
func (c *campaignActor) disposition(m campDisposition) error {
	l := c.byCall[m.r.CallID]
	if l == nil && m.wrapping {
		return fmt.Errorf("%w: %s in campaign %s", errLineSettled, m.r.CallID, c.id)
	}
	if l == nil || !l.connected {
		return fmt.Errorf("%w: %s is not a connected call of campaign %s", ErrCallState, m.r.CallID, c.id)
	}
	if l.agent != m.agent {
		return fmt.Errorf("%w: %s", ErrNotYourCall, m.r.CallID)
	}
	if !l.over && !m.wrapping {
		return fmt.Errorf("%w: %s is still in progress; the disposition comes in wrap-up", ErrCallState, m.r.CallID)
	}
	if d, ok := c.dispositionOf(m.r.Disposition); ok && d.DNC && c.cfg.OnDNC != nil {
		// saved on the internal list before the disposition is accepted
		if err := c.cfg.OnDNC(m.agent, l.dial.Number, d.Code); err != nil {
			return fmt.Errorf("%w: recording do-not-call: %w", ErrBadDisposition, err)
		}
	}
	if l.manual {
		disp, ok := c.dispositionOf(m.r.Disposition)
		if !ok {
			return fmt.Errorf("%w: %w: %q", ErrBadDisposition, dialer.ErrUnknownDisp, m.r.Disposition)
		}
		if disp.DNC {
			c.d.MarkDNC(l.dial.Number)
		}
		r := c.lineRecord(l, AttemptDisposition)
		r.Disposition, r.Notes = m.r.Disposition, m.r.Notes
		c.record(r)
		c.forget(l)
		return nil
	}
	cb := dialer.CallbackRequest{}
	if m.r.CallbackAt != nil {
		cb.At = *m.r.CallbackAt
		if !m.r.CallbackShared {
			cb.Agent = queue.AgentID(m.agent)
		}
	}
	now := c.o.now()
	eff, err := c.d.Disposition(now, l.dial.Attempt, m.r.Disposition, cb)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadDisposition, err)
	}
	r := c.lineRecord(l, AttemptDisposition)
	r.Disposition, r.Notes, r.RetryAt, r.Reason = m.r.Disposition, m.r.Notes, eff.At, eff.Reason
	if eff.Kind == dialer.EffCallback {
		r.RetryAt, r.CallbackAt, r.CallbackAgent = time.Time{}, eff.At, string(eff.Agent)
	}
	r.NumberRetryAt, r.NumberDead = eff.NumberAt, eff.NumberDead
	c.record(r)
	c.forget(l)
	return nil
}

// ErrBadDisposition: the campaign refused a wrap-up outcome (unknown code, callback
// outside the contact's window, no callback time).
var ErrBadDisposition = errors.New("cti: disposition refused")

// disposeStale closes connected attempts whose agent never recorded an outcome.
func (c *campaignActor) disposeStale(now time.Time) {
	if c.cfg.DispositionTimeout < 0 {
		return
	}
	code := ""
	for _, d := range c.d.Config().Dispositions {
		if !d.Callback && !d.DNC && !d.BadNum && !d.Sale && (code == "" || d.Code == "no_decision") {
			code = d.Code
		}
	}
	for agent, l := range c.pending {
		if now.Sub(l.endedAt) < c.cfg.DispositionTimeout {
			continue
		}
		if err := c.disposition(campDisposition{agent: agent, r: WrapUpResult{CallID: l.callID, Disposition: code, Notes: "no disposition recorded"}}); err != nil {
			c.log.Warn().Err(err).Str("agent", agent).Msg("automatic disposition refused; the agent is released")
			c.forget(l)
		}
	}
}

func (c *campaignActor) stats() CampaignStats {
	s := c.d.Stats(c.o.now())
	out := CampaignStats{
		Campaign: c.id, Mode: c.cfg.Dialer.Mode.String(), State: s.State.String(), Contacts: s.Contacts, Done: s.Done,
		Pending: s.Pending, Dials: s.Dials, Connects: c.connects, Humans: s.Humans, Machines: s.Machines,
		Abandons: s.Abandons, AbandonRate: s.AbandonRate, LinesInUse: s.Ringing + s.Waiting + c.talking(),
		Ringing: s.Ringing, Waiting: s.Waiting,
		Sales: s.Sales, Rejected: c.rejected, AwaitingDisp: len(c.pending), Pace: c.pace,
	}
	if s.Contacts > 0 {
		out.Progress = float64(s.Done) / float64(s.Contacts)
	}
	return out
}

func (c *campaignActor) talking() int {
	n := 0
	for _, l := range c.lines {
		if l.connected && !l.over {
			n++
		}
	}
	return n
}

// push sends campaign.stats to supervisors, at most once a second unless forced.
func (c *campaignActor) push(force bool) {
	b, ok := c.o.notify.(broadcaster)
	if !ok || c.id == manualCampaign {
		return
	}
	now := c.o.now()
	if !force && now.Sub(c.lastPush) < time.Second {
		return
	}
	c.lastPush = now
	b.Broadcast(desktop.RoleSupervisor, "campaign.stats", c.stats().fields())
}

func (c *campaignActor) dispositionOf(code string) (dialer.Disposition, bool) {
	for _, d := range c.d.Config().Dispositions {
		if d.Code == code {
			return d, true
		}
	}
	return dialer.Disposition{}, false
}

// ManualDial places an agent's own call for campaign (call.dial): the number must be
// E.164 (or national in calls.default_region) and on no do-not-call list — the
// campaign's own, the internal and national ones — which an agent cannot bypass. The
// agent must be Ready; they are reserved while it rings and connected on answer.
// It returns the call id.
func (o *Orchestrator) ManualDial(ctx context.Context, agent, number, campaign string) (string, error) {
	if campaign == "" {
		if !o.manualDialEnabled() {
			return "", fmt.Errorf("%w: manual dial needs campaign_id (its endpoint, caller id and do-not-call lists)", ErrCallState)
		}
		campaign = manualCampaign
	}
	c, err := o.campaign(ctx, campaign)
	if err != nil {
		return "", err
	}
	n := number
	if c.cfg.CheckDial != nil {
		// normalised and checked against every do-not-call list before the actor's own check
		if n, err = c.cfg.CheckDial(number); err != nil {
			c.log.Warn().Err(err).Str("agent", agent).Str("number", number).Msg("manual dial refused")
			return "", err
		}
	} else if !strings.HasPrefix(n, "+") || e164(n, "") == "" {
		n = e164(number, o.cfg.DefaultRegion)
	}
	if n == "" {
		return "", fmt.Errorf("%w: %q is not a phone number", ErrCallState, number)
	}
	var id string
	if err := c.ask(ctx, campManualDial{agent: agent, number: n, callID: &id}); err != nil {
		return "", err
	}
	return id, nil
}

func (c *campaignActor) manualDial(ctx context.Context, m campManualDial) error {
	if c.d.IsDNC(m.number) {
		c.log.Warn().Str("agent", m.agent).Str("number", m.number).Msg("manual dial of a do-not-call number refused")
		return fmt.Errorf("%w: %s", ErrDoNotCall, m.number)
	}
	if c.holding[m.agent] != nil {
		return fmt.Errorf("%w: %s owes a disposition for %s", ErrCallState, m.agent, c.holding[m.agent].callID)
	}
	if err := c.checkManualLock(m.agent, m.number); err != nil { // campaign_lock.go
		return err
	}
	c.manuals++
	att := dialer.AttemptID(fmt.Sprintf("%s-manual-%d", c.id, c.manuals))
	dl := dialer.Dial{Attempt: att, Number: m.number, Agent: queue.AgentID(m.agent), RingTimeout: c.cfg.Dialer.RingTimeout}
	callID := c.callID(att)
	if err := c.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.DialerReserve(now, queue.CallID(callID), queue.AgentID(m.agent))
	}); err != nil {
		return err
	}
	l := &campLine{dial: dl, callID: callID, agent: m.agent, manual: true,
		contact: CampaignContact{ID: "manual", Name: m.number, Numbers: []string{m.number}}}
	c.lines[att] = l
	c.byCall[callID] = l
	c.o.camps.setCall(callID, c)
	r := c.lineRecord(l, AttemptDialled)
	r.Reason = "manual"
	c.record(r)
	c.o.startCampaignCall(ctx, c, l)
	*m.callID = callID
	return nil
}

// previews shows each free agent of a preview campaign its next contact, the agent
// reserved in the engine while they read it (inbound cannot take them mid-read).
// Runs on the engine goroutine (inside step's engine closure).
func (c *campaignActor) previews(e *queue.Engine, now time.Time, free []queue.AgentID) []queue.Decision {
	var ds []queue.Decision
	for _, ag := range free {
		dl, err := c.d.Preview(now, ag)
		if errors.Is(err, dialer.ErrNoContact) || errors.Is(err, dialer.ErrNotRunning) {
			break
		}
		if err != nil {
			c.log.Warn().Err(err).Str("agent", string(ag)).Msg("preview")
			continue
		}
		l := &campLine{dial: dl, callID: c.callID(dl.Attempt), contact: c.contacts[dl.Contact], agent: string(ag), preview: true}
		out, err := e.DialerReserve(now, queue.CallID(l.callID), ag)
		if err != nil {
			c.log.Error().Err(err).Str("agent", string(ag)).Msg("reserving a previewing agent")
			if serr := c.d.Skip(now, dl.Attempt); serr != nil {
				c.log.Error().Err(serr).Msg("returning the preview")
			}
			continue
		}
		ds = append(ds, out...)
		c.lines[dl.Attempt] = l
		c.byCall[l.callID] = l
		c.o.camps.setCall(l.callID, c)
		f := map[string]any{
			"call_id": l.callID, "campaign_id": c.id, "campaign": c.cfg.Name, "attempt_id": string(dl.Attempt),
			"contact_id": string(dl.Contact), "contact_name": l.contact.Name, "contact": l.contact.Fields,
			"number": dl.Number, "zone": dl.Zone, "callback": dl.Callback, "skippable": true,
			"dispositions": campaignDispositions(c.cfg.Dialer.Dispositions, c.cfg.DispositionLabels),
		}
		if max := c.cfg.Dialer.Preview.MaxSkips; max > 0 {
			f["max_skips"] = max
		}
		if c.cfg.Script != "" {
			f["script"] = c.cfg.Script
		}
		if c.cfg.Dialer.Preview.AutoDial > 0 {
			f["auto_dial_at"] = now.Add(c.cfg.Dialer.Preview.AutoDial).UTC().Format(time.RFC3339Nano)
		}
		c.o.publish(string(ag), "campaign.preview", f)
	}
	return ds
}

// previewAnswer: the agent dials (call.accept) or skips (call.reject) their preview.
func (c *campaignActor) previewAnswer(ctx context.Context, m campPreviewAnswer) error {
	l := c.byCall[m.callID]
	if l != nil && l.agent != m.agent { // another agent's, previewed or dialled (campaign_lock.go)
		return fmt.Errorf("%w: %s", ErrNotYourCall, m.callID)
	}
	if l == nil || !l.preview {
		return fmt.Errorf("%w: %s is not a preview", ErrCallState, m.callID)
	}
	now := c.o.now()
	if m.dial {
		if other := c.lineTo(l.dial.Number, l); other != nil && other.manual { // campaign_lock.go
			return fmt.Errorf("%w: %s is on call %s", ErrContactLocked, l.dial.Number, other.callID)
		}
		dl, err := c.d.PreviewDial(now, l.dial.Attempt)
		if err != nil {
			if c.d.IsDNC(l.dial.Number) {
				return fmt.Errorf("%w: %s", ErrDoNotCall, l.dial.Number)
			}
			return fmt.Errorf("%w: %w", ErrCallState, err)
		}
		l.preview, l.dial = false, dl
		c.record(c.lineRecord(l, AttemptDialled))
		c.o.startCampaignCall(ctx, c, l)
		return nil
	}
	if err := c.d.Skip(now, l.dial.Attempt); err != nil {
		return fmt.Errorf("%w: %w", ErrCallState, err)
	}
	r := c.lineRecord(l, AttemptSkipped)
	c.record(r)
	c.forget(l)
	return c.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.DialerRelease(now, queue.CallID(l.callID))
	})
}

// campaignPreview routes call.accept / call.reject of a campaign preview; ok reports
// whether callID was one.
func (o *Orchestrator) campaignPreview(ctx context.Context, agent, callID string, dial bool) (bool, error) {
	c := o.camps.ofCall(callID)
	if c == nil {
		return false, nil
	}
	if _, err := o.call(callID); err == nil {
		return false, nil // the line is dialled: an ordinary call from here on
	}
	return true, c.ask(ctx, campPreviewAnswer{agent: agent, callID: callID, dial: dial})
}

// release returns an agent reserved for callID to Ready (their line failed).
func (c *campaignActor) release(ctx context.Context, callID string) {
	if err := c.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.DialerRelease(now, queue.CallID(callID))
	}); err != nil {
		c.log.Warn().Err(err).Str("call_id", callID).Msg("releasing the reserved agent")
	}
}

// CampaignTeams returns the supervisor teams that run a campaign (nil: any).
func (o *Orchestrator) CampaignTeams(id string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := o.campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	return slices.Clone(c.cfg.Teams), nil
}
