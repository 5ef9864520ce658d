package queue

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// CallState is where a call is inside the engine.
type CallState uint8

// Call states.
const (
	CallWaiting   CallState = iota // in its queue (also a keep-your-place callback entry)
	CallOffered                    // ringing one agent, or several (ring-all), or a callback/dialer attempt being set up
	CallConnected                  // talking to an agent
	CallParked                     // a failed callback waiting for its retry time
)

func (s CallState) String() string {
	switch s {
	case CallWaiting:
		return "waiting"
	case CallOffered:
		return "offered"
	case CallConnected:
		return "connected"
	case CallParked:
		return "parked"
	}
	return "unknown"
}

// Call is an inbound call entering a queue.
type Call struct {
	ID       CallID
	Queue    QueueID
	Priority int    // 1..10, higher is more urgent; 0 = Config.DefaultPriority
	Skills   string // required skill expression; "" = the queue's
	// Arrived is the caller's original arrival when it is earlier than now (a caller
	// transferred from another queue keeping their enqueue time, or re-adopted after
	// a ctid restart): it counts for the queue's wait KPIs (service level, ASA,
	// abandon wait, longest wait) and for the caller's place. Zero (or later) = now.
	Arrived time.Time
	// Consult marks an agent's consultation routed through the queue (an attended
	// transfer to a queue): it is offered like a call but is not a new inbound call
	// of the queue; it counts in Consults / ConsultsAnswered, not in the queue's
	// entered, answered, abandoned, talk or handle figures.
	Consult bool
}

type offerEnd uint8

const (
	offerEndNone offerEnd = iota
	offerEndTimeout
	offerEndWithdrawn
)

type agent struct {
	id    AgentID
	cfg   AgentConfig
	seq   int64
	state AgentState
	// reason is the not-ready reason.
	reason        string
	since         time.Time
	idleSince     time.Time
	pendingPause  bool
	pendingReason string
	pendingLogout bool
	members       []*membership
	slots         []slot
	call          *call // offered or connected call
	lastOffer     CallID
	lastOfferEnd  offerEnd
	tidx          [agentTimerKinds]int
	wrapQ         *queueState
	wrapStart     time.Time
	wrapUntil     time.Time

	answered  int
	talk      time.Duration
	lastTalk  time.Duration
	stateTime [WrapUp + 1]time.Duration
	// noAudio: the agent's audio path is down (AgentAudio); only queues with
	// OfferWithoutAudio offer to them.
	noAudio bool
}

type membership struct {
	q     *queueState
	a     *agent
	tier  int
	order int
	elig  []bool // cached eligibility per class (index class.idx)
}

type class struct {
	q         *queueState
	idx       int // position in q.classes
	expr      *Expr
	tierLimit int
	skills    []string // for SkillsBest scoring
	calls     callHeap
	ready     readyHeap
}

type plan struct {
	stages []*class
}

type queueState struct {
	cfg       QueueConfig
	sched     *compiledSchedule
	plans     map[string]*plan
	classByID map[string]*class
	classes   []*class
	members   []*membership
	byAgent   map[AgentID]*membership
	waiting   int
	loggedIn  int
	available int
	rrLast    int

	aht      []time.Duration
	ahtNext  int
	ahtSum   time.Duration
	counters queueCounters
}

type queueCounters struct {
	entered, answered, answeredWithin          int
	abandoned, abandonedWithin, shortAbandoned int
	overflowed, closed, callbacks              int
	waitAnswered, handleTotal, talkTotal       time.Duration
	handled                                    int
	consults, consultsAnswered                 int
}

type call struct {
	id       CallID
	q        *queueState
	plan     *plan
	stage    int
	cls      *class
	priority int
	arrived  time.Time // first arrival (kept across overflow)
	enq      time.Time // entered the current queue
	origin   time.Time // Call.Arrived when given: the start of the wait the KPIs count
	k1, k2   int64
	seq      int64
	hidx     int
	state    CallState
	ringing  []*agent
	agent    *agent
	answered time.Time
	held     time.Time
	holdTime time.Duration
	outbound bool
	consult  bool   // Call.Consult
	hops     int    // queue-to-queue moves (overflow loops are cut at maxHops)
	skills   string // the call's own expression text ("" = queue's)

	callback   bool
	number     string
	cbAttempts int

	lastPos int
	lastEWT time.Duration
	annDone bool
	tidx    [6 - agentTimerKinds]int
}

// Engine is the ACD state. It is not safe for concurrent use: own it from one
// goroutine (see Loop). Decisions returned by a method are valid until the next call.
type Engine struct {
	cfg     Config
	agents  map[AgentID]*agent
	queues  map[QueueID]*queueState
	calls   map[CallID]*call
	timers  timerHeap
	rng     *rand.Rand
	out     []Decision
	seq     int64
	scratch []classRef
	free    []*call
	// rebuilding: set by UpsertQueue while classes are rebuilt; ready members are
	// re-indexed at its end, so classFor must not index them.
	rebuilding bool
}

type classRef struct {
	cls *class
	m   *membership
}

// NewEngine validates cfg (after defaults) and builds an engine.
func NewEngine(cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:    cfg,
		agents: make(map[AgentID]*agent, len(cfg.Agents)),
		queues: make(map[QueueID]*queueState, len(cfg.Queues)),
		calls:  make(map[CallID]*call),
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		out:    make([]Decision, 0, 64),
	}
	for _, ac := range cfg.Agents {
		e.addAgent(ac)
	}
	for _, qc := range cfg.Queues {
		if _, err := e.UpsertQueue(time.Time{}, qc); err != nil {
			return nil, err
		}
	}
	e.cfg.Agents, e.cfg.Queues = nil, nil
	return e, nil
}

func (e *Engine) nextSeq() int64 { e.seq++; return e.seq }

func (e *Engine) emit(d Decision) { e.out = append(e.out, d) }

func (e *Engine) begin() { e.out = e.out[:0] }

func (e *Engine) addAgent(ac AgentConfig) *agent {
	a := &agent{id: ac.ID, cfg: ac, seq: e.nextSeq(), state: LoggedOut}
	for i := range a.tidx {
		a.tidx[i] = -1
	}
	e.agents[ac.ID] = a
	return a
}

// ---- configuration upserts ----

// UpsertAgent adds an agent or replaces its skills, wrap-up override and campaigns.
// A ready agent is re-indexed (and may be offered a call).
func (e *Engine) UpsertAgent(now time.Time, ac AgentConfig) ([]Decision, error) {
	e.begin()
	if err := ac.Validate(); err != nil {
		return nil, err
	}
	a, ok := e.agents[ac.ID]
	if !ok {
		e.addAgent(ac)
		return e.out, nil
	}
	a.cfg = ac
	for _, m := range a.members {
		for _, c := range m.q.classes {
			m.elig[c.idx] = e.evalEligible(m, c)
		}
	}
	if a.state == Ready {
		e.removeReady(a)
		e.agentFree(a, now)
	}
	return e.out, nil
}

