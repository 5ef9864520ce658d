package store

import (
	"fmt"
	"strings"
	"time"
)

// Direction is which way an interaction flows.
type Direction uint8

// Directions.
const (
	Inbound Direction = iota + 1
	Outbound
	Internal
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	case Internal:
		return "internal"
	}
	return "unknown"
}

// ParseDirection parses the String() form.
func ParseDirection(s string) (Direction, error) {
	for d := Inbound; d <= Internal; d++ {
		if d.String() == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("%w: direction %q", ErrInvalidRecord, s)
}

// SegmentKind is what happened during one stretch of an interaction.
type SegmentKind uint8

// Segment kinds.
const (
	SegQueued SegmentKind = iota + 1
	SegOffered
	SegRinging
	SegTalking
	SegHold
	SegTransfer
	SegConsult
	SegConference
	SegWrapUp
)

func (k SegmentKind) String() string {
	switch k {
	case SegQueued:
		return "queued"
	case SegOffered:
		return "offered"
	case SegRinging:
		return "ringing"
	case SegTalking:
		return "talking"
	case SegHold:
		return "hold"
	case SegTransfer:
		return "transfer"
	case SegConsult:
		return "consult"
	case SegConference:
		return "conference"
	case SegWrapUp:
		return "wrapup"
	}
	return "unknown"
}

// ParseSegmentKind parses the String() form.
func ParseSegmentKind(s string) (SegmentKind, error) {
	for k := SegQueued; k <= SegWrapUp; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: segment kind %q", ErrInvalidRecord, s)
}

// Role is a user's authority in ctid.
type Role uint8

// Roles, least to most privileged.
const (
	RoleAgent Role = iota + 1
	RoleSupervisor
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleAgent:
		return "agent"
	case RoleSupervisor:
		return "supervisor"
	case RoleAdmin:
		return "admin"
	}
	return "unknown"
}

