package cti

import (
	"fmt"
	"strings"
	"time"
)

// Fallback actions for a call ctid cannot place.
const (
	FallbackHangup   = "hangup"
	FallbackContinue = "continue"
)

// DeviceWebRTC is the default agent device: the browser softphone.
const DeviceWebRTC = "webrtc"

// AgentDevice says how an agent's audio leg is reached.
type AgentDevice struct {
	Agent string
	// Device is "webrtc" (an ExternalMedia leg relayed to the browser) or an Asterisk
	// endpoint such as "PJSIP/1001" that ctid originates to on accept.
	Device string
	// AutoAnswer asks the SIP device to answer at once (PJSIP only: Call-Info
	// answer-after=0 and Alert-Info auto-answer headers on the originate).
	AutoAnswer bool
}

// Config configures the call orchestration.
type Config struct {
	// MOHClass is played to waiting and held callers.
	MOHClass string
	// Fallback is what happens to a call ctid cannot place (bad arguments, unknown
	// queue): "hangup" with FallbackReason, or "continue" in the dialplan.
	Fallback       string
	FallbackReason string
	// Devices lists agents whose device is not the browser softphone.
	Devices []AgentDevice
	// AgentAnswerTimeout bounds how long an agent's SIP phone may ring after accept.
	AgentAnswerTimeout time.Duration
	// OpTimeout bounds one step of a call flow (several ARI requests).
	OpTimeout time.Duration
	// Desks configures per-queue screen-pop extras (CRM lookup and link, script).
	Desks []QueueDesk
	// CallbackEndpoint enables keep-your-place callbacks: a waiting caller who
	// presses 1 hangs up and keeps their place; when it comes, ctid dials this
	// template ({number} = the caller's number, e.g. PJSIP/{number}@trunk) and
	// connects the reserved agent. Empty disables callbacks.
	CallbackEndpoint string
	// Node names this ctid node in the store's callbacks rows, so that the node
	// restarted after a kill takes back the callbacks it was keeping (and no other
	// node's): keep it stable across restarts and unique per node. Default (New):
	// the host name.
	Node string
	// CallbackPrompt is played when the engine offers a callback (site recording).
	CallbackPrompt string
	// CallbackCallerID is the caller id shown to the called-back customer.
	CallbackCallerID string
	// ExternalEndpoint is how transfers reach outside numbers, with {number}
	// (e.g. PJSIP/{number}@trunk). Empty disables transfers to numbers.
	ExternalEndpoint string
	// ExternalAnswerTimeout bounds how long an outside number may ring (transfers
	// and consultations to numbers).
	ExternalAnswerTimeout time.Duration
	// TransferKeepsEnqueueTime: a caller blind-transferred to a queue keeps their
	// original enqueue time there (for service level, wait KPIs and their place);
	// false counts them as a new arrival.
	TransferKeepsEnqueueTime bool
	// DefaultRegion (ISO 3166 code such as PL) lets the screen-pop show national
	// caller numbers in E.164; numbers with + or 00 are normalised without it.
	DefaultRegion string
	// Wallboard configures the live supervisor wallboard (cti/wallboard.go).
	Wallboard WallboardConfig
	// DesktopGrace is how long an agent whose desktop dropped keeps their calls and
	// stays logged in; a desktop back within it resumes. After it the agent is
	// logged out and a caller they were talking with is queued again ahead of later
	// callers. 0 keeps agents logged in until they or a supervisor log them out.
	DesktopGrace time.Duration
	// Recordings sets per-queue call recording (a queue not listed is never recorded).
	Recordings []QueueRecording
	// Surveys sets per-queue post-call surveys (cti/survey.go).
	Surveys []QueueSurvey
	// Answers sets when a queue's callers are answered (cti/answer.go); a queue not
	// listed answers on arrival.
	Answers []QueueAnswer
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MOHClass:           "default",
		Fallback:           FallbackHangup,
		FallbackReason:     "unallocated",
		AgentAnswerTimeout: 20 * time.Second,
		OpTimeout:          10 * time.Second,
		CallbackPrompt:     "sound:ctid-callback-offer",

		ExternalAnswerTimeout:    30 * time.Second,
		TransferKeepsEnqueueTime: true,
		Wallboard:                DefaultWallboardConfig(),
		DesktopGrace:             2 * time.Minute,
	}
}