// RemoveAgent deletes a logged-out agent and its queue memberships.
func (e *Engine) RemoveAgent(now time.Time, id AgentID) ([]Decision, error) {
	e.begin()
	a, ok := e.agents[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAgent, id)
	}
	if a.state != LoggedOut {
		return nil, &TransitionError{Agent: id, From: a.state, Input: "remove"}
	}
	for _, m := range a.members {
		q := m.q
		q.members = slices.DeleteFunc(q.members, func(x *membership) bool { return x == m })
		for i, x := range q.members {
			x.order = i
		}
		delete(q.byAgent, id)
		q.cfg.Members = slices.DeleteFunc(q.cfg.Members, func(x Member) bool { return x.Agent == id })
	}
	delete(e.agents, id)
	return e.out, nil
}

// UpsertQueue adds a queue or replaces its configuration. Waiting calls keep their
// place; ready members are re-indexed and may be offered calls.
func (e *Engine) UpsertQueue(now time.Time, qc QueueConfig) ([]Decision, error) {
	e.begin()
	if err := qc.Validate(); err != nil {
		return nil, err
	}
	for _, m := range qc.Members {
		if _, ok := e.agents[m.Agent]; !ok {
			return nil, fmt.Errorf("%w: queue %q member %q: %w", ErrInvalidConfig, qc.ID, m.Agent, ErrUnknownAgent)
		}
	}
	qc = qc.withDefaults(e.cfg)
	qc.Members = slices.Clone(qc.Members)
	var sched *compiledSchedule
	if qc.Hours != nil {
		s, err := qc.Hours.compile()
		if err != nil {
			return nil, fmt.Errorf("%w: queue %q: %w", ErrInvalidConfig, qc.ID, err)
		}
		sched = s
	}
	base, err := ParseSkillExpr(qc.Skills)
	if err != nil {
		return nil, fmt.Errorf("%w: queue %q: %w", ErrInvalidConfig, qc.ID, err)
	}

	old := e.queues[qc.ID]
	e.rebuilding = true
	defer func() { e.rebuilding = false }()
	var waiting []*call
	var touched []*agent
	if old != nil {
		for _, cl := range old.classes {
			for cl.calls.len() > 0 {
				c := cl.calls.top()
				cl.calls.remove(c)
				waiting = append(waiting, c)
			}
		}
		for _, m := range old.members {
			a := m.a
			if a.state == Ready {
				e.removeReady(a)
				touched = append(touched, a)
			}
			a.members = slices.DeleteFunc(a.members, func(x *membership) bool { return x == m })
		}
	}
	q := &queueState{
		cfg:       qc,
		sched:     sched,
		plans:     map[string]*plan{},
		classByID: map[string]*class{},
		byAgent:   map[AgentID]*membership{},
		rrLast:    -1,
		aht:       make([]time.Duration, 0, e.cfg.AHTWindow),
	}
	if old != nil {
		q.counters, q.aht, q.ahtNext, q.ahtSum = old.counters, old.aht, old.ahtNext, old.ahtSum
	}
	q.plans[""] = e.buildPlan(q, base)
	for i, mc := range qc.Members {
		a := e.agents[mc.Agent]
		m := &membership{q: q, a: a, tier: mc.Tier, order: i}
		for _, c := range q.classes {
			m.elig = append(m.elig, e.evalEligible(m, c))
		}
		q.members = append(q.members, m)
		q.byAgent[a.id] = m
		a.members = append(a.members, m)
		if a.state.loggedIn() {
			q.loggedIn++
		}
		if a.state.available() {
			q.available++
		}
		if a.state == Ready && !slices.Contains(touched, a) {
			e.removeReady(a)
			touched = append(touched, a)
		}
	}
	e.queues[qc.ID] = q
	if old != nil {
		// every call of the old queue (waiting, ringing, connected) moves to the new one
		for _, c := range e.calls {
			if c.q != old {
				continue
			}
			c.q = q
			p, err := e.planFor(q, c.skills, false)
			if err != nil {
				p = q.plans[""]
			}
			c.plan = p
			c.stage = min(c.stage, len(p.stages)-1)
			c.cls = p.stages[c.stage]
		}
		for _, m := range old.members {
			if m.a.wrapQ == old {
				m.a.wrapQ = q
			}
		}
	}
	for _, c := range waiting {
		c.cls.calls.push(c)
		q.waiting++
	}
	e.rebuilding = false
	for _, a := range touched {
		e.agentFree(a, now)
	}
	return e.out, nil
}

// planFor returns the plan (relax stages) for a per-call expression text.
func (e *Engine) planFor(q *queueState, text string, strict bool) (*plan, error) {
	if p, ok := q.plans[text]; ok {
		return p, nil
	}
	x, err := ParseSkillExpr(text)
	if err != nil {
		return nil, err
	}
	if len(q.plans) > 10000 && !strict {
		return q.plans[""], nil
	}
	p := e.buildPlan(q, x)
	q.plans[text] = p
	return p, nil
}

func (e *Engine) buildPlan(q *queueState, x *Expr) *plan {
	p := &plan{}
	tier := q.cfg.TierLimit
	cur := x
	p.stages = append(p.stages, e.classFor(q, cur, tier))
	for _, r := range q.cfg.Relax {
		if len(r.DropSkills) > 0 {
			cur = cur.Drop(r.DropSkills...)
		}
		if r.TierLimit > 0 {
			tier = r.TierLimit
		}
		p.stages = append(p.stages, e.classFor(q, cur, tier))
	}
	return p
}

func (e *Engine) classFor(q *queueState, x *Expr, tier int) *class {
	key := fmt.Sprintf("%s|%d", x.String(), tier)
	if c, ok := q.classByID[key]; ok {
		return c
	}
	c := &class{q: q, idx: len(q.classes), expr: &Expr{src: x.src, root: x.root}, tierLimit: tier, skills: x.skillNames()}
	q.classByID[key] = c
	q.classes = append(q.classes, c)
	// A class created while agents are ready must index them.
	for _, m := range q.members {
		m.elig = append(m.elig, e.evalEligible(m, c))
		if m.a.state == Ready && e.eligible(m, c) && !e.rebuilding {
			e.insertReady(m, c)
		}
	}
	return c
}

// ---- ready index ----

// eligible is the cached answer of evalEligible.
func (e *Engine) eligible(m *membership, c *class) bool {
	return m.elig[c.idx] && (!m.a.noAudio || c.q.cfg.OfferWithoutAudio)
}

func (e *Engine) evalEligible(m *membership, c *class) bool {
	if c.tierLimit > 0 && m.tier > c.tierLimit {
		return false
	}
	return c.expr.Match(m.a.cfg.Skills)
}

