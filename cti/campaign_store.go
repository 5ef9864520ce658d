package cti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/campaigns"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/queue/dialer"
)

// Campaigns defined over the REST API (package campaigns, stored in cti/store) reach
// the runner through a CampaignCatalog: a campaign the runner does not know yet is
// loaded from it on first use (campaign.start, stats, manual dial), its lifecycle
// changes are written back, and on start-up the campaigns that were running or paused
// resume. StoreCampaigns is the catalog, ContactSource and AttemptSink over the store.

// ErrCampaignOver: the stored campaign is finished or stopped; it cannot run again.
var ErrCampaignOver = errors.New("cti: campaign is finished or stopped")

// CampaignDef is a stored campaign as the runner registers it.
type CampaignDef struct {
	Config CampaignConfig
	Agents []queue.AgentID // assigned agents (engine ids)
	Queue  queue.QueueID   // or the members of this queue
	State  string          // stored lifecycle state (draft, running, paused, ...)
}

// CampaignCatalog is where the runner finds campaigns and records their state.
type CampaignCatalog interface {
	LoadCampaign(ctx context.Context, id string) (CampaignDef, error)
	// CampaignState records a lifecycle change (to: draft, running, paused, finished,
	// stopped). It must not block for long: it runs on the campaign's actor.
	CampaignState(ctx context.Context, id, to string) error
	// ActiveCampaigns lists the ids of the stored campaigns that are running or paused.
	ActiveCampaigns(ctx context.Context) ([]string, error)
}

// SetCampaignCatalog connects the runner to the stored campaigns (call before Run).
func (o *Orchestrator) SetCampaignCatalog(c CampaignCatalog) {
	o.camps.mu.Lock()
	defer o.camps.mu.Unlock()
	o.camps.catalog = c
}

func (o *Orchestrator) catalog() CampaignCatalog {
	o.camps.mu.Lock()
	defer o.camps.mu.Unlock()
	return o.camps.catalog
}

// manualCampaign is the hidden campaign that places agents' manual dials without a
// campaign_id (not a valid stored campaign id, never broadcast).
const manualCampaign = "_manual"

// EnableManualDial lets agents dial without a campaign (call.dial without
// campaign_id) through calls.external_endpoint, each number normalised and checked
// by check (the internal do-not-call list: campaigns.DNC.CheckDial with scope "")
// first. Needs calls.external_endpoint.
func (o *Orchestrator) EnableManualDial(check func(number string) (string, error)) error {
	if o.cfg.ExternalEndpoint == "" || check == nil {
		return fmt.Errorf("%w: manual dial needs calls.external_endpoint and a do-not-call check", ErrInvalidConfig)
	}
	o.camps.mu.Lock()
	defer o.camps.mu.Unlock()
	o.camps.manualCheck = check
	return nil
}

func (o *Orchestrator) manualDialEnabled() bool {
	o.camps.mu.Lock()
	defer o.camps.mu.Unlock()
	return o.camps.manualCheck != nil
}

// manualConfig is the hidden campaign of manual dials.
func (o *Orchestrator) manualConfig() CampaignConfig {
	o.camps.mu.Lock()
	check := o.camps.manualCheck
	o.camps.mu.Unlock()
	all := []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
	return CampaignConfig{Name: "Manual dial", Endpoint: o.cfg.ExternalEndpoint, CallerID: o.cfg.CallbackCallerID, CheckDial: check,
		Dialer: dialer.Config{ID: manualCampaign, Mode: dialer.Progressive,
			Windows: []dialer.Window{{Days: all, From: 0, To: 24 * time.Hour}}}}
}

// campaign returns the actor of a campaign, registering a stored one on first use.
func (o *Orchestrator) campaign(ctx context.Context, id string) (*campaignActor, error) {
	c, err := o.camps.get(id)
	if err == nil || !errors.Is(err, ErrUnknownCampaign) {
		return c, err
	}
	if id == manualCampaign && o.manualDialEnabled() {
		if err := o.AddCampaign(o.manualConfig()); err != nil && !errors.Is(err, ErrCampaignExists) {
			return nil, err
		}
		return o.camps.get(id)
	}
	cat := o.catalog()
	if cat == nil {
		return nil, err
	}
	def, lerr := cat.LoadCampaign(ctx, id)
	if lerr != nil {
		if errors.Is(lerr, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %q", ErrUnknownCampaign, id)
		}
		return nil, lerr
	}
	if err := o.registerCampaign(ctx, def); err != nil {
		return nil, err
	}
	return o.camps.get(id)
}

