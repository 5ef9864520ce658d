package dialer

import (
	"fmt"
	"time"
	_ "time/tzdata" // contacts' zones must resolve on hosts without a zoneinfo database

	"github.com/ctid/ctid/queue"
)

// Mode is how a campaign paces its lines.
type Mode uint8

// Pacing modes.
const (
	Preview     Mode = iota // the agent sees the contact first and asks for the dial
	Progressive             // exactly one line per ready agent, the agent reserved while it rings
	Predictive              // more lines than ready agents, from the connect rate and the abandon budget
)

func (m Mode) String() string {
	switch m {
	case Preview:
		return "preview"
	case Progressive:
		return "progressive"
	case Predictive:
		return "predictive"
	}
	return "unknown"
}

// ParseMode parses the String() form.
func ParseMode(s string) (Mode, error) {
	for m := Preview; m <= Predictive; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: mode %q", ErrInvalidConfig, s)
}

// State is a campaign's lifecycle state.
type State uint8

// Campaign states: Draft → Running ⇄ Paused → Finished, and Stopped from any
// non-terminal state. Finished and Stopped are terminal.
const (
	Draft State = iota
	Running
	Paused
	Finished
	Stopped
)

func (s State) String() string {
	switch s {
	case Draft:
		return "draft"
	case Running:
		return "running"
	case Paused:
		return "paused"
	case Finished:
		return "finished"
	case Stopped:
		return "stopped"
	}
	return "unknown"
}

// Input is the closed set of lifecycle inputs.
type Input uint8

// Lifecycle inputs.
const (
	InStart  Input = iota // draft → running
	InPause               // running → paused
	InResume              // paused → running
	InFinish              // running|paused → finished (list exhausted, or supervisor)
	InStop                // draft|running|paused → stopped
)

func (i Input) String() string {
	switch i {
	case InStart:
		return "start"
	case InPause:
		return "pause"
	case InResume:
		return "resume"
	case InFinish:
		return "finish"
	case InStop:
		return "stop"
	}
	return "unknown"
}

// next is the campaign state machine: the one switch every lifecycle change goes through.
func next(from State, in Input) (State, bool) {
	switch {
	case from == Draft && in == InStart:
		return Running, true
	case from == Running && in == InPause:
		return Paused, true
	case from == Paused && in == InResume:
		return Running, true
	case (from == Running || from == Paused) && in == InFinish:
		return Finished, true
	case (from == Draft || from == Running || from == Paused) && in == InStop:
		return Stopped, true
	}
	return from, false
}

// Window is a calling window in the contact's local wall-clock time: on Days, from
// From to To after local midnight (To exclusive; To <= 24h). A DST change moves the
// instants, never the wall-clock bounds.
type Window struct {
	Days     []time.Weekday
	From, To time.Duration
}

// Retry says when a number is tried again after an outcome.
type Retry struct {
	After   time.Duration // delay after the attempt ended
	NextDay bool          // not before the next local day's window opening
	Final   bool          // never again on this number
}

// RetryRules per outcome (answered-human calls are retried per their disposition).
type RetryRules struct {
	Busy       Retry // default 10 min
	NoAnswer   Retry // default 2 h
	Machine    Retry // default next day
	Congestion Retry // default 15 min
	Rejected   Retry // default 2 h
	Abandoned  Retry // safe-harbour abandon; default 72 h (the lockout)
	FollowUp   Retry // a connected call whose disposition is neither final nor a callback; default 24 h
}

// Disposition is an outcome an agent records in wrap-up.
type Disposition struct {
	Code     string
	Final    bool // the contact is done
	Callback bool // a callback time is required
	DNC      bool // the number goes on the do-not-call list (and the contact is done)
	Sale     bool // counts as a sale
	BadNum   bool // the number is wrong: never dialled again (other numbers still are)
}

