package desktop

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

// TestManySocketsNoGoroutineLeft opens 50 desktops, publishes to all, closes half from
// the client and the rest by Shutdown, and checks every goroutine has ended.
func TestManySocketsNoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := testConfig(t)
	hash := cfg.Auth.Users[0].PasswordHash
	for i := range 50 {
		cfg.Auth.Users = append(cfg.Auth.Users, UserConfig{Username: fmt.Sprintf("a%02d", i), Role: "agent", PasswordHash: hash})
	}
	cfg.Auth.LoginRate.PerIP = 1000
	fh := newFakeHandler()
	fh.sessions = make(chan sessionEvent, 1000)
	srv, err := NewServer(cfg, fh, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Routes(mux)
	ts := httptest.NewServer(mux)
	hs := &harness{t: t, srv: srv, h: fh, ts: ts, clock: &fakeClock{t: time.Now()}}
	clients := make([]*wsClient, 50)
	for i := range clients {
		tok, _ := hs.login(fmt.Sprintf("a%02d", i))
		clients[i] = hs.dial(tok, "")
		expectSnapshot(t, clients[i], 0)
	}
	for round := 1; round <= 10; round++ {
		for i := range clients {
			srv.Publish(fmt.Sprintf("a%02d", i), "agent.state", map[string]any{"round": round})
		}
	}
	for _, c := range clients {
		for want := uint64(1); want <= 10; want++ {
			if got := seqOf(t, c.next()); got != want {
				t.Fatalf("seq %d want %d", got, want)
			}
		}
	}
	for _, c := range clients[:25] {
		if err := c.conn.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { // the other 25 read until Shutdown closes them
		defer close(done)
		for _, c := range clients[25:] {
			for {
				if _, err := c.read(10 * time.Second); err != nil {
					break
				}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	ts.CloseClientConnections()
	ts.Close()
	ts.Client().CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines left (before: %d)\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func BenchmarkPublish(b *testing.B) {
	cfg := DefaultConfig()
	fh := newFakeHandler()
	srv, err := NewServer(cfg, fh, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	fields := map[string]any{"call_id": "1699.42", "state": "ready", "queue": "sales"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		srv.Publish(fmt.Sprintf("agent%d", i%1000), "agent.state", fields)
	}
}
