package ariemu

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

const (
	testUser = "tester"
	testPass = "secret"
	testApp  = "ctid"
)

type harness struct {
	t   *testing.T
	emu *Emulator
	srv *httptest.Server
	ctx context.Context
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	emu, err := New(Config{Users: map[string]string{testUser: testPass}, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(func() {
		cancel()
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return &harness{t: t, emu: emu, srv: srv, ctx: ctx}
}

// do sends an ARI request and decodes a JSON answer into out (if not nil).
func (h *harness) do(method, path string, q url.Values, body any, out any) int {
	h.t.Helper()
	u := h.srv.URL + "/ari" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(h.ctx, method, u, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() {
		if err := res.Body.Close(); err != nil {
			h.t.Error(err)
		}
	}()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s: %v (%s)", method, path, err, data)
		}
	}
	return res.StatusCode
}

func (h *harness) must(want int, method, path string, q url.Values, out any) {
	h.t.Helper()
	if got := h.do(method, path, q, nil, out); got != want {
		h.t.Fatalf("%s %s %v: status %d, want %d", method, path, q, got, want)
	}
}

type event struct {
	Type       string          `json:"type"`
	Args       []string        `json:"args"`
	Channel    map[string]any  `json:"channel"`
	Peer       map[string]any  `json:"peer"`
	Bridge     map[string]any  `json:"bridge"`
	Dialstatus string          `json:"dialstatus"`
	Digit      string          `json:"digit"`
	Cause      int             `json:"cause"`
	Raw        json.RawMessage `json:"-"`
}

type client struct {
	t      *testing.T
	conn   *websocket.Conn
	events chan event
	done   chan struct{}
}

func (h *harness) connect(app string) *client {
	h.t.Helper()
	u := "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/ari/events?app=" + app + "&api_key=" + testUser + ":" + testPass
	conn, res, err := websocket.Dial(h.ctx, u, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if res.Body != nil {
		if err := res.Body.Close(); err != nil {
			h.t.Error(err)
		}
	}
	conn.SetReadLimit(1 << 20)
	c := &client{t: h.t, conn: conn, events: make(chan event, 100000), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, data, err := conn.Read(h.ctx)
			if err != nil {
				return
			}
			var ev event
			if err := json.Unmarshal(data, &ev); err != nil {
				ev.Type = "invalid"
			}
			ev.Raw = data
			c.events <- ev
		}
	}()
	h.t.Cleanup(func() {
		if err := conn.CloseNow(); err != nil && !strings.Contains(err.Error(), "closed") {
			h.t.Log(err)
		}
		<-c.done
	})
	// the app exists once GET /applications/{app} answers 200
	deadline := time.Now().Add(2 * time.Second)
	for h.do("GET", "/applications/"+app, nil, nil, nil) != 200 {
		if time.Now().After(deadline) {
			h.t.Fatalf("app %s not registered", app)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

// next waits for the next event matching typ (and channel id when not empty).
func (c *client) next(typ, chanID string, within time.Duration) event {
	c.t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case ev := <-c.events:
			if ev.Type != typ {
				continue
			}
			if chanID != "" {
				id, _ := ev.Channel["id"].(string) //nolint:errcheck // compared below
				if ev.Peer != nil {
					id, _ = ev.Peer["id"].(string) //nolint:errcheck // compared below
				}
				if id != chanID {
					continue
				}
			}
			return ev
		case <-timer.C:
			c.t.Fatalf("no %s for %q within %v", typ, chanID, within)
			return event{}
		}
	}
}

func TestInjectCallStasisStartAndAnswer(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	id, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "15550001", CallerName: "Alice", Dialled: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	ss := c.next("StasisStart", id, 2*time.Second)
	if strings.Join(ss.Args, ",") != "inbound,sales" || ss.Channel["state"] != "Ring" {
		t.Fatalf("StasisStart args %v state %v", ss.Args, ss.Channel["state"])
	}
	caller, ok := ss.Channel["caller"].(map[string]any)
	if !ok || caller["name"] != "Alice" || caller["number"] != "15550001" {
		t.Fatalf("caller %v", ss.Channel["caller"])
	}
	h.must(204, "POST", "/channels/"+id+"/answer", nil, nil)
	if ev := c.next("ChannelStateChange", id, time.Second); ev.Channel["state"] != "Up" {
		t.Fatalf("state %v", ev.Channel["state"])
	}
	// hold, ring, moh: no events (fact 12); mute needs a direction (fact 13)
	h.must(204, "POST", "/channels/"+id+"/hold", nil, nil)
	h.must(400, "POST", "/channels/"+id+"/mute", nil, nil)
	h.must(204, "DELETE", "/channels/"+id, url.Values{"reason": {"normal"}}, nil)
	if ev := c.next("ChannelHangupRequest", id, time.Second); ev.Cause != 32 {
		t.Fatalf("hangup cause %d", ev.Cause)
	}
	c.next("StasisEnd", id, time.Second)
	if got := h.emu.ChannelIDs(); len(got) != 0 {
		t.Fatalf("channels left: %v", got)
	}
}

func TestCallerPatienceAndDTMF(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	impatient, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "1", Patience: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if ev := c.next("ChannelHangupRequest", impatient, 2*time.Second); ev.Cause != 19 {
		t.Fatalf("abandon cause %d, want 19", ev.Cause)
	}
	c.next("StasisEnd", impatient, time.Second)

	id, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "2", DTMF: "42"})
	if err != nil {
		t.Fatal(err)
	}
	c.next("StasisStart", id, time.Second)
	h.must(204, "POST", "/channels/"+id+"/answer", nil, nil)
	var digits string
	for range 2 {
		digits += c.next("ChannelDtmfReceived", id, 3*time.Second).Digit
	}
	if digits != "42" {
		t.Fatalf("digits %q", digits)
	}
	if err := h.emu.Hangup(id, 16); err != nil {
		t.Fatal(err)
	}
	if ev := c.next("ChannelHangupRequest", id, time.Second); ev.Cause != 16 {
		t.Fatalf("far-end hangup cause %d", ev.Cause)
	}
}

func TestBridgeEventsAndSnapshot(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	a, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "1"})
	if err != nil {
		t.Fatal(err)
	}
	c.next("StasisStart", a, time.Second)
	b, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "2"})
	if err != nil {
		t.Fatal(err)
	}
	c.next("StasisStart", b, time.Second)
	var br struct {
		ID         string `json:"id"`
		Technology string `json:"technology"`
	}
	h.must(200, "POST", "/bridges", url.Values{"type": {"mixing"}}, &br)
	if br.Technology != "simple_bridge" {
		t.Fatalf("technology %q", br.Technology)
	}
	h.must(204, "POST", "/bridges/"+br.ID+"/addChannel", url.Values{"channel": {a + "," + b}}, nil)
	c.next("ChannelEnteredBridge", a, time.Second)
	c.next("ChannelEnteredBridge", b, time.Second)
	c.next("ChannelConnectedLine", a, time.Second)
	snap := h.emu.Bridges()
	if len(snap) != 1 || len(snap[0].Channels) != 2 || snap[0].Type != "mixing" {
		t.Fatalf("snapshot %+v", snap)
	}
	h.must(400, "POST", "/bridges/"+br.ID+"/removeChannel", url.Values{"channel": {"nope"}}, nil)
	h.must(204, "DELETE", "/bridges/"+br.ID, nil, nil)
	c.next("ChannelLeftBridge", a, time.Second)
	if len(h.emu.Bridges()) != 0 {
		t.Fatal("bridge still listed")
	}
}

