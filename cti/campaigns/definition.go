// Package campaigns is the data side of outbound campaigns: the campaign definition a
// supervisor writes (validated, stored as JSON, turned into a queue/dialer Config), the
// do-not-call check every dial goes through (campaign runner and manual dial alike),
// the do_not_call disposition hook, and the REST API for campaigns, list uploads and
// DNC lists. The runner that dials (package cti) reads definitions and contacts from the
// store and asks DNC before every origination.
package campaigns

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/queue/dialer"
)

// Sentinel errors.
var (
	ErrInvalid   = errors.New("invalid campaign")
	ErrDNC       = errors.New("the number is on a do-not-call list")
	ErrBadNumber = errors.New("not a valid phone number")
	ErrNotLoaded = errors.New("do-not-call lists not loaded")
)

// Duration is a time.Duration written in JSON as a Go duration string ("20s", "72h").
type Duration time.Duration

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string ("90s", "2h") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err := json.Unmarshal(b, &secs); err != nil {
			return fmt.Errorf("duration: want a string such as \"20s\" or a number of seconds")
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// WindowDef is a calling window in the contact's local time.
type WindowDef struct {
	Days []string `json:"days"` // mon, tue, ... (or monday, ...)
	From string   `json:"from"` // "09:00"
	To   string   `json:"to"`   // "21:00" ("24:00" = midnight)
}

// RetryDef is when a number is tried again after an outcome.
type RetryDef struct {
	After   Duration `json:"after,omitempty"`
	NextDay bool     `json:"next_day,omitempty"`
	Final   bool     `json:"final,omitempty"`
}

// DispositionDef is one disposition agents may choose.
type DispositionDef struct {
	Code      string `json:"code"`
	Label     string `json:"label,omitempty"`
	Final     bool   `json:"final,omitempty"`
	Callback  bool   `json:"callback,omitempty"`
	DNC       bool   `json:"dnc,omitempty"`
	Sale      bool   `json:"sale,omitempty"`
	BadNumber bool   `json:"bad_number,omitempty"`
}

// Definition is a campaign as a supervisor writes it (the JSON stored with it).
type Definition struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Mode     string `json:"mode"`      // preview (default), progressive, predictive
	CallerID string `json:"caller_id"` // presented number
	// Endpoint is the originate template; {number} is replaced by the E.164 number
	// (e.g. PJSIP/{number}@trunk).
	Endpoint string   `json:"endpoint"`
	Agents   []string `json:"agents,omitempty"`
	Queue    string   `json:"queue,omitempty"`
	// DefaultRegion (ISO 3166-1, e.g. GB) reads numbers written without a country code,
	// in list imports and manual dials.
	DefaultRegion string `json:"default_region"`
	DefaultZone   string `json:"default_zone,omitempty"` // zone of contacts whose zone is unknown; default UTC

	MaxLines              int                 `json:"max_lines,omitempty"`
	RingTimeout           Duration            `json:"ring_timeout,omitempty"`
	AbandonLimit          float64             `json:"abandon_limit,omitempty"`
	AbandonWindow         Duration            `json:"abandon_window,omitempty"`
	Windows               []WindowDef         `json:"windows,omitempty"`
	Retry                 map[string]RetryDef `json:"retry,omitempty"` // busy, no_answer, machine, congestion, rejected, abandoned, follow_up
	MaxAttemptsPerNumber  int                 `json:"max_attempts_per_number,omitempty"`
	MaxAttemptsPerContact int                 `json:"max_attempts_per_contact,omitempty"`
	Dispositions          []DispositionDef    `json:"dispositions,omitempty"`
	CallbackFallback      Duration            `json:"callback_fallback,omitempty"`

	// SafeHarbourMedia is played when no agent is connected within 2 s of an answer
	// (default sound:ctid-safe-harbour).
	SafeHarbourMedia string `json:"safe_harbour_media,omitempty"`
	// AMDContext is a dialplan context the originate passes through to run AMD()
	// (real Asterisk); empty: no answering-machine detection.
	AMDContext string `json:"amd_context,omitempty"`
	Script     string `json:"script,omitempty"` // shown to the agent
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func invalid(d Definition, f string, a ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalid, d.ID, fmt.Sprintf(f, a...))
}