func (e *Engine) readyKey(m *membership, c *class) rkey {
	a := m.a
	k := rkey{tier: int64(m.tier), seq: a.seq}
	idle := a.idleSince.UnixNano()
	switch c.q.cfg.Strategy {
	case LongestIdle, RingAll:
		k.k1 = idle
	case FewestCalls:
		k.k1, k.k2 = int64(a.answered), idle
	case LeastTalkTime:
		k.k1, k.k2 = int64(a.talk), idle
	case Linear, RoundRobin:
		k.k1 = int64(m.order)
	case Random:
		k.k1 = e.rng.Int64()
	case SkillsBest:
		score := 0
		for _, s := range c.skills {
			score += a.cfg.Skills[s]
		}
		k.k1, k.k2 = -int64(score), idle
	}
	return k
}

func (e *Engine) insertReady(m *membership, c *class) {
	a := m.a
	a.slots = append(a.slots, slot{cls: c})
	c.ready.push(readyItem{key: e.readyKey(m, c), a: a, slot: len(a.slots) - 1, m: m})
}

// removeReady takes the agent out of every ready index.
func (e *Engine) removeReady(a *agent) {
	for i := len(a.slots) - 1; i >= 0; i-- {
		s := a.slots[i]
		s.cls.ready.removeAt(s.pos)
	}
	clear(a.slots)
	a.slots = a.slots[:0]
}

// pick returns the agent a class would offer its next call to.
func (e *Engine) pick(c *class) *agent {
	n := c.ready.len()
	if n == 0 {
		return nil
	}
	if c.q.cfg.Strategy != RoundRobin {
		return c.ready.items[0].a
	}
	best, bestTier, bestDist := -1, int64(0), 0
	size := len(c.q.members)
	for i := range c.ready.items {
		it := &c.ready.items[i]
		d := ((it.m.order-c.q.rrLast-1)%size + size) % size
		if best < 0 || it.key.tier < bestTier || it.key.tier == bestTier && d < bestDist {
			best, bestTier, bestDist = i, it.key.tier, d
		}
	}
	return c.ready.items[best].a
}

// ---- routing ----

// agentFree is called when an agent has just become Ready: offer the best waiting call
// it can take, or index it as ready.
func (e *Engine) agentFree(a *agent, now time.Time) {
	var best *call
	var bestW int
	e.scratch = e.scratch[:0]
	for _, m := range a.members {
		for _, c := range m.q.classes {
			if !e.eligible(m, c) {
				continue
			}
			e.scratch = append(e.scratch, classRef{cls: c, m: m})
			h := c.calls.top()
			if h == nil {
				continue
			}
			w := m.q.cfg.Weight
			if best == nil || w > bestW || w == bestW && e.servedBefore(h, best, now) {
				best, bestW = h, w
			}
		}
	}
	if best != nil {
		best.cls.calls.remove(best)
		best.q.waiting--
		e.offer(best, a, now)
		return
	}
	for _, r := range e.scratch {
		e.insertReady(r.m, r.cls)
	}
}

// servedBefore orders two waiting calls for an agent that serves both queues: within a
// queue by the queue's own key; across queues by effective priority now (priority plus
// ageing), then by first arrival.
func (e *Engine) servedBefore(x, y *call, now time.Time) bool {
	if x.q == y.q {
		return callLess(x, y)
	}
	px, py := effPriority(x, now), effPriority(y, now)
	if px != py {
		return px > py
	}
	if !x.arrived.Equal(y.arrived) {
		return x.arrived.Before(y.arrived)
	}
	return x.seq < y.seq
}

func effPriority(c *call, now time.Time) float64 {
	p := float64(c.priority)
	if age := c.q.cfg.AgeEvery; age > 0 {
		p += float64(now.Sub(c.arrived)) / float64(age)
	}
	return p
}

// routeCall tries to hand a waiting (not heaped) call to ready agents; false if none.
func (e *Engine) routeCall(c *call, now time.Time) bool {
	a := e.pick(c.cls)
	if a == nil {
		return false
	}
	if c.q.cfg.Strategy == RingAll && !c.callback {
		for c.cls.ready.len() > 0 {
			e.offer(c, c.cls.ready.items[0].a, now)
		}
		return true
	}
	e.offer(c, a, now)
	return true
}

// enqueue puts a call into its class: offered at once if possible, else heaped.
func (e *Engine) enqueue(c *call, now time.Time) {
	c.state = CallWaiting
	if e.routeCall(c, now) {
		return
	}
	c.cls.calls.push(c)
	c.q.waiting++
}

func (e *Engine) setAgentState(a *agent, to AgentState, reason string, now time.Time) {
	from := a.state
	if d := now.Sub(a.since); d > 0 && !a.since.IsZero() {
		a.stateTime[from] += d
	}
	if from.loggedIn() != to.loggedIn() || from.available() != to.available() {
		for _, m := range a.members {
			if from.loggedIn() != to.loggedIn() {
				if to.loggedIn() {
					m.q.loggedIn++
				} else {
					m.q.loggedIn--
				}
			}
			if from.available() != to.available() {
				if to.available() {
					m.q.available++
				} else {
					m.q.available--
				}
			}
		}
	}
	a.state, a.reason, a.since = to, reason, now
	if to == Ready {
		a.idleSince = now
	}
	e.emit(Decision{Kind: DecAgentState, Agent: a.id, State: to, Reason: reason})
	if from.available() && !to.available() || from.loggedIn() && !to.loggedIn() {
		for _, m := range a.members {
			e.checkLeaveEmpty(m.q, now)
		}
	}
}

func (e *Engine) offer(c *call, a *agent, now time.Time) {
	e.removeReady(a)
	a.call = c
	a.lastOffer, a.lastOfferEnd = c.id, offerEndNone
	c.state = CallOffered
	c.ringing = append(c.ringing, a)
	e.setAgentState(a, Reserved, "", now)
	if c.q.cfg.Strategy == RoundRobin {
		if m := c.q.byAgent[a.id]; m != nil {
			c.q.rrLast = m.order
		}
	}
	timeout := c.q.cfg.OfferTimeout
	if c.callback {
		timeout = e.cfg.CallbackTimeout
	}
	deadline := now.Add(timeout)
	e.timers.set(timerEntry{at: deadline.UnixNano(), kind: tOffer, a: a})
	if c.callback {
		e.emit(Decision{Kind: DecOriginateCallback, Call: c.id, Agent: a.id, Queue: c.q.cfg.ID, Number: c.number, Deadline: deadline})
		return
	}
	e.emit(Decision{Kind: DecOfferCall, Call: c.id, Agent: a.id, Queue: c.q.cfg.ID, Deadline: deadline})
}

// ---- agent commands ----

func (e *Engine) agent(id AgentID) (*agent, error) {
	a, ok := e.agents[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAgent, id)
	}
	return a, nil
}

