package dialer

import (
	"container/heap"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/ctid/ctid/queue"
)

// DistKind is the shape of a simulated duration.
type DistKind uint8

// Distributions.
const (
	Fixed       DistKind = iota // always Mean
	Exponential                 // exponential with Mean (floored at Min)
	Uniform                     // uniform on [Min, Max]
)

// Dist is a simulated duration distribution.
type Dist struct {
	Kind     DistKind
	Mean     time.Duration
	Min, Max time.Duration
}

func (d Dist) sample(r *rand.Rand) time.Duration {
	switch d.Kind {
	case Exponential:
		x := time.Duration(r.ExpFloat64() * float64(d.Mean))
		return max(x, d.Min)
	case Uniform:
		return d.Min + time.Duration(r.Float64()*float64(d.Max-d.Min))
	}
	return d.Mean
}

// MeanOf is the distribution's mean (for Exponential ignoring the floor).
func (d Dist) MeanOf() time.Duration {
	if d.Kind == Uniform {
		return (d.Min + d.Max) / 2
	}
	return d.Mean
}

// SimConfig describes a synthetic floor and population.
type SimConfig struct {
	Seed     uint64
	Agents   int           // default 100
	Duration time.Duration // logged time simulated per mode; default 4 h
	Modes    []Mode        // default preview, progressive, predictive

	ConnectRate float64 // dials answered by a person; default 0.15
	MachineRate float64 // dials answered by a machine; default 0.10
	BusyRate    float64 // default 0.10
	FailRate    float64 // congestion / invalid / rejected; default 0.03 (the rest: no answer)

	AnswerDelay Dist          // dial → answer (person or machine); default uniform 4–16 s
	Talk        Dist          // default exponential, mean 120 s (floor 10 s)
	WrapUp      time.Duration // fixed after-call work (the engine's wrap-up timer); default 15 s
	AMDDelay    time.Duration // answer → machine detected; default 3 s
	PreviewTime Dist          // preview: the agent reads the contact before dialling; default fixed 10 s
	RingTimeout time.Duration // default 20 s
	SaleRate    float64       // default 0.1

	AbandonLimit float64      // default 0.03
	Pacing       PacingConfig // zero = campaign defaults
}

// WithDefaults fills zero fields.
func (c SimConfig) WithDefaults() SimConfig {
	if c.Agents == 0 {
		c.Agents = 100
	}
	if c.Duration == 0 {
		c.Duration = 4 * time.Hour
	}
	if c.Modes == nil {
		c.Modes = []Mode{Preview, Progressive, Predictive}
	}
	if c.ConnectRate == 0 {
		c.ConnectRate = 0.15
	}
	if c.MachineRate == 0 {
		c.MachineRate = 0.10
	}
	if c.BusyRate == 0 {
		c.BusyRate = 0.10
	}
	if c.FailRate == 0 {
		c.FailRate = 0.03
	}
	if c.AnswerDelay == (Dist{}) {
		c.AnswerDelay = Dist{Kind: Uniform, Min: 4 * time.Second, Max: 16 * time.Second}
	}
	if c.Talk == (Dist{}) {
		c.Talk = Dist{Kind: Exponential, Mean: 120 * time.Second, Min: 10 * time.Second}
	}
	if c.WrapUp == 0 {
		c.WrapUp = 15 * time.Second
	}
	if c.AMDDelay == 0 {
		c.AMDDelay = 3 * time.Second
	}
	if c.PreviewTime == (Dist{}) {
		c.PreviewTime = Dist{Kind: Fixed, Mean: 10 * time.Second}
	}
	if c.RingTimeout == 0 {
		c.RingTimeout = 20 * time.Second
	}
	if c.SaleRate == 0 {
		c.SaleRate = 0.1
	}
	if c.AbandonLimit == 0 {
		c.AbandonLimit = 0.03
	}
	return c
}

