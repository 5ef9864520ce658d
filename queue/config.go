package queue

import (
	"fmt"
	"strings"
	"time"
)

// AgentID names an agent (the username). CallID names a call. QueueID names a queue.
type (
	AgentID string
	CallID  string
	QueueID string
)

// Strategy picks which ready agent gets a call.
type Strategy uint8

// Strategies. The zero value is LongestIdle.
const (
	LongestIdle   Strategy = iota // agent idle the longest (since last call or since ready)
	RoundRobin                    // next member after the last one offered, in member order
	FewestCalls                   // fewest answered calls
	LeastTalkTime                 // least total talk time
	Linear                        // first ready member in the configured member order
	Random                        // uniformly random ready member (seeded, deterministic)
	RingAll                       // every eligible ready agent at once; first accept wins
	SkillsBest                    // highest sum of levels of the skills the call asks for, then longest idle
)

func (s Strategy) String() string {
	switch s {
	case LongestIdle:
		return "longest-idle"
	case RoundRobin:
		return "round-robin"
	case FewestCalls:
		return "fewest-calls"
	case LeastTalkTime:
		return "least-talk-time"
	case Linear:
		return "linear"
	case Random:
		return "random"
	case RingAll:
		return "ring-all"
	case SkillsBest:
		return "skills"
	}
	return "unknown"
}

// ParseStrategy parses the String() form ("" is longest-idle).
func ParseStrategy(s string) (Strategy, error) {
	if s == "" {
		return LongestIdle, nil
	}
	for st := LongestIdle; st <= SkillsBest; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown strategy %q", ErrInvalidConfig, s)
}

// TargetKind says where an overflowing / closed / full call goes.
type TargetKind uint8

// Target kinds.
const (
	TargetNone      TargetKind = iota // no action configured (call stays / is rejected with Hangup)
	TargetHangup                      // play Target.Value (announcement) then hang up
	TargetQueue                       // move to queue Target.Value (done inside the engine)
	TargetNumber                      // dial external number Target.Value
	TargetVoicemail                   // voicemail box Target.Value
	TargetCallback                    // offer the caller a keep-your-place callback
)

func (k TargetKind) String() string {
	switch k {
	case TargetNone:
		return "none"
	case TargetHangup:
		return "hangup"
	case TargetQueue:
		return "queue"
	case TargetNumber:
		return "number"
	case TargetVoicemail:
		return "voicemail"
	case TargetCallback:
		return "callback"
	}
	return "unknown"
}

// Target is an overflow / closed / full destination.
type Target struct {
	Kind  TargetKind
	Value string
}

// EmptyRule is a join-when-empty / leave-when-empty condition.
type EmptyRule uint8

// Empty rules.
const (
	EmptyIgnore      EmptyRule = iota // always join / never leave
	EmptyNoLoggedIn                   // "empty" = no member logged in
	EmptyNoAvailable                  // "empty" = no member logged in and not paused
)

func (r EmptyRule) String() string {
	switch r {
	case EmptyIgnore:
		return "ignore"
	case EmptyNoLoggedIn:
		return "no-logged-in"
	case EmptyNoAvailable:
		return "no-available"
	}
	return "unknown"
}

// Member is an agent's membership in a queue. Tier 1 is offered first; higher tiers
// only when all lower tiers are busy (and only up to the queue's current tier limit).
type Member struct {
	Agent AgentID
	Tier  int
}

// RelaxStep widens a waiting call's requirement once it has waited After.
type RelaxStep struct {
	After      time.Duration
	DropSkills []string // skills (or prefixes before ':') removed from the expression
	TierLimit  int      // if > 0, members up to this tier become eligible
}

// AnnounceConfig configures position / EWT announcements.
type AnnounceConfig struct {
	Every  time.Duration // 0 = no periodic announcements
	First  time.Duration // delay of the first one (default Every)
	Always bool          // announce even when position and EWT did not change
	Round  time.Duration // EWT is rounded up to this (default 1 min)
}

// QueueConfig describes one queue.
type QueueConfig struct {
	ID       QueueID
	Strategy Strategy
	Members  []Member // order matters for linear and round-robin
	// Skills is the queue's required skill expression (per-call Call.Skills overrides it).
	Skills    string
	TierLimit int // initial highest eligible tier; 0 = all tiers
	Relax     []RelaxStep
	Weight    int // a higher-weight queue's calls are offered first to shared agents

	MaxLength     int           // 0 = unlimited; a call arriving at a full queue goes to FullTarget
	FullTarget    Target        // default: hangup
	MaxWait       time.Duration // 0 = unlimited
	MaxWaitTarget Target
	JoinEmpty     EmptyRule
	LeaveEmpty    EmptyRule
	EmptyTarget   Target

	ServiceLevel time.Duration // SL threshold, default 20 s
	ShortAbandon time.Duration // default 5 s
	WrapUp       time.Duration // agent override wins
	OfferTimeout time.Duration // default Config.OfferTimeout
	AgeEvery     time.Duration // priority ageing: +1 priority per AgeEvery waited; 0 = strict priority
	Hours        *Schedule     // nil = always open
	ClosedTarget Target        // default: hangup
	Announce     AnnounceConfig
	// OfferWithoutAudio lets the queue offer its calls to an agent whose audio path
	// is down (Engine.AgentAudio: a browser softphone whose ICE failed or never
	// connected). Default false: such an agent is skipped by this queue.
	OfferWithoutAudio bool
}

