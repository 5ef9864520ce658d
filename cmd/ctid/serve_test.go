package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/viper"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/telephony/ariemu"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServeOnEmbeddedEmulatorHealthReadyMetricsAndShutdown(t *testing.T) {
	vp := viper.New()
	vp.Set("server.listen", "127.0.0.1:0")
	vp.Set("emulator.listen", "127.0.0.1:0")
	vp.Set("asterisk.mode", "emulator")
	vp.Set("log.level", "debug")
	vp.Set("store.path", t.TempDir()+"/ctid.db")
	vp.Set("desktop.auth.bcrypt_cost", 4) // the start-up dummy hash at cost 12 takes seconds under -race
	fc, err := loadConfig(vp, "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := newLogger(logs, "json", "debug")

	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	emuc := make(chan *ariemu.Emulator, 1)
	apic := make(chan *desktop.Server, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, fc, log, func(i serveInfo) { addrc <- i.Addr; emuc <- i.Emu; apic <- i.API })
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start:\n%s", logs.String())
	}
	emu := <-emuc
	spec, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := desktop.CheckOpenAPI(spec, (<-apic).RouteTable(), ""); err != nil {
		t.Fatalf("wired routes and docs/openapi.yaml disagree: %v", err)
	}
	if emu == nil {
		t.Fatal("no embedded emulator in emulator mode")
	}
	if code, body := get(t, base+"/"); code != 200 || !strings.Contains(body, "agent console") {
		t.Fatalf("index %d %q", code, body)
	}
	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Fatalf("unknown path %d", code)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, base+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never 200: %d %q", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "ctid_ari_connected 1") ||
		!strings.Contains(body, "ctid_ari_reconnects_total 0") {
		t.Fatalf("metrics %d: %s", code, body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "ctid_queue_stats_up 1") || !strings.Contains(body, "ctid_websocket_sessions 0") {
		t.Fatalf("queue and WebSocket metrics missing: %s", body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "ctid_store_writable 1") || !strings.Contains(body, "ctid_store_write_failures_total 0") ||
		!strings.Contains(body, `ctid_store_records_dropped_total{reason="backlog_full"} 0`) || !strings.Contains(body, "ctid_store_pending_records") {
		t.Fatalf("store metrics missing: %s", body)
	}

	// A call entering the app is seen and logged with its channel id.
	id, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "15550001", CallerName: "Alice", Dialled: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(logs.String(), `"channel_id":"`+id+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with channel_id %s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Losing ARI makes /readyz 503, and ctid reconnects by itself.
	emu.DropEventSockets("")
	for {
		code, body := get(t, base+"/metrics")
		if code == 200 && strings.Contains(body, "ctid_ari_reconnects_total 1") && strings.Contains(body, "ctid_ari_connected 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
	if strings.Contains(logs.String(), fc.Asterisk.Password) && fc.Asterisk.Password != "" {
		t.Fatal("password in logs")
	}
}