// Validate checks a defaulted SimConfig.
func (c SimConfig) Validate() error {
	switch {
	case c.Agents < 1 || c.Agents > 10000:
		return fmt.Errorf("%w: sim agents %d not in 1..10000", ErrInvalidConfig, c.Agents)
	case c.Duration < time.Minute || c.Duration > 7*24*time.Hour:
		return fmt.Errorf("%w: sim duration %s not in 1m..7d", ErrInvalidConfig, c.Duration)
	case c.ConnectRate <= 0 || c.MachineRate < 0 || c.BusyRate < 0 || c.FailRate < 0 ||
		c.ConnectRate+c.MachineRate+c.BusyRate+c.FailRate > 1:
		return fmt.Errorf("%w: sim rates must be >= 0 and sum to <= 1", ErrInvalidConfig)
	case c.AnswerDelay.Kind == Uniform && (c.AnswerDelay.Min < 0 || c.AnswerDelay.Max < c.AnswerDelay.Min):
		return fmt.Errorf("%w: sim answer delay range", ErrInvalidConfig)
	case c.AnswerDelay.MeanOf() >= c.RingTimeout || c.AnswerDelay.Max > c.RingTimeout:
		return fmt.Errorf("%w: sim answers must come before the ring timeout", ErrInvalidConfig)
	case c.Talk.MeanOf() <= 0 || c.WrapUp < 0 || c.AMDDelay < 0:
		return fmt.Errorf("%w: sim durations", ErrInvalidConfig)
	}
	return nil
}

// ModeResult is one mode's outcome.
type ModeResult struct {
	Mode            Mode
	Dials           int
	Connects        int     // live answers (people)
	Conversations   int     // live answers connected to an agent
	Abandons        int     // safe-harbour abandons
	AbandonPct      float64 // abandons / live answers × 100
	MaxRollingPct   float64 // the highest rolling-window abandon rate right after an abandon, × 100 (the cap must hold at each)
	TalkMinPerHour  float64 // agent talk minutes per logged agent-hour
	HandleMinPerHr  float64 // talk + wrap-up minutes per logged agent-hour (occupancy × 60)
	ContactsPerHour float64 // conversations per logged agent-hour
	IdlePct         float64 // share of logged time not talking or in wrap-up (waiting: ready, previewing, reserved on a ringing line)
	ReadyPct        float64 // share of logged time agents sat Ready with no call, line or preview
	PeakLines       int
	DialsPerConv    float64
}

// SimResult is what Simulate returns; Err is set if the engine or dialer refused an
// input (a bug: the simulator drives them only through their public API).
type SimResult struct {
	Config  SimConfig
	Results []ModeResult
	Err     error
}

// Simulate runs the real pacing code (Dialer.Plan / Pace) and the real ACD engine
// (queue.Engine, agents' state and wrap-up) on a simulated clock against a synthetic
// population, once per mode. Same config and seed: same result.
func Simulate(cfg SimConfig) SimResult {
	cfg = cfg.WithDefaults()
	res := SimResult{Config: cfg}
	if err := cfg.Validate(); err != nil {
		res.Err = err
		return res
	}
	for i, m := range cfg.Modes {
		s, err := newSim(cfg, m, cfg.Seed+uint64(i)*0x9e3779b97f4a7c15)
		if err == nil {
			err = s.run()
		}
		if err != nil {
			res.Err = fmt.Errorf("sim %s: %w", m, err)
			return res
		}
		res.Results = append(res.Results, s.result())
	}
	return res
}