func (e *Engine) step(a *agent, in agentInput) (transition, error) {
	t, ok := apply(a.state, in)
	if !ok {
		return t, &TransitionError{Agent: a.id, From: a.state, Input: in.String()}
	}
	return t, nil
}

// AgentLogin signs an agent in (NotReady, reason "login"). A second login is ErrAlreadyLoggedIn.
func (e *Engine) AgentLogin(now time.Time, id AgentID) ([]Decision, error) {
	e.begin()
	a, err := e.agent(id)
	if err != nil {
		return nil, err
	}
	if a.state != LoggedOut {
		return nil, fmt.Errorf("%w: %q", ErrAlreadyLoggedIn, id)
	}
	if _, err := e.step(a, inLogin); err != nil {
		return nil, err
	}
	e.setAgentState(a, NotReady, "login", now)
	return e.out, nil
}

// AgentReady makes the agent available; in wrap-up it ends the wrap-up. It may be
// offered a call at once.
func (e *Engine) AgentReady(now time.Time, id AgentID) ([]Decision, error) {
	e.begin()
	a, err := e.agent(id)
	if err != nil {
		return nil, err
	}
	if _, err := e.step(a, inReady); err != nil {
		return nil, err
	}
	if a.state == Ready {
		return e.out, nil
	}
	if a.state == WrapUp {
		e.finishWrap(a, now, true)
		return e.out, nil
	}
	e.setAgentState(a, Ready, "", now)
	e.agentFree(a, now)
	return e.out, nil
}

// AgentNotReady pauses the agent with a reason. While ringing it rejects the offer;
// while talking, on hold or in wrap-up the pause is pending until wrap-up ends.
func (e *Engine) AgentNotReady(now time.Time, id AgentID, reason string) ([]Decision, error) {
	e.begin()
	a, err := e.agent(id)
	if err != nil {
		return nil, err
	}
	t, err := e.step(a, inNotReady)
	if err != nil {
		return nil, err
	}
	if t.pending {
		a.pendingPause, a.pendingReason = true, reason
		return e.out, nil
	}
	switch a.state {
	case Reserved:
		e.endOffer(a, now, offerEndNone, "agent-paused", reason)
	case Ready:
		e.removeReady(a)
		e.setAgentState(a, NotReady, reason, now)
	default:
		e.setAgentState(a, NotReady, reason, now)
	}
	return e.out, nil
}

// AgentLogout signs the agent out; while busy the logout is pending until wrap-up ends.
func (e *Engine) AgentLogout(now time.Time, id AgentID) ([]Decision, error) {
	e.begin()
	a, err := e.agent(id)
	if err != nil {
		return nil, err
	}
	t, err := e.step(a, inLogout)
	if err != nil {
		return nil, err
	}
	if t.pending {
		a.pendingLogout = true
		return e.out, nil
	}
	switch a.state {
	case Reserved:
		e.endOffer(a, now, offerEndNone, "agent-logout", "")
		if a.state == NotReady {
			e.setAgentState(a, LoggedOut, "", now)
		}
	case Ready:
		e.removeReady(a)
		e.setAgentState(a, LoggedOut, "", now)
	default:
		e.setAgentState(a, LoggedOut, "", now)
	}
	a.pendingPause, a.pendingLogout = false, false
	return e.out, nil
}

// endOffer ends an agent's ringing offer without connecting: the agent goes NotReady
// (reason) unless reason is "" with how==withdrawn (then Ready). The call returns to
// its queue if nobody else is ringing.
func (e *Engine) endOffer(a *agent, now time.Time, how offerEnd, why, reason string) {
	c := a.call
	e.timers.cancel(timerEntry{kind: tOffer, a: a})
	a.call = nil
	a.lastOfferEnd = how
	if c != nil {
		c.ringing = slices.DeleteFunc(c.ringing, func(x *agent) bool { return x == a })
		e.emit(Decision{Kind: DecWithdrawOffer, Call: c.id, Agent: a.id, Reason: why})
	}
	if how == offerEndWithdrawn {
		e.setAgentState(a, Ready, "", now)
	} else {
		e.setAgentState(a, NotReady, reason, now)
	}
	if c != nil && len(c.ringing) == 0 && c.state == CallOffered {
		e.requeue(c, now)
	}
	if how == offerEndWithdrawn {
		e.agentFree(a, now)
	}
}

// requeue returns an offered call to its queue at its original place (its key is
// unchanged: it is ahead of everyone who arrived after it).
func (e *Engine) requeue(c *call, now time.Time) {
	if c.outbound {
		e.dropCall(c)
		return
	}
	e.enqueue(c, now)
	e.checkLeaveEmpty(c.q, now)
}

// ---- call commands ----

func (e *Engine) callByID(id CallID) (*call, error) {
	c, ok := e.calls[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCall, id)
	}
	return c, nil
}

func (e *Engine) newCall() *call {
	if n := len(e.free); n > 0 {
		c := e.free[n-1]
		e.free = e.free[:n-1]
		return c
	}
	c := &call{}
	return c
}

func (e *Engine) dropCall(c *call) {
	for k := range c.tidx {
		e.timers.cancel(timerEntry{kind: timerKind(k + agentTimerKinds), c: c})
	}
	delete(e.calls, c.id)
	ring := c.ringing[:0]
	*c = call{ringing: ring}
	for i := range c.tidx {
		c.tidx[i] = -1
	}
	c.hidx = -1
	e.free = append(e.free, c)
}

// waitStart is when the call's wait began for KPIs: its original arrival when the
// caller brought one (Call.Arrived), else entering the current queue.
func (c *call) waitStart() time.Time {
	if !c.origin.IsZero() {
		return c.origin
	}
	return c.enq
}

func (e *Engine) isOpen(q *queueState, now time.Time) bool {
	return q.sched == nil || q.sched.open(now)
}

func emptyBy(rule EmptyRule, q *queueState) bool {
	switch rule {
	case EmptyNoLoggedIn:
		return q.loggedIn == 0
	case EmptyNoAvailable:
		return q.available == 0
	}
	return false
}

// newCallQueue checks that a call the engine is to take is new and has a known
// queue, and returns that queue.
func (e *Engine) newCallQueue(in Call) (*queueState, error) {
	q, ok := e.queues[in.Queue]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownQueue, in.Queue)
	}
	if in.ID == "" {
		return nil, fmt.Errorf("%w: empty call id", ErrUnknownCall)
	}
	if _, dup := e.calls[in.ID]; dup {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateCall, in.ID)
	}
	return q, nil
}

// priorityOf is a new call's priority: its own, or the default; ErrBadPriority
// outside 1..MaxPriority.
func (e *Engine) priorityOf(in Call) (int, error) {
	prio := in.Priority
	if prio == 0 {
		prio = e.cfg.DefaultPriority
	}
	if prio < 1 || prio > MaxPriority {
		return 0, fmt.Errorf("%w: %d not in 1..%d", ErrBadPriority, in.Priority, MaxPriority)
	}
	return prio, nil
}