// DefaultDispositions is the disposition set of a campaign that gives none.
func DefaultDispositions() []Disposition {
	return []Disposition{
		{Code: "sale", Final: true, Sale: true},
		{Code: "not_interested", Final: true},
		{Code: "callback", Callback: true},
		{Code: "no_decision"},
		{Code: "wrong_number", BadNum: true},
		{Code: "do_not_call", Final: true, DNC: true},
	}
}

// PacingConfig tunes the predictive model (docs/DIALER.md).
type PacingConfig struct {
	// TargetShare is the share of the abandon limit the model aims at per decision
	// (default 0.3: aim at 0.9 % expected per decision when the limit is 3 %; the
	// snapshot model is optimistic about timing, so measured rates land near 2×).
	TargetShare float64
	// BrakeAt is the share of the limit at which the brake starts (default 0.8); the
	// brake reaches progressive (no over-dial) when the rolling rate reaches the limit.
	BrakeAt float64
	// PriorConnectRate and PriorAnswerDelay seed the estimates before measurements
	// (defaults 0.3 and 10 s); PriorWeight is their weight in dials (default 50).
	PriorConnectRate float64
	PriorAnswerDelay time.Duration
	PriorWeight      int
	// SoonWeight is the weight of the agents expected to free up within the horizon
	// (default 0.5: on average they free up half-way, after some of the answers).
	SoonWeight float64
	// PriorAHT seeds the measured handle time (connect → disposition); default 3 min.
	PriorAHT time.Duration
	// ConnectWindow is how many finished attempts the connect rate is measured over (default 2000).
	ConnectWindow int
	// MaxRatio caps lines in flight per available agent (default 15).
	MaxRatio float64
	// MinSample pseudo-calls at the model's own target are added to the measured
	// abandon rate before the brake looks at it (default 100): the first abandons of a
	// window do not brake on a handful of calls.
	MinSample int
}

// PreviewConfig holds the preview-mode skip rules.
type PreviewConfig struct {
	MaxSkips  int           // skips per contact before it must be dialled; default 2
	SkipDelay time.Duration // a skipped contact is offered again after; default 1 h
	AutoDial  time.Duration // dial automatically after the agent saw it this long; 0 = never
}

// Config configures one campaign's dialer.
type Config struct {
	ID   string
	Mode Mode

	MaxLines    int           // concurrent calls: ringing, answered and connected (not previews); default 100
	RingTimeout time.Duration // default 20 s, at least MinRingTimeout
	// AbandonLimit is the cap on abandons / live-answered calls over AbandonWindow
	// (defaults 0.03 and 24 h; use 30 days for the FTC/FCC rule).
	AbandonLimit  float64
	AbandonWindow time.Duration
	SafeHarbour   time.Duration // agent must be connected within this of the answer; default 2 s
	Lockout       time.Duration // a number abandoned is not re-dialled without a guaranteed agent; default 72 h

	Windows     []Window // default Mon–Fri 09:00–21:00
	DefaultZone string   // zone of contacts that give none; default "UTC"

	Retry                 RetryRules
	MaxAttemptsPerNumber  int // default 3
	MaxAttemptsPerContact int // default 6

	Dispositions []Disposition // default DefaultDispositions()
	// CallbackFallback: a personal callback whose agent is not free this long after
	// its time goes to any agent (default 30 min; negative = never).
	CallbackFallback time.Duration

	Pacing  PacingConfig
	Preview PreviewConfig

	// IsDNC reports numbers on the internal / national do-not-call lists (E.164).
	// Checked at every selection; nil = only the campaign's own list.
	IsDNC func(e164 string) bool
}