// WriteSimTable prints r as an aligned text table.
func WriteSimTable(w io.Writer, r SimResult) error {
	if r.Err != nil {
		return r.Err
	}
	c := r.Config
	if _, err := fmt.Fprintf(w, "%d agents, %s each, connect %.0f%%, machine %.0f%%, talk %s mean, wrap-up %s, answer delay %s mean, ring timeout %s, abandon cap %.1f%%, seed %d\n\n",
		c.Agents, c.Duration, c.ConnectRate*100, c.MachineRate*100, c.Talk.MeanOf(), c.WrapUp, c.AnswerDelay.MeanOf(), c.RingTimeout, c.AbandonLimit*100, c.Seed); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if _, err := fmt.Fprintln(tw, "mode\tdials\tconnects\tabandons\tabandon %\tmax rolling %\ttalk min/agent-h\thandle min/agent-h\tcontacts/agent-h\tidle %\tready-idle %\tpeak lines\t"); err != nil {
		return err
	}
	for _, m := range r.Results {
		if _, err := fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t\n", m.Mode, m.Dials, m.Connects, m.Abandons,
			m.AbandonPct, m.MaxRollingPct, m.TalkMinPerHour, m.HandleMinPerHr, m.ContactsPerHour, m.IdlePct, m.ReadyPct, m.PeakLines); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// RunSim simulates cfg and prints the table (for `ctid sim dialer`).
func RunSim(w io.Writer, cfg SimConfig) error {
	return WriteSimTable(w, Simulate(cfg))
}

type evKind uint8

const (
	evPace evKind = iota
	evAnswer
	evFail
	evTalkEnd
	evSafeHarbour
	evPreviewDial
	evDisposition
)

type simEvent struct {
	at      time.Time
	seq     int64
	kind    evKind
	attempt AttemptID
	agent   queue.AgentID
	outcome Outcome
}

type evHeap []simEvent

func (h evHeap) Len() int { return len(h) }
func (h evHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h evHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *evHeap) Push(x any) {
	if e, ok := x.(simEvent); ok {
		*h = append(*h, e)
	}
}
func (h *evHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type simAgent struct {
	state     queue.AgentState
	since     time.Time
	idle      time.Duration
	talkStart time.Time
	talking   bool
}

type sim struct {
	cfg     SimConfig
	mode    Mode
	rng     *rand.Rand
	eng     *queue.Engine
	d       *Dialer
	ev      evHeap
	seq     int64
	start   time.Time
	end     time.Time
	now     time.Time
	agents  map[queue.AgentID]*simAgent
	ids     []queue.AgentID
	waiting []AttemptID // answered pooled lines waiting for an agent, FIFO
	nextID  int
	talk    time.Duration
	wrap    time.Duration
	convs   int
	peak    int
	// maxRolling is the highest rolling abandon rate right after an abandon
	maxRolling float64
}

const simCampaign = "sim"

func newSim(cfg SimConfig, m Mode, seed uint64) (*sim, error) {
	s := &sim{cfg: cfg, mode: m, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)), agents: map[queue.AgentID]*simAgent{}}
	s.start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s.end = s.start.Add(cfg.Duration)
	s.now = s.start
	wrap := cfg.WrapUp
	ac := make([]queue.AgentConfig, cfg.Agents)
	for i := range ac {
		id := queue.AgentID(fmt.Sprintf("a%04d", i))
		ac[i] = queue.AgentConfig{ID: id, WrapUp: &wrap, Campaigns: []string{simCampaign}}
		s.ids = append(s.ids, id)
		s.agents[id] = &simAgent{state: queue.LoggedOut, since: s.start}
	}
	eng, err := queue.NewEngine(queue.Config{Agents: ac, DefaultAHT: cfg.Talk.MeanOf(), Seed: seed})
	if err != nil {
		return nil, err
	}
	s.eng = eng
	all := []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
	s.d, err = New(Config{
		ID: simCampaign, Mode: m, MaxLines: cfg.Agents * 20, RingTimeout: cfg.RingTimeout,
		AbandonLimit: cfg.AbandonLimit, Windows: []Window{{Days: all, From: 0, To: 24 * time.Hour}},
		MaxAttemptsPerNumber: 3, Pacing: cfg.Pacing,
	})
	if err != nil {
		return nil, err
	}
	if err := s.d.Apply(InStart); err != nil {
		return nil, err
	}
	if err := s.refill(); err != nil {
		return nil, err
	}
	for _, id := range s.ids {
		if err := s.engine(s.eng.AgentLogin(s.now, id)); err != nil {
			return nil, err
		}
		if err := s.engine(s.eng.AgentReady(s.now, id)); err != nil {
			return nil, err
		}
	}
	s.push(simEvent{at: s.now, kind: evPace})
	return s, nil
}

func (s *sim) push(e simEvent) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.ev, e)
}

// refill keeps a few thousand fresh contacts in the list (bounded memory).
func (s *sim) refill() error {
	if s.d.newHead < len(s.d.newQ)-1000 {
		return nil
	}
	cs := make([]Contact, 2000)
	for i := range cs {
		s.nextID++
		cs[i] = Contact{ID: ContactID("c" + strconv.Itoa(s.nextID)), Numbers: []string{"+4420" + strconv.Itoa(70000000+s.nextID)}}
	}
	return s.d.AddContacts(cs)
}

// engine applies engine decisions to the agents' bookkeeping.
func (s *sim) engine(ds []queue.Decision, err error) error {
	if err != nil {
		return err
	}
	for _, dc := range ds {
		if dc.Kind != queue.DecAgentState {
			continue
		}
		a, ok := s.agents[dc.Agent]
		if !ok {
			continue
		}
		if a.state == queue.Ready {
			a.idle += s.now.Sub(a.since)
		}
		a.state, a.since = dc.State, s.now
	}
	return nil
}

