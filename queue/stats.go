package queue

import (
	"fmt"
	"slices"
	"time"
)

// AgentSnapshot is one agent's state for desktops and wallboards.
type AgentSnapshot struct {
	ID            AgentID
	State         AgentState
	Reason        string
	Since         time.Time
	Call          CallID // offered or connected call
	PendingPause  bool
	PendingReason string
	PendingLogout bool
	WrapUpUntil   time.Time // zero: manual wrap-up or not in wrap-up
	Answered      int
	TalkTime      time.Duration
	Queues        []QueueID
	Occupancy     float64 // busy / (busy + ready) since login
}

// CallSnapshot is one call's state.
type CallSnapshot struct {
	ID       CallID
	Queue    QueueID
	State    CallState
	Priority int
	Arrived  time.Time
	Position int           // waiting calls only
	EWT      time.Duration // waiting calls only (-1: unknown)
	Agents   []AgentID     // ringing, or the connected agent
	Callback bool
	Number   string
	Outbound bool
}

// Snapshot is a consistent copy of the whole engine state.
type Snapshot struct {
	At     time.Time
	Agents []AgentSnapshot
	Calls  []CallSnapshot
}

// Snapshot copies the engine state (agents and calls sorted by id).
func (e *Engine) Snapshot(now time.Time) Snapshot {
	s := Snapshot{At: now}
	for _, a := range e.agents {
		as := AgentSnapshot{
			ID: a.id, State: a.state, Reason: a.reason, Since: a.since,
			PendingPause: a.pendingPause, PendingReason: a.pendingReason, PendingLogout: a.pendingLogout,
			Answered: a.answered, TalkTime: a.talk,
		}
		if a.state == WrapUp {
			as.WrapUpUntil = a.wrapUntil
		}
		if a.call != nil {
			as.Call = a.call.id
		}
		for _, m := range a.members {
			as.Queues = append(as.Queues, m.q.cfg.ID)
		}
		slices.Sort(as.Queues)
		as.Occupancy, _ = e.agentOccupancy(a, now)
		s.Agents = append(s.Agents, as)
	}
	slices.SortFunc(s.Agents, func(x, y AgentSnapshot) int { return cmpStr(string(x.ID), string(y.ID)) })
	for _, c := range e.calls {
		cs := CallSnapshot{ID: c.id, State: c.state, Priority: c.priority, Arrived: c.arrived,
			Callback: c.callback, Number: c.number, Outbound: c.outbound}
		if c.q != nil {
			cs.Queue = c.q.cfg.ID
		}
		if c.state == CallWaiting && c.hidx >= 0 {
			cs.Position = e.position(c)
			cs.EWT = e.ewt(c.q, cs.Position)
		}
		for _, a := range c.ringing {
			cs.Agents = append(cs.Agents, a.id)
		}
		if c.agent != nil {
			cs.Agents = append(cs.Agents, c.agent.id)
		}
		s.Calls = append(s.Calls, cs)
	}
	slices.SortFunc(s.Calls, func(x, y CallSnapshot) int { return cmpStr(string(x.ID), string(y.ID)) })
	return s
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (e *Engine) agentOccupancy(a *agent, now time.Time) (float64, bool) {
	st := a.stateTime
	if d := now.Sub(a.since); d > 0 && !a.since.IsZero() {
		st[a.state] += d
	}
	busy := st[Reserved] + st[Talking] + st[OnHold] + st[WrapUp]
	return Occupancy(busy, st[Ready])
}

// QueueStats is a live wallboard line for one queue, computed from raw counters
// (cumulative since the queue was created; diff two readings for an interval).
type QueueStats struct {
	Queue         QueueID
	Open          bool
	Waiting       int
	Callbacks     int // keep-your-place callbacks waiting
	LongestWait   time.Duration
	AgentsByState [WrapUp + 1]int
	Entered       int
	// Consults and ConsultsAnswered count agents' consultations routed through the
	// queue (Call.Consult); they are not in Entered or Counts.
	Consults         int
	ConsultsAnswered int
	Overflowed       int
	Closed           int
	Counts           SLCounts
	// ServiceLevel by formula (index SLFormula); -1 when there is nothing to measure.
	ServiceLevel [SLShortAbandonsNeutral + 1]float64
	ASA          time.Duration
	AHT          time.Duration // talk + hold + wrap-up, average of handled calls
	RollingAHT   time.Duration // used for EWT
	AbandonRate  float64       // short abandons excluded
	Occupancy    float64       // members: busy / (busy + ready)
	EWT          time.Duration // for a caller joining now (-1: unknown)
}

// QueueStats returns the queue's live KPIs.
func (e *Engine) QueueStats(now time.Time, id QueueID) (QueueStats, error) {
	q, ok := e.queues[id]
	if !ok {
		return QueueStats{}, fmt.Errorf("%w: %q", ErrUnknownQueue, id)
	}
	k := q.counters
	s := QueueStats{
		Queue: id, Open: e.isOpen(q, now), Waiting: q.waiting,
		Entered: k.entered, Overflowed: k.overflowed, Closed: k.closed,
		Consults: k.consults, ConsultsAnswered: k.consultsAnswered,
		Counts: SLCounts{Answered: k.answered, AnsweredWithin: k.answeredWithin, Abandoned: k.abandoned,
			AbandonedWithin: k.abandonedWithin, ShortAbandoned: k.shortAbandoned},
		ASA:        Average(k.waitAnswered, k.answered),
		AHT:        Average(k.handleTotal, k.handled),
		RollingAHT: e.rollingAHT(q),
		EWT:        e.ewt(q, q.waiting+1),
	}
	for f := SLAbandonsMet; f <= SLShortAbandonsNeutral; f++ {
		v, ok := ServiceLevel(s.Counts, f)
		if !ok {
			v = -1
		}
		s.ServiceLevel[f] = v
	}
	s.AbandonRate, _ = AbandonRate(s.Counts, true)
	for _, cl := range q.classes {
		for _, c := range cl.calls.items {
			if c.callback {
				s.Callbacks++
			}
			if w := now.Sub(c.waitStart()); w > s.LongestWait && !c.callback {
				s.LongestWait = w
			}
		}
	}
	var busy, ready time.Duration
	for _, m := range q.members {
		s.AgentsByState[m.a.state]++
		st := m.a.stateTime
		if d := now.Sub(m.a.since); d > 0 && !m.a.since.IsZero() {
			st[m.a.state] += d
		}
		busy += st[Reserved] + st[Talking] + st[OnHold] + st[WrapUp]
		ready += st[Ready]
	}
	s.Occupancy, _ = Occupancy(busy, ready)
	return s, nil
}

// Queues lists the configured queue ids, sorted.
func (e *Engine) Queues() []QueueID {
	out := make([]QueueID, 0, len(e.queues))
	for id := range e.queues {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
