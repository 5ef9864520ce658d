package desktop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func websocketCloseReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return fmt.Sprintf("not a close: %v", err)
}

func expectSnapshot(t *testing.T, c *wsClient, wantSeq uint64) map[string]any {
	t.Helper()
	f := c.next()
	if f["event"] != "snapshot" || seqOf(t, f) != wantSeq || f["epoch"] == "" || f["agent"] == nil {
		t.Fatalf("want snapshot at seq %d, got %v", wantSeq, f)
	}
	return f
}

func TestWSAuthByHeaderCookieAndQuery(t *testing.T) {
	hs := newHarness(t, nil)
	tok, cookie := hs.login("alice")
	cases := map[string]struct {
		query string
		hdr   http.Header
	}{
		"header": {"", http.Header{"Authorization": {"Bearer " + tok}}},
		"cookie": {"", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}},
		"query":  {"access_token=" + tok, nil},
	}
	for name, tc := range cases {
		conn, _, err := hs.dialRaw(tc.query, tc.hdr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := &wsClient{t: t, conn: conn}
		expectSnapshot(t, c, 0)
		if r := c.cmd("agent.ready", nil); r["ok"] != true || r["user"] != "alice" {
			t.Fatalf("%s: reply %v", name, r)
		}
		if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatalf("%s: close: %v", name, err)
		}
	}
	for name, q := range map[string]string{"none": "", "bad": "access_token=nope"} {
		_, resp, err := hs.dialRaw(q, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: want 401, got %v %v", name, resp, err)
		}
	}
}