// registerCampaign adds a stored campaign to the runner and its agents to the engine.
func (o *Orchestrator) registerCampaign(ctx context.Context, def CampaignDef) error {
	id := def.Config.Dialer.ID
	if err := o.engine(ctx, func(e *queue.Engine, _ time.Time) ([]queue.Decision, error) {
		_, unknown, err := e.AssignCampaign(id, def.Agents, def.Queue)
		if len(unknown) > 0 {
			o.log.Warn().Str("campaign", id).Interface("agents", unknown).Msg("campaign agents not configured in agents: (left out)")
		}
		return nil, err
	}); err != nil {
		return fmt.Errorf("campaign %s agents: %w", id, err)
	}
	if err := o.AddCampaign(def.Config); err != nil && !errors.Is(err, ErrCampaignExists) {
		return err
	}
	return nil
}

// ResumeCampaigns restarts the stored campaigns that were running or paused when
// ctid stopped (call once Run has started). A campaign that cannot resume is logged
// and the others go on; the errors are returned together.
func (o *Orchestrator) ResumeCampaigns(ctx context.Context) error {
	cat := o.catalog()
	if cat == nil {
		return nil
	}
	if err := o.waitRunning(ctx); err != nil {
		return err
	}
	ids, err := cat.ActiveCampaigns(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		c, err := o.campaign(ctx, id)
		if err == nil {
			err = c.ask(ctx, campResume{})
		}
		if err != nil {
			o.log.Error().Err(err).Str("campaign", id).Msg("campaign not resumed")
			errs = append(errs, fmt.Errorf("campaign %s: %w", id, err))
			continue
		}
		o.log.Info().Str("campaign", id).Msg("campaign resumed after restart")
	}
	if err := o.sweepManualLines(ctx); err != nil { // campaign_sweep.go
		o.log.Error().Err(err).Msg("manual dials of an earlier run not checked")
		errs = append(errs, fmt.Errorf("manual dials: %w", err))
	}
	return errors.Join(errs...)
}