// ParseRole parses the String() form.
func ParseRole(s string) (Role, error) {
	for r := RoleAgent; r <= RoleAdmin; r++ {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: role %q", ErrInvalidRecord, s)
}

// CallbackStatus is where a callback request stands.
type CallbackStatus uint8

// Callback statuses.
const (
	CallbackPending CallbackStatus = iota + 1
	CallbackInProgress
	CallbackDone
	CallbackFailed
	CallbackCancelled
)

func (c CallbackStatus) String() string {
	switch c {
	case CallbackPending:
		return "pending"
	case CallbackInProgress:
		return "in_progress"
	case CallbackDone:
		return "done"
	case CallbackFailed:
		return "failed"
	case CallbackCancelled:
		return "cancelled"
	}
	return "unknown"
}

// ParseCallbackStatus parses the String() form.
func ParseCallbackStatus(s string) (CallbackStatus, error) {
	for c := CallbackPending; c <= CallbackCancelled; c++ {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%w: callback status %q", ErrInvalidRecord, s)
}

// Record is anything the writer can save: Interaction, Segment, InteractionClose,
// AgentStateEntry, AuditEntry, User, Callback.
type Record interface {
	// prepared returns the record with defaults filled in, or why it cannot be saved.
	prepared(now time.Time) (Record, error)
	// describe names the record in logs (no personal data).
	describe() string
}

// Interaction is one contact: a call in or out, from creation to the end of wrap-up.
// Saving it again updates its descriptive fields. If Segments is non-nil, saving
// replaces all its segments with these (in order); reads always fill it.
type Interaction struct {
	ID            string
	CallID        string // telephony id (ARI channel id of the customer leg)
	Direction     Direction
	Queue         string
	Campaign      string
	CallerNumber  string
	CallerName    string
	Dialled       string
	Created       time.Time
	Queued        time.Time // zero: not (yet) queued
	Answered      time.Time // zero: not (yet) answered
	Ended         time.Time // zero: not (yet) ended
	Outcome       string    // e.g. answered, abandoned, busy, no_answer
	Cause         string    // e.g. hangup cause
	Disposition   string
	Notes         string
	RecordingName string
	Segments      []Segment
}

// Segment is one ordered stretch of an interaction.
type Segment struct {
	InteractionID string
	Seq           int // assigned by the store (1, 2, ...); ignored on append
	Kind          SegmentKind
	Agent         string
	Start         time.Time
	End           time.Time // zero: open (closed by CloseInteraction with its end time)
}

// InteractionClose ends an interaction and/or records its wrap-up result. Only the
// non-zero fields change, so it can be sent at hang-up and again at the end of wrap-up.
type InteractionClose struct {
	ID            string
	Ended         time.Time
	Outcome       string
	Cause         string
	Disposition   string
	Notes         string
	RecordingName string
}

// AgentStateEntry is one line of the agent state log (state in queue.AgentState's
// String() form, or login/logout).
type AgentStateEntry struct {
	Agent  string
	State  string
	Reason string // not-ready reason
	At     time.Time
}

// AuditEntry is one line of the audit log: who did what to whom, when.
type AuditEntry struct {
	Actor  string
	Action string
	Target string
	At     time.Time
	Detail string
}

// User is a ctid login.
type User struct {
	Username     string
	DisplayName  string // shown on desktops and the wallboard ("" = the username)
	Role         Role
	PasswordHash string // already hashed (bcrypt/argon2 encoded form); never a password
	Teams        []string
	Created      time.Time // set by the store on first save
	Updated      time.Time
}

// Callback is a request to call a customer back.
type Callback struct {
	ID            string
	Queue         string
	Number        string
	Name          string
	InteractionID string // the interaction it came from, if any
	Status        CallbackStatus
	Requested     time.Time
	Due           time.Time
	Attempts      int
	Agent         string
	Notes         string
	Completed     time.Time
	// Node is the ctid node that keeps the callback's place (its engine holds the
	// entry); "" on rows written before schema version 10. Saving "" keeps the
	// stored node.
	Node string
	// The place the callback keeps in its queue: the caller's original arrival, their
	// priority (1..10) and skill expression. Saving a zero Arrived or Priority, or an
	// empty Skills, keeps the stored value.
	Arrived  time.Time
	Priority int
	Skills   string
}

const maxText = 64 << 10

func checkText(field, v string, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return fmt.Errorf("%w: %s is required", ErrInvalidRecord, field)
	}
	if len(v) > maxText {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalidRecord, field, len(v), maxText)
	}
	return nil
}