func TestWSOriginChecked(t *testing.T) {
	hs := newHarness(t, func(c *Config) { c.WebSocket.AllowedOrigins = []string{"https://*.example.com"} })
	tok, _ := hs.login("alice")
	auth := func(origin string) http.Header {
		return http.Header{"Authorization": {"Bearer " + tok}, "Origin": {origin}}
	}
	_, resp, err := hs.dialRaw("", auth("https://evil.test"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad origin: %v %v", resp, err)
	}
	_, resp, err = hs.dialRaw("", auth("http://desk.example.com")) // scheme must match too
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("http origin for an https pattern: %v %v", resp, err)
	}
	for _, ok := range []string{"https://desk.example.com", hs.ts.URL} {
		conn, _, err := hs.dialRaw("", auth(ok))
		if err != nil {
			t.Fatalf("origin %s refused: %v", ok, err)
		}
		c := &wsClient{t: t, conn: conn}
		expectSnapshot(t, c, 0)
		if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// validArgs has arguments that pass validation for every built-in command.
var validArgs = map[string]map[string]any{
	"agent.ready":            nil,
	"agent.not_ready":        {"reason": "lunch"},
	"agent.logout":           nil,
	"call.accept":            {"call_id": "c-1"},
	"call.reject":            {"call_id": "c-1"},
	"call.hold":              {"call_id": "c-1"},
	"call.unhold":            {"call_id": "c-1"},
	"call.mute":              {"call_id": "c-1"},
	"call.unmute":            {"call_id": "c-1"},
	"call.transfer":          {"call_id": "c-1", "to": map[string]any{"queue": "sales"}, "mode": "attended"},
	"call.transfer.complete": {"call_id": "c-1"},
	"call.transfer.cancel":   {"call_id": "c-1"},
	"call.conference":        {"call_id": "c-1"},
	"call.dtmf":              {"call_id": "c-1", "digits": "12#*"},
	"call.hangup":            {"call_id": "c-1"},
	"call.dial":              {"number": "+48221234567", "campaign_id": "spring"},
	"wrapup.done":            {"call_id": "c-1", "disposition": "sale", "notes": "ok", "callback_at": "2026-01-03T10:00:00Z"},
	"rtc.offer":              {"sdp": "v=0\r\n"},
	"rtc.candidate":          {"candidate": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}},
	"rtc.config":             nil,
	"supervisor.listen":      {"agent": "alice"},
	"supervisor.whisper":     {"agent": "alice"},
	"supervisor.barge":       {"agent": "alice"},
	"supervisor.set_state":   {"agent": "alice", "state": "not_ready", "reason": "coaching"},
	"campaign.start":         {"campaign_id": "spring"},
	"campaign.pause":         {"campaign_id": "spring"},
	"campaign.stop":          {"campaign_id": "spring"},
}

func TestWSEveryCommandGetsExactlyOneReply(t *testing.T) {
	// Every command is sent before any reply is read: the send buffer must hold all
	// the replies (the test's default of 32 would drop the socket as a slow consumer).
	hs := newHarness(t, func(c *Config) { c.WebSocket.SendBuffer, c.WebSocket.ResumeBuffer = 256, 256 })
	tok, _ := hs.login("sam") // a supervisor may send every command
	c := hs.dial(tok, "")
	expectSnapshot(t, c, 0)
	if len(validArgs) != len(builtinSpecs()) {
		t.Fatalf("validArgs covers %d of %d commands", len(validArgs), len(builtinSpecs()))
	}
	type expect struct{ id, code string } // code "" = ok
	var want []expect
	send := func(frame any, code string) {
		id := "<nil>"
		if m, ok := frame.(map[string]any); ok {
			id = fmt.Sprintf("r%d", len(want))
			m["id"] = id
		}
		want = append(want, expect{id, code})
		c.send(frame)
	}
	for name, args := range validArgs {
		m := map[string]any{"cmd": name}
		for k, v := range args {
			m[k] = v
		}
		send(m, "")
	}
	send(map[string]any{"cmd": "call.hangup", "call_id": "missing"}, CodeNotFound)
	send(map[string]any{"cmd": "call.hangup", "call_id": "other"}, CodeForbidden)
	send(map[string]any{"cmd": "call.hangup", "call_id": "boom"}, CodeInternal)
	send(map[string]any{"cmd": "call.hangup"}, CodeInvalidArgument)
	send(map[string]any{"cmd": "no.such"}, CodeInvalidArgument)
	send(map[string]any{"cmd": "ping"}, "")
	send(map[string]any{"cmd": "resume", "after": 0}, "")
	send(`{"cmd":"resume","after":0}`, "")             // no id: the reply has "id":null
	send(`{"cmd":"call.hangup"}`, CodeInvalidArgument) // no id, invalid
	send(`{"cmd":`, CodeInvalidArgument)               // malformed
	// one socket's commands are handled in order, so replies come in order
	for _, w := range want {
		var f map[string]any
		for {
			if f = c.next(); f["event"] == nil {
				break
			}
		}
		if got := fmt.Sprint(f["id"]); got != w.id {
			t.Fatalf("reply for %s, want %s: %v", got, w.id, f)
		}
		if w.code == "" {
			if f["ok"] != true {
				t.Errorf("%s: %v", w.id, f)
			}
			continue
		}
		e, _ := f["error"].(map[string]any)
		if f["ok"] != false || e["code"] != w.code || e["message"] == "" {
			t.Errorf("%s: want %s, got %v", w.id, w.code, f)
		}
		if strings.Contains(fmt.Sprint(e["message"]), "hunter2") {
			t.Errorf("%s: internal error text leaked: %v", w.id, e)
		}
	}
	// the handler's "id" result key did not overwrite the client's id (checked above), and
	// nothing more arrives
	c.send(map[string]any{"id": "last", "cmd": "ping"})
	if f := c.next(); f["id"] != "last" {
		t.Fatalf("extra frame %v", f)
	}
}

func TestWSCommandValidation(t *testing.T) {
	hs := newHarness(t, nil)
	tok, _ := hs.login("sam")
	c := hs.dial(tok, "")
	expectSnapshot(t, c, 0)
	bad := []map[string]any{
		{"cmd": "call.transfer", "call_id": "c-1", "mode": "blind"},
		{"cmd": "call.transfer", "call_id": "c-1", "to": map[string]any{}, "mode": "blind"},
		{"cmd": "call.transfer", "call_id": "c-1", "to": map[string]any{"agent": "bob", "queue": "q"}, "mode": "blind"},
		{"cmd": "call.transfer", "call_id": "c-1", "to": map[string]any{"phone": "123"}, "mode": "blind"},
		{"cmd": "call.transfer", "call_id": "c-1", "to": map[string]any{"number": "12a"}, "mode": "blind"},
		{"cmd": "call.transfer", "call_id": "c-1", "to": map[string]any{"agent": "bob"}, "mode": "warm"},
		{"cmd": "call.transfer", "call_id": "c-1", "to": "bob", "mode": "blind"},
		{"cmd": "call.transfer", "to": map[string]any{"agent": "bob"}, "mode": "blind"},
		{"cmd": "call.accept", "call_id": 7},
		{"cmd": "call.accept", "call_id": ""},
		{"cmd": "call.dtmf", "call_id": "c-1", "digits": "12x"},
		{"cmd": "call.dial"},
		{"cmd": "call.dial", "number": "call me"},
		{"cmd": "wrapup.done", "call_id": "c-1"},
		{"cmd": "wrapup.done", "call_id": "c-1", "disposition": "sale", "callback_at": "tomorrow"},
		{"cmd": "rtc.offer"},
		{"cmd": "rtc.candidate", "candidate": 5},
		{"cmd": "supervisor.listen"},
		{"cmd": "supervisor.set_state", "agent": "alice", "state": "asleep"},
		{"cmd": "campaign.start"},
		{"cmd": "resume"},
		{"cmd": "resume", "after": -1},
		{"cmd": "agent.not_ready", "reason": 3},
	}
	for i, m := range bad {
		r := c.cmd(m["cmd"].(string), without(m, "cmd"))
		if e, _ := r["error"].(map[string]any); r["ok"] != false || e["code"] != CodeInvalidArgument {
			t.Errorf("case %d %v: %v", i, m, r)
		}
	}
	hs.h.mu.Lock()
	defer hs.h.mu.Unlock()
	if len(hs.h.commands) != 0 {
		t.Fatalf("invalid commands reached the handler: %v", hs.h.commands)
	}
}

func without(m map[string]any, key string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func TestWSRoleChecks(t *testing.T) {
	hs := newHarness(t, nil)
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "")
	expectSnapshot(t, c, 0)
	for _, name := range []string{"supervisor.listen", "supervisor.whisper", "supervisor.barge", "supervisor.set_state", "campaign.start", "campaign.pause", "campaign.stop"} {
		r := c.cmd(name, validArgs[name])
		if e, _ := r["error"].(map[string]any); r["ok"] != false || e["code"] != CodeForbidden {
			t.Errorf("agent %s: %v", name, r)
		}
	}
	if r := c.cmd("call.accept", validArgs["call.accept"]); r["ok"] != true {
		t.Fatalf("agent command: %v", r)
	}
	// the principal handed over carries the role and teams
	stok, _ := hs.login("sam")
	sc := hs.dial(stok, "")
	expectSnapshot(t, sc, 0)
	if r := sc.cmd("supervisor.listen", validArgs["supervisor.listen"]); r["ok"] != true {
		t.Fatalf("supervisor: %v", r)
	}
	hs.h.mu.Lock()
	defer hs.h.mu.Unlock()
	if n := len(hs.h.commands); n != 2 {
		t.Fatalf("handler saw %d commands, want 2", n)
	}
	var tr TransferArgs
	if err := hs.h.commands[0].Decode(&tr); err != nil || hs.h.commands[0].CallID() != "c-1" {
		t.Fatalf("decode: %v", err)
	}
}

func TestWSMalformedFrames(t *testing.T) {
	hs := newHarness(t, func(c *Config) { c.WebSocket.MaxFrameBytes = 4096 })
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "")
	expectSnapshot(t, c, 0)
	for _, frame := range []string{"", "{", "[]", "null", `"x"`, `{"id":"a"}`, `{"id":"a","cmd":5}`, `{"id":{"x":1},"cmd":"ping"}`, `{"cmd":"ping"} {"cmd":"ping"}`, "\xff\xfe", `{"id":"d","cmd":"call.accept","call_id":"c","CALL_ID":"x"}`} {
		c.send(frame)
		f := c.next()
		if e, _ := f["error"].(map[string]any); f["ok"] != false || e["code"] != CodeInvalidArgument {
			t.Fatalf("frame %q: %v", frame, f)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageBinary, []byte(`{"id":"b","cmd":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if f := c.next(); f["ok"] != false {
		t.Fatalf("binary frame: %v", f)
	}
	// still alive
	if r := c.cmd("ping", nil); r["ok"] != true {
		t.Fatalf("ping: %v", r)
	}
	// over the frame limit: the socket is closed with 1009
	c.send(`{"id":"big","cmd":"rtc.offer","sdp":"` + strings.Repeat("a", 5000) + `"}`)
	_, err := c.read(5 * time.Second)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized frame: %v", err)
	}
}

func TestWSSeqRisesByOneAndBroadcast(t *testing.T) {
	hs := newHarness(t, nil)
	atok, _ := hs.login("alice")
	stok, _ := hs.login("sam")
	a := hs.dial(atok, "")
	expectSnapshot(t, a, 0)
	s := hs.dial(stok, "")
	expectSnapshot(t, s, 0)
	hs.srv.Publish("alice", "agent.state", map[string]any{"state": "ready", "seq": 99, "event": "spoof"})
	hs.srv.Broadcast(RoleSupervisor, "queue.stats", map[string]any{"queue": "sales", "waiting": 3})
	for i := 0; i < 20; i++ {
		hs.srv.Publish("alice", "call.offered", map[string]any{"call_id": fmt.Sprintf("c-%d", i)})
	}
	for want := uint64(1); want <= 21; want++ {
		f := a.next()
		if seqOf(t, f) != want {
			t.Fatalf("seq %v, want %d", f["seq"], want)
		}
		if want == 1 && (f["event"] != "agent.state" || f["state"] != "ready") {
			t.Fatalf("first event %v", f)
		}
	}
	f := s.next()
	if f["event"] != "queue.stats" || seqOf(t, f) != 1 || f["waiting"] != float64(3) {
		t.Fatalf("supervisor broadcast %v", f)
	}
	if r := a.cmd("ping", nil); r["ok"] != true { // the agent got no queue.stats
		t.Fatalf("ping %v", r)
	}
}

func TestWSResumeAfterFiveMissedEvents(t *testing.T) {
	hs := newHarness(t, nil)
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "")
	snap := expectSnapshot(t, c, 0)
	epoch := snap["epoch"].(string)
	for i := 1; i <= 3; i++ {
		hs.srv.Publish("alice", "agent.state", map[string]any{"n": i})
	}
	for i := 1; i <= 3; i++ {
		if got := seqOf(t, c.next()); got != uint64(i) {
			t.Fatalf("seq %d want %d", got, i)
		}
	}
	if err := c.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	for i := 4; i <= 8; i++ {
		hs.srv.Publish("alice", "call.offered", map[string]any{"n": i})
	}
	for _, viaQuery := range []bool{false, true} {
		var c2 *wsClient
		if viaQuery {
			c2 = hs.dial(tok, fmt.Sprintf("after=3&epoch=%s", epoch))
		} else {
			c2 = hs.dial(tok, "")
			expectSnapshot(t, c2, 8)
			c2.send(map[string]any{"id": "r", "cmd": "resume", "after": 3, "epoch": epoch})
			r := c2.next()
			if r["id"] != "r" || r["ok"] != true || r["replayed"] != float64(5) || r["snapshot"] != false {
				t.Fatalf("resume reply %v", r)
			}
		}
		for i := 4; i <= 8; i++ {
			f := c2.next()
			if seqOf(t, f) != uint64(i) || f["n"] != float64(i) || f["event"] != "call.offered" {
				t.Fatalf("replayed %v, want seq %d", f, i)
			}
		}
		// exactly those 5: the next frame is the reply to a ping
		if r := c2.cmd("ping", nil); r["ok"] != true {
			t.Fatalf("after replay: %v", r)
		}
		if err := c2.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWSTooFarBehindGetsSnapshot(t *testing.T) {
	hs := newHarness(t, nil) // resume buffer 64
	tok, _ := hs.login("alice")
	for i := 1; i <= 100; i++ {
		hs.srv.Publish("alice", "agent.state", map[string]any{"n": i})
	}
	c := hs.dial(tok, "after=10")
	expectSnapshot(t, c, 100)
	hs.srv.Publish("alice", "agent.state", map[string]any{"n": 101})
	if f := c.next(); seqOf(t, f) != 101 {
		t.Fatalf("after snapshot: %v", f)
	}
	// resume within the ring replays; from another epoch (ctid restarted) snapshots
	r := c.cmd("resume", map[string]any{"after": 99})
	if r["replayed"] != float64(2) {
		t.Fatalf("resume 99: %v", r)
	}
	for want := uint64(100); want <= 101; want++ {
		if f := c.next(); seqOf(t, f) != want {
			t.Fatalf("replay %v want %d", f, want)
		}
	}
	r = c.cmd("resume", map[string]any{"after": 5, "epoch": hs.srv.Hub().Epoch()})
	if r["snapshot"] != true {
		t.Fatalf("resume 5: %v", r)
	}
	expectSnapshot(t, c, 101)
	r = c.cmd("resume", map[string]any{"after": 101, "epoch": "old-process"})
	if r["snapshot"] != true {
		t.Fatalf("resume from another epoch: %v", r)
	}
	expectSnapshot(t, c, 101)
	r = c.cmd("resume", map[string]any{"after": 500})
	if r["snapshot"] != true {
		t.Fatalf("resume ahead of the stream: %v", r)
	}
	expectSnapshot(t, c, 101)
}

func TestWSSlowConsumerDisconnectedWithoutBlocking(t *testing.T) {
	hs := newHarness(t, func(c *Config) {
		c.WebSocket.SendBuffer = 8
		c.WebSocket.ResumeBuffer = 1024
		c.WebSocket.WriteTimeout = 30 * time.Second
	})
	slowTok, _ := hs.login("alice")
	fastTok, _ := hs.login("bob")
	slow := hs.dial(slowTok, "")
	expectSnapshot(t, slow, 0)
	fast := hs.dial(fastTok, "")
	expectSnapshot(t, fast, 0)
	for range 2 {
		hs.h.waitSession(t)
	}
	big := strings.Repeat("x", 64<<10)
	got := make(chan uint64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the fast desktop reads everything
		defer wg.Done()
		defer close(got)
		for want := uint64(1); want <= 100; want++ {
			f, err := fast.read(10 * time.Second)
			if err != nil || uint64(f["seq"].(float64)) != want {
				t.Errorf("fast consumer: %v %v at %d", f["seq"], err, want)
				return
			}
			got <- want
		}
	}()
	start := time.Now()
	slowClosed, bobSent := false, 0
	for i := 0; i < 1000 && !slowClosed; i++ { // alice never reads
		hs.srv.Publish("alice", "call.updated", map[string]any{"pad": big})
		if bobSent < 100 { // bob gets each event while alice's socket is stuck
			hs.srv.Publish("bob", "agent.state", map[string]any{"i": bobSent})
			bobSent++
			if _, ok := <-got; !ok {
				t.Fatal("fast consumer stopped")
			}
		}
		select {
		case e := <-hs.h.sessions:
			if e.user != "alice" || e.reason != ReasonSlowConsumer {
				t.Fatalf("unexpected session event %+v", e)
			}
			slowClosed = true
		default:
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("publishing took %v: Publish blocked", d)
	}
	if !slowClosed {
		if e := hs.h.waitSession(t); e.user != "alice" || e.reason != ReasonSlowConsumer {
			t.Fatalf("session event %+v", e)
		}
	}
	for ; bobSent < 100; bobSent++ { // bob is unaffected
		hs.srv.Publish("bob", "agent.state", map[string]any{"i": bobSent})
		if _, ok := <-got; !ok {
			t.Fatal("fast consumer stopped")
		}
	}
	wg.Wait()
	// alice's socket ends; she can resume later from the ring
	for {
		if _, err := slow.read(10 * time.Second); err != nil {
			break
		}
	}
	c := hs.dial(slowTok, "after=0")
	if f := c.next(); seqOf(t, f) != 1 {
		t.Fatalf("resume after slow: %v", f["seq"])
	}
}

func TestWSSecondTabTakesOver(t *testing.T) {
	hs := newHarness(t, nil)
	tok, _ := hs.login("alice")
	first := hs.dial(tok, "")
	expectSnapshot(t, first, 0)
	if e := hs.h.waitSession(t); !e.opened {
		t.Fatalf("%+v", e)
	}
	second := hs.dial(tok, "")
	expectSnapshot(t, second, 0)
	if e := hs.h.waitSession(t); e.opened || e.reason != ReasonReplaced {
		t.Fatalf("want SessionClosed(replaced) first, got %+v", e)
	}
	if e := hs.h.waitSession(t); !e.opened {
		t.Fatalf("want SessionOpened, got %+v", e)
	}
	f := first.next()
	if f["event"] != "session.replaced" {
		t.Fatalf("old tab got %v", f)
	}
	if _, err := first.read(5 * time.Second); websocket.CloseStatus(err) != closeReplaced {
		t.Fatalf("old tab close: %v", err)
	}
	hs.srv.Publish("alice", "agent.state", map[string]any{"state": "ready"})
	if f := second.next(); seqOf(t, f) != 1 {
		t.Fatalf("new tab: %v", f)
	}
	// the old session's end is not reported again
	if err := second.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if e := hs.h.waitSession(t); e.opened || e.reason != ReasonClientClosed {
		t.Fatalf("%+v", e)
	}
	select {
	case e := <-hs.h.sessions:
		t.Fatalf("extra session event %+v", e)
	default:
	}
}

func TestWSTokenExpiresMidSession(t *testing.T) {
	hs := newHarness(t, nil)
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "")
	expectSnapshot(t, c, 0)
	hs.clock.Add(13 * time.Hour)
	r := c.cmd("agent.ready", nil)
	if e, _ := r["error"].(map[string]any); e["code"] != CodeUnauthenticated {
		t.Fatalf("%v", r)
	}
	if f := c.next(); f["event"] != "session.closed" || f["reason"] != ReasonTokenExpired {
		t.Fatalf("%v", f)
	}
	if _, err := c.read(5 * time.Second); websocket.CloseStatus(err) != closeAuth {
		t.Fatalf("close: %v", err)
	}
}

func TestShutdownClosesSockets(t *testing.T) {
	hs := newHarness(t, nil)
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "")
	expectSnapshot(t, c, 0)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- hs.srv.Shutdown(ctx)
	}()
	if f := c.next(); f["event"] != "session.closed" || f["reason"] != ReasonShutdown {
		t.Fatalf("%v", f)
	}
	if _, err := c.read(5 * time.Second); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, resp, err := hs.dialRaw("access_token="+tok, nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after shutdown: %v %v", resp, err)
	}
}

func TestCommandTimeoutAndHandlerCtx(t *testing.T) {
	hs := newHarness(t, func(c *Config) { c.WebSocket.CommandTimeout = 100 * time.Millisecond })
	hs.h.block = make(chan struct{})
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "")
	expectSnapshot(t, c, 0)
	r := c.cmd("call.hold", validArgs["call.hold"])
	if e, _ := r["error"].(map[string]any); e["code"] != CodeInternal || !strings.Contains(fmt.Sprint(e["message"]), "timed out") {
		t.Fatalf("%v", r)
	}
}

func TestWSIdleSocketClosedWhenTokenExpires(t *testing.T) {
	hs := newHarness(t, func(c *Config) { c.WebSocket.PingInterval = 20 * time.Millisecond })
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "")
	expectSnapshot(t, c, 0)
	hs.clock.Add(12 * time.Hour)
	if f := c.next(); f["event"] != "session.closed" || f["reason"] != ReasonTokenExpired {
		t.Fatalf("%v", f)
	}
	if _, err := c.read(5 * time.Second); websocket.CloseStatus(err) != closeAuth {
		t.Fatalf("close: %v", err)
	}
}

func TestWSSnapshotFailure(t *testing.T) {
	hs := newHarness(t, nil)
	hs.h.snapshot = func(Principal) (map[string]any, error) {
		return nil, &Error{Code: CodeInvalidState, Message: "engine restarting"}
	}
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "") // no snapshot can be sent: live events still flow
	// No snapshot frame says the session is attached: wait for the hub to hold it,
	// or the event could be published before there is a session to get it.
	for deadline := time.Now().Add(10 * time.Second); hs.srv.Hub().Sessions() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session never attached")
		}
	}
	hs.srv.Publish("alice", "agent.state", map[string]any{"state": "ready"})
	if f := c.next(); f["event"] != "agent.state" || seqOf(t, f) != 1 {
		t.Fatalf("%v", f)
	}
	r := c.cmd("resume", map[string]any{"after": 0, "epoch": "other"})
	if e, _ := r["error"].(map[string]any); r["ok"] != false || e["code"] != CodeInvalidState {
		t.Fatalf("%v", r)
	}
	if r := c.cmd("ping", nil); r["ok"] != true {
		t.Fatalf("%v", r)
	}
}
