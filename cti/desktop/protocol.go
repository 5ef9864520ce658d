package desktop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Stable error codes of replies and REST errors.
const (
	CodeNotFound        = "not_found"
	CodeForbidden       = "forbidden"
	CodeInvalidState    = "invalid_state"
	CodeInvalidArgument = "invalid_argument"
	CodeUnauthenticated = "unauthenticated"
	CodeRateLimited     = "rate_limited"
	CodeInternal        = "internal"
)

// Error is an error with a stable code. The orchestrator returns these (possibly
// wrapped) from HandleCommand; any other error becomes "internal" with a generic
// message (its text is logged, not sent).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// httpStatus maps a code to its REST status.
func httpStatus(code string) int {
	switch code {
	case CodeNotFound:
		return http.StatusNotFound
	case CodeForbidden:
		return http.StatusForbidden
	case CodeInvalidState:
		return http.StatusConflict
	case CodeInvalidArgument:
		return http.StatusBadRequest
	case CodeUnauthenticated:
		return http.StatusUnauthorized
	case CodeRateLimited:
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// Command is one decoded, validated client command. Args holds every field of the
// frame except id and cmd; use Decode to bind them to a struct (e.g. TransferArgs).
type Command struct {
	ID   json.RawMessage // the client's id, echoed verbatim (a JSON string or number)
	Name string
	Args map[string]json.RawMessage
	raw  []byte
}

// Decode unmarshals the whole frame into v (unknown fields ignored).
func (c Command) Decode(v any) error {
	if err := json.Unmarshal(c.raw, v); err != nil {
		return fmt.Errorf("decode %s: %w", c.Name, err)
	}
	return nil
}

// String returns the string argument key, or "" when absent or not a string.
func (c Command) String(key string) string {
	var s string
	if raw, ok := c.Args[key]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// CallID returns the call_id argument.
func (c Command) CallID() string { return c.String("call_id") }

// Argument structs for the commands with nested shapes; all are validated before
// HandleCommand sees them.
type (
	// TransferTarget has exactly one of Agent, Queue, Number set.
	TransferTarget struct {
		Agent  string `json:"agent,omitempty"`
		Queue  string `json:"queue,omitempty"`
		Number string `json:"number,omitempty"`
	}
	// TransferArgs are call.transfer's arguments; Mode is "blind" or "attended".
	TransferArgs struct {
		CallID string         `json:"call_id"`
		To     TransferTarget `json:"to"`
		Mode   string         `json:"mode"`
	}
	// WrapupArgs are wrapup.done's arguments.
	WrapupArgs struct {
		CallID      string     `json:"call_id"`
		Disposition string     `json:"disposition"`
		Notes       string     `json:"notes"`
		CallbackAt  *time.Time `json:"callback_at,omitempty"`
	}
	// DialArgs are call.dial's arguments.
	DialArgs struct {
		Number     string `json:"number"`
		CampaignID string `json:"campaign_id,omitempty"`
	}
	// SetStateArgs are supervisor.set_state's arguments; State is ready, not_ready or
	// logged_out.
	SetStateArgs struct {
		Agent  string `json:"agent"`
		State  string `json:"state"`
		Reason string `json:"reason,omitempty"`
	}
)

// Command names handled by the session itself (never passed to the Handler).
const (
	CmdResume = "resume"
	CmdPing   = "ping"
)

// CommandSpec declares a command: who may send it and what its arguments look like.
type CommandSpec struct {
	Name    string
	MinRole Role
	// Validate checks the argument shapes (nil: no arguments checked). Return an
	// *Error with CodeInvalidArgument.
	Validate func(Command) error
}

var (
	callIDRe  = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)
	dtmfRe    = regexp.MustCompile(`^[0-9A-Da-d*#]{1,32}$`)
	numberRe  = regexp.MustCompile(`^\+?[0-9*#]{1,32}$`)
	nameArgRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$`)
)

func badArg(format string, args ...any) error {
	return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// argString reads a string argument: required → must be present and non-empty.
func argString(c Command, key string, required bool, max int) (string, error) {
	raw, ok := c.Args[key]
	if !ok || string(raw) == "null" {
		if required {
			return "", badArg("%s: %s is required", c.Name, key)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badArg("%s: %s must be a string", c.Name, key)
	}
	if required && s == "" {
		return "", badArg("%s: %s must not be empty", c.Name, key)
	}
	if len(s) > max {
		return "", badArg("%s: %s is longer than %d bytes", c.Name, key, max)
	}
	return s, nil
}

func argMatch(c Command, key string, re *regexp.Regexp, required bool) error {
	s, err := argString(c, key, required, 256)
	if err != nil {
		return err
	}
	if s != "" && !re.MatchString(s) {
		return badArg("%s: %s %q is malformed", c.Name, key, s)
	}
	return nil
}

func needCallID(c Command) error { return argMatch(c, "call_id", callIDRe, true) }

func validateTransfer(c Command) error {
	if err := needCallID(c); err != nil {
		return err
	}
	raw, ok := c.Args["to"]
	if !ok {
		return badArg("call.transfer: to is required: {\"agent\"|\"queue\"|\"number\": ...}")
	}
	var to map[string]json.RawMessage
	if err := json.Unmarshal(raw, &to); err != nil || to == nil {
		return badArg("call.transfer: to must be an object with exactly one of agent, queue, number")
	}
	n := 0
	for k, v := range to {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return badArg("call.transfer: to.%s must be a string", k)
		}
		switch k {
		case "agent", "queue":
			if !nameArgRe.MatchString(s) {
				return badArg("call.transfer: to.%s %q is malformed", k, s)
			}
		case "number":
			if !numberRe.MatchString(s) {
				return badArg("call.transfer: to.number %q is malformed", s)
			}
		default:
			return badArg("call.transfer: to.%s is not agent, queue or number", k)
		}
		n++
	}
	if n != 1 {
		return badArg("call.transfer: to must have exactly one of agent, queue, number")
	}
	mode, err := argString(c, "mode", true, 16)
	if err != nil {
		return err
	}
	if mode != "blind" && mode != "attended" {
		return badArg("call.transfer: mode must be blind or attended")
	}
	return nil
}

func validateWrapup(c Command) error {
	if err := needCallID(c); err != nil {
		return err
	}
	if _, err := argString(c, "disposition", true, 64); err != nil {
		return err
	}
	notes, err := argString(c, "notes", false, 8000)
	if err != nil {
		return err
	}
	if !utf8.ValidString(notes) {
		return badArg("wrapup.done: notes must be UTF-8")
	}
	at, err := argString(c, "callback_at", false, 64)
	if err != nil {
		return err
	}
	if at != "" {
		if _, err := time.Parse(time.RFC3339, at); err != nil {
			return badArg("wrapup.done: callback_at must be RFC 3339, e.g. 2026-01-02T15:04:05Z")
		}
	}
	return nil
}

func validateCandidate(c Command) error {
	raw, ok := c.Args["candidate"]
	if !ok {
		return badArg("rtc.candidate: candidate is required")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return nil // a bare candidate line ("" marks end of candidates)
	}
	var obj struct {
		Candidate *string `json:"candidate"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Candidate == nil {
		return badArg("rtc.candidate: candidate must be a string or an RTCIceCandidateInit object")
	}
	return nil
}

func agentArg(c Command) error { return argMatch(c, "agent", nameArgRe, true) }

// builtinSpecs are the commands of DESIGN.md's desktop contract.
func builtinSpecs() []CommandSpec {
	callOnly := func(name string) CommandSpec {
		return CommandSpec{Name: name, MinRole: RoleAgent, Validate: needCallID}
	}
	sup := func(name string, v func(Command) error) CommandSpec {
		return CommandSpec{Name: name, MinRole: RoleSupervisor, Validate: v}
	}
	campaign := func(c Command) error { return argMatch(c, "campaign_id", nameArgRe, true) }
	return []CommandSpec{
		{Name: "agent.ready", MinRole: RoleAgent},
		{Name: "agent.not_ready", MinRole: RoleAgent, Validate: func(c Command) error {
			_, err := argString(c, "reason", false, 64)
			return err
		}},
		{Name: "agent.logout", MinRole: RoleAgent},
		callOnly("call.accept"), callOnly("call.reject"), callOnly("call.hold"), callOnly("call.unhold"),
		callOnly("call.mute"), callOnly("call.unmute"), callOnly("call.transfer.complete"),
		callOnly("call.transfer.cancel"), callOnly("call.conference"), callOnly("call.hangup"),
		{Name: "call.transfer", MinRole: RoleAgent, Validate: validateTransfer},
		{Name: "call.dtmf", MinRole: RoleAgent, Validate: func(c Command) error {
			if err := needCallID(c); err != nil {
				return err
			}
			return argMatch(c, "digits", dtmfRe, true)
		}},
		{Name: "call.dial", MinRole: RoleAgent, Validate: func(c Command) error {
			if err := argMatch(c, "number", numberRe, true); err != nil {
				return err
			}
			return argMatch(c, "campaign_id", nameArgRe, false)
		}},
		{Name: "wrapup.done", MinRole: RoleAgent, Validate: validateWrapup},
		{Name: "rtc.offer", MinRole: RoleAgent, Validate: func(c Command) error {
			_, err := argString(c, "sdp", true, 60000)
			return err
		}},
		{Name: "rtc.candidate", MinRole: RoleAgent, Validate: validateCandidate},
		{Name: "rtc.config", MinRole: RoleAgent, Validate: func(Command) error { return nil }},
		sup("supervisor.listen", agentArg), sup("supervisor.whisper", agentArg), sup("supervisor.barge", agentArg),
		sup("supervisor.set_state", func(c Command) error {
			if err := agentArg(c); err != nil {
				return err
			}
			st, err := argString(c, "state", true, 16)
			if err != nil {
				return err
			}
			if st != "ready" && st != "not_ready" && st != "logged_out" {
				return badArg("supervisor.set_state: state must be ready, not_ready or logged_out")
			}
			_, err = argString(c, "reason", false, 64)
			return err
		}),
		sup("campaign.start", campaign), sup("campaign.pause", campaign), sup("campaign.stop", campaign),
	}
}

// DecodeCommand parses one client frame into a Command without checking its name or
// arguments. On error the returned Command still carries the id when one was readable.
func DecodeCommand(frame []byte) (Command, error) {
	var c Command
	if !utf8.Valid(frame) {
		return c, badArg("frame is not UTF-8 JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(frame))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil || m == nil {
		return c, badArg("frame is not a JSON object")
	}
	if dec.More() {
		return c, badArg("frame has data after the JSON object")
	}
	if id, ok := m["id"]; ok {
		t := bytes.TrimSpace(id)
		if len(t) > 0 && (t[0] == '"' || t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) && len(t) <= 130 {
			c.ID = json.RawMessage(t)
		} else if string(t) != "null" {
			return c, badArg("id must be a string or a number of at most 128 characters")
		}
	}
	raw, ok := m["cmd"]
	if !ok {
		return c, badArg("cmd is required")
	}
	if err := json.Unmarshal(raw, &c.Name); err != nil || c.Name == "" || len(c.Name) > 64 {
		return c, badArg("cmd must be a non-empty string")
	}
	lower := make(map[string]bool, len(m))
	for k := range m { // encoding/json matches struct fields case-insensitively
		lk := strings.ToLower(k)
		if lower[lk] {
			return c, badArg("key %q appears twice (keys are case-insensitive)", k)
		}
		lower[lk] = true
	}
	delete(m, "id")
	delete(m, "cmd")
	c.Args = m
	c.raw = frame
	return c, nil
}
