package dialer

import (
	"container/heap"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/ctid/ctid/queue"
)

// ContactID names a contact of a campaign list. AttemptID names one dial.
type (
	ContactID string
	AttemptID string
)

// Contact is one list entry as imported (numbers already normalised to E.164).
type Contact struct {
	ID      ContactID
	Numbers []string // E.164, in the order they are tried
	Zone    string   // IANA zone of the contact; "" = Config.DefaultZone
	// NumberZones optionally gives each number its own zone (same length as Numbers;
	// "" = the contact's zone), e.g. a mobile abroad.
	NumberZones []string
}

// Dial is one line to originate.
type Dial struct {
	Attempt     AttemptID
	Contact     ContactID
	Number      string // E.164
	NumberIndex int
	Zone        string
	// Agent is the agent reserved for this line (queue.Engine.DialerReserve it now);
	// "" for a pooled predictive line, connected to any free agent on answer.
	Agent       queue.AgentID
	Callback    bool // a scheduled callback
	RingTimeout time.Duration
}

// EffectKind says what the orchestrator must do.
type EffectKind uint8

// Effects.
const (
	EffNone        EffectKind = iota
	EffConnect                // connect Agent (reserved) to the answered call now, then Connected
	EffFindAgent              // answered pooled line: connect any free agent before Deadline, then Connected
	EffSafeHarbour            // no agent within SafeHarbour: play the safe-harbour message, hang up (abandon counted)
	EffHangup                 // ring timeout: hang the line up, then report NoAnswer
	EffRetry                  // the contact will be tried again at At (Agent, if set, is released: DialerRelease)
	EffDone                   // the contact is finished (Reason); Agent, if set, is released
	EffAutoDial               // preview auto-dial: originate Dial now
	EffCallback               // a callback was scheduled at At for Agent ("" = shared)
)

func (k EffectKind) String() string {
	switch k {
	case EffNone:
		return "none"
	case EffConnect:
		return "connect"
	case EffFindAgent:
		return "find-agent"
	case EffSafeHarbour:
		return "safe-harbour"
	case EffHangup:
		return "hangup"
	case EffRetry:
		return "retry"
	case EffDone:
		return "done"
	case EffAutoDial:
		return "auto-dial"
	case EffCallback:
		return "callback"
	}
	return "unknown"
}

// Effect is one thing the orchestrator must do after an input.
type Effect struct {
	Kind     EffectKind
	Attempt  AttemptID
	Contact  ContactID
	Number   string
	Agent    queue.AgentID
	Deadline time.Time // EffFindAgent: connect before
	At       time.Time // EffRetry / EffCallback: when
	Reason   string    // EffDone: why
	Dial     Dial      // EffAutoDial
	// NumberAt: after a line's end (EffRetry, EffDone, EffSafeHarbour, or a
	// disposition's effect), when Number may be dialled again (its retry timer; zero:
	// no timer); NumberDead: Number is never dialled again. Persist both to resume
	// the campaign after a restart (NumberHistory).
	NumberAt   time.Time
	NumberDead bool
}

// Plan is the answer to Dialer.Plan.
type Plan struct {
	Dials    []Dial
	Pace     PaceDecision
	State    State
	Finished bool // the list is exhausted: the campaign moved to Finished
}

// CallbackRequest schedules a callback from a disposition (or the API).
type CallbackRequest struct {
	At    time.Time     // the instant (use LocalTime to build it in the contact's zone)
	Agent queue.AgentID // personal callback for this agent; "" = any agent
}

// Stats are a campaign's progress counters.
type Stats struct {
	State                               State
	Contacts, Pending, InProgress, Done int
	Dials, Humans, Machines, Abandons   int
	Sales, Callbacks                    int
	AbandonRate, ConnectRate            float64
	LiveAnswered                        int // in the rolling abandon window
	Ringing, Waiting                    int
	AnswerDelay, AHT                    time.Duration // measured means
}

type cState uint8

const (
	cNew cState = iota
	cDue
	cCallback
	cBusy
	cDone
)

type number struct {
	e164                string
	zone                string
	loc                 *time.Location
	attempts            int
	nextAt, lockedUntil time.Time
	dead, dnc           bool
}

type contact struct {
	id       ContactID
	zone     string
	nums     []number
	attempts int
	st       cState
	reason   string
	due      time.Time
	hidx     int
	skips    int
}

type callback struct {
	c     *contact
	at    time.Time
	agent queue.AgentID
}

type aState uint8

const (
	aNew aState = iota // created, not yet previewed or dialled
	aPreview
	aRinging
	aAnswered
	aConnected
)

type attempt struct {
	id                                 AttemptID
	c                                  *contact
	ni                                 int
	agent                              queue.AgentID
	st                                 aState
	shown, placed, answered, connected time.Time
	callback, hangupSent, hit          bool // hit: answered by a person
	idx                                int  // position in Dialer.live
}