func (s *sim) run() error {
	for len(s.ev) > 0 {
		if t, ok := s.eng.NextTimer(); ok && !t.After(s.ev[0].at) {
			if t.After(s.end) {
				break
			}
			s.now = t
			if err := s.engine(s.eng.Tick(t), nil); err != nil {
				return err
			}
			if err := s.agentsFreed(); err != nil {
				return err
			}
			continue
		}
		e, ok := heap.Pop(&s.ev).(simEvent)
		if !ok || e.at.After(s.end) {
			break
		}
		s.now = e.at
		if err := s.handle(e); err != nil {
			return err
		}
	}
	s.now = s.end
	for _, a := range s.agents {
		if a.state == queue.Ready {
			a.idle += s.end.Sub(a.since)
		}
		if a.talking {
			s.talk += s.end.Sub(a.talkStart)
		}
	}
	return nil
}

func (s *sim) handle(e simEvent) error {
	switch e.kind {
	case evPace:
		s.push(simEvent{at: s.now.Add(time.Second), kind: evPace})
		return s.plan()
	case evAnswer, evFail:
		return s.lineResult(e.attempt, e.outcome)
	case evTalkEnd:
		a := s.agents[e.agent]
		a.talking = false
		s.talk += s.now.Sub(a.talkStart)
		s.wrap += s.cfg.WrapUp
		if err := s.engine(s.eng.CallEnded(s.now, queue.CallID(e.attempt))); err != nil {
			return err
		}
		s.push(simEvent{at: s.now.Add(s.cfg.WrapUp), kind: evDisposition, attempt: e.attempt})
		return s.agentsFreed()
	case evDisposition: // wrapup.done comes with the disposition
		code := "not_interested"
		if s.rng.Float64() < s.cfg.SaleRate {
			code = "sale"
		}
		if _, err := s.d.Disposition(s.now, e.attempt, code, CallbackRequest{}); err != nil {
			return err
		}
	case evSafeHarbour:
		for _, eff := range s.d.Tick(s.now) {
			if eff.Kind == EffSafeHarbour {
				s.maxRolling = max(s.maxRolling, s.d.abandon.Rate(s.now))
				for i, id := range s.waiting {
					if id == eff.Attempt {
						s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
						break
					}
				}
			}
			// EffHangup needs nothing: the population already ends unanswered lines
			// at the ring timeout (evFail NoAnswer).
		}
	case evPreviewDial:
		dl, err := s.d.PreviewDial(s.now, e.attempt)
		if err != nil {
			return err
		}
		s.place(dl)
	}
	return nil
}

// plan asks the dialer for lines (or, in preview, hands contacts to free agents).
func (s *sim) plan() error {
	if err := s.refill(); err != nil {
		return err
	}
	if s.mode == Preview {
		for _, ag := range s.eng.AgentsFree(simCampaign) {
			dl, err := s.d.Preview(s.now, ag)
			if err != nil {
				return err
			}
			if err := s.engine(s.eng.DialerReserve(s.now, queue.CallID(dl.Attempt), ag)); err != nil {
				return err
			}
			s.push(simEvent{at: s.now.Add(s.cfg.PreviewTime.sample(s.rng)), kind: evPreviewDial, attempt: dl.Attempt})
		}
		return nil
	}
	pl := s.d.Plan(s.now, LoadFromEngine(s.eng, s.now, simCampaign, s.d.Horizon()))
	for _, dl := range pl.Dials {
		if dl.Agent != "" {
			if err := s.engine(s.eng.DialerReserve(s.now, queue.CallID(dl.Attempt), dl.Agent)); err != nil {
				return err
			}
		}
		s.place(dl)
	}
	return nil
}