// CallArrived queues a call. Decisions: an offer (or ring-all offers), a closed action,
// or an overflow (full / empty). An unparsable Call.Skills is ErrBadSkillExpr with the
// position; a priority outside 0..10 is ErrBadPriority.
func (e *Engine) CallArrived(now time.Time, in Call) ([]Decision, error) {
	e.begin()
	q, err := e.newCallQueue(in)
	if err != nil {
		return nil, err
	}
	prio, err := e.priorityOf(in)
	if err != nil {
		return nil, err
	}
	p, err := e.planFor(q, in.Skills, true)
	if err != nil {
		return nil, err
	}
	c := e.newCall()
	c.id, c.priority, c.arrived, c.seq, c.skills = in.ID, prio, now, e.nextSeq(), in.Skills
	c.consult = in.Consult
	if !in.Arrived.IsZero() && in.Arrived.Before(now) {
		c.arrived, c.origin = in.Arrived, in.Arrived
	}
	c.hidx = -1
	for i := range c.tidx {
		c.tidx[i] = -1
	}
	e.calls[c.id] = c
	e.admit(c, q, p, now)
	return e.out, nil
}

// admit places a call (new or overflowing) in q, or applies the closed / full / empty rules.
func (e *Engine) admit(c *call, q *queueState, p *plan, now time.Time) {
	c.q, c.plan, c.stage, c.enq = q, p, 0, now
	c.cls = p.stages[0]
	if c.consult {
		q.counters.consults++
	} else {
		q.counters.entered++
	}
	if !e.isOpen(q, now) {
		q.counters.closed++
		e.leave(c, q, q.cfg.ClosedTarget, DecClosedAction, "closed", now)
		return
	}
	if q.cfg.MaxLength > 0 && q.waiting >= q.cfg.MaxLength {
		q.counters.overflowed++
		e.leave(c, q, q.cfg.FullTarget, DecOverflow, "full", now)
		return
	}
	if emptyBy(q.cfg.JoinEmpty, q) {
		q.counters.overflowed++
		e.leave(c, q, q.cfg.EmptyTarget, DecOverflow, "empty", now)
		return
	}
	e.place(c, q, p, now)
	if q.cfg.MaxWait > 0 {
		e.timers.set(timerEntry{at: now.Add(q.cfg.MaxWait).UnixNano(), kind: tMaxWait, c: c})
	}
	if q.cfg.Announce.Every > 0 {
		e.timers.set(timerEntry{at: now.Add(q.cfg.Announce.First).UnixNano(), kind: tAnnounce, c: c})
	}
	c.lastPos, c.lastEWT, c.annDone = 0, 0, false
	e.enqueue(c, now)
}

// place sets c's key in q (strict priority then arrival, or with ageing a "virtual
// arrival" that moves earlier by AgeEvery per priority level: static, so heaps stay
// valid) and its relax timer.
func (e *Engine) place(c *call, q *queueState, p *plan, now time.Time) {
	if q.cfg.AgeEvery > 0 {
		c.k1, c.k2 = 0, c.arrived.UnixNano()-int64(c.priority)*int64(q.cfg.AgeEvery)
	} else {
		c.k1, c.k2 = -int64(c.priority), c.arrived.UnixNano()
	}
	if len(p.stages) > 1 {
		e.timers.set(timerEntry{at: now.Add(q.cfg.Relax[0].After).UnixNano(), kind: tRelax, c: c})
	}
}

// leave sends a call out of q to target t (moving it internally for TargetQueue).
func (e *Engine) leave(c *call, q *queueState, t Target, kind DecisionKind, reason string, now time.Time) {
	if t.Kind == TargetNone && kind == DecClosedAction || t.Kind == TargetNone && reason != "max-wait" {
		t = Target{Kind: TargetHangup}
	}
	if t.Kind == TargetQueue {
		if _, ok := e.queues[QueueID(t.Value)]; !ok || c.hops >= maxHops {
			t = Target{Kind: TargetHangup} // target queue removed, or an overflow loop
		}
	}
	e.emit(Decision{Kind: kind, Call: c.id, Queue: q.cfg.ID, Target: t, Reason: reason})
	if t.Kind == TargetQueue && c.hops < maxHops {
		if nq, ok := e.queues[QueueID(t.Value)]; ok && nq != q {
			c.hops++
			for k := range c.tidx {
				e.timers.cancel(timerEntry{kind: timerKind(k + agentTimerKinds), c: c})
			}
			p, err := e.planFor(nq, c.skills, false)
			if err != nil {
				p = nq.plans[""]
			}
			e.admit(c, nq, p, now)
			return
		}
	}
	e.dropCall(c)
}

// maxHops bounds queue-to-queue overflow moves of one call.
const maxHops = 8

// RemoveQueue deletes a queue that has no calls (waiting, ringing or connected).
func (e *Engine) RemoveQueue(now time.Time, id QueueID) ([]Decision, error) {
	e.begin()
	q, ok := e.queues[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownQueue, id)
	}
	for _, c := range e.calls {
		if c.q == q {
			return nil, fmt.Errorf("%w: queue %q still has call %q", ErrCallState, id, c.id)
		}
	}
	var ready []*agent
	for _, m := range q.members {
		a := m.a
		if a.state == Ready {
			e.removeReady(a)
			ready = append(ready, a)
		}
		a.members = slices.DeleteFunc(a.members, func(x *membership) bool { return x == m })
	}
	delete(e.queues, id)
	for _, a := range ready {
		e.agentFree(a, now)
	}
	return e.out, nil
}

// removeWaiting takes a waiting call out of its heap.
func (e *Engine) removeWaiting(c *call) {
	if c.state == CallWaiting && c.hidx >= 0 {
		c.cls.calls.remove(c)
		c.q.waiting--
	}
}

// CallAbandoned: the caller hung up before being connected. Ringing agents are
// withdrawn and become ready. A keep-your-place callback entry is kept (the caller is
// expected to hang up after asking for it).
func (e *Engine) CallAbandoned(now time.Time, id CallID) ([]Decision, error) {
	e.begin()
	c, err := e.callByID(id)
	if err != nil {
		return nil, err
	}
	if c.callback && c.state != CallConnected {
		return e.out, nil
	}
	switch c.state {
	case CallConnected:
		return nil, fmt.Errorf("%w: call %q is connected; use CallEnded", ErrCallState, id)
	case CallWaiting:
		e.removeWaiting(c)
	case CallOffered:
		c.state = CallWaiting // so endOffer does not requeue it
		for len(c.ringing) > 0 {
			e.endOffer(c.ringing[0], now, offerEndWithdrawn, "abandoned", "")
		}
	}
	if q := c.q; q != nil && !c.outbound && !c.consult {
		wait := now.Sub(c.waitStart())
		q.counters.abandoned++
		if wait <= q.cfg.ServiceLevel {
			q.counters.abandonedWithin++
		}
		if wait <= q.cfg.ShortAbandon {
			q.counters.shortAbandoned++
		}
	}
	e.dropCall(c)
	return e.out, nil
}