func TestOriginateOutcomes(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	cases := []struct{ endpoint, want string }{
		{"Local/talk@callers", "ANSWER"},
		{"Local/5550001@callers", "BUSY"},
		{"Local/congestion@callers", "CONGESTION"},
		{"Local/reject@callers", "NOANSWER"},
		{"Local/noanswer@callers", "RINGING"},
		{"PJSIP/5550000@trunk", "ANSWER"},
		{"PJSIP/5550001@trunk", "BUSY"},
		{"SIP/5550002@trunk", "RINGING"},
	}
	for _, tc := range cases {
		var leg struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
		q := url.Values{"endpoint": {tc.endpoint}, "app": {testApp}, "appArgs": {"outbound,x"}, "timeout": {"1"}}
		h.must(200, "POST", "/channels", q, &leg)
		if leg.State != "Down" {
			t.Fatalf("%s: state %q", tc.endpoint, leg.State)
		}
		var last string
		for last != tc.want {
			ev := c.next("Dial", leg.ID, 2*time.Second)
			last = ev.Dialstatus
			if last != "" && last != "RINGING" && last != tc.want {
				t.Fatalf("%s: dialstatus %q, want %q", tc.endpoint, last, tc.want)
			}
		}
		switch tc.want {
		case "ANSWER":
			ss := c.next("StasisStart", leg.ID, time.Second)
			if strings.Join(ss.Args, ",") != "outbound,x" {
				t.Fatalf("args %v", ss.Args)
			}
			h.must(204, "DELETE", "/channels/"+leg.ID, url.Values{"reason": {"busy"}}, nil)
			if ev := c.next("ChannelDestroyed", leg.ID, time.Second); ev.Cause != 17 {
				t.Fatalf("destroyed cause %d", ev.Cause)
			}
		case "RINGING":
			if ev := c.next("ChannelDestroyed", leg.ID, 2*time.Second); ev.Cause != 19 {
				t.Fatalf("noanswer cause %d", ev.Cause)
			}
		default:
			c.next("ChannelDestroyed", leg.ID, time.Second)
		}
	}
	h.must(400, "POST", "/channels", url.Values{"app": {testApp}}, nil)
	h.must(500, "POST", "/channels", url.Values{"app": {testApp}, "endpoint": {"Bogus/1"}}, nil)
}