// AgentConfig describes one agent.
type AgentConfig struct {
	ID        AgentID
	Skills    SkillLevels
	WrapUp    *time.Duration // overrides the queue's wrap-up when set
	Campaigns []string       // outbound campaigns the agent may be paced for
}

// Config configures an Engine.
type Config struct {
	Queues []QueueConfig
	Agents []AgentConfig

	OfferTimeout    time.Duration // default 20 s
	MissedReason    string        // not-ready reason after ring-no-answer; default "missed"
	RejectReason    string        // not-ready reason after a reject; default "rejected"
	DefaultPriority int           // priority of a call that gives 0; default 5
	DefaultAHT      time.Duration // AHT before a queue has history; default 3 min
	AHTWindow       int           // calls in the rolling AHT; default 100
	CallbackTimeout time.Duration // originate of a callback must connect within; default 60 s
	CallbackRetries int           // attempts before a callback is dropped; default 3
	// CallbackRetryDelay parks a failed callback before it is retried; default 5 min.
	CallbackRetryDelay time.Duration
	Seed               uint64 // seed for the random strategy
}

// Priorities are 1 (lowest) .. MaxPriority (most urgent).
const MaxPriority = 10

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.OfferTimeout == 0 {
		c.OfferTimeout = 20 * time.Second
	}
	if c.MissedReason == "" {
		c.MissedReason = "missed"
	}
	if c.RejectReason == "" {
		c.RejectReason = "rejected"
	}
	if c.DefaultPriority == 0 {
		c.DefaultPriority = 5
	}
	if c.DefaultAHT == 0 {
		c.DefaultAHT = 3 * time.Minute
	}
	if c.AHTWindow == 0 {
		c.AHTWindow = 100
	}
	if c.CallbackTimeout == 0 {
		c.CallbackTimeout = time.Minute
	}
	if c.CallbackRetries == 0 {
		c.CallbackRetries = 3
	}
	if c.CallbackRetryDelay == 0 {
		c.CallbackRetryDelay = 5 * time.Minute
	}
	return c
}

// Validate checks the configuration (after defaults).
func (c Config) Validate() error {
	if c.OfferTimeout < 0 || c.DefaultAHT < 0 || c.CallbackTimeout < 0 || c.CallbackRetryDelay < 0 {
		return fmt.Errorf("%w: negative duration", ErrInvalidConfig)
	}
	if c.DefaultPriority < 1 || c.DefaultPriority > MaxPriority {
		return fmt.Errorf("%w: default priority %d not in 1..%d", ErrInvalidConfig, c.DefaultPriority, MaxPriority)
	}
	if c.AHTWindow < 1 || c.CallbackRetries < 1 {
		return fmt.Errorf("%w: AHTWindow and CallbackRetries must be >= 1", ErrInvalidConfig)
	}
	agents := map[AgentID]bool{}
	for _, a := range c.Agents {
		if err := a.Validate(); err != nil {
			return err
		}
		if agents[a.ID] {
			return fmt.Errorf("%w: duplicate agent %q", ErrInvalidConfig, a.ID)
		}
		agents[a.ID] = true
	}
	queues := map[QueueID]bool{}
	for _, q := range c.Queues {
		if err := q.Validate(); err != nil {
			return err
		}
		if queues[q.ID] {
			return fmt.Errorf("%w: duplicate queue %q", ErrInvalidConfig, q.ID)
		}
		queues[q.ID] = true
		for _, m := range q.Members {
			if !agents[m.Agent] {
				return fmt.Errorf("%w: queue %q member %q: %w", ErrInvalidConfig, q.ID, m.Agent, ErrUnknownAgent)
			}
		}
	}
	return nil
}

// Validate checks one agent's configuration.
func (a AgentConfig) Validate() error {
	if a.ID == "" {
		return fmt.Errorf("%w: agent without id", ErrInvalidConfig)
	}
	for name, lvl := range a.Skills {
		if name == "" || lvl < 1 || lvl > MaxSkillLevel {
			return fmt.Errorf("%w: agent %q skill %q level %d not in 1..%d", ErrInvalidConfig, a.ID, name, lvl, MaxSkillLevel)
		}
	}
	if a.WrapUp != nil && *a.WrapUp < 0 {
		return fmt.Errorf("%w: agent %q negative wrap-up", ErrInvalidConfig, a.ID)
	}
	return nil
}