// RequestCallback turns a waiting call into a keep-your-place callback to number.
func (e *Engine) RequestCallback(now time.Time, id CallID, number string) ([]Decision, error) {
	e.begin()
	c, err := e.callByID(id)
	if err != nil {
		return nil, err
	}
	if c.state != CallWaiting || c.outbound || c.callback {
		return nil, fmt.Errorf("%w: call %q is %s", ErrCallState, id, c.state)
	}
	if number == "" {
		return nil, fmt.Errorf("%w: empty callback number", ErrCallState)
	}
	c.callback, c.number = true, number
	c.q.counters.callbacks++
	e.timers.cancel(timerEntry{kind: tAnnounce, c: c})
	e.timers.cancel(timerEntry{kind: tMaxWait, c: c})
	return e.out, nil
}

// CancelCallback removes a keep-your-place callback that is waiting or parked (the
// customer called again, or a supervisor cancelled it).
func (e *Engine) CancelCallback(now time.Time, id CallID) ([]Decision, error) {
	e.begin()
	c, err := e.callByID(id)
	if err != nil {
		return nil, err
	}
	if !c.callback || (c.state != CallWaiting && c.state != CallParked) {
		return nil, fmt.Errorf("%w: call %q is not a waiting callback", ErrCallState, id)
	}
	e.removeWaiting(c)
	e.dropCall(c)
	return e.out, nil
}

// CallbackFailed: the callback originate did not connect. The agent becomes Ready;
// the entry is retried later (at its place) up to Config.CallbackRetries times.
func (e *Engine) CallbackFailed(now time.Time, id CallID) ([]Decision, error) {
	e.begin()
	c, err := e.callByID(id)
	if err != nil {
		return nil, err
	}
	if !c.callback || c.state != CallOffered || len(c.ringing) == 0 {
		return nil, fmt.Errorf("%w: call %q is not an originating callback", ErrCallState, id)
	}
	e.callbackFailed(c, now)
	return e.out, nil
}

func (e *Engine) callbackFailed(c *call, now time.Time) {
	a := c.ringing[0]
	c.ringing = c.ringing[:0]
	c.state = CallParked
	e.timers.cancel(timerEntry{kind: tOffer, a: a})
	a.call = nil
	e.setAgentState(a, Ready, "", now)
	c.cbAttempts++
	if c.cbAttempts >= e.cfg.CallbackRetries {
		e.emit(Decision{Kind: DecCallbackDropped, Call: c.id, Queue: c.q.cfg.ID, Number: c.number})
		e.dropCall(c)
	} else {
		e.timers.set(timerEntry{at: now.Add(e.cfg.CallbackRetryDelay).UnixNano(), kind: tCallbackRetry, c: c})
	}
	e.agentFree(a, now)
}

// OfferAccepted: agent answered the offer (or the callback / dialer call connected).
// With ring-all the first accept wins and the other agents are withdrawn.
func (e *Engine) OfferAccepted(now time.Time, id CallID, agentID AgentID) ([]Decision, error) {
	e.begin()
	c, a, err := e.offered(id, agentID)
	if err != nil {
		return nil, err
	}
	if _, err := e.step(a, inAccept); err != nil {
		return nil, err
	}
	e.timers.cancel(timerEntry{kind: tOffer, a: a})
	c.ringing = slices.DeleteFunc(c.ringing, func(x *agent) bool { return x == a })
	c.state = CallConnected
	c.agent = a
	c.answered = now
	e.timers.cancel(timerEntry{kind: tMaxWait, c: c})
	e.timers.cancel(timerEntry{kind: tAnnounce, c: c})
	e.timers.cancel(timerEntry{kind: tRelax, c: c})
	e.setAgentState(a, Talking, "", now)
	for len(c.ringing) > 0 {
		e.endOffer(c.ringing[0], now, offerEndWithdrawn, "answered-elsewhere", "")
	}
	if q := c.q; q != nil && c.consult {
		q.counters.consultsAnswered++
	} else if q != nil && !c.outbound && !c.callback {
		wait := now.Sub(c.waitStart())
		q.counters.answered++
		q.counters.waitAnswered += wait
		if wait <= q.cfg.ServiceLevel {
			q.counters.answeredWithin++
		}
	}
	return e.out, nil
}

// offered validates that call id is currently offered to agent.
func (e *Engine) offered(id CallID, agentID AgentID) (*call, *agent, error) {
	a, err := e.agent(agentID)
	if err != nil {
		return nil, nil, err
	}
	c, ok := e.calls[id]
	if ok && a.call == c && a.state == Reserved {
		return c, a, nil
	}
	if a.lastOffer == id {
		switch a.lastOfferEnd {
		case offerEndTimeout:
			return nil, nil, fmt.Errorf("%w: call %q agent %q", ErrOfferTimedOut, id, agentID)
		case offerEndWithdrawn:
			return nil, nil, fmt.Errorf("%w: call %q agent %q", ErrOfferWithdrawn, id, agentID)
		}
	}
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownCall, id)
	}
	return nil, nil, fmt.Errorf("%w: call %q agent %q", ErrNotOffered, id, agentID)
}

// OfferRejected: the agent declined. It goes NotReady (Config.RejectReason) and the
// call returns to its place when nobody else is ringing.
func (e *Engine) OfferRejected(now time.Time, id CallID, agentID AgentID) ([]Decision, error) {
	e.begin()
	_, a, err := e.offered(id, agentID)
	if err != nil {
		return nil, err
	}
	if _, err := e.step(a, inReject); err != nil {
		return nil, err
	}
	e.endOffer(a, now, offerEndNone, "rejected", e.cfg.RejectReason)
	return e.out, nil
}

// OfferTimedOut: ring-no-answer reported by the orchestrator (the engine also times
// offers out itself in Tick). The agent goes NotReady (Config.MissedReason).
func (e *Engine) OfferTimedOut(now time.Time, id CallID, agentID AgentID) ([]Decision, error) {
	e.begin()
	c, a, err := e.offered(id, agentID)
	if err != nil {
		return nil, err
	}
	e.timeoutOffer(a, c, now)
	return e.out, nil
}

func (e *Engine) timeoutOffer(a *agent, c *call, now time.Time) {
	if c.callback {
		e.callbackFailed(c, now)
		return
	}
	e.endOffer(a, now, offerEndTimeout, "timeout", e.cfg.MissedReason)
}

// CallHeld / CallUnheld track hold on a connected call.
func (e *Engine) CallHeld(now time.Time, id CallID) ([]Decision, error) {
	return e.holdInput(now, id, inHold)
}