// Validate checks everything a supervisor can get wrong, with a message naming the
// field; the dialer's own rules (ring timeout ≥ 15 s, abandon limit, windows...) too.
func (d Definition) Validate() error {
	if !idPattern.MatchString(d.ID) {
		return invalid(d, "id must be 1-64 lower-case letters, digits, '-' or '_'")
	}
	if strings.TrimSpace(d.Name) == "" || len(d.Name) > 200 {
		return invalid(d, "name is required (at most 200 characters)")
	}
	if !strings.Contains(d.Endpoint, "{number}") {
		return invalid(d, "endpoint %q has no {number}: write where the number goes, e.g. PJSIP/{number}@trunk", d.Endpoint)
	}
	if strings.ContainsAny(d.Endpoint, " \t\r\n") {
		return invalid(d, "endpoint %q contains spaces", d.Endpoint)
	}
	if len(d.Agents) == 0 && strings.TrimSpace(d.Queue) == "" {
		return invalid(d, "no agents: assign agents or a queue whose agents take the campaign's calls")
	}
	for _, a := range d.Agents {
		if strings.TrimSpace(a) == "" {
			return invalid(d, "an agent name is empty")
		}
	}
	if !phonenumbers.GetSupportedRegions()[strings.ToUpper(d.DefaultRegion)] {
		return invalid(d, "default_region %q: want an ISO 3166-1 code such as GB, US or DE", d.DefaultRegion)
	}
	if d.CallerID != "" {
		if _, err := Normalise(d.CallerID, d.DefaultRegion); err != nil {
			return invalid(d, "caller_id %q: %v", d.CallerID, err)
		}
	}
	for _, r := range []string{d.SafeHarbourMedia, d.AMDContext, d.Script} {
		if len(r) > 64<<10 {
			return invalid(d, "a text field is longer than 64 KiB")
		}
	}
	seen := map[string]bool{}
	for _, a := range d.Agents {
		if seen[a] {
			return invalid(d, "agent %q listed twice", a)
		}
		seen[a] = true
	}
	_, err := d.DialerConfig(nil)
	return err
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func clock(s string) (time.Duration, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, true
}

// DialerConfig is the queue/dialer configuration of the campaign (defaults applied,
// validated). isDNC is the do-not-call check (DNC.For(id)).
func (d Definition) DialerConfig(isDNC func(string) bool) (dialer.Config, error) {
	mode := dialer.Preview
	if d.Mode != "" {
		m, err := dialer.ParseMode(d.Mode)
		if err != nil {
			return dialer.Config{}, invalid(d, "mode %q: want preview, progressive or predictive", d.Mode)
		}
		mode = m
	}
	c := dialer.Config{ID: d.ID, Mode: mode, MaxLines: d.MaxLines, RingTimeout: time.Duration(d.RingTimeout),
		AbandonLimit: d.AbandonLimit, AbandonWindow: time.Duration(d.AbandonWindow), DefaultZone: d.DefaultZone,
		MaxAttemptsPerNumber: d.MaxAttemptsPerNumber, MaxAttemptsPerContact: d.MaxAttemptsPerContact,
		CallbackFallback: time.Duration(d.CallbackFallback), IsDNC: isDNC}
	for i, w := range d.Windows {
		var win dialer.Window
		for _, day := range w.Days {
			k := strings.ToLower(strings.TrimSpace(day))
			if len(k) > 3 {
				k = k[:3]
			}
			wd, ok := weekdays[k]
			if !ok {
				return dialer.Config{}, invalid(d, "window %d: day %q: want mon, tue, wed, thu, fri, sat or sun", i+1, day)
			}
			win.Days = append(win.Days, wd)
		}
		var ok1, ok2 bool
		win.From, ok1 = clock(w.From)
		win.To, ok2 = clock(w.To)
		if !ok1 || !ok2 || win.From >= win.To || len(win.Days) == 0 {
			return dialer.Config{}, invalid(d, "window %d: want days and from < to as HH:MM (e.g. 09:00-21:00), got %q-%q", i+1, w.From, w.To)
		}
		c.Windows = append(c.Windows, win)
	}
	for k, r := range d.Retry {
		x := dialer.Retry{After: time.Duration(r.After), NextDay: r.NextDay, Final: r.Final}
		switch k {
		case "busy":
			c.Retry.Busy = x
		case "no_answer":
			c.Retry.NoAnswer = x
		case "machine":
			c.Retry.Machine = x
		case "congestion":
			c.Retry.Congestion = x
		case "rejected":
			c.Retry.Rejected = x
		case "abandoned":
			c.Retry.Abandoned = x
		case "follow_up":
			c.Retry.FollowUp = x
		default:
			return dialer.Config{}, invalid(d, "retry %q: want busy, no_answer, machine, congestion, rejected, abandoned or follow_up", k)
		}
	}
	for _, x := range d.Dispositions {
		c.Dispositions = append(c.Dispositions, dialer.Disposition{Code: x.Code, Final: x.Final, Callback: x.Callback,
			DNC: x.DNC, Sale: x.Sale, BadNum: x.BadNumber})
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		msg := strings.TrimPrefix(err.Error(), dialer.ErrInvalidConfig.Error()+": ")
		return dialer.Config{}, invalid(d, "%s", strings.TrimPrefix(msg, fmt.Sprintf("campaign %q: ", d.ID)))
	}
	return c, nil
}

// AgentIDs are the assigned agents as engine ids.
func (d Definition) AgentIDs() []queue.AgentID {
	out := make([]queue.AgentID, 0, len(d.Agents))
	for _, a := range d.Agents {
		out = append(out, queue.AgentID(a))
	}
	return out
}

// DialString is the endpoint with the number in it.
func (d Definition) DialString(e164 string) string {
	return strings.ReplaceAll(d.Endpoint, "{number}", e164)
}

// Normalise turns a number as typed (national or international) into E.164.
func Normalise(raw, region string) (string, error) {
	raw = strings.TrimSpace(raw)
	pn, err := phonenumbers.Parse(raw, strings.ToUpper(region))
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadNumber, raw, err)
	}
	if !phonenumbers.IsValidNumber(pn) {
		return "", fmt.Errorf("%w: %q (region %s)", ErrBadNumber, raw, strings.ToUpper(region))
	}
	return phonenumbers.Format(pn, phonenumbers.E164), nil
}