// MinRingTimeout is the shortest ring timeout a campaign may use (Ofcom: 15 s).
const MinRingTimeout = 15 * time.Second

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxLines == 0 {
		c.MaxLines = 100
	}
	if c.RingTimeout == 0 {
		c.RingTimeout = 20 * time.Second
	}
	if c.AbandonLimit == 0 {
		c.AbandonLimit = 0.03
	}
	if c.AbandonWindow == 0 {
		c.AbandonWindow = 24 * time.Hour
	}
	if c.SafeHarbour == 0 {
		c.SafeHarbour = 2 * time.Second
	}
	if c.Lockout == 0 {
		c.Lockout = 72 * time.Hour
	}
	if c.Windows == nil {
		wd := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
		c.Windows = []Window{{Days: wd, From: 9 * time.Hour, To: 21 * time.Hour}}
	}
	if c.DefaultZone == "" {
		c.DefaultZone = "UTC"
	}
	r := &c.Retry
	def := func(x *Retry, d Retry) {
		if *x == (Retry{}) {
			*x = d
		}
	}
	def(&r.Busy, Retry{After: 10 * time.Minute})
	def(&r.NoAnswer, Retry{After: 2 * time.Hour})
	def(&r.Machine, Retry{NextDay: true})
	def(&r.Congestion, Retry{After: 15 * time.Minute})
	def(&r.Rejected, Retry{After: 2 * time.Hour})
	def(&r.Abandoned, Retry{After: 72 * time.Hour})
	def(&r.FollowUp, Retry{After: 24 * time.Hour})
	if c.MaxAttemptsPerNumber == 0 {
		c.MaxAttemptsPerNumber = 3
	}
	if c.MaxAttemptsPerContact == 0 {
		c.MaxAttemptsPerContact = 6
	}
	if c.Dispositions == nil {
		c.Dispositions = DefaultDispositions()
	}
	if c.CallbackFallback == 0 {
		c.CallbackFallback = 30 * time.Minute
	}
	p := &c.Pacing
	if p.TargetShare == 0 {
		p.TargetShare = 0.3
	}
	if p.BrakeAt == 0 {
		p.BrakeAt = 0.8
	}
	if p.PriorConnectRate == 0 {
		p.PriorConnectRate = 0.3
	}
	if p.PriorAnswerDelay == 0 {
		p.PriorAnswerDelay = 10 * time.Second
	}
	if p.SoonWeight == 0 {
		p.SoonWeight = 0.5
	}
	if p.PriorAHT == 0 {
		p.PriorAHT = 3 * time.Minute
	}
	if p.PriorWeight == 0 {
		p.PriorWeight = 50
	}
	if p.ConnectWindow == 0 {
		p.ConnectWindow = 2000
	}
	if p.MaxRatio == 0 {
		p.MaxRatio = 15
	}
	if p.MinSample == 0 {
		p.MinSample = 100
	}
	if c.Preview.MaxSkips == 0 {
		c.Preview.MaxSkips = 2
	}
	if c.Preview.SkipDelay == 0 {
		c.Preview.SkipDelay = time.Hour
	}
	return c
}