// CallUnheld takes the call off hold.
func (e *Engine) CallUnheld(now time.Time, id CallID) ([]Decision, error) {
	return e.holdInput(now, id, inUnhold)
}

func (e *Engine) holdInput(now time.Time, id CallID, in agentInput) ([]Decision, error) {
	e.begin()
	c, err := e.callByID(id)
	if err != nil {
		return nil, err
	}
	if c.state != CallConnected {
		return nil, fmt.Errorf("%w: call %q is %s", ErrCallState, id, c.state)
	}
	a := c.agent
	t, err := e.step(a, in)
	if err != nil {
		return nil, err
	}
	if in == inHold {
		c.held = now
	} else {
		c.holdTime += now.Sub(c.held)
	}
	e.setAgentState(a, t.to, "", now)
	return e.out, nil
}

// CallEnded: a connected call hung up. The agent enters wrap-up (agent override, else
// the queue's; zero wrap-up goes straight to Ready or the pending pause). For a call
// that was not connected this is CallAbandoned.
func (e *Engine) CallEnded(now time.Time, id CallID) ([]Decision, error) {
	c, err := e.callByID(id)
	if err != nil {
		e.begin()
		return nil, err
	}
	if c.state != CallConnected {
		return e.CallAbandoned(now, id)
	}
	e.begin()
	a := c.agent
	if _, err := e.step(a, inEnd); err != nil {
		return nil, err
	}
	talk := now.Sub(c.answered)
	a.answered++
	a.talk += talk
	a.lastTalk = talk
	a.call = nil
	wrap := time.Duration(0)
	if c.q != nil {
		wrap = c.q.cfg.WrapUp
		if !c.consult {
			c.q.counters.talkTotal += talk
		}
	}
	if a.cfg.WrapUp != nil {
		wrap = *a.cfg.WrapUp
	}
	a.wrapQ, a.wrapStart = c.q, now
	if c.outbound || c.consult {
		a.wrapQ = nil
	}
	a.wrapUntil = time.Time{}
	if wrap > 0 {
		a.wrapUntil = now.Add(wrap)
	}
	// handle time so far (talk); wrap added when it ends
	if a.wrapQ != nil {
		a.wrapQ.counters.handleTotal += talk
	}
	e.setAgentState(a, WrapUp, "", now)
	e.emit(Decision{Kind: DecWrapUpStarted, Call: c.id, Agent: a.id, Deadline: a.wrapUntil})
	e.dropCall(c)
	if wrap > 0 {
		e.timers.set(timerEntry{at: a.wrapUntil.UnixNano(), kind: tWrap, a: a})
	} else {
		e.finishWrap(a, now, false)
	}
	return e.out, nil
}

// WrapUpDone: the agent finished after-call work (wrapup.done).
func (e *Engine) WrapUpDone(now time.Time, id AgentID) ([]Decision, error) {
	e.begin()
	a, err := e.agent(id)
	if err != nil {
		return nil, err
	}
	if _, err := e.step(a, inWrapDone); err != nil {
		return nil, err
	}
	e.finishWrap(a, now, false)
	return e.out, nil
}

// finishWrap leaves wrap-up: to LoggedOut / NotReady when requested during the call,
// else Ready (and routes). readyCmd: an explicit "ready" clears a pending pause.
func (e *Engine) finishWrap(a *agent, now time.Time, readyCmd bool) {
	e.timers.cancel(timerEntry{kind: tWrap, a: a})
	if q := a.wrapQ; q != nil {
		handle := now.Sub(a.wrapStart)
		q.counters.handleTotal += handle
		q.counters.handled++
		// rolling AHT uses talk + wrap of this call
		e.recordAHT(q, handle+a.lastTalk)
		a.wrapQ = nil
	}
	if readyCmd {
		a.pendingPause = false
	}
	switch {
	case a.pendingLogout:
		a.pendingLogout, a.pendingPause = false, false
		e.setAgentState(a, LoggedOut, "", now)
	case a.pendingPause:
		a.pendingPause = false
		e.setAgentState(a, NotReady, a.pendingReason, now)
	default:
		e.setAgentState(a, Ready, "", now)
		e.agentFree(a, now)
	}
}

func (e *Engine) recordAHT(q *queueState, d time.Duration) {
	if len(q.aht) < cap(q.aht) {
		q.aht = append(q.aht, d)
		q.ahtSum += d
		return
	}
	if len(q.aht) == 0 {
		return
	}
	q.ahtSum += d - q.aht[q.ahtNext]
	q.aht[q.ahtNext] = d
	q.ahtNext = (q.ahtNext + 1) % len(q.aht)
}

func (e *Engine) rollingAHT(q *queueState) time.Duration {
	if len(q.aht) == 0 {
		return e.cfg.DefaultAHT
	}
	return q.ahtSum / time.Duration(len(q.aht))
}

// ---- timers ----

// NextTimer is the earliest time at which Tick has work; ok is false if none.
func (e *Engine) NextTimer() (time.Time, bool) {
	if len(e.timers.items) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, e.timers.items[0].at), true
}

// Tick fires every timer due at or before now: offer timeouts (ring-no-answer),
// wrap-up ends, skill relaxation, max wait overflow, announcements, callback retries.
func (e *Engine) Tick(now time.Time) []Decision {
	e.begin()
	limit := now.UnixNano()
	for len(e.timers.items) > 0 && e.timers.items[0].at <= limit {
		t := e.timers.items[0]
		e.timers.cancel(t)
		e.fire(t, now)
	}
	return e.out
}

func (e *Engine) fire(t timerEntry, now time.Time) {
	switch t.kind {
	case tOffer:
		a := t.a
		if a.state == Reserved && a.call != nil {
			e.timeoutOffer(a, a.call, now)
		}
	case tWrap:
		if t.a.state == WrapUp {
			e.finishWrap(t.a, now, false)
		}
	case tRelax:
		c := t.c
		if c.stage+1 >= len(c.plan.stages) {
			return
		}
		wasHeaped := c.state == CallWaiting && c.hidx >= 0
		if wasHeaped {
			c.cls.calls.remove(c)
			c.q.waiting--
		}
		c.stage++
		c.cls = c.plan.stages[c.stage]
		if c.stage+1 < len(c.plan.stages) {
			e.timers.set(timerEntry{at: c.enq.Add(c.q.cfg.Relax[c.stage].After).UnixNano(), kind: tRelax, c: c})
		}
		if wasHeaped {
			e.enqueue(c, now)
		}
	case tMaxWait:
		c := t.c
		q := c.q
		switch c.state {
		case CallWaiting:
			if c.callback {
				return
			}
			if q.cfg.MaxWaitTarget.Kind == TargetCallback {
				e.emit(Decision{Kind: DecOfferCallback, Call: c.id, Queue: q.cfg.ID, Target: q.cfg.MaxWaitTarget, Reason: "max-wait"})
				return
			}
			if q.cfg.MaxWaitTarget.Kind == TargetNone {
				return
			}
			e.removeWaiting(c)
			q.counters.overflowed++
			e.leave(c, q, q.cfg.MaxWaitTarget, DecOverflow, "max-wait", now)
		case CallOffered:
			// let the ringing finish; check again after the offer timeout
			e.timers.set(timerEntry{at: now.Add(q.cfg.OfferTimeout).UnixNano(), kind: tMaxWait, c: c})
		}
	case tAnnounce:
		c := t.c
		if c.state == CallWaiting && !c.callback {
			e.announce(c, now)
		}
		if c.state == CallWaiting || c.state == CallOffered {
			e.timers.set(timerEntry{at: now.Add(c.q.cfg.Announce.Every).UnixNano(), kind: tAnnounce, c: c})
		}
	case tCallbackRetry:
		c := t.c
		if c.state == CallParked {
			e.enqueue(c, now)
		}
	}
}