// Dialer is one campaign's list and pacing logic. It is pure and single-goroutine:
// drive it from the goroutine that owns it (e.g. the engine loop), passing now.
type Dialer struct {
	cfg   Config
	state State
	locs  map[string]*time.Location

	contacts map[ContactID]*contact
	newQ     []*contact
	newHead  int
	due      dueHeap
	cbs      []*callback // sorted by at

	attempts map[AttemptID]*attempt
	live     []*attempt
	held     map[queue.AgentID]*attempt
	seq      int64
	dnc      map[string]bool

	abandon *AbandonTracker
	cohort  []*attempt // dialled attempts in placement order, not yet sampled
	hits    []bool     // ring of the last ConnectWindow sampled attempts: live answer?
	hitPos  int
	hitN    int
	hitSum  int
	ansDly  float64 // seconds, EWMA
	aht     float64 // seconds, EWMA of Connected → Disposition (talk + wrap-up)

	ringing, waiting int
	previews         int
	st               Stats
	qbuf             []float64
}

// New returns a campaign dialer in Draft.
func New(cfg Config) (*Dialer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Dialer{
		cfg:      cfg,
		locs:     map[string]*time.Location{},
		contacts: map[ContactID]*contact{},
		attempts: map[AttemptID]*attempt{},
		held:     map[queue.AgentID]*attempt{},
		dnc:      map[string]bool{},
		abandon:  NewAbandonTracker(cfg.AbandonWindow),
		hits:     make([]bool, cfg.Pacing.ConnectWindow),
		ansDly:   cfg.Pacing.PriorAnswerDelay.Seconds(),
		aht:      cfg.Pacing.PriorAHT.Seconds(),
	}
	if _, err := d.loc(cfg.DefaultZone); err != nil {
		return nil, err
	}
	return d, nil
}

// Config returns the defaulted config.
func (d *Dialer) Config() Config { return d.cfg }

// State returns the lifecycle state.
func (d *Dialer) State() State { return d.state }

// Apply feeds a lifecycle input (start, pause, resume, finish, stop).
func (d *Dialer) Apply(in Input) error {
	to, ok := next(d.state, in)
	if !ok {
		return &TransitionError{Campaign: d.cfg.ID, From: d.state, Input: in}
	}
	d.state = to
	return nil
}

func (d *Dialer) loc(zone string) (*time.Location, error) {
	if l, ok := d.locs[zone]; ok {
		return l, nil
	}
	l, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrUnknownZone, zone, err)
	}
	d.locs[zone] = l
	return l, nil
}

// LocalTime is the instant of wall-clock time y-m-d h:mi in zone (for callbacks "at
// 10:00 the contact's time").
func LocalTime(zone string, y int, m time.Month, day, h, mi int) (time.Time, error) {
	l, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q: %v", ErrUnknownZone, zone, err)
	}
	return time.Date(y, m, day, h, mi, 0, 0, l), nil
}

func validE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// AddContacts loads contacts, all or none: the first bad contact (empty or repeated
// id, no number, a number not in E.164, an unknown zone) fails the whole batch.
func (d *Dialer) AddContacts(cs []Contact) error {
	seen := make(map[ContactID]bool, len(cs))
	for i, c := range cs {
		bad := func(f string, a ...any) error {
			return fmt.Errorf("%w: #%d %q: %s", ErrBadContact, i, c.ID, fmt.Sprintf(f, a...))
		}
		if c.ID == "" {
			return bad("empty id")
		}
		if _, dup := d.contacts[c.ID]; dup || seen[c.ID] {
			return fmt.Errorf("%w: %q", ErrDuplicateContact, c.ID)
		}
		seen[c.ID] = true
		if len(c.Numbers) == 0 {
			return bad("no number")
		}
		if c.NumberZones != nil && len(c.NumberZones) != len(c.Numbers) {
			return bad("%d number zones for %d numbers", len(c.NumberZones), len(c.Numbers))
		}
		for j, n := range c.Numbers {
			if !validE164(n) {
				return bad("number %q is not E.164", n)
			}
			if c.NumberZones != nil && c.NumberZones[j] != "" {
				if _, err := d.loc(c.NumberZones[j]); err != nil {
					return bad("%v", err)
				}
			}
		}
		if c.Zone != "" {
			if _, err := d.loc(c.Zone); err != nil {
				return bad("%v", err)
			}
		}
	}
	for _, c := range cs {
		zone := c.Zone
		if zone == "" {
			zone = d.cfg.DefaultZone
		}
		x := &contact{id: c.ID, zone: zone, hidx: -1, nums: make([]number, len(c.Numbers))}
		for j, n := range c.Numbers {
			z := zone
			if c.NumberZones != nil && c.NumberZones[j] != "" {
				z = c.NumberZones[j]
			}
			l, err := d.loc(z)
			if err != nil { // validated above
				return err
			}
			x.nums[j] = number{e164: n, zone: z, loc: l}
		}
		d.contacts[c.ID] = x
		d.newQ = append(d.newQ, x)
	}
	return nil
}