func TestExternalMediaRTP(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := peer.Close(); err != nil {
			t.Error(err)
		}
	}()
	caller, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "1", Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	c.next("StasisStart", caller, time.Second)
	h.must(204, "POST", "/channels/"+caller+"/answer", nil, nil)
	var em struct {
		ID          string            `json:"id"`
		Channelvars map[string]string `json:"channelvars"`
	}
	h.must(200, "POST", "/channels/externalMedia", url.Values{"app": {testApp}, "external_host": {peer.LocalAddr().String()}, "format": {"ulaw"}}, &em)
	if em.Channelvars["UNICASTRTP_LOCAL_ADDRESS"] != "127.0.0.1" || em.Channelvars["UNICASTRTP_LOCAL_PORT"] == "" {
		t.Fatalf("channelvars %v", em.Channelvars)
	}
	var br struct{ ID string }
	h.must(200, "POST", "/bridges", nil, &br)
	h.must(422, "POST", "/bridges/"+br.ID+"/addChannel", url.Values{"channel": {em.ID}}, nil) // fact 27
	c.next("StasisStart", em.ID, time.Second)
	h.must(204, "POST", "/bridges/"+br.ID+"/addChannel", url.Values{"channel": {caller + "," + em.ID}}, nil)

	buf := make([]byte, 1500)
	if err := peer.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, from, err := peer.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no RTP: %v", err)
	}
	if from.Port != atoi(t, em.Channelvars["UNICASTRTP_LOCAL_PORT"]) {
		t.Fatalf("RTP from %v", from)
	}
	start := time.Now()
	count, lastSeq := 1, binary.BigEndian.Uint16(buf[2:4])
	ssrc := binary.BigEndian.Uint32(buf[8:12])
	for time.Since(start) < time.Second {
		n, _, err = peer.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		seq := binary.BigEndian.Uint16(buf[2:4])
		if n != 172 || buf[0] != 0x80 || buf[1] != 0 || seq != lastSeq+1 || binary.BigEndian.Uint32(buf[8:12]) != ssrc {
			t.Fatalf("packet %d: len %d hdr %x %x seq %d after %d", count, n, buf[0], buf[1], seq, lastSeq)
		}
		lastSeq = seq
		count++
	}
	if count < 40 || count > 60 {
		t.Fatalf("%d packets in ~1 s, want ~50", count)
	}
	// send 20 packets back
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	for i := range 20 {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		if _, err := peer.WriteToUDP(pkt, from); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		sent, recv := h.emu.RTPStats(em.ID)
		if recv == 20 && sent >= count {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RTPStats sent %d received %d", sent, recv)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// hang-up stops RTP at once
	h.must(204, "DELETE", "/channels/"+em.ID, nil, nil)
	c.next("ChannelDestroyed", em.ID, time.Second)
	if err := peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := peer.ReadFromUDP(buf); err != nil {
			break // drained; nothing more arrives
		}
	}
	if err := peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := peer.ReadFromUDP(buf); err == nil {
		t.Fatal("RTP after hangup")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDropEventSocketsAndReconnect(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	id, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "1"})
	if err != nil {
		t.Fatal(err)
	}
	c.next("StasisStart", id, time.Second)
	if n := h.emu.DropEventSockets(testApp); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
		t.Fatal("socket not closed")
	}
	// the channel stays in Stasis and the app keeps existing (fact 41)
	h.must(200, "GET", "/channels/"+id, nil, nil)
	h.must(200, "GET", "/applications/"+testApp, nil, nil)
	if _, err := h.emu.InjectCall(h.ctx, CallSpec{}); err == nil {
		t.Fatal("InjectCall with no socket succeeded")
	}
	c2 := h.connect(testApp)
	h.must(204, "POST", "/channels/"+id+"/answer", nil, nil)
	c2.next("ChannelStateChange", id, time.Second)
	h.must(204, "DELETE", "/channels/"+id, nil, nil)
	c2.next("StasisEnd", id, time.Second)
}