// Validate checks c; keys are named as in ctid.yaml (calls.*).
func (c Config) Validate() error {
	if c.MOHClass == "" {
		return fmt.Errorf("%w: calls.moh_class: %q: must not be empty", ErrInvalidConfig, c.MOHClass)
	}
	switch c.Fallback {
	case FallbackHangup, FallbackContinue:
	default:
		return fmt.Errorf("%w: calls.fallback: %q: must be hangup or continue", ErrInvalidConfig, c.Fallback)
	}
	if c.AgentAnswerTimeout < time.Second {
		return fmt.Errorf("%w: calls.agent_answer_timeout: %q: must be at least 1s", ErrInvalidConfig, c.AgentAnswerTimeout)
	}
	if c.DesktopGrace < 0 {
		return fmt.Errorf("%w: calls.desktop_grace: %q: must not be negative", ErrInvalidConfig, c.DesktopGrace)
	}
	if c.OpTimeout <= 0 {
		return fmt.Errorf("%w: calls.op_timeout: %q: must be positive", ErrInvalidConfig, c.OpTimeout)
	}
	if c.CallbackEndpoint != "" && (!strings.Contains(c.CallbackEndpoint, "/") || !strings.Contains(c.CallbackEndpoint, "{number}")) {
		return fmt.Errorf("%w: calls.callback_endpoint: %q: must be TECH/resource with {number}, e.g. PJSIP/{number}@trunk", ErrInvalidConfig, c.CallbackEndpoint)
	}
	if c.ExternalEndpoint != "" && (!strings.Contains(c.ExternalEndpoint, "/") || !strings.Contains(c.ExternalEndpoint, "{number}")) {
		return fmt.Errorf("%w: calls.external_endpoint: %q: must be TECH/resource with {number}, e.g. PJSIP/{number}@trunk", ErrInvalidConfig, c.ExternalEndpoint)
	}
	if c.ExternalAnswerTimeout < time.Second {
		return fmt.Errorf("%w: calls.external_answer_timeout: %q: must be at least 1s", ErrInvalidConfig, c.ExternalAnswerTimeout)
	}
	if c.DefaultRegion != "" && e164("+48221234567", c.DefaultRegion) == "" {
		return fmt.Errorf("%w: calls.default_region: %q: must be an ISO 3166 region code such as PL or GB", ErrInvalidConfig, c.DefaultRegion)
	}
	if err := c.Wallboard.Validate(); err != nil {
		return err
	}
	for i, q := range c.Desks {
		if err := q.validate(i); err != nil {
			return err
		}
	}
	if err := validateRecordings(c.Recordings); err != nil {
		return err
	}
	if err := validateSurveys(c.Surveys); err != nil {
		return err
	}
	if err := validateAnswers(c.Answers); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, d := range c.Devices {
		if d.Agent == "" || seen[d.Agent] {
			return fmt.Errorf("%w: calls.devices[%d].agent: %q: must be a unique agent name", ErrInvalidConfig, i, d.Agent)
		}
		seen[d.Agent] = true
		if d.Device != DeviceWebRTC && !strings.Contains(d.Device, "/") {
			return fmt.Errorf("%w: calls.devices[%d].device: %q: must be webrtc or TECH/resource such as PJSIP/1001", ErrInvalidConfig, i, d.Device)
		}
		if d.AutoAnswer && !isPJSIP(d.Device) {
			return fmt.Errorf("%w: calls.devices[%d].auto_answer: %v: only PJSIP devices can be asked to auto-answer", ErrInvalidConfig, i, d.AutoAnswer)
		}
	}
	return nil
}

func (c Config) deviceOf(agent string) string {
	for _, d := range c.Devices {
		if d.Agent == agent {
			return d.Device
		}
	}
	return DeviceWebRTC
}

func (c Config) deskOf(queue string) (QueueDesk, bool) {
	for _, d := range c.Desks {
		if d.Queue == queue {
			return d, true
		}
	}
	return QueueDesk{}, false
}
