package desktop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

const testPassword = "correct horse battery"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type sessionEvent struct {
	opened bool
	user   string
	reason string
}

// fakeHandler is the orchestrator stand-in.
type fakeHandler struct {
	mu       sync.Mutex
	commands []Command
	sessions chan sessionEvent
	snapshot func(p Principal) (map[string]any, error)
	block    chan struct{} // when set, HandleCommand for "call.hold" waits on it
}

func newFakeHandler() *fakeHandler { return &fakeHandler{sessions: make(chan sessionEvent, 64)} }

func (f *fakeHandler) HandleCommand(ctx context.Context, p Principal, cmd Command) (Result, error) {
	f.mu.Lock()
	f.commands = append(f.commands, cmd)
	block := f.block
	f.mu.Unlock()
	switch cmd.CallID() {
	case "missing":
		return nil, &Error{Code: CodeNotFound, Message: "no such call"}
	case "other":
		return nil, fmt.Errorf("wrapped: %w", &Error{Code: CodeForbidden, Message: "not your call"})
	case "boom":
		return nil, errors.New("database password=hunter2 exploded")
	}
	if cmd.Name == "call.hold" && block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return Result{"handled": cmd.Name, "user": p.User, "id": "spoofed"}, nil
}

func (f *fakeHandler) Snapshot(_ context.Context, p Principal) (map[string]any, error) {
	if f.snapshot != nil {
		return f.snapshot(p)
	}
	return map[string]any{"agent": map[string]any{"username": p.User, "state": "ready"}}, nil
}

func (f *fakeHandler) SessionOpened(p Principal) {
	f.sessions <- sessionEvent{opened: true, user: p.User}
}
func (f *fakeHandler) SessionClosed(p Principal, reason string) {
	f.sessions <- sessionEvent{user: p.User, reason: reason}
}

func (f *fakeHandler) waitSession(t *testing.T) sessionEvent {
	t.Helper()
	select {
	case e := <-f.sessions:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no SessionOpened/SessionClosed within 5s")
		return sessionEvent{}
	}
}

type harness struct {
	t     *testing.T
	srv   *Server
	h     *fakeHandler
	ts    *httptest.Server
	clock *fakeClock
}

func testHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Auth.BcryptCost = bcrypt.MinCost
	hash := testHash(t)
	cfg.Auth.Users = []UserConfig{
		{Username: "alice", DisplayName: "Alice", Role: "agent", PasswordHash: hash},
		{Username: "bob", DisplayName: "Bob", Role: "agent", PasswordHash: hash},
		{Username: "sam", DisplayName: "Sam", Role: "supervisor", PasswordHash: hash, Teams: []string{"sales"}},
		{Username: "root", DisplayName: "Root", Role: "admin", PasswordHash: hash},
	}
	cfg.WebSocket.PingInterval = 0
	cfg.WebSocket.SendBuffer = 32
	cfg.WebSocket.ResumeBuffer = 64
	return cfg
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	cfg := testConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	fh := newFakeHandler()
	srv, err := NewServer(cfg, fh, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)}
	srv.now = clock.Now
	mux := http.NewServeMux()
	srv.Routes(mux)
	ts := httptest.NewServer(mux)
	hs := &harness{t: t, srv: srv, h: fh, ts: ts, clock: clock}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		ts.Close()
	})
	return hs
}

func (hs *harness) post(path, token string, body any) *http.Response {
	hs.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		hs.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, hs.ts.URL+path, bytes.NewReader(b))
	if err != nil {
		hs.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hs.ts.Client().Do(req)
	if err != nil {
		hs.t.Fatal(err)
	}
	return resp
}

func (hs *harness) get(path, token string) *http.Response {
	hs.t.Helper()
	req, err := http.NewRequest(http.MethodGet, hs.ts.URL+path, nil)
	if err != nil {
		hs.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hs.ts.Client().Do(req)
	if err != nil {
		hs.t.Fatal(err)
	}
	return resp
}

func decodeBody(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode == http.StatusNoContent {
		return m
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("decode %d body: %v", resp.StatusCode, err)
	}
	return m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (hs *harness) login(user string) (string, *http.Cookie) {
	hs.t.Helper()
	resp := hs.post("/api/v1/login", "", map[string]string{"username": user, "password": testPassword})
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "ctid_session" {
			cookie = c
		}
	}
	m := decodeBody(hs.t, resp)
	if resp.StatusCode != http.StatusOK {
		hs.t.Fatalf("login %s: %d %v", user, resp.StatusCode, m)
	}
	tok, _ := m["token"].(string)
	return tok, cookie
}

type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	n    int
}

func (hs *harness) wsURL(query string) string {
	u := "ws" + strings.TrimPrefix(hs.ts.URL, "http") + "/api/v1/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

func (hs *harness) dialRaw(query string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, hs.wsURL(query), &websocket.DialOptions{HTTPHeader: hdr, HTTPClient: hs.ts.Client()})
}

// dial opens a socket with a bearer token; query may carry after=N.
func (hs *harness) dial(token, query string) *wsClient {
	hs.t.Helper()
	conn, _, err := hs.dialRaw(query, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		hs.t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	c := &wsClient{t: hs.t, conn: conn}
	hs.t.Cleanup(func() { _ = conn.CloseNow() })
	return c
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads one frame (5 s limit).
func (c *wsClient) next() map[string]any {
	c.t.Helper()
	m, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *wsClient) read(d time.Duration) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// cmd sends a command with a fresh id and returns the reply, checking that any
// events that arrive first are events.
func (c *wsClient) cmd(name string, args map[string]any) map[string]any {
	c.t.Helper()
	c.n++
	id := fmt.Sprintf("c%d", c.n)
	m := map[string]any{"id": id, "cmd": name}
	for k, v := range args {
		m[k] = v
	}
	c.send(m)
	for {
		f := c.next()
		if _, isEvent := f["event"]; isEvent {
			continue
		}
		if f["id"] != id {
			c.t.Fatalf("reply for %v, want %s: %v", f["id"], id, f)
		}
		return f
	}
}

func seqOf(t *testing.T, f map[string]any) uint64 {
	t.Helper()
	s, ok := f["seq"].(float64)
	if !ok {
		t.Fatalf("frame has no seq: %v", f)
	}
	return uint64(s)
}
