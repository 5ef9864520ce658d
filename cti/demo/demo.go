// Package demo makes a freshly started ctid move: on the embedded ARI emulator it
// injects simulated callers into the sample queues every few seconds (varied caller
// ids, priorities and patience) and runs a few bot agents through the
// orchestrator's agent API (ready → accept → talk → hang up → wrap-up done), so the
// wallboard has numbers and a human agent who goes Ready gets a screen-pop within
// seconds. One goroutine, stopped by its context; nothing here is for production.
package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// ErrInvalidConfig is wrapped by validation errors.
var ErrInvalidConfig = errors.New("demo: invalid configuration")

// Config configures the demo traffic (ctid.yaml demo.*).
type Config struct {
	// Traffic turns the demo on.
	Traffic bool `mapstructure:"traffic"`
	// Every is the mean gap between injected callers (each gap is 0.5–1.5× this).
	Every time.Duration `mapstructure:"every"`
	// Queues receive the callers; empty means every queue of the engine.
	Queues []string `mapstructure:"queues"`
	// Bots are agents the demo drives; each needs a device other than webrtc
	// (e.g. PJSIP/<name>, answered by the emulator).
	Bots []string `mapstructure:"bots"`
	// MaxWaiting stops injecting while this many callers wait in all queues.
	MaxWaiting int `mapstructure:"max_waiting"`
	// Talk, Ring and Wrap bound the bots' random talk time, time to accept and wrap-up.
	TalkMin time.Duration `mapstructure:"talk_min"`
	TalkMax time.Duration `mapstructure:"talk_max"`
	RingMin time.Duration `mapstructure:"ring_min"`
	RingMax time.Duration `mapstructure:"ring_max"`
	WrapMin time.Duration `mapstructure:"wrap_min"`
	WrapMax time.Duration `mapstructure:"wrap_max"`
	// BreakChance is the chance (0..1) that a bot takes a break (not ready,
	// reason "break") after a call, for BreakMin..BreakMax.
	BreakChance float64       `mapstructure:"break_chance"`
	BreakMin    time.Duration `mapstructure:"break_min"`
	BreakMax    time.Duration `mapstructure:"break_max"`
	// PatienceMin/Max bound how long a caller waits before hanging up.
	PatienceMin time.Duration `mapstructure:"patience_min"`
	PatienceMax time.Duration `mapstructure:"patience_max"`
	// HumanPop injects a caller for a human agent who is Ready with nothing waiting
	// in their queues, at most once per HumanPop per agent (0 disables).
	HumanPop time.Duration `mapstructure:"human_pop"`
	// Step is how often the demo looks at the engine (default 250ms).
	Step time.Duration `mapstructure:"step"`
	// Logins are the demo logins printed at start ("user / password"), for a
	// newcomer's first minutes (the tests check the sample config's against its hashes).
	Logins []string `mapstructure:"logins"`
	// Seed makes the traffic reproducible (0: random).
	Seed uint64 `mapstructure:"seed"`
}

// DefaultConfig returns the defaults (traffic off).
func DefaultConfig() Config {
	return Config{
		Every: 4 * time.Second, MaxWaiting: 6,
		TalkMin: 8 * time.Second, TalkMax: 40 * time.Second,
		RingMin: 500 * time.Millisecond, RingMax: 3 * time.Second,
		WrapMin: 2 * time.Second, WrapMax: 8 * time.Second,
		PatienceMin: 20 * time.Second, PatienceMax: 120 * time.Second,
		BreakChance: 0.1, BreakMin: 15 * time.Second, BreakMax: 60 * time.Second,
		HumanPop: 3 * time.Second, Step: 250 * time.Millisecond,
	}
}