// MarkDNC puts a number on the campaign's own do-not-call list.
func (d *Dialer) MarkDNC(e164 string) { d.dnc[e164] = true }

func (d *Dialer) isDNC(e164 string) bool {
	return d.dnc[e164] || (d.cfg.IsDNC != nil && d.cfg.IsDNC(e164))
}

// pick returns the number of c to dial now (-1: none), else the earliest instant one
// may be dialled (zero: never). guaranteed: an agent is reserved for the line, so the
// abandon lockout does not apply.
func (d *Dialer) pick(c *contact, now time.Time, guaranteed bool) (int, time.Time) {
	return d.pickFor(c, now, guaranteed, false)
}

// pickFor is pick; for a callback the retry times do not apply (the contact asked to
// be called then), everything else does: DNC, dead numbers, attempt caps, window.
func (d *Dialer) pickFor(c *contact, now time.Time, guaranteed, callback bool) (int, time.Time) {
	if c.attempts >= d.cfg.MaxAttemptsPerContact {
		return -1, time.Time{}
	}
	var best time.Time
	for i := range c.nums {
		n := &c.nums[i]
		if n.dead || n.dnc || n.attempts >= d.cfg.MaxAttemptsPerNumber {
			continue
		}
		if d.isDNC(n.e164) {
			continue
		}
		t := now
		if !callback && n.nextAt.After(t) {
			t = n.nextAt
		}
		if !guaranteed && n.lockedUntil.After(t) {
			t = n.lockedUntil
		}
		open, ok := NextOpen(d.cfg.Windows, t, n.loc)
		if !ok {
			continue
		}
		if !open.After(now) {
			return i, time.Time{}
		}
		if best.IsZero() || open.Before(best) {
			best = open
		}
	}
	return -1, best
}

// park files c for later at at, or finishes it when at is zero.
func (d *Dialer) park(c *contact, at time.Time) {
	if at.IsZero() {
		d.finish(c, "exhausted")
		return
	}
	c.st, c.due = cDue, at
	heap.Push(&d.due, c)
}

func (d *Dialer) finish(c *contact, reason string) {
	c.st, c.reason = cDone, reason
	d.st.Done++
}

func (d *Dialer) guaranteedMode() bool { return d.cfg.Mode != Predictive }

// reschedule files a contact whose attempt ended.
func (d *Dialer) reschedule(c *contact, now time.Time) (time.Time, bool) {
	i, at := d.pick(c, now, d.guaranteedMode())
	if i >= 0 {
		at = now
	}
	d.park(c, at)
	return at, !at.IsZero()
}

// selectNext pops the next contact to dial now from the retries that are due, then the
// new contacts; contacts that cannot be dialled now are parked at their next chance.
func (d *Dialer) selectNext(now time.Time, guaranteed bool) (*contact, int) {
	for len(d.due) > 0 && !d.due[0].due.After(now) {
		c, ok := heap.Pop(&d.due).(*contact)
		if !ok {
			break
		}
		if i, at := d.pick(c, now, guaranteed); i >= 0 {
			return c, i
		} else {
			d.park(c, at)
		}
	}
	for d.newHead < len(d.newQ) {
		c := d.newQ[d.newHead]
		d.newQ[d.newHead] = nil
		d.newHead++
		if d.newHead > 1024 && d.newHead*2 > len(d.newQ) {
			d.newQ = append(d.newQ[:0], d.newQ[d.newHead:]...)
			d.newHead = 0
		}
		if i, at := d.pick(c, now, guaranteed); i >= 0 {
			return c, i
		} else {
			d.park(c, at)
		}
	}
	return nil, -1
}

// dueCallback finds the first due callback that agent may take (agent "" = any of
// free, returned as the agent). It removes it from the list.
func (d *Dialer) dueCallback(now time.Time, free func(queue.AgentID) bool, anyFree func() (queue.AgentID, bool)) (*callback, queue.AgentID, int) {
	for k := 0; k < len(d.cbs); k++ {
		cb := d.cbs[k]
		if cb.at.After(now) {
			break
		}
		var ag queue.AgentID
		switch {
		case cb.agent != "" && free(cb.agent):
			ag = cb.agent
		case cb.agent == "" || (d.cfg.CallbackFallback >= 0 && !now.Before(cb.at.Add(d.cfg.CallbackFallback))):
			a, ok := anyFree()
			if !ok {
				continue
			}
			ag = a
		default:
			continue
		}
		i, at := d.pickFor(cb.c, now, true, true)
		if i < 0 && at.IsZero() { // nothing can ever be dialled: drop the callback
			d.cbs = slices.Delete(d.cbs, k, k+1)
			k--
			d.finish(cb.c, "exhausted")
			continue
		}
		if i < 0 {
			continue // outside the window now; stays due
		}
		d.cbs = slices.Delete(d.cbs, k, k+1)
		return cb, ag, i
	}
	return nil, "", -1
}

