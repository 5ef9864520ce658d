// Package tracereplay parses the real-Asterisk ARI recordings in
// ../shared/ari-traces (*.jsonl), replays them against an ARI server (the emulator)
// and compares two runs of a scenario.
//
//	rec, _ := tracereplay.ParseFile(".../ari-traces/inbound-basic.jsonl")
//	drv, _ := tracereplay.New(tracereplay.Config{BaseURL: srv.URL + "/ari", User: "ceo", Password: pw})
//	got, _ := drv.Run(ctx, rec)        // the replay, in the recording's line format
//	rep := tracereplay.Compare(rec, got) // rep.Passed, rep.Mismatches
//
// Run sends exactly the recorded requests in order, substituting the ids the target
// hands out (learned from response bodies, events and matching), keeps the recorded
// pauses (dwell notes), waits (bounded) for the events that preceded each request,
// opens and closes the events WebSockets and plays the RTP peers of ExternalMedia.
//
// Compare checks: requests (route, query, body), status codes, content types,
// response bodies (field sets and stable values), every event (matched by type and
// ids; field set and stable values), per-object event order, the request an event
// arrived after, the timing of time-driven events, and RTP windows (±5 packets, PT,
// payload size, ts_step, markers, sequence gaps). Values that vary by nature are
// normalised: ids (mapped one-to-one), names with counters, ports, pointers, tokens,
// timestamps, asterisk_id, SSRC. Tolerated, as the traces' README ("What varies")
// documents: response-vs-event order; interleaving of different channels' events
// (an event may arrive after another request than recorded if none of the requests
// it crossed names its object and its delay after some earlier request agrees, as
// for a far end's timer); the congestion state race (Busy/Ring and its order
// against the ChannelStateChange). Also tolerated because the two real runs differ in
// them: element order of list responses; a 201 of play/record showing queued or
// already playing/recording (the same response-vs-event race); a RecordingFinished
// duration off by one second.
package tracereplay

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Sentinel errors.
var (
	// ErrParse is returned for a malformed trace line.
	ErrParse = errors.New("tracereplay: malformed trace")
	// ErrNoTraces is returned when the traces directory cannot be found.
	ErrNoTraces = errors.New("tracereplay: ari-traces not found")
)

// Line kinds.
const (
	KindRequest  = "request"
	KindResponse = "response"
	KindEvent    = "event"
	KindNote     = "note"
	KindRTP      = "rtp"
)

// Line is one line of a trace (see the traces' README, "Line format").
type Line struct {
	// N is the 1-based line number in the file (0 for lines made by a replay).
	N    int    `json:"-"`
	TMs  int64  `json:"t_ms"`
	Kind string `json:"kind"`

	// request
	Method  string            `json:"method,omitempty"`
	Path    string            `json:"path,omitempty"`
	RawPath string            `json:"raw_path,omitempty"`
	Query   map[string]string `json:"query,omitempty"`
	Auth    string            `json:"auth,omitempty"`

	// request and response
	Body json.RawMessage `json:"body,omitempty"`

	// response
	Status      int    `json:"status,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	BodyBytes   *int   `json:"body_bytes,omitempty"`
	Error       string `json:"error,omitempty"`

	// event
	Event json.RawMessage `json:"event,omitempty"`

	// note
	Text string            `json:"text,omitempty"`
	IDs  map[string]string `json:"ids,omitempty"`

	// rtp
	Dir               string  `json:"dir,omitempty"`
	Packets           int     `json:"packets"`
	FirstSeq          int     `json:"first_seq"`
	PayloadType       int     `json:"payload_type"`
	PayloadBytes      int     `json:"payload_bytes"`
	Label             string  `json:"label,omitempty"`
	WindowMs          int64   `json:"window_ms"`
	Peer              string  `json:"peer,omitempty"`
	SSRC              uint32  `json:"ssrc"`
	SSRCChanges       int     `json:"ssrc_changes"`
	Markers           int     `json:"markers"`
	SeqGaps           int     `json:"seq_gaps"`
	TSStep            int     `json:"ts_step"`
	OtherSizes        int     `json:"other_sizes"`
	OtherPayloadTypes int     `json:"other_payload_types"`
	AvgInterarrivalMs float64 `json:"avg_interarrival_ms"`
}

// EventType returns the event's "type" ("" for other lines or a malformed event).
func (l *Line) EventType() string {
	if l.Kind != KindEvent {
		return ""
	}
	var h struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(l.Event, &h); err != nil {
		return ""
	}
	return h.Type
}

// Short renders the line compactly for reports (at most ~300 characters).
func (l *Line) Short() string {
	var s string
	switch l.Kind {
	case KindRequest:
		s = fmt.Sprintf("REQ %s %s %v", l.Method, l.RawPath, l.Query)
		if len(l.Body) > 0 && string(l.Body) != "null" {
			s += " body=" + string(l.Body)
		}
	case KindResponse:
		s = fmt.Sprintf("RESP %d %s", l.Status, string(l.Body))
	case KindEvent:
		s = "EVT " + string(l.Event)
	case KindNote:
		s = "NOTE " + l.Text
	case KindRTP:
		s = fmt.Sprintf("RTP %s %s packets=%d pt=%d bytes=%d ts_step=%d markers=%d gaps=%d window=%dms",
			l.Dir, l.Label, l.Packets, l.PayloadType, l.PayloadBytes, l.TSStep, l.Markers, l.SeqGaps, l.WindowMs)
	default:
		s = l.Kind
	}
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	if l.N > 0 {
		return fmt.Sprintf("#%d %s", l.N, s)
	}
	return s
}

// Trace is one run of one scenario.
type Trace struct {
	Name  string
	Lines []Line
}

// Parse reads a .jsonl trace.
func Parse(name string, r io.Reader) (*Trace, error) {
	t := &Trace{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<23)
	n := 0
	for sc.Scan() {
		n++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %v", ErrParse, name, n, err)
		}
		switch l.Kind {
		case KindRequest, KindResponse, KindEvent, KindNote, KindRTP:
		default:
			return nil, fmt.Errorf("%w: %s:%d: unknown kind %q", ErrParse, name, n, l.Kind)
		}
		l.N = n
		t.Lines = append(t.Lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrParse, name, err)
	}
	return t, nil
}

// ParseFile reads a .jsonl trace file; the trace is named after the file.
func ParseFile(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoTraces, err)
	}
	t, perr := Parse(strings.TrimSuffix(filepath.Base(path), ".jsonl"), f)
	if cerr := f.Close(); cerr != nil && perr == nil {
		perr = cerr
	}
	return t, perr
}

// Scenarios returns the names of the eleven recorded scenarios.
func Scenarios() []string {
	return []string{
		"inbound-basic", "inbound-caller-hangs-up", "inbound-dtmf", "channel-ops",
		"originate-outcomes", "external-media", "snoop", "bridge-record", "errors",
		"app-lifecycle", "multi-bridge-transfer",
	}
}

// DefaultDir finds ../shared/ari-traces walking up from the working directory.
func DefaultDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoTraces, err)
	}
	var looked []string
	for d := wd; ; {
		for _, c := range []string{filepath.Join(d, "..", "shared", "ari-traces"), filepath.Join(d, "shared", "ari-traces")} {
			c = filepath.Clean(c)
			looked = append(looked, c)
			if _, err := os.Stat(filepath.Join(c, "README.md")); err == nil {
				return c, nil
			}
		}
		p := filepath.Dir(d)
		if p == d {
			break
		}
		d = p
	}
	return "", fmt.Errorf("%w: looked in %s", ErrNoTraces, strings.Join(looked, ", "))
}