// Validate checks c; keys are named as in ctid.yaml (demo.*).
func (c Config) Validate() error {
	if !c.Traffic {
		return nil
	}
	bad := func(key string, v any, why string) error {
		return fmt.Errorf("%w: demo.%s: %v: %s", ErrInvalidConfig, key, v, why)
	}
	switch {
	case c.Every < 100*time.Millisecond:
		return bad("every", c.Every, "must be at least 100ms")
	case c.MaxWaiting < 1:
		return bad("max_waiting", c.MaxWaiting, "must be at least 1")
	case c.TalkMin <= 0 || c.TalkMax < c.TalkMin:
		return bad("talk_min/talk_max", c.TalkMin.String()+"/"+c.TalkMax.String(), "must be positive and min <= max")
	case c.RingMin < 0 || c.RingMax < c.RingMin:
		return bad("ring_min/ring_max", c.RingMin.String()+"/"+c.RingMax.String(), "must not be negative and min <= max")
	case c.WrapMin < 0 || c.WrapMax < c.WrapMin:
		return bad("wrap_min/wrap_max", c.WrapMin.String()+"/"+c.WrapMax.String(), "must not be negative and min <= max")
	case c.PatienceMin <= 0 || c.PatienceMax < c.PatienceMin:
		return bad("patience_min/patience_max", c.PatienceMin.String()+"/"+c.PatienceMax.String(), "must be positive and min <= max")
	case c.BreakChance < 0 || c.BreakChance > 1:
		return bad("break_chance", c.BreakChance, "must be between 0 and 1")
	case c.BreakMin < 0 || c.BreakMax < c.BreakMin:
		return bad("break_min/break_max", c.BreakMin.String()+"/"+c.BreakMax.String(), "must not be negative and min <= max")
	case c.HumanPop < 0:
		return bad("human_pop", c.HumanPop, "must not be negative")
	case c.Step < 10*time.Millisecond || c.Step > 5*time.Second:
		return bad("step", c.Step, "must be between 10ms and 5s")
	}
	seen := map[string]bool{}
	for i, b := range c.Bots {
		if b == "" || seen[b] {
			return bad("bots["+strconv.Itoa(i)+"]", strconv.Quote(b), "must be a unique agent name")
		}
		seen[b] = true
	}
	return nil
}

// Callers injects simulated callers (the embedded emulator).
type Callers interface {
	InjectCall(ctx context.Context, spec ariemu.CallSpec) (string, error)
}

// Agents is the orchestrator's agent API the bots drive.
type Agents interface {
	Snapshot(ctx context.Context) (queue.Snapshot, error)
	AgentLogin(ctx context.Context, agent string) error
	AgentReady(ctx context.Context, agent string) error
	AgentNotReady(ctx context.Context, agent, reason string) error
	Accept(ctx context.Context, agent, callID string) error
	Hangup(ctx context.Context, agent, callID string) error
	WrapUpDone(ctx context.Context, agent string, r cti.WrapUpResult) error
}

// Params are the demo's dependencies.
type Params struct {
	Config  Config
	Log     zerolog.Logger
	Callers Callers
	Agents  Agents
	Now     func() time.Time
}

// Stats count what the demo did (for tests and the log).
type Stats struct {
	Injected   int // callers injected
	HumanPops  int // of which for a human agent who went Ready
	Accepted   int // calls the bots accepted
	HungUp     int // calls the bots ended
	WrappedUp  int // wrap-ups the bots finished
	Breaks     int // breaks the bots took
	Failures   int // API calls that failed (logged)
	MaxWaiting int // most callers seen waiting at once
}

// Demo is the traffic generator; Run drives it.
type Demo struct {
	cfg     Config
	log     zerolog.Logger
	callers Callers
	agents  Agents
	now     func() time.Time
	rng     *rand.Rand
	bots    map[string]bool

	// owned by Run's goroutine
	plans      map[string]*botPlan
	nextInject time.Time
	humanAt    map[string]time.Time
	seq        int
	stats      Stats
	statsCh    chan chan Stats
}

// botPlan is what one bot does with its current call.
type botPlan struct {
	call     queue.CallID
	acceptAt time.Time
	hangAt   time.Time
	wrapAt   time.Time
	wrapFor  queue.CallID
	breakEnd time.Time // on a break until then
}

// New checks the parameters.
func New(p Params) (*Demo, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Callers == nil || p.Agents == nil {
		return nil, fmt.Errorf("%w: Callers and Agents are required", ErrInvalidConfig)
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	seed := p.Config.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	d := &Demo{cfg: p.Config, log: p.Log.With().Str("component", "demo").Logger(), callers: p.Callers, agents: p.Agents,
		now: now, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), bots: map[string]bool{},
		plans: map[string]*botPlan{}, humanAt: map[string]time.Time{}, statsCh: make(chan chan Stats)}
	for _, b := range p.Config.Bots {
		d.bots[b] = true
	}
	return d, nil
}