// place draws the line's fate from the population.
func (s *sim) place(dl Dial) {
	c := s.cfg
	u := s.rng.Float64()
	ev := simEvent{attempt: dl.Attempt}
	switch {
	case u < c.ConnectRate:
		ev.kind, ev.outcome, ev.at = evAnswer, Human, s.now.Add(c.AnswerDelay.sample(s.rng))
	case u < c.ConnectRate+c.MachineRate:
		ev.kind, ev.outcome, ev.at = evFail, Machine, s.now.Add(c.AnswerDelay.sample(s.rng)+c.AMDDelay)
	case u < c.ConnectRate+c.MachineRate+c.BusyRate:
		ev.kind, ev.outcome, ev.at = evFail, Busy, s.now.Add(2*time.Second+time.Duration(s.rng.Float64()*float64(4*time.Second)))
	case u < c.ConnectRate+c.MachineRate+c.BusyRate+c.FailRate:
		ev.kind, ev.outcome, ev.at = evFail, Congestion, s.now.Add(time.Second+time.Duration(s.rng.Float64()*float64(2*time.Second)))
	default:
		ev.kind, ev.outcome, ev.at = evFail, NoAnswer, s.now.Add(c.RingTimeout)
	}
	s.push(ev)
	if n := s.d.ringing + s.d.waiting; n > s.peak {
		s.peak = n
	}
}

func (s *sim) lineResult(id AttemptID, o Outcome) error {
	eff, err := s.d.Result(s.now, id, o)
	if err != nil {
		return err
	}
	switch eff.Kind {
	case EffConnect:
		return s.connect(id, eff.Agent)
	case EffFindAgent:
		s.waiting = append(s.waiting, id)
		s.push(simEvent{at: eff.Deadline, kind: evSafeHarbour})
		return s.agentsFreed()
	case EffRetry, EffDone:
		if eff.Agent != "" {
			if err := s.engine(s.eng.DialerRelease(s.now, queue.CallID(id))); err != nil {
				return err
			}
			return s.agentsFreed()
		}
	}
	return nil
}

// connect puts agent (already reserved for the call in the engine) on the answered line.
func (s *sim) connect(id AttemptID, agent queue.AgentID) error {
	if err := s.engine(s.eng.OfferAccepted(s.now, queue.CallID(id), agent)); err != nil {
		return err
	}
	if err := s.d.Connected(s.now, id, agent); err != nil {
		return err
	}
	a := s.agents[agent]
	a.talking, a.talkStart = true, s.now
	s.convs++
	s.push(simEvent{at: s.now.Add(s.cfg.Talk.sample(s.rng)), kind: evTalkEnd, attempt: id, agent: agent})
	return nil
}

// agentsFreed serves answered pooled lines waiting for an agent, then lets the
// dialer react to the freed agents at once.
func (s *sim) agentsFreed() error {
	for len(s.waiting) > 0 {
		free := s.eng.AgentsFree(simCampaign)
		if len(free) == 0 {
			break
		}
		// longest idle first: the free agent Ready the longest
		best := free[0]
		for _, f := range free[1:] {
			if s.agents[f].since.Before(s.agents[best].since) {
				best = f
			}
		}
		id := s.waiting[0]
		s.waiting = s.waiting[1:]
		if err := s.engine(s.eng.DialerReserve(s.now, queue.CallID(id), best)); err != nil {
			return err
		}
		if err := s.connect(id, best); err != nil {
			return err
		}
	}
	if len(s.eng.AgentsFree(simCampaign)) > 0 {
		return s.plan()
	}
	return nil
}

func (s *sim) result() ModeResult {
	st := s.d.Stats(s.end)
	hours := float64(s.cfg.Agents) * s.cfg.Duration.Hours()
	var idle time.Duration
	for _, a := range s.agents {
		idle += a.idle
	}
	r := ModeResult{
		Mode: s.mode, Dials: st.Dials, Connects: st.Humans, Conversations: s.convs, Abandons: st.Abandons,
		TalkMinPerHour:  s.talk.Minutes() / hours,
		HandleMinPerHr:  (s.talk + s.wrap).Minutes() / hours,
		ContactsPerHour: float64(s.convs) / hours,
		ReadyPct:        100 * idle.Hours() / hours,
		PeakLines:       s.peak,
		MaxRollingPct:   100 * s.maxRolling,
	}
	if st.Humans > 0 {
		r.AbandonPct = 100 * float64(st.Abandons) / float64(st.Humans)
	}
	if s.convs > 0 {
		r.DialsPerConv = float64(st.Dials) / float64(s.convs)
	}
	r.HandleMinPerHr = math.Min(r.HandleMinPerHr, 60)
	r.IdlePct = 100 * (1 - r.HandleMinPerHr/60)
	return r
}
