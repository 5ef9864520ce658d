package ariemu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/telephony/aridoc"
	"github.com/ctid/ctid/telephony/ariemu"
)

const contractPassword = "contract-secret"

func loadContract(t *testing.T) *aridoc.Spec {
	t.Helper()
	dir, err := aridoc.DefaultDir()
	if err != nil {
		t.Fatalf("contract test needs Asterisk's ARI description in ../shared/ari-api-docs: %v", err)
	}
	spec, err := aridoc.Load(dir)
	if err != nil {
		t.Fatalf("load ARI description: %v", err)
	}
	return spec
}

// TestContractRoutes: every route the emulator serves exists in Asterisk 20.20.1.
func TestContractRoutes(t *testing.T) {
	spec := loadContract(t)
	routes := ariemu.Routes()
	if len(routes) < 40 {
		t.Fatalf("emulator declares only %d routes", len(routes))
	}
	for _, r := range routes {
		if !spec.HasRoute(aridoc.Route{Method: r.Method, Path: r.Path}) {
			t.Errorf("emulator serves %s %s, which Asterisk's ARI does not have", r.Method, r.Path)
		}
	}
}

// ariSession is a small ARI client for the contract session: every response and
// event is kept for checking.
type ariSession struct {
	t    *testing.T
	base string
	ctx  context.Context

	mu     sync.Mutex
	events [][]byte
	notify chan struct{}

	responses []checkedResponse
}

type checkedResponse struct {
	method, path string
	status       int
	body         []byte
}

func (s *ariSession) do(method, path string, q url.Values, body any) (int, []byte) {
	s.t.Helper()
	u := s.base + "/ari" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.SetBasicAuth("ceo", contractPassword)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	data, err := io.ReadAll(res.Body)
	if cerr := res.Body.Close(); cerr != nil {
		s.t.Error(cerr)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.responses = append(s.responses, checkedResponse{method: method, path: path, status: res.StatusCode, body: data})
	return res.StatusCode, data
}

func (s *ariSession) must(want int, method, path string, q url.Values, body any) map[string]any {
	s.t.Helper()
	st, data := s.do(method, path, q, body)
	if st != want {
		s.t.Fatalf("%s %s %v: status %d (%s), want %d", method, path, q, st, data, want)
	}
	var m map[string]any
	if len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, &m); err != nil {
			s.t.Fatal(err)
		}
	}
	return m
}

