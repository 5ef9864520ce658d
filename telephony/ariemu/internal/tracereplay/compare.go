package tracereplay

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Mismatch is one difference between the recorded run and the other run.
type Mismatch struct {
	What     string
	Recorded string
	Emulated string
}

// String renders the mismatch on three lines.
func (m Mismatch) String() string {
	return fmt.Sprintf("%s\n    recorded: %s\n    emulated: %s", m.What, m.Recorded, m.Emulated)
}

// Report is the result of comparing two runs of one scenario.
type Report struct {
	Scenario   string
	Passed     int
	Mismatches []Mismatch
}

// String renders the report: a summary line and every mismatch.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d comparisons passed, %d mismatches", r.Scenario, r.Passed, len(r.Mismatches))
	for _, m := range r.Mismatches {
		b.WriteString("\n  - ")
		b.WriteString(m.String())
	}
	return b.String()
}

// Filter returns a copy without the mismatches for which drop returns true; dropped
// mismatches are counted as passed.
func (r *Report) Filter(drop func(Mismatch) bool) *Report {
	out := &Report{Scenario: r.Scenario, Passed: r.Passed}
	for _, m := range r.Mismatches {
		if drop(m) {
			out.Passed++
			continue
		}
		out.Mismatches = append(out.Mismatches, m)
	}
	return out
}

// idMap is the bijection recorded id -> other run's id.
type idMap struct {
	fwd, rev map[string]string
}

func newIDMap() *idMap { return &idMap{fwd: map[string]string{}, rev: map[string]string{}} }

// compatible reports whether a->b can be bound without contradicting the map.
func (m *idMap) compatible(a, b string) bool {
	if x, ok := m.fwd[a]; ok {
		return x == b
	}
	if x, ok := m.rev[b]; ok {
		return x == a
	}
	return true
}

func (m *idMap) bind(a, b string) bool {
	if !m.compatible(a, b) {
		return false
	}
	m.fwd[a] = b
	m.rev[b] = a
	return true
}

// Lookup maps a recorded id; ok is false for an id not learned yet.
func (m *idMap) Lookup(a string) (string, bool) {
	b, ok := m.fwd[a]
	return b, ok
}

type idPair struct{ a, b string }

// pairsConsistent reports whether every pair is compatible with m and with the others.
func (m *idMap) pairsConsistent(ps []idPair) bool {
	f := map[string]string{}
	r := map[string]string{}
	for _, p := range ps {
		if !m.compatible(p.a, p.b) {
			return false
		}
		if x, ok := f[p.a]; ok && x != p.b {
			return false
		}
		if x, ok := r[p.b]; ok && x != p.a {
			return false
		}
		f[p.a], r[p.b] = p.b, p.a
	}
	return true
}

// Normalisation of the values that vary from run to run (traces' README, "What varies").
var normalizers = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d{4}|Z)`), "<time>"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<uuid>"},
	{regexp.MustCompile(`trace-[0-9a-f]{6}-`), "trace-<token>-"},
	{regexp.MustCompile(`-[0-9a-f]{8}(;[12])`), "-<n>$1"},
	{regexp.MustCompile(`0x[0-9a-f]+`), "0x<ptr>"},
	{regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):\d+`), "$1:<port>"},
	{regexp.MustCompile(`(Snoop/[^,]+)-[0-9a-f]{8}\b`), "$1-<n>"},
	{regexp.MustCompile(`((?:Announcer|Recorder)/ARI)-[^;,]+`), "$1-<n>"},
	{regexp.MustCompile(`\b\d{9,}\.\d+\b`), "<chanid>"},
}

func normalize(s string) string {
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.repl)
	}
	return s
}

// keys whose values vary by nature and are not compared (their presence is).
var unstableKeys = map[string]bool{
	"timestamp": true, "creationtime": true, "asterisk_id": true,
	"ssrc": true, "first_seq": true, "peer_addr": true,
}

// keys holding one id.
var idKeys = map[string]bool{"id": true}

// keys holding a list of ids.
var idListKeys = map[string]bool{"channels": true, "channel_ids": true, "bridge_ids": true}

// walkCtx collects the outcome of comparing two JSON values.
type walkCtx struct {
	pairs []idPair
	lists [][2][]string
	diffs []string
	// eventType is set when comparing events.
	eventType string
	// valuesUnstable skips scalar values (only the field set is compared).
	valuesUnstable bool
	// norm normalises strings (memoized by the aligner); nil = normalize.
	norm func(string) string
	// portValue marks a {"value": "<port>"} body (GET variable UNICASTRTP_LOCAL_PORT).
	portValue bool
}