// Stats returns what the demo has done so far (it asks Run's goroutine).
func (d *Demo) Stats(ctx context.Context) (Stats, error) {
	reply := make(chan Stats, 1)
	select {
	case d.statsCh <- reply:
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
}

// Run generates traffic until ctx ends. It returns nil then.
func (d *Demo) Run(ctx context.Context) error {
	if !d.cfg.Traffic {
		<-ctx.Done()
		return nil
	}
	d.log.Info().Strs("bots", d.cfg.Bots).Dur("every", d.cfg.Every).Msg("demo traffic on: injecting callers and running bot agents")
	t := time.NewTicker(d.cfg.Step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.log.Info().Int("injected", d.stats.Injected).Int("bot_calls", d.stats.Accepted).Msg("demo traffic stopped")
			return nil
		case r := <-d.statsCh:
			r <- d.stats
		case <-t.C:
			d.step(ctx)
		}
	}
}

// opCtx bounds one API call of the demo.
func opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 10*time.Second)
}

func (d *Demo) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)))
}

func (d *Demo) failed(err error, what string, agent string) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	d.stats.Failures++
	d.log.Debug().Err(err).Str("agent", agent).Msg("demo: " + what)
}

// step looks at the engine once and acts: bots, then callers.
func (d *Demo) step(ctx context.Context) {
	octx, cancel := opCtx(ctx)
	snap, err := d.agents.Snapshot(octx)
	cancel()
	if err != nil {
		d.failed(err, "snapshot", "")
		return
	}
	now := d.now()
	waiting := map[queue.QueueID]int{}
	total := 0
	for _, c := range snap.Calls {
		if c.State == queue.CallWaiting && !c.Callback {
			waiting[c.Queue]++
			total++
		}
	}
	d.stats.MaxWaiting = max(d.stats.MaxWaiting, total)
	queues := d.queues(snap)
	for _, a := range snap.Agents {
		if d.bots[string(a.ID)] {
			d.bot(ctx, a, now)
			continue
		}
		if d.cfg.HumanPop > 0 && a.State == queue.Ready && a.Call == "" && total < d.cfg.MaxWaiting {
			d.human(ctx, a, waiting, queues, now)
		}
	}
	if now.Before(d.nextInject) || len(queues) == 0 {
		return
	}
	d.nextInject = now.Add(d.between(d.cfg.Every/2, d.cfg.Every*3/2))
	if total >= d.cfg.MaxWaiting {
		return
	}
	d.inject(ctx, queues[d.rng.IntN(len(queues))])
}

