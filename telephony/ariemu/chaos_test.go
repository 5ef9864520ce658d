package ariemu

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// rawFrames reads every frame of an events socket as it comes (type and bytes).
func rawFrames(t *testing.T, h *harness, app string, limit int64) (<-chan frame, *websocket.Conn) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/ari/events?app=" + app + "&api_key=" + testUser + ":" + testPass
	conn, res, err := websocket.Dial(h.ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Body != nil {
		if err := res.Body.Close(); err != nil {
			t.Error(err)
		}
	}
	conn.SetReadLimit(limit)
	out := make(chan frame, 10000)
	go func() {
		defer close(out)
		for {
			typ, data, err := conn.Read(h.ctx)
			if err != nil {
				return
			}
			out <- frame{typ, data}
		}
	}()
	t.Cleanup(func() { _ = conn.CloseNow() }) //nolint:errcheck // closed by the test already, or now
	return out, conn
}

// ctl calls the chaos control route /_emu/faults/events.
func ctl(t *testing.T, h *harness, want int, method, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(h.ctx, method, h.srv.URL+"/_emu/faults/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != want {
		t.Fatalf("%s /_emu/faults/events %s: %d, want %d", method, body, res.StatusCode, want)
	}
}

// isEvent reports whether a frame is a well-formed ARI event (a text JSON object
// with a type, a timestamp and an application).
func isEvent(f frame) bool {
	var ev struct {
		Type, Timestamp, Application string
	}
	return f.typ == websocket.MessageText && json.Unmarshal(f.data, &ev) == nil && ev.Type != "" && ev.Timestamp != "" && ev.Application != ""
}

// Event chaos adds a junk frame after every Inject-th event and replaces every
// Corrupt-th event by a damaged copy; two sockets under the same setting see the
// same frames; clearing it restores clean events. Counters agree with what the
// sockets got.
func TestEventChaosInjectsAndCorruptsReproducibly(t *testing.T) {
	h := newHarness(t)
	a, _ := rawFrames(t, h, testApp, 1<<20)
	h.emu.SetEventChaos(EventChaos{Seed: 42, Inject: 2, Corrupt: 3})
	const events = 12
	original := []byte(`{"type":"ChannelVarset","timestamp":"2026-12-02T10:00:00.000+0000","application":"` + testApp + `","variable":"X","value":"1","channel":{"id":"c1"}}`)
	for range events {
		if err := h.emu.EmitRaw(testApp, original); err != nil {
			t.Fatal(err)
		}
	}
	// 12 events → 6 junk frames after events 2,4,..,12; events 3,6,9,12 damaged.
	var got []frame
	deadline := time.After(10 * time.Second)
	for len(got) < events+events/2 {
		select {
		case f := <-a:
			got = append(got, f)
		case <-deadline:
			t.Fatalf("got %d frames, want %d", len(got), events+events/2)
		}
	}
	inj, cor, over := h.emu.ChaosFrames()
	if inj != events/2 || cor != events/3 || over != 0 {
		t.Fatalf("counters injected %d corrupted %d oversize %d, want %d %d 0", inj, cor, over, events/2, events/3)
	}
	// Frame layout: e1, e2, j, e3*, e4, j, e5, e6*, j, ...
	n, good := 0, 0
	for i := 0; i < len(got); {
		n++
		damaged := n%3 == 0
		switch {
		case damaged && bytes.Equal(got[i].data, original):
			t.Fatalf("event %d should be damaged: %s", n, got[i].data)
		case !damaged && !bytes.Equal(got[i].data, original):
			t.Fatalf("event %d should be intact: %q", n, got[i].data)
		case !damaged:
			good++
		}
		i++
		if n%2 == 0 {
			if isEvent(got[i]) && !bytes.Contains(got[i].data, []byte(`"type":"NoSuchEvent`)) && got[i].typ == websocket.MessageText {
				t.Fatalf("frame after event %d should be junk: %q", n, got[i].data)
			}
			i++
		}
	}
	if good != events-events/3 {
		t.Fatalf("%d intact events, want %d", good, events-events/3)
	}

	// The same seed and setting generation give the same junk.
	r1 := rand.New(rand.NewPCG(1, 2))
	r2 := rand.New(rand.NewPCG(1, 2))
	ev := []byte(`{"type":"StasisStart","args":["inbound","sales"],"channel":{"id":"x"}}`)
	for range 50 {
		t1, b1 := ChaosFrame(r1, ev)
		t2, b2 := ChaosFrame(r2, ev)
		if t1 != t2 || !bytes.Equal(b1, b2) {
			t.Fatal("ChaosFrame is not reproducible from its generator")
		}
	}

	// Cleared: events are clean again.
	h.emu.ClearEventChaos()
	if err := h.emu.EmitRaw(testApp, []byte(`{"type":"ChannelVarset","timestamp":"2026-12-02T10:00:00.000+0000","application":"`+testApp+`","variable":"Y","value":"2","channel":{"id":"c1"}}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-a:
		if !isEvent(f) || !bytes.Contains(f.data, []byte(`"variable":"Y"`)) {
			t.Fatalf("after clear: %q", f.data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after clear")
	}
}

// The oversize frame goes out once per setting, larger than a 16 MiB read limit:
// the client refuses it and the socket closes.
func TestEventChaosOversizeOncePerSetting(t *testing.T) {
	h := newHarness(t)
	a, _ := rawFrames(t, h, testApp, 16<<20)
	ctl(t, h, 204, "POST", `{"seed":1,"inject":1,"oversize":true}`)
	if err := h.emu.EmitRaw(testApp, []byte(`{"type":"ChannelVarset","timestamp":"2026-12-02T10:00:00.000+0000","application":"`+testApp+`","variable":"X","value":"1","channel":{"id":"c1"}}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	frames := 0
	for open := true; open; {
		select {
		case _, ok := <-a:
			if !ok {
				open = false
				break
			}
			frames++
		case <-deadline:
			t.Fatal("the socket stayed open after an oversize frame")
		}
	}
	if frames != 1 {
		t.Fatalf("got %d frames before the close, want the event only", frames)
	}
	if _, _, over := h.emu.ChaosFrames(); over != 1 {
		t.Fatalf("oversize frames %d, want 1", over)
	}
	// A new socket under the same setting gets no second oversize frame.
	b, _ := rawFrames(t, h, testApp, 16<<20)
	if err := h.emu.EmitRaw(testApp, []byte(`{"type":"ChannelVarset","timestamp":"2026-12-02T10:00:00.000+0000","application":"`+testApp+`","variable":"X","value":"1","channel":{"id":"c1"}}`)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case _, ok := <-b:
			if !ok {
				t.Fatal("second socket closed: oversize sent twice")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("second socket got too few frames")
		}
	}
	if _, _, over := h.emu.ChaosFrames(); over != 1 {
		t.Fatalf("oversize frames %d, want 1", over)
	}
	ctl(t, h, 204, "DELETE", "")
	ctl(t, h, 400, "POST", `{"inject":-1}`)
}