func (c *walkCtx) diff(path string, a, b any) {
	c.diffs = append(c.diffs, fmt.Sprintf("%s: recorded %s, emulated %s", path, compact(a), compact(b)))
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

var digits = regexp.MustCompile(`^\d+$`)

func (c *walkCtx) walk(path string, a, b any) {
	key := lastKey(path)
	if unstableKeys[key] {
		return
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			c.diff(path, a, b)
			return
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			x, inA := av[k]
			y, inB := bv[k]
			switch {
			case inA && !inB:
				c.diffs = append(c.diffs, fmt.Sprintf("%s.%s: field missing (recorded %s)", path, k, compact(x)))
			case !inA && inB:
				c.diffs = append(c.diffs, fmt.Sprintf("%s.%s: unexpected field (emulated %s)", path, k, compact(y)))
			default:
				c.walk(path+"."+k, x, y)
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok {
			c.diff(path, a, b)
			return
		}
		if idListKeys[key] {
			c.idList(path, av, bv)
			return
		}
		if len(av) != len(bv) {
			c.diff(path, a, b)
			return
		}
		for i := range av {
			c.walk(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])
		}
	case string:
		bv, ok := b.(string)
		if !ok {
			c.diff(path, a, b)
			return
		}
		switch {
		case idKeys[key]:
			if av == "" || bv == "" {
				if av != bv {
					c.diff(path, a, b)
				}
				return
			}
			c.pairs = append(c.pairs, idPair{av, bv})
			return
		case key == "target_uri":
			ak, aid, _ := strings.Cut(av, ":")
			bk, bid, _ := strings.Cut(bv, ":")
			if ak != bk {
				c.diff(path, a, b)
				return
			}
			c.pairs = append(c.pairs, idPair{aid, bid})
			return
		case key == "UNICASTRTP_LOCAL_PORT" || (c.portValue && key == "value"):
			if !digits.MatchString(av) || !digits.MatchString(bv) {
				c.diff(path, a, b)
			}
			return
		}
		if c.valuesUnstable {
			return
		}
		norm := c.norm
		if norm == nil {
			norm = normalize
		}
		if norm(av) != norm(bv) && !c.tolerated(path, av, bv) {
			c.diff(path, a, b)
		}
	default:
		if c.valuesUnstable {
			if (a == nil) != (b == nil) {
				c.diff(path, a, b)
			}
			return
		}
		if c.eventType == "RecordingFinished" && path == "event.recording.duration" {
			// Whole seconds of a ~1 s (maxDurationSeconds=1) or ~2 s recording round
			// either way between runs: tolerate one second.
			x, okX := a.(float64)
			y, okY := b.(float64)
			if okX && okY && x-y <= 1 && y-x <= 1 {
				return
			}
		}
		if fmt.Sprint(a) != fmt.Sprint(b) || fmt.Sprintf("%T", a) != fmt.Sprintf("%T", b) {
			c.diff(path, a, b)
		}
	}
}

// tolerated lists the value differences the traces' README documents as varying
// between runs of a real Asterisk.
func (c *walkCtx) tolerated(path, a, b string) bool {
	// "One state race": for congestion, the ;2 half's ChannelHangupRequest showed
	// state Busy in one run and Ring in the other.
	pair := a + "/" + b
	if c.eventType == "ChannelHangupRequest" && path == "event.channel.state" {
		return pair == "Busy/Ring" || pair == "Ring/Busy"
	}
	// "RecordingStarted after record" varies against the 201 (README), so the
	// LiveRecording in the 201 shows queued or already recording.
	if c.eventType == "record-response" && path == "body.state" {
		return pair == "queued/recording" || pair == "recording/queued"
	}
	// Likewise "PlaybackStarted after play": the Playback in the 201 shows queued
	// or already playing.
	if c.eventType == "play-response" && path == "body.state" {
		return pair == "queued/playing" || pair == "playing/queued"
	}
	return false
}

func (c *walkCtx) idList(path string, a, b []any) {
	as, okA := toStrings(a)
	bs, okB := toStrings(b)
	if !okA || !okB || len(as) != len(bs) {
		c.diff(path, a, b)
		return
	}
	c.lists = append(c.lists, [2][]string{as, bs})
}

// multisetPairs pairs two id lists as sets given the current map: known ids first,
// unknown ones in order. It returns nil, false when they cannot correspond.
func multisetPairs(m *idMap, as, bs []string) ([]idPair, bool) {
	if len(as) != len(bs) {
		return nil, false
	}
	used := make([]bool, len(bs))
	out := make([]idPair, len(as))
	done := make([]bool, len(as))
	for i, a := range as {
		if want, ok := m.fwd[a]; ok {
			for j, b := range bs {
				if !used[j] && b == want {
					used[j], done[i] = true, true
					out[i] = idPair{a, b}
					break
				}
			}
			if !done[i] {
				return nil, false
			}
		}
	}
	for i, a := range as {
		if done[i] {
			continue
		}
		for j, b := range bs {
			if !used[j] && m.compatible(a, b) {
				used[j], done[i] = true, true
				out[i] = idPair{a, b}
				break
			}
		}
		if !done[i] {
			return nil, false
		}
	}
	return out, true
}

func decode(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	return v
}

func toStrings(v []any) ([]string, bool) {
	out := make([]string, 0, len(v))
	for _, x := range v {
		str, ok := x.(string)
		if !ok {
			return nil, false
		}
		out = append(out, str)
	}
	return out, true
}

// resolve checks the collected id pairs against m and pairs the id lists as
// multisets (bridge membership order is not significant). It returns every pair to
// bind, or false when the two values cannot belong to the same objects.
func (c *walkCtx) resolve(m *idMap) ([]idPair, bool) {
	if !m.pairsConsistent(c.pairs) {
		return nil, false
	}
	tmp := newIDMap()
	for k, v := range m.fwd {
		tmp.fwd[k] = v
	}
	for k, v := range m.rev {
		tmp.rev[k] = v
	}
	for _, p := range c.pairs {
		tmp.bind(p.a, p.b)
	}
	out := append([]idPair(nil), c.pairs...)
	for _, l := range c.lists {
		ps, ok := multisetPairs(tmp, l[0], l[1])
		if !ok {
			return nil, false
		}
		for _, p := range ps {
			tmp.bind(p.a, p.b)
		}
		out = append(out, ps...)
	}
	return out, true
}

// eventOwner is the object an event belongs to for the per-channel order check.
func eventOwner(ev map[string]any) string {
	for _, k := range []string{"channel", "peer", "playback", "recording", "bridge"} {
		if o, ok := ev[k].(map[string]any); ok {
			if id, ok := o["id"].(string); ok {
				return k + ":" + id
			}
			if name, ok := o["name"].(string); ok {
				return k + ":" + name
			}
		}
	}
	if app, ok := ev["application"].(string); ok {
		return "application:" + app
	}
	return ""
}