func (d *Dialer) newAttempt(c *contact, ni int, agent queue.AgentID) *attempt {
	d.seq++
	a := &attempt{id: AttemptID(d.cfg.ID + "-" + strconv.FormatInt(d.seq, 10)), c: c, ni: ni, agent: agent, idx: len(d.live)}
	d.attempts[a.id] = a
	d.live = append(d.live, a)
	if agent != "" {
		d.held[agent] = a
	}
	c.st = cBusy
	return a
}

func (d *Dialer) dropAttempt(a *attempt) {
	delete(d.attempts, a.id)
	last := len(d.live) - 1
	d.live[a.idx] = d.live[last]
	d.live[a.idx].idx = a.idx
	d.live[last] = nil
	d.live = d.live[:last]
	if a.agent != "" && d.held[a.agent] == a {
		delete(d.held, a.agent)
	}
	switch a.st {
	case aPreview:
		d.previews--
	case aRinging:
		d.ringing--
	case aAnswered:
		d.waiting--
	}
}

// dialed moves an attempt to ringing and counts the attempt.
func (d *Dialer) dialed(a *attempt, now time.Time) Dial {
	if a.st == aPreview {
		d.previews--
	}
	a.st, a.placed = aRinging, now
	n := &a.c.nums[a.ni]
	n.attempts++
	a.c.attempts++
	d.ringing++
	d.st.Dials++
	d.cohort = append(d.cohort, a)
	return Dial{Attempt: a.id, Contact: a.c.id, Number: n.e164, NumberIndex: a.ni, Zone: n.zone,
		Agent: a.agent, Callback: a.callback, RingTimeout: d.cfg.RingTimeout}
}

// connectRate is the measured share of attempts that reached a live person, shrunk
// towards the prior with PriorWeight pseudo-attempts. An attempt is sampled only
// once its whole placement cohort has resolved (RingTimeout + 10 s after it was
// placed): sampling attempts as they finish would see fast failures (busy,
// congestion) before the answers and under-estimate the rate after a start or a
// pause, which over-dials.
func (d *Dialer) connectRate(now time.Time) float64 {
	cut := now.Add(-d.cfg.RingTimeout - 10*time.Second)
	n := 0
	for n < len(d.cohort) && !d.cohort[n].placed.After(cut) {
		d.sample(d.cohort[n].hit)
		d.cohort[n] = nil
		n++
	}
	if n > 0 {
		d.cohort = append(d.cohort[:0], d.cohort[n:]...)
	}
	w := float64(d.cfg.Pacing.PriorWeight)
	return (float64(d.hitSum) + w*d.cfg.Pacing.PriorConnectRate) / (float64(d.hitN) + w)
}

func (d *Dialer) sample(hit bool) {
	if d.hitN == len(d.hits) {
		if d.hits[d.hitPos] {
			d.hitSum--
		}
	} else {
		d.hitN++
	}
	d.hits[d.hitPos] = hit
	if hit {
		d.hitSum++
	}
	d.hitPos = (d.hitPos + 1) % len(d.hits)
}

// Horizon is how far ahead agents count as available for the lines placed now: the
// measured mean answer delay plus the safe-harbour time. Pass it to
// queue.Engine.AgentsLikelyFree.
func (d *Dialer) Horizon() time.Duration {
	return time.Duration(d.ansDly*float64(time.Second)) + d.cfg.SafeHarbour
}

// budgetAhead is how long after now a line placed now can still end in an abandon
// (ring timeout, then the safe-harbour time, with slack for the line's last events):
// the abandon budget counts only live-answered calls still in the window by then.
func (d *Dialer) budgetAhead() time.Duration {
	return d.cfg.RingTimeout + d.cfg.SafeHarbour + 10*time.Second
}

// inFlight lists, per ringing line, the probability p_i that it is answered by a
// person given it has rung for t_i (exponential answer delay with the measured mean
// D: p·e^(−t/D) / (p·e^(−t/D) + 1 − p)). The slice is reused.
func (d *Dialer) inFlight(now time.Time, p float64) []float64 {
	d.qbuf = d.qbuf[:0]
	for _, a := range d.live {
		if a.st != aRinging {
			continue
		}
		s := math.Exp(-now.Sub(a.placed).Seconds() / d.ansDly)
		d.qbuf = append(d.qbuf, p*s/(p*s+1-p))
	}
	return d.qbuf
}