func (s *ariSession) read(c *websocket.Conn) {
	for {
		_, data, err := c.Read(s.ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.events = append(s.events, data)
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// waitEvent waits for an event satisfying match, seen after index from.
func (s *ariSession) waitEvent(from int, desc string, match func(map[string]any) bool) (map[string]any, int) {
	s.t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		evs := s.events
		s.mu.Unlock()
		for i := from; i < len(evs); i++ {
			var m map[string]any
			if err := json.Unmarshal(evs[i], &m); err != nil {
				continue
			}
			if match(m) {
				return m, i + 1
			}
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			s.t.Fatalf("timed out waiting for %s", desc)
			return nil, from
		}
	}
}

// waitApp waits until the app is registered (the events socket may register just
// after its handshake returns).
func (s *ariSession) waitApp(app string) {
	s.t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; {
		if st, _ := s.do("GET", "/applications/"+app, nil, nil); st == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("app %s never registered after its events WebSocket connected", app)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func evType(typ string, chanID string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		if m["type"] != typ {
			return false
		}
		if chanID == "" {
			return true
		}
		ch, ok := m["channel"].(map[string]any)
		return ok && ch["id"] == chanID
	}
}

func str(m map[string]any, keys ...string) string {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[k]
	}
	s, ok := cur.(string)
	if !ok {
		return ""
	}
	return s
}

func newContractEmulator(t *testing.T) (*ariemu.Emulator, *httptest.Server) {
	t.Helper()
	emu, err := ariemu.New(ariemu.Config{
		Users:          map[string]string{"ceo": contractPassword},
		DialplanApp:    "cti",
		SeedRecordings: true,
		Logger:         zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return emu, srv
}

func dialEvents(t *testing.T, ctx context.Context, base, app string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/ari/events?app=" + url.QueryEscape(app) +
		"&api_key=" + url.QueryEscape("ceo:"+contractPassword)
	c, res, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("events WebSocket: %v (status %d)", err, status)
	}
	c.SetReadLimit(4 << 20)
	return c
}

// TestContractSession exercises the emulator over HTTP in a short scripted session
// (inbound call, answer, bridge, play, externalMedia, snoop, record, originate,
// hangup) and checks every event and every 2xx body against Asterisk's models and
// every request it logged against the declared routes.
func TestContractSession(t *testing.T) {
	spec := loadContract(t)
	emu, srv := newContractEmulator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ws := dialEvents(t, ctx, srv.URL, "cti")
	s := &ariSession{t: t, base: srv.URL, ctx: ctx, notify: make(chan struct{}, 1)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s.read(ws)
	}()
	defer func() {
		if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Logf("close events socket: %v", err)
		}
		<-readDone
	}()

	s.waitApp("cti")
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	// inbound call
	s.must(200, "POST", "/channels", q("endpoint", "Local/5551000@from-external/n", "context", "callers",
		"extension", "talk", "priority", "1", "callerId", "Alice <15550001>"), nil)
	ss, next := s.waitEvent(0, "inbound StasisStart", evType("StasisStart", ""))
	caller := str(ss, "channel", "id")
	s.must(204, "POST", "/channels/"+caller+"/answer", nil, nil)
	_, next = s.waitEvent(next, "ChannelStateChange Up", evType("ChannelStateChange", caller))
	s.must(200, "GET", "/channels/"+caller, nil, nil)
	s.must(200, "GET", "/channels/"+caller+"/variable", q("variable", "CALLERID(num)"), nil)
	s.must(204, "POST", "/channels/"+caller+"/variable", q("variable", "CTI_TEST", "value", "1"), nil)

	// bridge and play
	br := s.must(200, "POST", "/bridges", q("type", "mixing", "name", "contract"), nil)
	bridge := str(br, "id")
	s.must(204, "POST", "/bridges/"+bridge+"/addChannel", q("channel", caller), nil)
	s.must(200, "GET", "/bridges/"+bridge, nil, nil)
	pb := s.must(201, "POST", "/bridges/"+bridge+"/play", q("media", "sound:beep"), nil)
	s.must(200, "GET", "/playbacks/"+str(pb, "id"), nil, nil)
	_, next = s.waitEvent(next, "PlaybackFinished", evType("PlaybackFinished", ""))

	// externalMedia with a real UDP peer
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := udp.Close(); err != nil {
			t.Error(err)
		}
	}()
	em := s.must(200, "POST", "/channels/externalMedia", q("app", "cti", "external_host", udp.LocalAddr().String(), "format", "ulaw"), nil)
	emID := str(em, "id")
	_, next = s.waitEvent(next, "ExternalMedia StasisStart", evType("StasisStart", emID))
	s.must(204, "POST", "/bridges/"+bridge+"/addChannel", q("channel", emID), nil)

	// snoop
	sn := s.must(200, "POST", "/channels/"+caller+"/snoop", q("spy", "both", "app", "cti", "appArgs", "snoop"), nil)
	snoopID := str(sn, "id")
	_, next = s.waitEvent(next, "snoop StasisStart", evType("StasisStart", snoopID))

	// record the bridge
	s.must(201, "POST", "/bridges/"+bridge+"/record", q("name", "contract-rec", "format", "wav"), nil)
	_, next = s.waitEvent(next, "RecordingStarted", evType("RecordingStarted", ""))
	s.must(200, "GET", "/recordings/live/contract-rec", nil, nil)
	s.must(204, "POST", "/recordings/live/contract-rec/stop", nil, nil)
	_, next = s.waitEvent(next, "RecordingFinished", evType("RecordingFinished", ""))
	s.must(200, "GET", "/recordings/stored", nil, nil)
	s.must(200, "GET", "/recordings/stored/contract-rec", nil, nil)

	// originate into the app
	leg := s.must(200, "POST", "/channels", q("endpoint", "Local/talk@callers", "app", "cti", "appArgs", "outbound,1"), nil)
	legID := str(leg, "id")
	_, next = s.waitEvent(next, "originated StasisStart", evType("StasisStart", legID))

	// listings
	s.must(200, "GET", "/channels", nil, nil)
	s.must(200, "GET", "/bridges", nil, nil)
	s.must(200, "GET", "/applications", nil, nil)
	s.must(200, "GET", "/applications/cti", nil, nil)
	s.must(200, "GET", "/asterisk/info", nil, nil)

	// hang up
	for _, id := range []string{snoopID, emID, legID, caller} {
		s.must(204, "DELETE", "/channels/"+id, nil, nil)
	}
	s.waitEvent(next, "caller StasisEnd", evType("StasisEnd", caller))
	s.must(204, "DELETE", "/bridges/"+bridge, nil, nil)
	s.must(204, "DELETE", "/recordings/stored/contract-rec", nil, nil)

	// every event the emulator sent
	s.mu.Lock()
	events := append([][]byte(nil), s.events...)
	s.mu.Unlock()
	if len(events) < 20 {
		t.Fatalf("only %d events in the session", len(events))
	}
	types := map[string]int{}
	for _, ev := range events {
		var h struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(ev, &h); err != nil {
			t.Errorf("event is not JSON: %s", ev)
			continue
		}
		types[h.Type]++
		if p := spec.CheckEvent(ev); len(p) > 0 {
			t.Errorf("event violates events.json: %v\n  %s", p, ev)
		}
	}
	for _, want := range []string{"StasisStart", "StasisEnd", "ChannelStateChange", "ChannelEnteredBridge",
		"PlaybackStarted", "PlaybackFinished", "RecordingStarted", "RecordingFinished", "ChannelHangupRequest", "Dial"} {
		if types[want] == 0 {
			t.Errorf("session produced no %s event (types seen: %v)", want, types)
		}
	}
	// every 2xx body
	checked := 0
	for _, r := range s.responses {
		if r.status < 200 || r.status > 299 || r.status == 204 {
			continue
		}
		route, _, ok := spec.MatchRoute(r.method, r.path)
		if !ok {
			t.Errorf("%s %s answered %d but is not an Asterisk route", r.method, r.path, r.status)
			continue
		}
		op, found := spec.Operation(route)
		if !found {
			t.Fatalf("no operation for %v", route)
		}
		if op.ResponseClass == "binary" {
			continue
		}
		checked++
		if p := spec.CheckModel(op.ResponseClass, r.body); len(p) > 0 {
			t.Errorf("%s %s -> %d body violates %s: %v\n  %s", r.method, r.path, r.status, op.ResponseClass, p, r.body)
		}
	}
	if checked < 15 {
		t.Fatalf("only %d 2xx bodies checked", checked)
	}
	// every request the emulator logged that it accepted is valid by the description
	accepted := 0
	for _, rr := range emu.Requests() {
		if rr.Status < 200 || rr.Status > 299 {
			continue
		}
		accepted++
		if !spec.HasRoute(aridoc.Route{Method: rr.Method, Path: rr.Path}) {
			t.Errorf("emulator logged %s %s (%d), not an Asterisk route", rr.Method, rr.Path, rr.Status)
			continue
		}
		if p := spec.CheckRequest(rr.Method, rr.Path, rr.Query, rr.Body); len(p) > 0 {
			t.Errorf("emulator accepted %s %s %v %v, which violates the API description: %v", rr.Method, rr.Path, rr.Query, rr.Body, p)
		}
	}
	if accepted < 20 {
		t.Errorf("emulator logged only %d accepted requests", accepted)
	}
}

// TestContractRejections sends, for every route the emulator serves, a request with
// a parameter Asterisk does not define, and for routes with required query
// parameters a request without them: neither may be answered 2xx. Path ids name live
// objects (a caller in Stasis, a bridge, a stored recording) so that the parameter
// check, not a 404, is what is tested. (Real Asterisk ignores undefined query
// parameters; the emulator is deliberately stricter so that a client bug shows.)
func TestContractRejections(t *testing.T) {
	spec := loadContract(t)
	_, srv := newContractEmulator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ws := dialEvents(t, ctx, srv.URL, "cti")
	s := &ariSession{t: t, base: srv.URL, ctx: ctx, notify: make(chan struct{}, 1)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s.read(ws)
	}()
	defer func() {
		if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Logf("close events socket: %v", err)
		}
		<-readDone
	}()
	s.waitApp("cti")
	q := url.Values{}
	for k, v := range map[string]string{"endpoint": "Local/5551000@from-external/n", "context": "callers",
		"extension": "talk", "priority": "1", "callerId": "Alice <15550001>"} {
		q.Set(k, v)
	}
	s.must(200, "POST", "/channels", q, nil)
	ss, _ := s.waitEvent(0, "inbound StasisStart", evType("StasisStart", ""))
	caller := str(ss, "channel", "id")
	br := s.must(200, "POST", "/bridges", url.Values{"type": {"mixing"}}, nil)
	checkRejections(t, s, spec, map[string]string{
		"channelId": caller, "bridgeId": str(br, "id"), "applicationName": "cti",
		"recordingName": "ceo-test-rec", "playbackId": "no-such-playback", "snoopId": "x-snoop",
	})
}