func TestEmitRawAndBurst(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	if err := h.emu.EmitRaw(testApp, []byte(`{"type":"CallBroadcast","application":"ctid"}`)); err != nil {
		t.Fatal(err)
	}
	if ev := c.next("CallBroadcast", "", time.Second); string(ev.Raw) != `{"type":"CallBroadcast","application":"ctid"}` {
		t.Fatalf("raw %s", ev.Raw)
	}
	if err := h.emu.EmitRaw("nobody", []byte(`{}`)); err == nil {
		t.Fatal("EmitRaw to an unknown app succeeded")
	}
	const burst = 20000
	for i := range burst {
		if err := h.emu.EmitRaw(testApp, fmt.Appendf(nil, `{"type":"Burst","n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	for range burst {
		c.next("Burst", "", 10*time.Second)
	}
}

func TestErrorsAndEnvelope(t *testing.T) {
	h := newHarness(t)
	res, err := http.Get(h.srv.URL + "/ari/asterisk/info")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if cerr := res.Body.Close(); cerr != nil {
		t.Error(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 401 || string(body) != `{"message":"Authentication required"}` || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("no auth: %d %s", res.StatusCode, body)
	}
	var msg struct{ Message string }
	h.must(404, "GET", "/no-such-resource", nil, &msg)
	if msg.Message != "Resource not found" {
		t.Fatalf("message %q", msg.Message)
	}
	h.must(405, "PUT", "/channels", nil, &msg)
	h.must(404, "GET", "/channels/nope", nil, &msg)
	if msg.Message != "Channel not found" {
		t.Fatalf("message %q", msg.Message)
	}
	h.must(200, "GET", "/asterisk/ping", nil, nil)
	var mods []map[string]any
	h.must(200, "GET", "/asterisk/modules", nil, &mods)
	if len(mods) < 10 {
		t.Fatalf("%d modules", len(mods))
	}
	reqs := h.emu.Requests()
	if len(reqs) == 0 || reqs[len(reqs)-1].Path != "/asterisk/modules" || reqs[len(reqs)-1].Status != 200 {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestControlHTTPAndClose(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	post := func(path, body string) (int, []byte) {
		req, err := http.NewRequestWithContext(h.ctx, "POST", h.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(testUser, testPass)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(res.Body)
		if cerr := res.Body.Close(); cerr != nil {
			t.Error(cerr)
		}
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, data
	}
	st, data := post("/_emu/calls", `{"caller_number":"100","dialled":"q"}`)
	var out struct {
		ChannelID string `json:"channel_id"`
	}
	if st != 200 || json.Unmarshal(data, &out) != nil || out.ChannelID == "" {
		t.Fatalf("POST /_emu/calls: %d %s", st, data)
	}
	c.next("StasisStart", out.ChannelID, time.Second)
	if st, data := post("/_emu/channels/"+out.ChannelID+"/hangup?cause=16", ""); st != 204 {
		t.Fatalf("hangup: %d %s", st, data)
	}
	c.next("StasisEnd", out.ChannelID, time.Second)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.emu.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := h.emu.InjectCall(h.ctx, CallSpec{}); err == nil {
		t.Fatal("InjectCall after Close succeeded")
	}
}

// TestEventsDecodeWithAriV5: every event of a call decodes with the ari/v5 decoder
// into its typed struct (what ctid's client relies on).
func TestEventsDecodeWithAriV5(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	id, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "1", CallerName: "A", Dialled: "q"})
	if err != nil {
		t.Fatal(err)
	}
	raws := [][]byte{c.next("StasisStart", id, time.Second).Raw}
	h.must(204, "POST", "/channels/"+id+"/answer", nil, nil)
	raws = append(raws, c.next("ChannelStateChange", id, time.Second).Raw)
	h.must(204, "POST", "/channels/"+id+"/variable", url.Values{"variable": {"X"}, "value": {"1"}}, nil)
	raws = append(raws, c.next("ChannelVarset", id, time.Second).Raw)
	var br struct{ ID string }
	h.must(200, "POST", "/bridges", nil, &br)
	h.must(204, "POST", "/bridges/"+br.ID+"/addChannel", url.Values{"channel": {id}}, nil)
	raws = append(raws, c.next("ChannelEnteredBridge", id, time.Second).Raw)
	h.must(201, "POST", "/channels/"+id+"/play", url.Values{"media": {"sound:beep"}}, nil)
	raws = append(raws, c.next("PlaybackStarted", "", time.Second).Raw, c.next("PlaybackFinished", "", 2*time.Second).Raw)
	h.must(204, "DELETE", "/channels/"+id, nil, nil)
	raws = append(raws, c.next("ChannelHangupRequest", id, time.Second).Raw, c.next("ChannelLeftBridge", id, time.Second).Raw,
		c.next("StasisEnd", id, time.Second).Raw)
	for _, raw := range raws {
		var msg struct{ Type string }
		if err := json.Unmarshal(raw, &msg); err != nil {
			t.Fatal(err)
		}
		ev, err := ari.DecodeEvent(raw)
		if err != nil || ev == nil || ev.GetType() != msg.Type || ev.GetApplication() != testApp {
			t.Fatalf("decode %s: %#v", raw, ev)
		}
		if ss, ok := ev.(*ari.StasisStart); ok && (ss.Channel.ID != id || ss.Channel.Caller.Name != "A") {
			t.Fatalf("StasisStart %+v", ss)
		}
	}
}