// queues are the queues callers go to: the configured ones, or all that agents serve.
func (d *Demo) queues(s queue.Snapshot) []queue.QueueID {
	if len(d.cfg.Queues) > 0 {
		out := make([]queue.QueueID, 0, len(d.cfg.Queues))
		for _, q := range d.cfg.Queues {
			out = append(out, queue.QueueID(q))
		}
		return out
	}
	var out []queue.QueueID
	for _, a := range s.Agents {
		for _, q := range a.Queues {
			if !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
	}
	slices.Sort(out)
	return out
}

// human gives a Ready human agent a caller of their own when none waits for them.
func (d *Demo) human(ctx context.Context, a queue.AgentSnapshot, waiting map[queue.QueueID]int, queues []queue.QueueID, now time.Time) {
	var mine []queue.QueueID
	for _, q := range a.Queues {
		if waiting[q] > 0 {
			return // the engine offers it at once
		}
		if slices.Contains(queues, q) {
			mine = append(mine, q)
		}
	}
	if len(mine) == 0 || now.Sub(d.humanAt[string(a.ID)]) < d.cfg.HumanPop {
		return
	}
	d.humanAt[string(a.ID)] = now
	if d.inject(ctx, mine[d.rng.IntN(len(mine))]) {
		d.stats.HumanPops++
		d.log.Info().Str("agent", string(a.ID)).Msg("demo: a caller for the agent who went ready")
	}
}

var (
	firstNames = []string{"Jan", "Anna", "Piotr", "Katarzyna", "Tomasz", "Magdalena", "Paweł", "Agnieszka", "John", "Emma", "Oliver", "Zofia"}
	lastNames  = []string{"Kowalski", "Nowak", "Wiśniewska", "Wójcik", "Kamińska", "Lewandowski", "Smith", "Brown", "Zielińska", "Szymański"}
)

// inject places one simulated caller into q.
func (d *Demo) inject(ctx context.Context, q queue.QueueID) bool {
	d.seq++
	prio := 5
	switch r := d.rng.IntN(10); {
	case r == 0:
		prio = 9 // a VIP
	case r < 3:
		prio = 7
	case r == 9:
		prio = 2
	}
	number := "48" + strconv.Itoa(500000000+d.rng.IntN(299999999))
	name := firstNames[d.rng.IntN(len(firstNames))] + " " + lastNames[d.rng.IntN(len(lastNames))]
	if d.rng.IntN(8) == 0 {
		name, number = "", "anonymous" // a withheld number now and then
	}
	spec := ariemu.CallSpec{
		CallerNumber: number, CallerName: name, Dialled: "800100" + strconv.Itoa(100+d.rng.IntN(900)),
		Args:      []string{"inbound", string(q), "priority=" + strconv.Itoa(prio), "ticket=" + strconv.Itoa(10000+d.seq)},
		Behaviour: "talk", Patience: d.between(d.cfg.PatienceMin, d.cfg.PatienceMax),
	}
	octx, cancel := opCtx(ctx)
	defer cancel()
	if _, err := d.callers.InjectCall(octx, spec); err != nil {
		d.failed(err, "inject caller", "")
		return false
	}
	d.stats.Injected++
	return true
}

var dispositions = []string{"resolved", "sale", "callback", "info", "complaint"}

// bot moves one bot agent along: log in, be ready, accept after a ring, talk, hang
// up, finish wrap-up.
func (d *Demo) bot(ctx context.Context, a queue.AgentSnapshot, now time.Time) {
	name := string(a.ID)
	p := d.plans[name]
	if p == nil {
		p = &botPlan{}
		d.plans[name] = p
	}
	octx, cancel := opCtx(ctx)
	defer cancel()
	switch a.State {
	case queue.LoggedOut:
		if err := d.agents.AgentLogin(octx, name); err != nil {
			d.failed(err, "login", name)
			return
		}
		d.failed(d.agents.AgentReady(octx, name), "ready", name)
	case queue.NotReady:
		if now.Before(p.breakEnd) {
			return
		}
		d.failed(d.agents.AgentReady(octx, name), "ready", name)
	case queue.Reserved:
		if a.Call == "" {
			return
		}
		if p.call != a.Call {
			*p = botPlan{call: a.Call, acceptAt: now.Add(d.between(d.cfg.RingMin, d.cfg.RingMax))}
		}
		if !p.acceptAt.IsZero() && !now.Before(p.acceptAt) {
			p.acceptAt = time.Time{}
			if err := d.agents.Accept(octx, name, string(a.Call)); err != nil {
				d.failed(err, "accept", name)
				return
			}
			d.stats.Accepted++
		}
	case queue.Talking, queue.OnHold:
		if a.Call == "" {
			return
		}
		if p.call != a.Call || p.hangAt.IsZero() {
			*p = botPlan{call: a.Call, hangAt: now.Add(d.between(d.cfg.TalkMin, d.cfg.TalkMax))}
		}
		if !now.Before(p.hangAt) {
			p.hangAt = now.Add(d.cfg.TalkMin) // retried later if this fails
			if err := d.agents.Hangup(octx, name, string(a.Call)); err != nil {
				d.failed(err, "hang up", name)
				return
			}
			d.stats.HungUp++
		}
	case queue.WrapUp:
		if p.wrapAt.IsZero() || p.wrapFor != p.call {
			p.wrapFor, p.wrapAt = p.call, now.Add(d.between(d.cfg.WrapMin, d.cfg.WrapMax))
		}
		if !now.Before(p.wrapAt) {
			p.wrapAt = now.Add(d.cfg.WrapMax) // retried later if this fails
			if !a.PendingPause && d.rng.Float64() < d.cfg.BreakChance {
				// Not ready during wrap-up is pending: the break starts as the wrap-up ends.
				if err := d.agents.AgentNotReady(octx, name, "break"); err != nil {
					d.failed(err, "break", name)
				} else {
					p.breakEnd = now.Add(d.between(d.cfg.BreakMin, d.cfg.BreakMax))
					d.stats.Breaks++
				}
			}
			err := d.agents.WrapUpDone(octx, name, cti.WrapUpResult{Disposition: dispositions[d.rng.IntN(len(dispositions))], Notes: "demo bot"})
			if err != nil {
				d.failed(err, "wrap-up done", name)
				return
			}
			d.stats.WrappedUp++
		}
	}
}