func checkRejections(t *testing.T, s *ariSession, spec *aridoc.Spec, ids map[string]string) {
	t.Helper()
	fill := func(tmpl string) string {
		segs := strings.Split(tmpl, "/")
		for i, seg := range segs {
			if strings.HasPrefix(seg, "{") {
				name := strings.Trim(seg, "{}")
				v, ok := ids[name]
				if !ok {
					v = "contract-" + name
				}
				segs[i] = url.PathEscape(v)
			}
		}
		return strings.Join(segs, "/")
	}
	// Probe the routes that would end the live objects (hangup, continue, move,
	// redirect, DELETE of a bridge or recording) last, should the emulator accept them.
	routes := ariemu.Routes()
	destructive := func(r ariemu.Route) bool {
		if r.Method == "DELETE" && strings.Count(r.Path, "/") <= 3 && strings.HasSuffix(r.Path, "}") {
			return true
		}
		for _, suffix := range []string{"/continue", "/move", "/redirect"} {
			if strings.HasSuffix(r.Path, suffix) {
				return true
			}
		}
		return false
	}
	sort.SliceStable(routes, func(i, j int) bool { return !destructive(routes[i]) && destructive(routes[j]) })
	tried := 0
	var undefinedAccepted []string
	for _, r := range routes {
		if r.Path == "/events" {
			continue // the WebSocket: checked by the handshake tests
		}
		op, ok := spec.Operation(aridoc.Route{Method: r.Method, Path: r.Path})
		if !ok {
			continue // reported by TestContractRoutes
		}
		path := fill(r.Path)
		// a valid request plus one undefined parameter
		base := url.Values{}
		for _, p := range op.Params {
			if p.Required && p.ParamType == "query" {
				base.Set(p.Name, sampleParam(p))
			}
		}
		withBogus := url.Values{}
		for k, v := range base {
			withBogus[k] = v
		}
		withBogus.Set("ctidUndefinedParam", "1")
		if st, _ := s.do(r.Method, path, withBogus, nil); st >= 200 && st <= 299 {
			undefinedAccepted = append(undefinedAccepted, fmt.Sprintf("%s %s (%d)", r.Method, r.Path, st))
		}
		tried++
		if len(base) == 0 {
			continue
		}
		if st, body := s.do(r.Method, path, nil, nil); st >= 200 && st <= 299 {
			t.Errorf("%s %s answered %d without its required parameters %v (%s)", r.Method, path, st, keys(base), body)
		}
	}
	if tried < 30 {
		t.Errorf("only %d routes probed for rejections", tried)
	}
	reason, gap := contractGaps()["undefined-parameters"]
	switch {
	case gap && len(undefinedAccepted) == 0:
		t.Errorf("contractGaps lists undefined-parameters (%s) but every route now rejects them: remove the entry", reason)
	case gap:
		t.Logf("known gap (%s): %d routes accept an undefined parameter: %s", reason, len(undefinedAccepted), strings.Join(undefinedAccepted, ", "))
	default:
		for _, a := range undefinedAccepted {
			t.Errorf("accepted the undefined parameter ctidUndefinedParam: %s", a)
		}
	}
}