// Plan decides the lines to place now. load comes from the ACD engine
// (LoadFromEngine with Horizon()). Due callbacks are placed first, each with a free
// agent reserved (the callback owner, or any agent for a shared callback or once
// CallbackFallback has passed). Then progressive: one reserved line per free agent;
// predictive: Pace's number of pooled lines (reserved lines at full brake); preview:
// nothing (agents ask with Preview). A running campaign with nothing left to dial,
// nothing in progress and nothing scheduled moves to Finished.
func (d *Dialer) Plan(now time.Time, load Load) Plan {
	pl := Plan{State: d.state}
	if d.state != Running {
		return pl
	}
	avail := make([]queue.AgentID, 0, len(load.Free))
	for _, a := range load.Free {
		if _, busy := d.held[a]; !busy {
			avail = append(avail, a)
		}
	}
	taken := map[queue.AgentID]bool{}
	isFree := func(a queue.AgentID) bool { return !taken[a] && slices.Contains(avail, a) }
	anyFree := func() (queue.AgentID, bool) {
		for _, a := range avail {
			if !taken[a] {
				return a, true
			}
		}
		return "", false
	}
	for d.cfg.Mode != Preview && d.lines() < d.cfg.MaxLines {
		cb, ag, ni := d.dueCallback(now, isFree, anyFree)
		if cb == nil {
			break
		}
		taken[ag] = true
		a := d.newAttempt(cb.c, ni, ag)
		a.callback = true
		pl.Dials = append(pl.Dials, d.dialed(a, now))
	}
	reserveEach := func(limit int) {
		for _, ag := range avail {
			if limit <= 0 || d.lines() >= d.cfg.MaxLines {
				return
			}
			if taken[ag] {
				continue
			}
			c, ni := d.selectNext(now, true)
			if c == nil {
				return
			}
			taken[ag] = true
			limit--
			pl.Dials = append(pl.Dials, d.dialed(d.newAttempt(c, ni, ag), now))
		}
	}
	switch d.cfg.Mode {
	case Progressive:
		reserveEach(len(avail))
	case Predictive:
		p := d.connectRate(now)
		qs := d.inFlight(now, p)
		free := len(avail) - len(taken)
		ans, ab := d.abandon.Counts(now)
		rate := 0.0
		if ans > 0 {
			rate = float64(ab) / float64(ans)
		}
		soon := float64(load.LikelyFree - len(load.Free))
		if load.Busy > 0 {
			soon = float64(load.Busy) * (1 - math.Exp(-d.Horizon().Seconds()/d.aht))
		}
		pooled := 0
		for _, a := range d.live {
			if a.st == aRinging && a.agent == "" {
				pooled++
			}
		}
		pl.Pace = Pace(PaceInput{
			Free: free, Soon: soon, Waiting: d.waiting, Ringing: d.ringing,
			InFlight: qs, ConnectRate: p, AbandonRate: rate, Sample: ans,
			Limit: d.cfg.AbandonLimit, MaxLines: d.cfg.MaxLines - d.lines() + d.ringing + d.waiting, Pacing: d.cfg.Pacing,
			Pooled: pooled, Abandons: ab, Answered: d.abandon.AnsweredAhead(now, d.budgetAhead()),
		})
		if pl.Pace.Reserve {
			reserveEach(pl.Pace.Lines)
			break
		}
		for i := 0; i < pl.Pace.Lines && d.lines() < d.cfg.MaxLines; i++ {
			c, ni := d.selectNext(now, false)
			if c == nil {
				break
			}
			pl.Dials = append(pl.Dials, d.dialed(d.newAttempt(c, ni, ""), now))
		}
	}
	if len(pl.Dials) == 0 && d.remaining() == 0 {
		if err := d.Apply(InFinish); err == nil {
			pl.Finished = true
		}
	}
	pl.State = d.state
	return pl
}

// lines counts the campaign's calls: ringing, answered and connected (not previews).
func (d *Dialer) lines() int { return len(d.live) - d.previews }

// remaining counts contacts not finished.
func (d *Dialer) remaining() int {
	return len(d.newQ) - d.newHead + len(d.due) + len(d.cbs) + len(d.live)
}