func checkAll(checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

func (ix Interaction) prepared(now time.Time) (Record, error) {
	if ix.Created.IsZero() {
		ix.Created = now
	}
	if ix.Direction.String() == "unknown" {
		return nil, fmt.Errorf("%w: interaction %q: direction %d", ErrInvalidRecord, ix.ID, ix.Direction)
	}
	if err := checkAll(checkText("interaction id", ix.ID, true), checkText("call id", ix.CallID, false),
		checkText("queue", ix.Queue, false), checkText("campaign", ix.Campaign, false),
		checkText("caller number", ix.CallerNumber, false), checkText("caller name", ix.CallerName, false),
		checkText("dialled", ix.Dialled, false), checkText("outcome", ix.Outcome, false),
		checkText("cause", ix.Cause, false), checkText("disposition", ix.Disposition, false),
		checkText("notes", ix.Notes, false), checkText("recording name", ix.RecordingName, false)); err != nil {
		return nil, err
	}
	if ix.Segments != nil {
		segs := make([]Segment, len(ix.Segments))
		for i, sg := range ix.Segments {
			sg.InteractionID = ix.ID
			sg.Seq = i + 1
			p, err := sg.prepared(now)
			if err != nil {
				return nil, err
			}
			ps, ok := p.(Segment)
			if !ok {
				return nil, fmt.Errorf("%w: segment %d", ErrInvalidRecord, i)
			}
			segs[i] = ps
		}
		ix.Segments = segs
	}
	return ix, nil
}

func (ix Interaction) describe() string { return "interaction " + ix.ID }

func (sg Segment) prepared(now time.Time) (Record, error) {
	if sg.Start.IsZero() {
		sg.Start = now
	}
	if sg.Kind.String() == "unknown" {
		return nil, fmt.Errorf("%w: segment of %q: kind %d", ErrInvalidRecord, sg.InteractionID, sg.Kind)
	}
	if !sg.End.IsZero() && sg.End.Before(sg.Start) {
		return nil, fmt.Errorf("%w: segment of %q ends before it starts", ErrInvalidRecord, sg.InteractionID)
	}
	if err := checkAll(checkText("interaction id", sg.InteractionID, true), checkText("agent", sg.Agent, false)); err != nil {
		return nil, err
	}
	return sg, nil
}

func (sg Segment) describe() string {
	return "segment " + sg.Kind.String() + " of interaction " + sg.InteractionID
}

func (c InteractionClose) prepared(time.Time) (Record, error) {
	if err := checkAll(checkText("interaction id", c.ID, true), checkText("outcome", c.Outcome, false),
		checkText("cause", c.Cause, false), checkText("disposition", c.Disposition, false),
		checkText("notes", c.Notes, false), checkText("recording name", c.RecordingName, false)); err != nil {
		return nil, err
	}
	return c, nil
}

func (c InteractionClose) describe() string { return "close of interaction " + c.ID }

func (e AgentStateEntry) prepared(now time.Time) (Record, error) {
	if e.At.IsZero() {
		e.At = now
	}
	if err := checkAll(checkText("agent", e.Agent, true), checkText("state", e.State, true),
		checkText("reason", e.Reason, false)); err != nil {
		return nil, err
	}
	return e, nil
}

func (e AgentStateEntry) describe() string { return "agent state " + e.State + " of " + e.Agent }

func (e AuditEntry) prepared(now time.Time) (Record, error) {
	if e.At.IsZero() {
		e.At = now
	}
	if err := checkAll(checkText("actor", e.Actor, true), checkText("action", e.Action, true),
		checkText("target", e.Target, false), checkText("detail", e.Detail, false)); err != nil {
		return nil, err
	}
	return e, nil
}

func (e AuditEntry) describe() string { return "audit " + e.Action + " by " + e.Actor }

func (u User) prepared(now time.Time) (Record, error) {
	if u.Updated.IsZero() {
		u.Updated = now
	}
	if u.Created.IsZero() {
		u.Created = u.Updated
	}
	if u.Role.String() == "unknown" {
		return nil, fmt.Errorf("%w: user %q: role %d", ErrInvalidRecord, u.Username, u.Role)
	}
	if err := checkAll(checkText("username", u.Username, true), checkText("password hash", u.PasswordHash, true),
		checkText("display name", u.DisplayName, false)); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(u.Teams))
	teams := make([]string, 0, len(u.Teams))
	for _, t := range u.Teams {
		if err := checkText("team", t, true); err != nil {
			return nil, err
		}
		if !seen[t] {
			seen[t] = true
			teams = append(teams, t)
		}
	}
	u.Teams = teams
	return u, nil
}

func (u User) describe() string { return "user " + u.Username }

func (c Callback) prepared(now time.Time) (Record, error) {
	if c.Requested.IsZero() {
		c.Requested = now
	}
	if c.Due.IsZero() {
		c.Due = c.Requested
	}
	if c.Status.String() == "unknown" {
		return nil, fmt.Errorf("%w: callback %q: status %d", ErrInvalidRecord, c.ID, c.Status)
	}
	if c.Attempts < 0 {
		return nil, fmt.Errorf("%w: callback %q: attempts %d", ErrInvalidRecord, c.ID, c.Attempts)
	}
	if c.Priority < 0 || c.Priority > 10 {
		return nil, fmt.Errorf("%w: callback %q: priority %d", ErrInvalidRecord, c.ID, c.Priority)
	}
	if err := checkAll(checkText("callback id", c.ID, true), checkText("queue", c.Queue, true),
		checkText("number", c.Number, true), checkText("name", c.Name, false),
		checkText("agent", c.Agent, false), checkText("notes", c.Notes, false),
		checkText("node", c.Node, false), checkText("skills", c.Skills, false)); err != nil {
		return nil, err
	}
	return c, nil
}

func (c Callback) describe() string { return "callback " + c.ID }