// position is 1 + the number of waiting calls in the queue served before c.
func (e *Engine) position(c *call) int {
	pos := 1
	for _, cl := range c.q.classes {
		for _, o := range cl.calls.items {
			if o != c && callLess(o, c) {
				pos++
			}
		}
	}
	return pos
}

// ewt estimates the wait of the call at position pos: pos × rolling AHT / serving
// agents (logged in and not paused); -1 when nobody serves the queue.
func (e *Engine) ewt(q *queueState, pos int) time.Duration {
	if q.available == 0 {
		return -1
	}
	return time.Duration(pos) * e.rollingAHT(q) / time.Duration(q.available)
}

func roundUp(d, to time.Duration) time.Duration {
	if d <= 0 || to <= 0 {
		return d
	}
	return (d + to - 1) / to * to
}

func (e *Engine) announce(c *call, now time.Time) {
	pos := e.position(c)
	w := roundUp(e.ewt(c.q, pos), c.q.cfg.Announce.Round)
	if c.annDone && !c.q.cfg.Announce.Always && pos == c.lastPos && w == c.lastEWT {
		return
	}
	c.annDone, c.lastPos, c.lastEWT = true, pos, w
	e.emit(Decision{Kind: DecAnnounce, Call: c.id, Queue: c.q.cfg.ID, Position: pos, EWT: w})
}

// checkLeaveEmpty overflows every waiting call of q when its leave-when-empty rule holds.
func (e *Engine) checkLeaveEmpty(q *queueState, now time.Time) {
	if !emptyBy(q.cfg.LeaveEmpty, q) || q.waiting == 0 {
		return
	}
	for _, cl := range q.classes {
		for cl.calls.len() > 0 {
			c := cl.calls.top()
			e.removeWaiting(c)
			if c.callback {
				// keep-your-place callbacks survive; park them until agents return
				c.state = CallParked
				e.timers.set(timerEntry{at: now.Add(e.cfg.CallbackRetryDelay).UnixNano(), kind: tCallbackRetry, c: c})
				continue
			}
			q.counters.overflowed++
			e.leave(c, q, q.cfg.EmptyTarget, DecOverflow, "empty", now)
		}
	}
}

// ---- outbound blending ----

// DialerReserve reserves a Ready agent for an outbound (dialer or manual) call id.
// Report OfferAccepted when it connects and DialerRelease if it fails. Inbound takes
// precedence because only agents with no waiting inbound call they can take are Ready.
func (e *Engine) DialerReserve(now time.Time, id CallID, agentID AgentID) ([]Decision, error) {
	e.begin()
	a, err := e.agent(agentID)
	if err != nil {
		return nil, err
	}
	if _, dup := e.calls[id]; dup || id == "" {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateCall, id)
	}
	if _, err := e.step(a, inOffer); err != nil {
		return nil, err
	}
	c := e.newCall()
	c.id, c.outbound, c.arrived, c.enq, c.seq, c.hidx = id, true, now, now, e.nextSeq(), -1
	for i := range c.tidx {
		c.tidx[i] = -1
	}
	e.calls[id] = c
	e.removeReady(a)
	a.call = c
	a.lastOffer, a.lastOfferEnd = id, offerEndNone
	c.state = CallOffered
	c.ringing = append(c.ringing, a)
	e.setAgentState(a, Reserved, "", now)
	return e.out, nil
}

// DialerRelease: the outbound attempt failed; the agent becomes Ready.
func (e *Engine) DialerRelease(now time.Time, id CallID) ([]Decision, error) {
	e.begin()
	c, err := e.callByID(id)
	if err != nil {
		return nil, err
	}
	if !c.outbound || c.state != CallOffered || len(c.ringing) == 0 {
		return nil, fmt.Errorf("%w: %q is not a pending outbound call", ErrCallState, id)
	}
	a := c.ringing[0]
	a.call = nil
	a.lastOfferEnd = offerEndWithdrawn
	e.setAgentState(a, Ready, "", now)
	e.dropCall(c)
	e.agentFree(a, now)
	return e.out, nil
}

func (a *agent) inCampaign(campaign string) bool {
	return campaign == "" || slices.Contains(a.cfg.Campaigns, campaign)
}

// AgentsFree lists Ready agents assigned to campaign ("" = any), sorted by id. An
// agent whose audio path is down (AgentAudio) is not free for outbound calls: the
// called person would be connected to silence.
func (e *Engine) AgentsFree(campaign string) []AgentID {
	var out []AgentID
	for _, a := range e.agents {
		if a.state == Ready && !a.noAudio && a.inCampaign(campaign) {
			out = append(out, a.id)
		}
	}
	slices.Sort(out)
	return out
}

// AgentsLikelyFree counts campaign agents Ready now or expected free within d: talking
// agents whose talk time so far plus d reaches the AHT of their queue, and agents in
// wrap-up ending within d.
func (e *Engine) AgentsLikelyFree(now time.Time, campaign string, d time.Duration) int {
	n := 0
	for _, a := range e.agents {
		if !a.inCampaign(campaign) || a.noAudio {
			continue
		}
		switch a.state {
		case Ready:
			n++
		case Talking, OnHold:
			aht := e.cfg.DefaultAHT
			if a.call != nil && a.call.q != nil {
				aht = e.rollingAHT(a.call.q)
			}
			if a.call != nil && now.Sub(a.call.answered)+d >= aht && !a.pendingPause && !a.pendingLogout {
				n++
			}
		case WrapUp:
			if !a.wrapUntil.IsZero() && !a.wrapUntil.After(now.Add(d)) && !a.pendingPause && !a.pendingLogout {
				n++
			}
		}
	}
	return n
}

// EstimatedWait is the EWT a caller joining queue now would be told (-1: unknown).
func (e *Engine) EstimatedWait(queue QueueID) (time.Duration, error) {
	q, ok := e.queues[queue]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownQueue, queue)
	}
	return e.ewt(q, q.waiting+1), nil
}