// contractGaps lists the contract checks the emulator does not pass yet, with the
// reason. A listed check is still run and logged, and the test FAILS once it passes,
// so that the list only shrinks.
func contractGaps() map[string]string {
	// Empty: the emulator answers 400 to undefined query parameters (stricter than
	// Asterisk, which ignores them) so that client bugs show.
	return map[string]string{}
}

func sampleParam(p aridoc.Param) string {
	if len(p.Values) > 0 {
		return p.Values[0]
	}
	switch p.DataType {
	case "int", "long":
		return "1"
	case "boolean":
		return "false"
	}
	switch p.Name {
	case "endpoint":
		return "Local/talk@callers"
	case "app":
		return "cti"
	case "media":
		return "sound:beep"
	case "format":
		return "ulaw"
	}
	return "contract"
}

func keys(v url.Values) []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, k)
	}
	return out
}

// TestContractEmitRawEveryEventType: every event type of events.json, sent with
// EmitRaw, reaches a raw WebSocket client byte for byte.
func TestContractEmitRawEveryEventType(t *testing.T) {
	spec := loadContract(t)
	emu, srv := newContractEmulator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws := dialEvents(t, ctx, srv.URL, "cti")
	defer func() {
		if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Logf("close: %v", err)
		}
	}()
	types := spec.EventTypes()
	if len(types) < 40 {
		t.Fatalf("events.json gives only %d event types", len(types))
	}
	for _, typ := range types {
		raw := spec.SampleEvent(typ, "cti", "52:54:00:12:34:56")
		if p := spec.CheckEvent(raw); len(p) > 0 {
			t.Fatalf("sample %s invalid: %v", typ, p)
		}
		// The socket may register with its app just after the handshake returns.
		for deadline := time.Now().Add(3 * time.Second); ; {
			err := emu.EmitRaw("cti", raw)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("EmitRaw %s: %v", typ, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		for {
			rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
			_, data, err := ws.Read(rctx)
			rcancel()
			if err != nil {
				t.Fatalf("%s: no frame arrived: %v", typ, err)
			}
			if bytes.Equal(data, raw) {
				break
			}
			var h struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(data, &h) == nil && h.Type == typ {
				t.Fatalf("%s arrived altered:\n sent %s\n got  %s", typ, raw, data)
			}
			t.Logf("skipping unrelated frame %s", fmt.Sprintf("%.120s", data))
		}
	}
}