// Preview hands agent the next contact to preview (its own due callbacks first, then
// shared ones, then retries and new contacts). The contact is locked to the agent
// until PreviewDial or Skip.
func (d *Dialer) Preview(now time.Time, agent queue.AgentID) (Dial, error) {
	switch {
	case d.state != Running:
		return Dial{}, fmt.Errorf("%w: %s", ErrNotRunning, d.state)
	case d.cfg.Mode != Preview:
		return Dial{}, fmt.Errorf("%w: preview in %s", ErrWrongMode, d.cfg.Mode)
	case agent == "":
		return Dial{}, fmt.Errorf("%w: empty agent", ErrAttemptState)
	}
	if _, busy := d.held[agent]; busy {
		return Dial{}, fmt.Errorf("%w: %s", ErrAgentBusy, agent)
	}
	isMe := func(a queue.AgentID) bool { return a == agent }
	me := func() (queue.AgentID, bool) { return agent, true }
	var a *attempt
	if cb, _, ni := d.dueCallback(now, isMe, me); cb != nil {
		a = d.newAttempt(cb.c, ni, agent)
		a.callback = true
	} else if c, ni := d.selectNext(now, true); c != nil {
		a = d.newAttempt(c, ni, agent)
	} else {
		return Dial{}, ErrNoContact
	}
	a.st, a.shown = aPreview, now
	d.previews++
	n := a.c.nums[a.ni]
	return Dial{Attempt: a.id, Contact: a.c.id, Number: n.e164, NumberIndex: a.ni, Zone: n.zone,
		Agent: agent, Callback: a.callback, RingTimeout: d.cfg.RingTimeout}, nil
}

func (d *Dialer) attempt(id AttemptID, want aState) (*attempt, error) {
	a, ok := d.attempts[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAttempt, id)
	}
	if a.st != want {
		return nil, fmt.Errorf("%w: %q", ErrAttemptState, id)
	}
	return a, nil
}

// PreviewDial: the agent clicked dial. The window and DNC are checked again.
func (d *Dialer) PreviewDial(now time.Time, id AttemptID) (Dial, error) {
	a, err := d.attempt(id, aPreview)
	if err != nil {
		return Dial{}, err
	}
	n := a.c.nums[a.ni]
	if d.isDNC(n.e164) {
		return Dial{}, fmt.Errorf("%w: %s is on a do-not-call list", ErrNoContact, n.e164)
	}
	if d.lines() >= d.cfg.MaxLines {
		return Dial{}, fmt.Errorf("%w: %d", ErrNoLine, d.cfg.MaxLines)
	}
	if !InWindow(d.cfg.Windows, now, n.loc) {
		return Dial{}, fmt.Errorf("%w: %s", ErrOutsideWindow, n.e164)
	}
	return d.dialed(a, now), nil
}

// Skip: the agent passes on a previewed contact; it is offered again after
// SkipDelay. A contact skipped MaxSkips times must be dialled (ErrSkipLimit).
func (d *Dialer) Skip(now time.Time, id AttemptID) error {
	a, err := d.attempt(id, aPreview)
	if err != nil {
		return err
	}
	if a.c.skips >= d.cfg.Preview.MaxSkips {
		return fmt.Errorf("%w: %q skipped %d times", ErrSkipLimit, a.c.id, a.c.skips)
	}
	a.c.skips++
	d.dropAttempt(a)
	d.park(a.c, now.Add(d.cfg.Preview.SkipDelay))
	return nil
}

// Result reports how a ringing line ended, or that a person answered (Human). For
// Human the Effect is EffConnect (reserved agent) or EffFindAgent (pooled line, connect
// by Deadline). For the others the line is over: EffRetry or EffDone, with Agent set
// when a reserved agent must be released (queue.Engine.DialerRelease).
func (d *Dialer) Result(now time.Time, id AttemptID, o Outcome) (Effect, error) {
	if o > Invalid {
		return Effect{}, fmt.Errorf("%w: %d", ErrUnknownOutcome, o)
	}
	a, err := d.attempt(id, aRinging)
	if err != nil {
		return Effect{}, err
	}
	n := &a.c.nums[a.ni]
	eff := Effect{Attempt: a.id, Contact: a.c.id, Number: n.e164, Agent: a.agent}
	if o == Human {
		a.hit = true
		d.st.Humans++
		dly := now.Sub(a.placed).Seconds()
		d.ansDly += (dly - d.ansDly) * 0.02
		a.st, a.answered = aAnswered, now
		d.ringing--
		d.waiting++
		if a.agent != "" {
			eff.Kind = EffConnect
		} else {
			eff.Kind, eff.Deadline = EffFindAgent, now.Add(d.cfg.SafeHarbour)
		}
		return eff, nil
	}
	var r Retry
	switch o {
	case Machine:
		d.st.Machines++
		r = d.cfg.Retry.Machine
	case Busy:
		r = d.cfg.Retry.Busy
	case NoAnswer:
		r = d.cfg.Retry.NoAnswer
	case Congestion:
		r = d.cfg.Retry.Congestion
	case Rejected:
		r = d.cfg.Retry.Rejected
	case Invalid:
		r = Retry{Final: true}
	}
	d.dropAttempt(a)
	d.applyRetry(a.c, n, r, now)
	d.fileEffect(&eff, a.c, now)
	eff.NumberAt, eff.NumberDead = n.nextAt, n.dead
	return eff, nil
}

