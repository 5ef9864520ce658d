package telephony

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/rs/zerolog"
)

func testConfig(url string) Config {
	c := DefaultConfig()
	c.URL = url + "/ari"
	c.Username, c.Password = "u", "secret-pw"
	c.RequestTimeout = 300 * time.Millisecond
	c.DialTimeout = 300 * time.Millisecond
	c.ReconnectMin, c.ReconnectMax = 10*time.Millisecond, 50*time.Millisecond
	return c
}

func TestConfigValidateNamesKeyValueAndExpectation(t *testing.T) {
	cases := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.URL = "htp://x" }, `asterisk.url: "htp://x": scheme must be http or https`},
		{func(c *Config) { c.URL = "http://" }, `asterisk.url: "http://": must include a host`},
		{func(c *Config) { c.Username = "" }, `asterisk.username`},
		{func(c *Config) { c.Password = "" }, `asterisk.password: "": must not be empty`},
		{func(c *Config) { c.Application = "a b" }, `asterisk.app: "a b"`},
		{func(c *Config) { c.RequestTimeout = 0 }, `asterisk.request_timeout`},
		{func(c *Config) { c.ReconnectMax = time.Millisecond }, `asterisk.reconnect_max`},
		{func(c *Config) { c.WebSocketURL = "http://x" }, `asterisk.websocket_url`},
	}
	for _, tc := range cases {
		c := testConfig("http://127.0.0.1:1")
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, tc.want)
		}
	}
	c := testConfig("http://127.0.0.1:1")
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	if got := c.eventsURL(); got != "ws://127.0.0.1:1/ari/events" {
		t.Errorf("eventsURL = %q", got)
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	c := testConfig("http://127.0.0.1:1")
	c.Password = "p4ss-w0rd"
	c.URL = "htp://x"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "p4ss-w0rd") {
		t.Fatalf("error %v", err)
	}
}

func TestBackoffIsCappedWithJitter(t *testing.T) {
	minD, maxD := 100*time.Millisecond, 2*time.Second
	for attempt := range 40 {
		d := backoff(minD, maxD, attempt)
		nominal := minD << min(attempt, 5)
		nominal = min(nominal, maxD)
		if d < nominal*3/4 || d > nominal*5/4 {
			t.Fatalf("attempt %d: backoff %v outside ±25%% of %v", attempt, d, nominal)
		}
	}
}

func TestDecodeEventNeverPanics(t *testing.T) {
	now := time.Unix(1, 0)
	cases := []struct {
		name, frame string
		wantErr     error
	}{
		{"unknown type ari/v5 would crash on", `{"type":"ChannelTransfer","application":"ctid"}`, errUnknownType},
		{"another unknown", `{"type":"CallBroadcast"}`, errUnknownType},
		{"not json", `{"type":`, errMalformed},
		{"no type", `{"application":"ctid"}`, errMalformed},
		{"wrong field type", `{"type":"StasisStart","args":"x","channel":{"id":"1"}}`, errMalformed},
		{"bad timestamp", `{"type":"StasisStart","timestamp":"yesterday","channel":{"id":"1"}}`, errMalformed},
	}
	for _, tc := range cases {
		_, _, err := decodeEvent([]byte(tc.frame), now)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	ev, typ, err := decodeEvent([]byte(`{"type":"StasisStart","timestamp":"2026-11-22T13:03:41.049+0000","args":["inbound","5551000"],"channel":{"id":"1795352621.276","name":"Local/x;2","state":"Ring","creationtime":"2026-11-22T13:03:41.049+0000"},"asterisk_id":"aa","application":"ctid"}`), now)
	if err != nil || typ != "StasisStart" {
		t.Fatalf("decode: %v %q", err, typ)
	}
	ss, ok := ev.ARI.(*ari.StasisStart)
	if !ok {
		t.Fatalf("type %T", ev.ARI)
	}
	if ss.Channel.ID != "1795352621.276" || len(ss.Args) != 2 || ss.Args[1] != "5551000" {
		t.Fatalf("decoded %+v", ss)
	}
}

func TestEventQueueOrderAndBound(t *testing.T) {
	q := newEventQueue(1000)
	for i := range 1000 {
		if !q.push(Event{Type: "T", Received: time.Unix(int64(i), 0)}) {
			t.Fatalf("push %d refused", i)
		}
	}
	if q.push(Event{}) {
		t.Fatal("push beyond max accepted")
	}
	ctx := context.Background()
	for i := range 1000 {
		e, err := q.pop(ctx)
		if err != nil || e.Received.Unix() != int64(i) {
			t.Fatalf("pop %d: %v %v", i, e.Received.Unix(), err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.pop(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("pop on empty cancelled queue: %v", err)
	}
}

func TestRESTErrorsAndTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		if u != "u" || p != "secret-pw" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"Authentication required"}`))
			return
		}
		switch r.URL.Path {
		case "/ari/channels/nope":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"Channel not found"}`))
		case "/ari/channels/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	defer close(release)

	c, err := New(testConfig(srv.URL), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	_, err = c.Channel(ctx, "nope")
	if !errors.Is(err, ErrNotFound) || StatusOf(err) != 404 || !strings.Contains(err.Error(), "Channel not found") {
		t.Fatalf("404: %v", err)
	}
	start := time.Now()
	_, err = c.Channel(ctx, "slow")
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 3*time.Second {
		t.Fatalf("slow request: %v after %v", err, time.Since(start))
	}
	if err := c.Answer(ctx, "x"); err != nil {
		t.Fatalf("answer: %v", err)
	}
	if err := c.Hangup(ctx, "x", "bogus"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad reason: %v", err)
	}
	if err := c.Mute(ctx, "x", ""); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("mute without direction: %v", err)
	}

	bad := testConfig(srv.URL)
	bad.Password = "wrong"
	c2, err := New(bad, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, err = c2.Info(ctx)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), srv.URL+"/ari/asterisk/info") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("401: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("password leaked: %v", err)
	}
}

func TestRunStopsPromptlyWhenARIUnreachable(t *testing.T) {
	c, err := New(testConfig("http://127.0.0.1:1"), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(150 * time.Millisecond)
	if c.Ready() {
		t.Fatal("ready without ARI")
	}
	if s := c.Stats(); s.LastError == "" || !strings.Contains(s.LastError, "127.0.0.1:1") {
		t.Fatalf("last error %q should name the URL", s.LastError)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}

func TestWebSocket401IsNamed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Authentication required"}`))
	}))
	defer srv.Close()
	c, err := New(testConfig(srv.URL), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.dial(context.Background())
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "/ari/events") {
		t.Fatalf("dial: %v", err)
	}
}

// ari/v5's native.New silently reads ARI_* variables; this adapter never does.
func TestEnvironmentIsNotRead(t *testing.T) {
	t.Setenv("ARI_URL", "http://10.0.0.1:1/ari")
	t.Setenv("ARI_USERNAME", "env-user")
	t.Setenv("ARI_PASSWORD", "env-pass")
	t.Setenv("ARI_APPLICATION", "env-app")
	var gotUser string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, _, _ = r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"ctid","channel_ids":[],"bridge_ids":[],"endpoint_ids":[],"device_names":[]}`))
	}))
	defer srv.Close()
	c, err := New(testConfig(srv.URL), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetApplication(context.Background(), c.Application()); err != nil {
		t.Fatal(err)
	}
	if gotUser != "u" || c.Application() != "ctid" {
		t.Fatalf("environment leaked into the client: user %q app %q", gotUser, c.Application())
	}
}
