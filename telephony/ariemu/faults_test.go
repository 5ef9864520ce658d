package ariemu

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// The HTTP fault switch answers 500s, or holds requests until the client gives up,
// and the emulator serves normally again once it is cleared.
func TestHTTPFaultStatusHangAndClear(t *testing.T) {
	h := newHarness(t)
	h.must(200, "GET", "/asterisk/info", nil, nil)

	h.emu.SetHTTPFault(HTTPFault{Status: 500})
	h.must(500, "GET", "/asterisk/info", nil, nil)
	h.must(500, "GET", "/channels", nil, nil)

	h.emu.SetHTTPFault(HTTPFault{Hang: true})
	ctx, cancel := context.WithTimeout(h.ctx, 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/ari/asterisk/ping", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	if res, err := http.DefaultClient.Do(req); err == nil {
		_ = res.Body.Close() //nolint:errcheck // failing anyway
		t.Fatalf("a hung request was answered %d", res.StatusCode)
	}

	// A request held when the fault clears is served normally.
	done := make(chan int, 1)
	go func() { done <- h.do("GET", "/asterisk/ping", nil, nil, nil) }()
	for h.emu.FaultedRequests() < 4 {
		time.Sleep(5 * time.Millisecond)
	}
	h.emu.ClearHTTPFault()
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("held request answered %d after clear", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("held request never answered after the fault cleared")
	}
	h.must(200, "GET", "/asterisk/info", nil, nil)
}

// Restart drops every socket and every channel and bridge without an event; the
// emulator then serves again, empty.
func TestRestartLosesEverythingSilently(t *testing.T) {
	h := newHarness(t)
	c := h.connect(testApp)
	id, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "1", Dialled: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	c.next("StasisStart", id, 5*time.Second)
	h.must(200, "POST", "/bridges", nil, nil)
	before := len(h.emu.ChannelIDs())
	if n := h.emu.Restart(); n != before || n < 1 {
		t.Fatalf("Restart lost %d channels, %d were alive", n, before)
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("events socket still open after restart")
	}
	for ev := range drain(c.events) {
		if ev.Type == "StasisEnd" || ev.Type == "ChannelDestroyed" {
			t.Fatalf("restart emitted %s", ev.Type)
		}
	}
	if ids := h.emu.ChannelIDs(); len(ids) != 0 {
		t.Fatalf("channels after restart: %v", ids)
	}
	if bs := h.emu.Bridges(); len(bs) != 0 {
		t.Fatalf("bridges after restart: %v", bs)
	}
	c2 := h.connect(testApp)
	id2, err := h.emu.InjectCall(h.ctx, CallSpec{CallerNumber: "2", Dialled: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	c2.next("StasisStart", id2, 5*time.Second)
}

func drain(ch chan event) chan event {
	out := make(chan event, len(ch))
	for {
		select {
		case ev := <-ch:
			out <- ev
		default:
			close(out)
			return out
		}
	}
}