// Validate checks one queue's configuration (skill expression, schedule, limits).
func (q QueueConfig) Validate() error {
	if q.ID == "" {
		return fmt.Errorf("%w: queue without id", ErrInvalidConfig)
	}
	if q.Strategy > SkillsBest {
		return fmt.Errorf("%w: queue %q: unknown strategy %d", ErrInvalidConfig, q.ID, q.Strategy)
	}
	if _, err := ParseSkillExpr(q.Skills); err != nil {
		return fmt.Errorf("%w: queue %q: %w", ErrInvalidConfig, q.ID, err)
	}
	if q.MaxLength < 0 || q.MaxWait < 0 || q.WrapUp < 0 || q.OfferTimeout < 0 || q.AgeEvery < 0 ||
		q.ServiceLevel < 0 || q.ShortAbandon < 0 || q.Announce.Every < 0 || q.Announce.First < 0 || q.TierLimit < 0 {
		return fmt.Errorf("%w: queue %q: negative limit", ErrInvalidConfig, q.ID)
	}
	seen := map[AgentID]bool{}
	for _, m := range q.Members {
		if seen[m.Agent] {
			return fmt.Errorf("%w: queue %q: duplicate member %q", ErrInvalidConfig, q.ID, m.Agent)
		}
		seen[m.Agent] = true
		if m.Tier < 0 {
			return fmt.Errorf("%w: queue %q: member %q negative tier", ErrInvalidConfig, q.ID, m.Agent)
		}
	}
	var last time.Duration
	for i, r := range q.Relax {
		if r.After <= last && i > 0 || r.After <= 0 {
			return fmt.Errorf("%w: queue %q: relax steps must have increasing positive waits", ErrInvalidConfig, q.ID)
		}
		last = r.After
	}
	if q.Hours != nil {
		if _, err := q.Hours.compile(); err != nil {
			return fmt.Errorf("%w: queue %q: %w", ErrInvalidConfig, q.ID, err)
		}
	}
	for _, t := range []Target{q.FullTarget, q.MaxWaitTarget, q.EmptyTarget, q.ClosedTarget} {
		if t.Kind > TargetCallback {
			return fmt.Errorf("%w: queue %q: unknown target kind %d", ErrInvalidConfig, q.ID, t.Kind)
		}
		if t.Kind == TargetQueue && QueueID(t.Value) == q.ID {
			return fmt.Errorf("%w: queue %q overflows to itself", ErrInvalidConfig, q.ID)
		}
	}
	return nil
}

func (q QueueConfig) withDefaults(c Config) QueueConfig {
	if q.ServiceLevel == 0 {
		q.ServiceLevel = 20 * time.Second
	}
	if q.ShortAbandon == 0 {
		q.ShortAbandon = 5 * time.Second
	}
	if q.OfferTimeout == 0 {
		q.OfferTimeout = c.OfferTimeout
	}
	if q.Announce.Every > 0 && q.Announce.First == 0 {
		q.Announce.First = q.Announce.Every
	}
	if q.Announce.Round == 0 {
		q.Announce.Round = time.Minute
	}
	for i := range q.Members {
		if q.Members[i].Tier == 0 {
			q.Members[i].Tier = 1
		}
	}
	return q
}

// ParseTarget parses "kind[:value]" as written in configuration files:
// "" (none), "hangup[:announcement]", "queue:<id>", "number:<e164>",
// "voicemail:<box>", "callback".
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, nil
	}
	kind, value, _ := strings.Cut(s, ":")
	for k := TargetNone; k <= TargetCallback; k++ {
		if k.String() == kind {
			if (k == TargetQueue || k == TargetNumber) && value == "" {
				return Target{}, fmt.Errorf("%w: target %q needs a value", ErrInvalidConfig, s)
			}
			return Target{Kind: k, Value: value}, nil
		}
	}
	return Target{}, fmt.Errorf("%w: unknown target %q", ErrInvalidConfig, s)
}

// String renders a target in ParseTarget's form.
func (t Target) String() string {
	if t.Value == "" {
		return t.Kind.String()
	}
	return t.Kind.String() + ":" + t.Value
}

// ParseEmptyRule parses "ignore" (or ""), "no-logged-in", "no-available".
func ParseEmptyRule(s string) (EmptyRule, error) {
	if s == "" {
		return EmptyIgnore, nil
	}
	for r := EmptyIgnore; r <= EmptyNoAvailable; r++ {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown empty rule %q", ErrInvalidConfig, s)
}