// waitRunning waits until Run has started (or ctx ends).
func (o *Orchestrator) waitRunning(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		o.mu.Lock()
		running := o.runCtx != nil
		o.mu.Unlock()
		if running {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// campResume starts a registered campaign in the state the store has for it.
type campResume struct{}

func (c *campaignActor) resume(ctx context.Context) error {
	cat := c.o.catalog()
	if cat == nil || c.d.State() != dialer.Draft {
		return nil // nothing stored, or started already (a call of it taken over: campaign_adopt.go)
	}
	def, err := cat.LoadCampaign(ctx, c.id)
	if err != nil {
		return err
	}
	if c.lease.leaser != nil && !c.lease.held && !c.takeLease(ctx, c.o.now()) {
		// standby already (a take-over asked first): a start now would only be
		// stored for the node that runs it, un-pausing a paused campaign
		// (standbyCommand); checkLease follows the stored state on takeover
		return nil
	}
	if err := c.lifecycle(ctx, campLifecycle{start: true}); err != nil {
		return err
	}
	if c.d.State() == dialer.Draft {
		return nil // standby: another node holds the lease (checkLease follows the stored state on takeover)
	}
	if def.State == "paused" {
		return c.lifecycle(ctx, campLifecycle{in: dialer.InPause})
	}
	return nil
}

// stateChanged writes the dialer's state to the catalog when it moved.
func (c *campaignActor) stateChanged(ctx context.Context) {
	st := c.d.State().String()
	if st == c.savedState || c.d.State() == dialer.Draft {
		return // nothing moved (a draft is the store's own state: never written back)
	}
	cat := c.o.catalog()
	if cat == nil {
		c.savedState = st
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := cat.CampaignState(sctx, c.id, st); err != nil {
		c.log.Error().Err(err).Str("state", st).Msg("campaign state not saved")
		return
	}
	c.savedState = st
}

// restore gives the dialer a loaded contact's history from an earlier run.
func (c *campaignActor) restore(x CampaignContact) {
	for _, h := range x.History {
		if err := c.d.Restore(h); err != nil {
			c.log.Warn().Err(err).Str("contact", x.ID).Msg("contact history not restored")
		}
	}
	if x.CallbackAt.IsZero() {
		return
	}
	cb := dialer.CallbackRequest{At: x.CallbackAt, Agent: queue.AgentID(x.CallbackAgent)}
	if err := c.d.ScheduleCallback(dialer.ContactID(x.ID), cb); err != nil {
		c.log.Warn().Err(err).Str("contact", x.ID).Msg("pending callback not restored")
	}
}

// --- the store-backed catalog, contacts and attempts ----------------------------------

// CampaignStore is what StoreCampaigns needs of the store (*store.Store).
type CampaignStore interface {
	Campaign(ctx context.Context, id string) (store.Campaign, error)
	Campaigns(ctx context.Context) ([]store.Campaign, error)
	SetCampaignState(ctx context.Context, id, from, to string) error
	EachContact(ctx context.Context, campaignID string, fn func(store.Contact) error) error
	EachCampaignAttempt(ctx context.Context, campaignID string, fn func(store.CampaignAttempt) error) error
	CampaignCallbacks(ctx context.Context, campaignID string, status store.CallbackStatus) ([]store.CampaignCallback, error)
	ActiveLockouts(ctx context.Context, now time.Time) ([]store.Lockout, error)
	Enqueue(rec store.Record) error
}

// StoreCampaignsParams are StoreCampaigns' dependencies.
type StoreCampaignsParams struct {
	Store CampaignStore
	DNC   *campaigns.DNC // every dial is checked against it
	// DefaultRegion reads manually dialled numbers without a country code when the
	// campaign has no default_region (calls.default_region).
	DefaultRegion string
	// Tick is the campaigns' planning period (default 1 s).
	Tick time.Duration
	Log  zerolog.Logger
	Now  func() time.Time // default time.Now
	// NodeID names this ctid node in campaign leases (default: host name, process id
	// and a random suffix); LeaseTTL is how long a lease holds without renewal
	// (default 15 s; renewed every third of it). Several nodes on one database dial
	// each campaign from one node only.
	NodeID   string
	LeaseTTL time.Duration
}

// StoreCampaigns is the CampaignCatalog, ContactSource and AttemptSink over the store.
type StoreCampaigns struct {
	p       StoreCampaignsParams
	mu      sync.Mutex
	lockout map[string]time.Duration // campaign -> lockout after a safe-harbour abandon
	final   map[string]map[string]bool
	cut     map[string]time.Duration // campaign -> retry after a call cut by a restart (its no-answer rule)
	open    map[string][]OpenLine    // campaign -> open lines seen by the last CampaignContacts (campaign_sweep.go)
}

// NewStoreCampaigns checks the params.
func NewStoreCampaigns(p StoreCampaignsParams) (*StoreCampaigns, error) {
	if p.Store == nil || p.DNC == nil {
		return nil, fmt.Errorf("%w: store campaigns: store and DNC are required", ErrInvalidConfig)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.LeaseTTL == 0 {
		p.LeaseTTL = 15 * time.Second
	}
	if p.LeaseTTL < 30*time.Millisecond {
		return nil, fmt.Errorf("%w: store campaigns: lease ttl %s < 30ms", ErrInvalidConfig, p.LeaseTTL)
	}
	if p.NodeID == "" {
		p.NodeID = defaultNodeID()
	}
	return &StoreCampaigns{p: p, lockout: map[string]time.Duration{}, final: map[string]map[string]bool{},
		cut: map[string]time.Duration{}, open: map[string][]OpenLine{}}, nil
}

// LoadCampaign implements CampaignCatalog: the stored definition as the runner's config,
// every dial through the DNC check.
func (s *StoreCampaigns) LoadCampaign(ctx context.Context, id string) (CampaignDef, error) {
	sc, err := s.p.Store.Campaign(ctx, id)
	if err != nil {
		return CampaignDef{}, err
	}
	if sc.State == "finished" || sc.State == "stopped" {
		return CampaignDef{}, fmt.Errorf("%w: %s is %s", ErrCampaignOver, id, sc.State)
	}
	var d campaigns.Definition
	if err := json.Unmarshal(sc.Config, &d); err != nil {
		return CampaignDef{}, fmt.Errorf("%w: campaign %s definition: %w", ErrInvalidConfig, id, err)
	}
	d.ID = sc.ID
	dc, err := d.DialerConfig(s.p.DNC.For(id))
	if err != nil {
		return CampaignDef{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	region := d.DefaultRegion
	if region == "" {
		region = s.p.DefaultRegion
	}
	cfg := CampaignConfig{Dialer: dc, Name: d.Name, Endpoint: d.Endpoint, CallerID: d.CallerID, Script: d.Script, Tick: s.p.Tick,
		CheckDial: s.checkDial(id, region),
		OnDNC: func(agent, number, code string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return s.p.DNC.OnDisposition(ctx, campaigns.DispositionEvent{Campaign: id, Number: number, Agent: agent, Code: code, DNC: true})
		},
	}
	if d.SafeHarbourMedia != "" {
		cfg.SafeHarbourMedia = []string{d.SafeHarbourMedia}
	}
	for _, x := range d.Dispositions {
		if x.Label != "" {
			if cfg.DispositionLabels == nil {
				cfg.DispositionLabels = map[string]string{}
			}
			cfg.DispositionLabels[x.Code] = x.Label
		}
	}
	final := map[string]bool{}
	for _, x := range dc.Dispositions {
		if x.Final || x.DNC || x.Sale || x.BadNum {
			final[x.Code] = true
		}
	}
	s.mu.Lock()
	s.lockout[id] = dc.WithDefaults().Lockout
	s.cut[id] = dc.WithDefaults().Retry.NoAnswer.After
	s.final[id] = final
	s.mu.Unlock()
	return CampaignDef{Config: cfg, Agents: d.AgentIDs(), Queue: queue.QueueID(d.Queue), State: sc.State}, nil
}

// checkDial is the do-not-call check of manual dials in scope (a campaign id, or
// store.DNCGlobal for dials without a campaign), in the runner's errors.
func (s *StoreCampaigns) checkDial(scope, region string) func(string) (string, error) {
	return func(number string) (string, error) {
		n, err := s.p.DNC.CheckDial(scope, number, region)
		switch {
		case errors.Is(err, campaigns.ErrDNC):
			return n, fmt.Errorf("%w: %w", ErrDoNotCall, err)
		case err != nil:
			return "", fmt.Errorf("%w: %w", ErrCallState, err)
		}
		return n, nil
	}
}

// ManualCheck is the check of manual dials without a campaign (EnableManualDial):
// the internal do-not-call list, numbers read in DefaultRegion.
func (s *StoreCampaigns) ManualCheck(number string) (string, error) {
	return s.checkDial(store.DNCGlobal, s.p.DefaultRegion)(number)
}

// CampaignState implements CampaignCatalog.
func (s *StoreCampaigns) CampaignState(ctx context.Context, id, to string) error {
	sc, err := s.p.Store.Campaign(ctx, id)
	if err != nil {
		return err
	}
	if sc.State == to {
		return nil
	}
	return s.p.Store.SetCampaignState(ctx, id, sc.State, to)
}

// ActiveCampaigns implements CampaignCatalog.
func (s *StoreCampaigns) ActiveCampaigns(ctx context.Context) ([]string, error) {
	all, err := s.p.Store.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range all {
		if c.State == "running" || c.State == "paused" {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// CampaignContacts implements ContactSource: the campaign's imported contacts with
// what an earlier run did (resume after a restart): contacts closed by a final
// disposition are left out; the others carry their attempts per number, lockouts in
// force and a pending callback not dialled since it was promised.
func (s *StoreCampaigns) CampaignContacts(ctx context.Context, campaign string) ([]CampaignContact, error) {
	h, err := s.history(ctx, campaign)
	if err != nil {
		return nil, err
	}
	var out []CampaignContact
	err = s.p.Store.EachContact(ctx, campaign, func(c store.Contact) error {
		if h.closed[c.ID] {
			return nil
		}
		dc := campaigns.DialerContact(c)
		x := CampaignContact{ID: c.ID, Name: strings.TrimSpace(c.FirstName + " " + c.LastName), Numbers: dc.Numbers,
			Zone: dc.Zone, NumberZones: dc.NumberZones, Fields: c.Fields}
		for _, n := range dc.Numbers {
			k := c.ID + "\x00" + n
			if h.attempts[k] > 0 || !h.locked[n].IsZero() || !h.next[k].IsZero() || h.dead[k] {
				x.History = append(x.History, dialer.NumberHistory{Contact: dialer.ContactID(c.ID), Number: n,
					Attempts: h.attempts[k], NextAt: h.next[k], Dead: h.dead[k], LockedUntil: h.locked[n]})
			}
		}
		if cb, ok := h.callback[c.ID]; ok && !h.lastPlaced[c.ID].After(cb.Created) {
			x.CallbackAt, x.CallbackAgent = cb.Due, cb.Agent
		}
		out = append(out, x)
		return nil
	})
	if err == nil {
		s.mu.Lock()
		s.open[campaign] = h.open
		s.mu.Unlock()
	}
	if err == nil && (len(h.closed) > 0 || len(h.attempts) > 0) {
		s.p.Log.Info().Str("campaign", campaign).Int("closed", len(h.closed)).Int("numbers_with_history", len(h.attempts)).
			Int("lockouts", len(h.locked)).Int("callbacks", len(h.callback)).Msg("campaign history from an earlier run")
	}
	return out, err
}

type campaignHistory struct {
	closed     map[string]bool
	attempts   map[string]int       // contact \x00 number -> dials
	next       map[string]time.Time // contact \x00 number -> retry timer of its last attempt
	dead       map[string]bool      // contact \x00 number -> never dialled again
	lastPlaced map[string]time.Time // contact -> last dial
	locked     map[string]time.Time // number -> lockout end
	callback   map[string]store.CampaignCallback
	open       []OpenLine // placed, never answered, connected or ended
}

// history reads an earlier run's attempts (all of them, streamed), lockouts and
// pending callbacks.
func (s *StoreCampaigns) history(ctx context.Context, campaign string) (campaignHistory, error) {
	s.mu.Lock()
	final, cut := s.final[campaign], s.cut[campaign]
	s.mu.Unlock()
	if sy, ok := s.p.Store.(interface{ Sync(context.Context) error }); ok {
		// this node's queued attempt records first (a lease taken back reloads)
		if err := sy.Sync(ctx); err != nil {
			return campaignHistory{}, err
		}
	}
	h := campaignHistory{closed: map[string]bool{}, attempts: map[string]int{}, next: map[string]time.Time{},
		dead: map[string]bool{}, lastPlaced: map[string]time.Time{}, locked: map[string]time.Time{},
		callback: map[string]store.CampaignCallback{}}
	err := s.p.Store.EachCampaignAttempt(ctx, campaign, func(a store.CampaignAttempt) error {
		if final[a.Disposition] {
			h.closed[a.ContactID] = true
		}
		if a.Outcome == "skipped" {
			return nil // a preview skipped, never dialled
		}
		k := a.ContactID + "\x00" + a.Number
		h.attempts[k]++
		switch {
		case !a.RetryAt.IsZero(): // attempts come oldest first: the last timer wins
			h.next[k] = a.RetryAt
		case a.Ended.IsZero() && a.Outcome == "" && a.Disposition == "" && cut > 0:
			// a call cut by the restart (ringing or talking when ctid stopped): not
			// dialled again at once, but as after no answer
			h.next[k] = a.Placed.Add(cut)
		}
		if l, ok := openLine(a); ok {
			h.open = append(h.open, l)
		}
		if a.NumberDead {
			h.dead[k] = true
		}
		if a.Placed.After(h.lastPlaced[a.ContactID]) {
			h.lastPlaced[a.ContactID] = a.Placed
		}
		return nil
	})
	if err != nil {
		return h, err
	}
	ls, err := s.p.Store.ActiveLockouts(ctx, s.p.Now())
	if err != nil {
		return h, err
	}
	for _, l := range ls {
		h.locked[l.Number] = l.Until
	}
	cbs, err := s.p.Store.CampaignCallbacks(ctx, campaign, store.CallbackPending)
	if err != nil {
		return h, err
	}
	for _, cb := range cbs {
		if cur, ok := h.callback[cb.ContactID]; !ok || cb.Created.After(cur.Created) {
			h.callback[cb.ContactID] = cb
		}
	}
	return h, nil
}

// RecordAttempt implements AttemptSink: each step updates the attempt's row (queued
// to the store's writer); a safe-harbour abandon also saves the number's lockout and
// a callback disposition the campaign callback.
func (s *StoreCampaigns) RecordAttempt(r AttemptRecord) error {
	if r.Attempt == "" {
		return nil // a contact not loaded: counted in the campaign's stats, not an attempt
	}
	contact := r.Contact
	if contact == "" {
		contact = "manual"
	}
	// The dialer numbers attempts from 1 in each run; the call id is unique across runs.
	id := r.Attempt
	if r.CallID != "" {
		id = r.CallID
	}
	a := store.CampaignAttempt{ID: id, CampaignID: r.Campaign, ContactID: contact, Number: r.Number, Agent: r.Agent,
		InteractionID: r.CallID, RetryAt: r.NumberRetryAt, NumberDead: r.NumberDead}
	var extra store.Record
	switch r.Event {
	case AttemptDialled:
		a.Placed = r.At
	case AttemptAnswered:
		a.Answered = r.At
	case AttemptConnected:
		a.Connected = r.At
	case AttemptOutcome:
		a.Outcome, a.Ended = r.Outcome, r.At
	case AttemptSkipped:
		a.Outcome, a.Ended = "skipped", r.At
	case AttemptSafeHarbour:
		a.Outcome, a.Ended = "abandoned", r.At
		s.mu.Lock()
		d := s.lockout[r.Campaign]
		s.mu.Unlock()
		if d <= 0 {
			d = 72 * time.Hour
		}
		extra = store.Lockout{Number: r.Number, CampaignID: r.Campaign, Until: r.At.Add(d), Reason: "safe-harbour abandon", Created: r.At}
	case AttemptDisposition:
		a.Disposition, a.Notes = r.Disposition, r.Notes
		if !r.CallbackAt.IsZero() {
			extra = store.CampaignCallback{ID: id + "-cb", CampaignID: r.Campaign, ContactID: contact, Agent: r.CallbackAgent,
				Due: r.CallbackAt, Status: store.CallbackPending, CreatedBy: r.Agent, Created: r.At}
		}
	default:
		return nil
	}
	if err := s.p.Store.Enqueue(a); err != nil {
		return err
	}
	if extra != nil {
		return s.p.Store.Enqueue(extra)
	}
	return nil
}

// OpenLines implements OpenLineSource: the attempts the last CampaignContacts of
// campaign found placed and never answered, connected or ended (handed over once).
func (s *StoreCampaigns) OpenLines(campaign string) []OpenLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.open[campaign]
	delete(s.open, campaign)
	return out
}

// LineProgressed tells whether the attempt id of campaign (its contact's) was
// answered, connected or ended since it was read as open (campaign_sweep.go); an
// attempt not found (or a store that cannot list them) has not.
func (s *StoreCampaigns) LineProgressed(ctx context.Context, campaign, contact, id string) (bool, error) {
	r, ok := s.p.Store.(interface {
		CampaignAttempts(ctx context.Context, campaignID, contactID string, limit int) ([]store.CampaignAttempt, error)
	})
	if !ok {
		return false, nil
	}
	list, err := r.CampaignAttempts(ctx, campaign, contact, 10_000)
	if err != nil {
		return false, err
	}
	for _, a := range list {
		if a.ID == id {
			return !a.Answered.IsZero() || !a.Connected.IsZero() || !a.Ended.IsZero() || a.Outcome != "" || a.Disposition != "", nil
		}
	}
	return false, nil
}

// openLine: an attempt placed and never answered, connected or ended.
func openLine(a store.CampaignAttempt) (OpenLine, bool) {
	if !a.Ended.IsZero() || a.Outcome != "" || a.Disposition != "" || !a.Answered.IsZero() || !a.Connected.IsZero() ||
		a.Placed.IsZero() || a.InteractionID == "" {
		return OpenLine{}, false
	}
	return OpenLine{CallID: a.InteractionID, Attempt: a.ID, Contact: a.ContactID, Number: a.Number, Placed: a.Placed}, true
}

// ReadOpenLines implements OpenLineReader: the campaign's attempts placed and never
// answered, connected or ended, read now (the manual-dial campaign, which loads no
// contacts).
func (s *StoreCampaigns) ReadOpenLines(ctx context.Context, campaign string) ([]OpenLine, error) {
	if sy, ok := s.p.Store.(interface{ Sync(context.Context) error }); ok {
		if err := sy.Sync(ctx); err != nil {
			return nil, err
		}
	}
	var out []OpenLine
	err := s.p.Store.EachCampaignAttempt(ctx, campaign, func(a store.CampaignAttempt) error {
		if l, ok := openLine(a); ok {
			out = append(out, l)
		}
		return nil
	})
	return out, err
}