func (d *Dialer) applyRetry(c *contact, n *number, r Retry, now time.Time) {
	if r.Final {
		n.dead = true
		return
	}
	at := now.Add(r.After)
	if r.NextDay {
		if t, ok := NextDayOpen(d.cfg.Windows, now, n.loc); ok && t.After(at) {
			at = t
		}
	}
	n.nextAt = at
}

func (d *Dialer) fileEffect(eff *Effect, c *contact, now time.Time) {
	if at, ok := d.reschedule(c, now); ok {
		eff.Kind, eff.At = EffRetry, at
		return
	}
	eff.Kind, eff.Reason = EffDone, c.reason
}

// Connected: agent was connected to the answered line. Too late (after SafeHarbour)
// is ErrTooLate: Tick has or will hand out the safe-harbour message instead.
func (d *Dialer) Connected(now time.Time, id AttemptID, agent queue.AgentID) error {
	a, err := d.attempt(id, aAnswered)
	if err != nil {
		return err
	}
	if now.Sub(a.answered) > d.cfg.SafeHarbour {
		return fmt.Errorf("%w: %q answered at %s", ErrTooLate, id, a.answered.Format(time.RFC3339Nano))
	}
	d.abandon.Add(now, false)
	if a.agent != "" && d.held[a.agent] == a {
		delete(d.held, a.agent)
	}
	a.agent, a.st, a.connected = agent, aConnected, now
	d.waiting--
	return nil
}

// Tick handles deadlines: answered lines with no agent after SafeHarbour
// (EffSafeHarbour: abandon counted, number locked out for Lockout, retried per
// Retry.Abandoned), lines ringing past RingTimeout (EffHangup, once) and preview
// auto-dial (EffAutoDial). Call it at least every second while lines are live.
func (d *Dialer) Tick(now time.Time) []Effect {
	var out []Effect
	for i := 0; i < len(d.live); i++ {
		a := d.live[i]
		switch a.st {
		case aAnswered:
			if now.Sub(a.answered) < d.cfg.SafeHarbour {
				continue
			}
			n := &a.c.nums[a.ni]
			d.abandon.Add(now, true)
			d.st.Abandons++
			n.lockedUntil = now.Add(d.cfg.Lockout)
			eff := Effect{Kind: EffSafeHarbour, Attempt: a.id, Contact: a.c.id, Number: n.e164, Agent: a.agent}
			d.dropAttempt(a)
			d.applyRetry(a.c, n, d.cfg.Retry.Abandoned, now)
			d.reschedule(a.c, now)
			eff.NumberAt, eff.NumberDead = n.nextAt, n.dead
			out = append(out, eff)
			i-- // dropAttempt swapped the last attempt into i
		case aRinging:
			if !a.hangupSent && now.Sub(a.placed) >= d.cfg.RingTimeout {
				a.hangupSent = true
				n := a.c.nums[a.ni]
				out = append(out, Effect{Kind: EffHangup, Attempt: a.id, Contact: a.c.id, Number: n.e164, Agent: a.agent})
			}
		case aPreview:
			if d.cfg.Preview.AutoDial > 0 && now.Sub(a.shown) >= d.cfg.Preview.AutoDial {
				n := a.c.nums[a.ni]
				if d.isDNC(n.e164) || !InWindow(d.cfg.Windows, now, n.loc) || d.lines() >= d.cfg.MaxLines {
					continue // the agent dials (or skips) by hand
				}
				dl := d.dialed(a, now)
				out = append(out, Effect{Kind: EffAutoDial, Attempt: a.id, Contact: a.c.id, Number: n.e164, Agent: a.agent, Dial: dl})
			}
		}
	}
	return out
}

func (d *Dialer) disposition(code string) (Disposition, bool) {
	for _, x := range d.cfg.Dispositions {
		if x.Code == code {
			return x, true
		}
	}
	return Disposition{}, false
}

