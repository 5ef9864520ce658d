package aridoc_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ctid/ctid/telephony/aridoc"
)

func loadSpec(t *testing.T) *aridoc.Spec {
	t.Helper()
	dir, err := aridoc.DefaultDir()
	if err != nil {
		t.Fatalf("ARI api-docs are required for this test: %v", err)
	}
	s, err := aridoc.Load(dir)
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	return s
}

func tracesDir(t *testing.T, s *aridoc.Spec) string {
	t.Helper()
	d := filepath.Join(filepath.Dir(s.Dir()), "ari-traces")
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		t.Fatalf("ARI traces are required next to the api-docs: %v", err)
	}
	return d
}

type traceLine struct {
	Kind    string            `json:"kind"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	RawPath string            `json:"raw_path"`
	Query   map[string]string `json:"query"`
	Body    json.RawMessage   `json:"body"`
	Status  int               `json:"status"`
	Event   json.RawMessage   `json:"event"`
}

type numbered struct {
	n int
	traceLine
}

func readTrace(t *testing.T, path string) []numbered {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil {
			t.Error(cerr)
		}
	}()
	var out []numbered
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	n := 0
	for sc.Scan() {
		n++
		var l traceLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		out = append(out, numbered{n, l})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func traceFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, sub := range []string{"", "run2"} {
		m, err := filepath.Glob(filepath.Join(dir, sub, "*.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) != 22 {
		t.Fatalf("want 22 trace files (11 scenarios x 2 runs), found %d", len(files))
	}
	return files
}

func TestLoadErrors(t *testing.T) {
	_, err := aridoc.Load(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, aridoc.ErrNoDocs) {
		t.Fatalf("want ErrNoDocs, got %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("error should name the directory: %v", err)
	}
}

func TestRoutesAndMatch(t *testing.T) {
	s := loadSpec(t)
	routes := s.Routes()
	if len(routes) < 90 {
		t.Fatalf("only %d routes loaded", len(routes))
	}
	cases := []struct {
		method, raw, want string
		params            map[string]string
	}{
		{"POST", "/channels/create", "POST /channels/create", nil},
		{"POST", "/channels/externalMedia", "POST /channels/externalMedia", nil},
		{"POST", "/channels/abc.1", "POST /channels/{channelId}", map[string]string{"channelId": "abc.1"}},
		{"GET", "/channels/abc.1", "GET /channels/{channelId}", map[string]string{"channelId": "abc.1"}},
		{"POST", "/channels/x/snoop/y", "POST /channels/{channelId}/snoop/{snoopId}", map[string]string{"channelId": "x", "snoopId": "y"}},
		{"GET", "/recordings/stored", "GET /recordings/stored", nil},
		{"GET", "/events", "GET /events", nil},
	}
	for _, c := range cases {
		r, p, ok := s.MatchRoute(c.method, c.raw)
		if !ok || r.String() != c.want {
			t.Errorf("%s %s: got %v %v, want %s", c.method, c.raw, r, ok, c.want)
			continue
		}
		for k, v := range c.params {
			if p[k] != v {
				t.Errorf("%s %s: param %s=%q want %q", c.method, c.raw, k, p[k], v)
			}
		}
	}
	if _, _, ok := s.MatchRoute("PUT", "/channels"); ok {
		t.Error("PUT /channels must not match")
	}
	if !s.HasRoute(aridoc.Route{Method: "PUT", Path: "/applications/{applicationName}/eventFilter"}) {
		t.Error("eventFilter route missing")
	}
}

func TestCheckRequestSynthetic(t *testing.T) {
	s := loadSpec(t)
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	good := []struct {
		m, p string
		q    url.Values
		b    map[string]any
	}{
		{"POST", "/channels", q("endpoint", "Local/1@x", "app", "cti", "timeout", "30"), nil},
		{"POST", "/channels", nil, map[string]any{"endpoint": "Local/1@x", "app": "cti", "timeout": float64(5),
			"variables": map[string]any{"A": "1", "B": map[string]any{"value": "2", "report_events": true}}}},
		{"POST", "/bridges/b1/addChannel", q("channel", "a,b"), nil},
		{"GET", "/asterisk/info", q("api_key", "u:p"), nil},
	}
	for _, g := range good {
		if p := s.CheckRequest(g.m, g.p, g.q, g.b); len(p) != 0 {
			t.Errorf("%s %s %v %v: unexpected problems %v", g.m, g.p, g.q, g.b, p)
		}
	}
	bad := []struct {
		m, p, want string
		q          url.Values
		b          map[string]any
	}{
		{"POST", "/channels", "required parameter missing", q("app", "cti"), nil},
		{"POST", "/channels", "not declared", q("endpoint", "x/y", "bogus", "1"), nil},
		{"POST", "/channels", "not an int", q("endpoint", "x/y", "timeout", "soon"), nil},
		{"POST", "/channels/c/mute", "allowable", q("direction", "sideways"), nil},
		{"GET", "/nope", "unknown route", nil, nil},
		{"PUT", "/channels", "method PUT not declared", nil, nil},
		{"POST", "/channels", "must be a JSON object", q("endpoint", "x/y"), map[string]any{"variables": "x"}},
	}
	for _, b := range bad {
		p := s.CheckRequest(b.m, b.p, b.q, b.b)
		if len(p) == 0 || !strings.Contains(p[0].String()+strings.Join(problemStrings(p), ";"), b.want) {
			t.Errorf("%s %s %v: want a problem containing %q, got %v", b.m, b.p, b.q, b.want, p)
		}
	}
}

func problemStrings(ps []aridoc.Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// errorsFlagged are the line numbers of errors.jsonl whose request violates the API
// description (and must be flagged). The other failing requests of that scenario
// (unknown ids, missing external_host, dtmf without digits, snoop without direction,
// Bogus/123, bridge type "bogus", ...) are valid by the description: Asterisk rejects
// them by its implementation only.
var errorsFlagged = map[int]string{
	35:  "unknown route /no-such-resource",
	38:  "PUT /channels",
	41:  "originate without endpoint",
	47:  "externalMedia without format",
	49:  "externalMedia without app",
	67:  "events WebSocket without app",
	92:  "mute direction=sideways",
	96:  "snoop spy=bogus",
	98:  "snoop without app",
	102: "GET variable without variable",
	104: "play without media",
	168: "hangup reason=bogus",
}

func TestRecordedRequestsPassCheckRequest(t *testing.T) {
	s := loadSpec(t)
	dir := tracesDir(t, s)
	total := 0
	for _, f := range traceFiles(t, dir) {
		isErrors := filepath.Base(f) == "errors.jsonl"
		flagged := map[int]bool{}
		for _, l := range readTrace(t, f) {
			if l.Kind != "request" {
				continue
			}
			total++
			qv := url.Values{}
			for k, v := range l.Query {
				qv.Set(k, v)
			}
			var body map[string]any
			if len(l.Body) > 0 && string(l.Body) != "null" {
				if err := json.Unmarshal(l.Body, &body); err != nil {
					t.Fatalf("%s:%d body: %v", f, l.n, err)
				}
			}
			probs := s.CheckRequest(l.Method, l.RawPath, qv, body)
			if isErrors {
				if _, want := errorsFlagged[l.n]; want != (len(probs) > 0) {
					t.Errorf("%s:%d %s %s %v: flagged=%v want %v (%v)", f, l.n, l.Method, l.RawPath, l.Query, len(probs) > 0, want, probs)
				}
				if len(probs) > 0 {
					flagged[l.n] = true
				}
				continue
			}
			if len(probs) > 0 {
				t.Errorf("%s:%d %s %s: %v", f, l.n, l.Method, l.RawPath, probs)
			}
			if r, _, ok := s.MatchRoute(l.Method, l.RawPath); !ok || r.Path != l.Path {
				t.Errorf("%s:%d: route %v, recorded template %s", f, l.n, r, l.Path)
			}
		}
		if isErrors && len(flagged) != len(errorsFlagged) {
			t.Errorf("%s: flagged %d requests, want %d", f, len(flagged), len(errorsFlagged))
		}
	}
	if total < 600 {
		t.Fatalf("only %d requests checked", total)
	}
}

func TestRecordedEventsPassCheckEvent(t *testing.T) {
	s := loadSpec(t)
	dir := tracesDir(t, s)
	n := 0
	types := map[string]bool{}
	for _, f := range traceFiles(t, dir) {
		for _, l := range readTrace(t, f) {
			if l.Kind != "event" {
				continue
			}
			n++
			var head struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(l.Event, &head); err != nil {
				t.Fatal(err)
			}
			types[head.Type] = true
			if p := s.CheckEvent(l.Event); len(p) > 0 {
				t.Errorf("%s:%d %s: %v", f, l.n, head.Type, p)
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d events checked", n)
	}
	if len(types) < 15 {
		t.Fatalf("only %d event types seen: %v", len(types), types)
	}
}

func TestRecordedResponsesPassCheckModel(t *testing.T) {
	s := loadSpec(t)
	dir := tracesDir(t, s)
	n := 0
	pausedSeen := 0
	for _, f := range traceFiles(t, dir) {
		lines := readTrace(t, f)
		var last *numbered
		for i := range lines {
			l := &lines[i]
			switch l.Kind {
			case "request":
				last = l
			case "response":
				if last == nil || l.Status < 200 || l.Status > 299 || l.Status == 204 {
					continue
				}
				r, _, ok := s.MatchRoute(last.Method, last.RawPath)
				if !ok {
					t.Errorf("%s:%d: no route for %s %s", f, l.n, last.Method, last.RawPath)
					continue
				}
				op, ok := s.Operation(r)
				if !ok {
					t.Fatalf("no operation for %v", r)
				}
				if op.Upgrade == "websocket" || op.ResponseClass == "binary" {
					continue
				}
				n++
				if op.ResponseClass == "Playback" && strings.Contains(string(l.Body), `"state":"paused"`) {
					pausedSeen++
				}
				if p := s.CheckModel(op.ResponseClass, l.Body); len(p) > 0 {
					t.Errorf("%s:%d %s -> %s: %v", f, l.n, r, op.ResponseClass, p)
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d response bodies checked", n)
	}
	// The documented exception aridoc.EnumExceptions()["Playback.state"] is real:
	// Asterisk answers "paused", which Playback.state does not list.
	if pausedSeen == 0 || len(aridoc.EnumExceptions()) != 1 {
		t.Fatalf("enum exception list out of date: paused seen %d times, exceptions %v", pausedSeen, aridoc.EnumExceptions())
	}
	if p := s.CheckModel("Playback", json.RawMessage(`{"id":"p","media_uri":"sound:x","target_uri":"channel:1","language":"en","state":"paused"}`)); len(p) != 0 {
		t.Fatalf("paused exception not applied: %v", p)
	}
}

func TestCheckModelAndEventFlagProblems(t *testing.T) {
	s := loadSpec(t)
	cases := []struct{ raw, want string }{
		{`{"type":"StasisStart","application":"cti","timestamp":"2026-01-01T00:00:00.000+0000","args":[]}`, "channel: required field"},
		{`{"type":"NoSuchEvent","application":"cti","timestamp":"2026-01-01T00:00:00.000+0000"}`, "not a concrete"},
		{`{"type":"ChannelDtmfReceived","application":"cti","timestamp":"2026-01-01T00:00:00.000+0000","digit":"1","duration_ms":"100","channel":{}}`, "duration_ms: want integer"},
		{`{"type":"PlaybackStarted","application":"cti","timestamp":"yesterday","playback":{"id":"p","media_uri":"sound:x","target_uri":"channel:1","language":"en","state":"playing"}}`, "timestamp: date"},
		{`{"type":"PlaybackStarted","application":"cti","timestamp":"2026-01-01T00:00:00.000+0000","extra":1,"playback":{"id":"p","media_uri":"sound:x","target_uri":"channel:1","language":"en","state":"playing"}}`, "extra: field not declared"},
		{`{"type":"PlaybackStarted","application":"cti","timestamp":"2026-01-01T00:00:00.000+0000","playback":{"id":"p","media_uri":"sound:x","target_uri":"channel:1","language":"en","state":"dancing"}}`, "not in allowable values"},
	}
	for _, c := range cases {
		p := strings.Join(problemStrings(s.CheckEvent([]byte(c.raw))), "; ")
		if !strings.Contains(p, c.want) {
			t.Errorf("%s: want %q in %q", c.raw, c.want, p)
		}
	}
	if p := s.CheckModel("List[Bridge]", json.RawMessage(`[{"id":1}]`)); len(p) == 0 {
		t.Error("bad bridge list accepted")
	}
	if p := s.CheckModel("Variable", json.RawMessage(`{"value":"x"}`)); len(p) != 0 {
		t.Errorf("variable: %v", p)
	}
}

func TestSampleEventsAreValid(t *testing.T) {
	s := loadSpec(t)
	types := s.EventTypes()
	if len(types) < 40 {
		t.Fatalf("only %d event types: %v", len(types), types)
	}
	sort.Strings(types)
	for _, typ := range types {
		raw := s.SampleEvent(typ, "cti", "00:00:00:00:00:01")
		if raw == nil {
			t.Errorf("%s: no sample", typ)
			continue
		}
		if p := s.CheckEvent(raw); len(p) > 0 {
			t.Errorf("%s sample %s: %v", typ, raw, p)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		if obj["type"] != typ || obj["application"] != "cti" {
			t.Errorf("%s sample has wrong envelope: %s", typ, raw)
		}
	}
	if s.SampleEvent("NoSuchEvent", "cti", "x") != nil {
		t.Error("sample for unknown type")
	}
}

func TestDefaultDirSaysWhereItLooked(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	_, err := aridoc.DefaultDir()
	if !errors.Is(err, aridoc.ErrNoDocs) {
		t.Fatalf("want ErrNoDocs outside the repository, got %v", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(filepath.Dir(dir), "shared", "ari-api-docs")) {
		t.Fatalf("error should list the places it looked: %v", err)
	}
}