// Validate checks a defaulted config.
func (c Config) Validate() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: campaign %q: %s", ErrInvalidConfig, c.ID, fmt.Sprintf(f, a...))
	}
	switch {
	case c.ID == "":
		return bad("empty id")
	case c.Mode > Predictive:
		return bad("unknown mode %d", c.Mode)
	case c.MaxLines < 1:
		return bad("max lines %d < 1", c.MaxLines)
	case c.RingTimeout < MinRingTimeout:
		return bad("ring timeout %s < %s", c.RingTimeout, MinRingTimeout)
	case c.AbandonLimit <= 0 || c.AbandonLimit >= 1:
		return bad("abandon limit %g not in (0,1)", c.AbandonLimit)
	case c.AbandonWindow < time.Hour:
		return bad("abandon window %s < 1h", c.AbandonWindow)
	case c.SafeHarbour < 0 || c.Lockout < 0:
		return bad("negative duration")
	case c.MaxAttemptsPerNumber < 1 || c.MaxAttemptsPerContact < 1:
		return bad("max attempts must be >= 1")
	case len(c.Windows) == 0:
		return bad("no calling window")
	case c.Pacing.TargetShare <= 0 || c.Pacing.TargetShare > 1 || c.Pacing.BrakeAt <= 0 || c.Pacing.BrakeAt >= 1:
		return bad("pacing shares must be in (0,1]")
	case c.Pacing.PriorConnectRate <= 0 || c.Pacing.PriorConnectRate > 1 || c.Pacing.PriorAnswerDelay <= 0 || c.Pacing.PriorAHT <= 0 || c.Pacing.SoonWeight < 0 || c.Pacing.SoonWeight > 1:
		return bad("pacing priors out of range")
	case c.Pacing.PriorWeight < 1 || c.Pacing.ConnectWindow < 1 || c.Pacing.MaxRatio < 1 || c.Pacing.MinSample < 1:
		return bad("pacing counts out of range")
	case c.Preview.MaxSkips < 0 || c.Preview.SkipDelay < 0 || c.Preview.AutoDial < 0:
		return bad("preview rules out of range")
	}
	if _, err := time.LoadLocation(c.DefaultZone); err != nil {
		return bad("default zone: %v", err)
	}
	for i, w := range c.Windows {
		if w.From < 0 || w.To > 24*time.Hour || w.From >= w.To || len(w.Days) == 0 {
			return bad("window %d: need days and 0 <= from < to <= 24h", i)
		}
		for _, d := range w.Days {
			if d < time.Sunday || d > time.Saturday {
				return bad("window %d: bad weekday %d", i, d)
			}
		}
	}
	for _, r := range []Retry{c.Retry.Busy, c.Retry.NoAnswer, c.Retry.Machine, c.Retry.Congestion, c.Retry.Rejected, c.Retry.Abandoned, c.Retry.FollowUp} {
		if r.After < 0 {
			return bad("negative retry delay")
		}
	}
	seen := map[string]bool{}
	for _, d := range c.Dispositions {
		if d.Code == "" || seen[d.Code] {
			return bad("disposition code %q empty or repeated", d.Code)
		}
		if d.Callback && d.Final {
			return bad("disposition %q: callback and final", d.Code)
		}
		seen[d.Code] = true
	}
	return nil
}

// Outcome is how an attempt ended (or, for Human, that a person answered).
type Outcome uint8

// Outcomes reported by the orchestrator.
const (
	Human      Outcome = iota // answered by a person: connect an agent within SafeHarbour
	Machine                   // answering machine detected
	Busy                      // busy
	NoAnswer                  // no answer within the ring timeout
	Congestion                // network congestion / all circuits busy
	Rejected                  // the callee declined the call
	Invalid                   // the number does not exist / cannot be dialled
)

func (o Outcome) String() string {
	switch o {
	case Human:
		return "answered-human"
	case Machine:
		return "machine"
	case Busy:
		return "busy"
	case NoAnswer:
		return "no-answer"
	case Congestion:
		return "congestion"
	case Rejected:
		return "rejected"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// Load is what the ACD engine knows about the campaign's agents at a decision.
type Load struct {
	Free       []queue.AgentID // Ready agents of the campaign (queue.Engine.AgentsFree)
	LikelyFree int             // Ready now or free within Dialer.Horizon() (queue.Engine.AgentsLikelyFree)
	// Busy counts the campaign's agents on a call or in wrap-up who will be free again
	// (not pending a pause or logout). When > 0 the model estimates the agents freed
	// within the horizon as Busy × (1 − e^(−horizon/AHT)) with the measured AHT,
	// instead of LikelyFree − len(Free).
	Busy int
}

// LoadFromEngine reads Load from the engine for campaign (call it on the engine's
// goroutine, e.g. inside queue.Loop.Do).
func LoadFromEngine(e *queue.Engine, now time.Time, campaign string, within time.Duration) Load {
	free := e.AgentsFree(campaign)
	// With a horizon longer than any call, "likely free" is every agent who will be
	// free again: Ready + talking + in a timed wrap-up, without pending pauses.
	busy := e.AgentsLikelyFree(now, campaign, 24*time.Hour) - len(free)
	return Load{Free: free, LikelyFree: e.AgentsLikelyFree(now, campaign, within), Busy: max(busy, 0)}
}