// Disposition records the agent's wrap-up outcome for a connected attempt and ends it:
// final → the contact is done; DNC → the number joins the campaign's DNC list and the
// contact is done; callback → scheduled at cb.At (inside the contact's window) for
// cb.Agent ("" shared); bad number → that number is never dialled again; otherwise the
// contact is retried after Retry.FollowUp.
func (d *Dialer) Disposition(now time.Time, id AttemptID, code string, cb CallbackRequest) (Effect, error) {
	a, err := d.attempt(id, aConnected)
	if err != nil {
		return Effect{}, err
	}
	disp, ok := d.disposition(code)
	if !ok {
		return Effect{}, fmt.Errorf("%w: %q", ErrUnknownDisp, code)
	}
	n := &a.c.nums[a.ni]
	if disp.Callback {
		if cb.At.IsZero() {
			return Effect{}, fmt.Errorf("%w: %q needs a callback time", ErrAttemptState, code)
		}
		if !InWindow(d.cfg.Windows, cb.At, n.loc) {
			return Effect{}, fmt.Errorf("%w: callback at %s", ErrOutsideWindow, cb.At.In(n.loc).Format(time.RFC3339))
		}
	}
	d.dropAttempt(a)
	d.aht += (now.Sub(a.connected).Seconds() - d.aht) * 0.02
	// no Agent: the agent's call ended in the engine already (nothing to release)
	eff := Effect{Attempt: a.id, Contact: a.c.id, Number: n.e164}
	if disp.Sale {
		d.st.Sales++
	}
	if disp.BadNum {
		n.dead = true
	}
	switch {
	case disp.DNC:
		n.dnc = true
		d.dnc[n.e164] = true
		d.finish(a.c, code)
		eff.Kind, eff.Reason = EffDone, code
	case disp.Final:
		d.finish(a.c, code)
		eff.Kind, eff.Reason = EffDone, code
	case disp.Callback:
		d.addCallback(a.c, cb)
		eff.Kind, eff.At, eff.Agent = EffCallback, cb.At, cb.Agent
	default:
		if !disp.BadNum {
			d.applyRetry(a.c, n, d.cfg.Retry.FollowUp, now)
		}
		d.fileEffect(&eff, a.c, now)
	}
	eff.NumberAt, eff.NumberDead = n.nextAt, n.dead || n.dnc
	return eff, nil
}

func (d *Dialer) addCallback(c *contact, cb CallbackRequest) {
	c.st = cCallback
	x := &callback{c: c, at: cb.At, agent: cb.Agent}
	i, _ := slices.BinarySearchFunc(d.cbs, x, func(p, q *callback) int {
		if c := p.at.Compare(q.at); c != 0 {
			return c
		}
		return 1 // equal times keep insertion order
	})
	d.cbs = slices.Insert(d.cbs, i, x)
	d.st.Callbacks++
}

// ScheduleCallback schedules a callback for a contact that is not in progress (API /
// supervisor). It must fall inside the first number's window.
func (d *Dialer) ScheduleCallback(id ContactID, cb CallbackRequest) error {
	c, ok := d.contacts[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownContact, id)
	}
	if c.st == cBusy || c.st == cDone || c.st == cCallback {
		return fmt.Errorf("%w: contact %q is %s", ErrAttemptState, id, c.stateName())
	}
	if cb.At.IsZero() || !InWindow(d.cfg.Windows, cb.At, c.nums[0].loc) {
		return fmt.Errorf("%w: callback at %s", ErrOutsideWindow, cb.At)
	}
	switch c.st {
	case cDue:
		heap.Remove(&d.due, c.hidx)
	case cNew:
		for i := d.newHead; i < len(d.newQ); i++ {
			if d.newQ[i] == c {
				d.newQ = slices.Delete(d.newQ, i, i+1)
				break
			}
		}
	}
	d.addCallback(c, cb)
	return nil
}

func (c *contact) stateName() string {
	switch c.st {
	case cNew:
		return "new"
	case cDue:
		return "scheduled"
	case cCallback:
		return "callback"
	case cBusy:
		return "in-progress"
	case cDone:
		return "done:" + c.reason
	}
	return "unknown"
}

// ContactState describes a contact: "new", "scheduled", "callback", "in-progress" or
// "done:<reason>", and its attempts.
func (d *Dialer) ContactState(id ContactID) (state string, attempts int, err error) {
	c, ok := d.contacts[id]
	if !ok {
		return "", 0, fmt.Errorf("%w: %q", ErrUnknownContact, id)
	}
	return c.stateName(), c.attempts, nil
}

// Stats returns the campaign's progress at now.
func (d *Dialer) Stats(now time.Time) Stats {
	s := d.st
	s.State = d.state
	s.Contacts = len(d.contacts)
	s.InProgress = len(d.live)
	s.Pending = len(d.newQ) - d.newHead + len(d.due) + len(d.cbs)
	ans, _ := d.abandon.Counts(now)
	s.LiveAnswered = ans
	s.AbandonRate = d.abandon.Rate(now)
	s.ConnectRate = d.connectRate(now)
	s.Ringing, s.Waiting = d.ringing, d.waiting
	s.AnswerDelay = time.Duration(d.ansDly * float64(time.Second))
	s.AHT = time.Duration(d.aht * float64(time.Second))
	return s
}

// dueHeap orders parked contacts by due time (then id, for determinism).
type dueHeap []*contact

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].id < h[j].id
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *dueHeap) Push(x any) {
	c, ok := x.(*contact)
	if !ok {
		return
	}
	c.hidx = len(*h)
	*h = append(*h, c)
}
func (h *dueHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.hidx = -1
	return c
}
