package desktop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/argon2"
)

func TestLoginOK(t *testing.T) {
	hs := newHarness(t, nil)
	resp := hs.post("/api/v1/login", "", map[string]string{"username": "alice", "password": testPassword})
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "ctid_session" {
			cookie = c
		}
	}
	m := decodeBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %v", resp.StatusCode, m)
	}
	tok, _ := m["token"].(string)
	if len(tok) < 40 {
		t.Fatalf("token %q too short", tok)
	}
	exp, err := time.Parse(time.RFC3339, m["expires_at"].(string))
	if err != nil || !exp.Equal(hs.clock.Now().Add(12*time.Hour)) {
		t.Fatalf("expires_at %v (%v)", m["expires_at"], err)
	}
	user, _ := m["user"].(map[string]any)
	if user["username"] != "alice" || user["role"] != "agent" || user["display_name"] != "Alice" {
		t.Fatalf("user %v", user)
	}
	if _, leaked := user["password_hash"]; leaked {
		t.Fatal("hash in login answer")
	}
	if cookie == nil || cookie.Value != tok || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure {
		t.Fatalf("cookie %+v", cookie)
	}
	me := decodeBody(t, hs.get("/api/v1/me", tok))
	if me["username"] != "alice" {
		t.Fatalf("me %v", me)
	}
}

func TestLoginWrongPasswordAndUnknownUser(t *testing.T) {
	hs := newHarness(t, nil)
	for _, u := range []string{"alice", "nobody"} {
		resp := hs.post("/api/v1/login", "", map[string]string{"username": u, "password": "wrong password"})
		m := decodeBody(t, resp)
		if resp.StatusCode != http.StatusUnauthorized || errCode(m) != CodeUnauthenticated {
			t.Fatalf("%s: %d %v", u, resp.StatusCode, m)
		}
		if len(resp.Cookies()) != 0 {
			t.Fatalf("%s: cookie set on failed login", u)
		}
	}
}

func TestLoginBadBody(t *testing.T) {
	hs := newHarness(t, nil)
	req, err := http.NewRequest(http.MethodPost, hs.ts.URL+"/api/v1/login", strings.NewReader("username=alice"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // a cross-site form post
	resp, err := hs.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if m := decodeBody(t, resp); resp.StatusCode != http.StatusBadRequest || errCode(m) != CodeInvalidArgument {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
}

func TestLoginRateLimitedPerUserAndPerIP(t *testing.T) {
	hs := newHarness(t, func(c *Config) { c.Auth.LoginRate = LoginRateConfig{PerUser: 3, PerIP: 5, Window: time.Minute} })
	try := func(user, pw string) int {
		resp := hs.post("/api/v1/login", "", map[string]string{"username": user, "password": pw})
		m := decodeBody(t, resp)
		if resp.StatusCode == http.StatusTooManyRequests {
			if errCode(m) != CodeRateLimited || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("429 body %v / Retry-After %q", m, resp.Header.Get("Retry-After"))
			}
		}
		return resp.StatusCode
	}
	for i := range 3 {
		if got := try("alice", "bad password"); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, got)
		}
	}
	// per user: even the right password is refused now
	if got := try("alice", testPassword); got != http.StatusTooManyRequests {
		t.Fatalf("4th alice attempt: %d, want 429", got)
	}
	// per IP: 5 attempts in all from 127.0.0.1 (4 used), then bob is refused too
	if got := try("bob", testPassword); got != http.StatusOK {
		t.Fatalf("bob: %d", got)
	}
	if got := try("bob", testPassword); got != http.StatusTooManyRequests {
		t.Fatalf("6th attempt from the IP: %d, want 429", got)
	}
	hs.clock.Add(time.Minute) // buckets refill
	if got := try("alice", testPassword); got != http.StatusOK {
		t.Fatalf("after the window: %d", got)
	}
}

func TestExpiredToken(t *testing.T) {
	hs := newHarness(t, nil)
	tok, _ := hs.login("alice")
	hs.clock.Add(12*time.Hour - time.Second)
	if resp := hs.get("/api/v1/me", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("before expiry: %d", resp.StatusCode)
	}
	hs.clock.Add(time.Second)
	resp := hs.get("/api/v1/me", tok)
	if m := decodeBody(t, resp); resp.StatusCode != http.StatusUnauthorized || errCode(m) != CodeUnauthenticated {
		t.Fatalf("after expiry: %d %v", resp.StatusCode, m)
	}
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	if _, _, err := hs.dialRaw("access_token="+tok, nil); err == nil {
		t.Fatal("WebSocket accepted an expired token")
	}
}

func TestRevokedToken(t *testing.T) {
	hs := newHarness(t, nil)
	tok, _ := hs.login("alice")
	other, _ := hs.login("alice") // a second login stays valid
	resp := hs.post("/api/v1/logout", tok, map[string]string{})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp.Body.Close()
	if resp := hs.get("/api/v1/me", tok); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", resp.StatusCode)
	}
	if resp := hs.post("/api/v1/logout", tok, map[string]string{}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second logout: %d", resp.StatusCode)
	}
	if resp := hs.get("/api/v1/me", other); resp.StatusCode != http.StatusOK {
		t.Fatalf("other token: %d", resp.StatusCode)
	}
}

func TestLogoutClosesThatTokensSocket(t *testing.T) {
	hs := newHarness(t, nil)
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "")
	c.next() // snapshot
	hs.h.waitSession(t)
	resp := hs.post("/api/v1/logout", tok, map[string]string{})
	resp.Body.Close()
	f := c.next()
	if f["event"] != "session.closed" || f["reason"] != ReasonLoggedOut {
		t.Fatalf("notice %v", f)
	}
	_, err := c.read(5 * time.Second)
	if got := websocketCloseReason(err); got != ReasonLoggedOut {
		t.Fatalf("close: %v", err)
	}
	if e := hs.h.waitSession(t); e.opened || e.reason != ReasonLoggedOut {
		t.Fatalf("SessionClosed %+v", e)
	}
}

func TestRESTUnauthenticatedAndRoles(t *testing.T) {
	hs := newHarness(t, nil)
	agent, _ := hs.login("alice")
	admin, _ := hs.login("root")
	for _, path := range []string{"/api/v1/me", "/api/v1/users"} {
		if resp := hs.get(path, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s without token: %d", path, resp.StatusCode)
		}
		if resp := hs.get(path, "not-a-token"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s with a bad token: %d", path, resp.StatusCode)
		}
	}
	resp := hs.get("/api/v1/users", agent)
	if m := decodeBody(t, resp); resp.StatusCode != http.StatusForbidden || errCode(m) != CodeForbidden {
		t.Fatalf("agent listing users: %d %v", resp.StatusCode, m)
	}
	newUser := map[string]any{"username": "carol", "display_name": "Carol", "role": "agent", "password": "carol-secret-1"}
	if resp := hs.post("/api/v1/users", agent, newUser); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("agent creating a user: %d", resp.StatusCode)
	}
	resp = hs.post("/api/v1/users", admin, newUser)
	if m := decodeBody(t, resp); resp.StatusCode != http.StatusCreated || m["username"] != "carol" {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	if resp := hs.post("/api/v1/users", admin, newUser); resp.StatusCode != http.StatusConflict {
		t.Fatalf("duplicate: %d", resp.StatusCode)
	}
	bad := map[string]any{"username": "dave", "role": "king", "password": "dave-secret-1"}
	if resp := hs.post("/api/v1/users", admin, bad); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad role: %d", resp.StatusCode)
	}
	short := map[string]any{"username": "dave", "role": "agent", "password": "short"}
	if resp := hs.post("/api/v1/users", admin, short); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("short password: %d", resp.StatusCode)
	}
	resp = hs.post("/api/v1/login", "", map[string]string{"username": "carol", "password": "carol-secret-1"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("carol login: %d", resp.StatusCode)
	}
	resp.Body.Close()
	m := decodeBody(t, hs.get("/api/v1/users", admin))
	users, _ := m["users"].([]any)
	if len(users) != 5 {
		t.Fatalf("users %v", m)
	}
	for _, u := range users {
		if um, _ := u.(map[string]any); um["password_hash"] != nil || um["password"] != nil {
			t.Fatal("secret in user list")
		}
	}
	resp = hs.get("/api/v1/nope", admin)
	if m := decodeBody(t, resp); resp.StatusCode != http.StatusNotFound || errCode(m) != CodeNotFound {
		t.Fatalf("unknown route: %d %v", resp.StatusCode, m)
	}
}

func TestHashPasswordAndArgon2id(t *testing.T) {
	if _, err := HashPassword("short", 4); !errors.Is(err, ErrPasswordTooShort) {
		t.Fatalf("short: %v", err)
	}
	if _, err := HashPassword(strings.Repeat("x", 73), 4); !errors.Is(err, ErrPasswordTooLong) {
		t.Fatalf("long: %v", err)
	}
	h, err := HashPassword("s3cret-pass", 4)
	if err != nil || checkHashFormat(h) != nil {
		t.Fatalf("hash %q: %v", h, err)
	}
	if !verifyPassword(h, "s3cret-pass") || verifyPassword(h, "s3cret-pasS") {
		t.Fatal("bcrypt verify")
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte("s3cret-pass"), salt, 1, 64, 1, 32)
	ah := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	if err := checkHashFormat(ah); err != nil {
		t.Fatal(err)
	}
	if !verifyPassword(ah, "s3cret-pass") || verifyPassword(ah, "wrong") {
		t.Fatal("argon2id verify")
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=64,t=1,p=1$xx$yy", "$2b$99$abc", "$argon2i$v=19$m=64,t=1,p=1$a$b"} {
		if checkHashFormat(bad) == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestConfigValidateNamesKeys(t *testing.T) {
	hash := testHash(t)
	base := func() Config {
		c := DefaultConfig()
		c.Auth.Users = []UserConfig{
			{Username: "a", Role: "agent", PasswordHash: hash},
			{Username: "b", Role: "agent", PasswordHash: hash},
			{Username: "c", Role: "agent", PasswordHash: hash},
		}
		return c
	}
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key    string
		mutate func(*Config)
	}{
		{"auth.users[2].password_hash", func(c *Config) { c.Auth.Users[2].PasswordHash = "hunter2" }},
		{"auth.users[1].role", func(c *Config) { c.Auth.Users[1].Role = "boss" }},
		{"auth.users[2].username", func(c *Config) { c.Auth.Users[2].Username = "a" }},
		{"auth.users[0].teams[0]", func(c *Config) { c.Auth.Users[0].Teams = []string{""} }},
		{"auth.token_ttl", func(c *Config) { c.Auth.TokenTTL = 0 }},
		{"auth.login_rate.per_ip", func(c *Config) { c.Auth.LoginRate.PerIP = 0 }},
		{"auth.login_rate.window", func(c *Config) { c.Auth.LoginRate.Window = 0 }},
		{"auth.cookie.name", func(c *Config) { c.Auth.Cookie.Name = "a b" }},
		{"websocket.allowed_origins[0]", func(c *Config) { c.WebSocket.AllowedOrigins = []string{"desk.example.com"} }},
		{"websocket.send_buffer", func(c *Config) { c.WebSocket.SendBuffer = 0 }},
		{"websocket.resume_buffer", func(c *Config) { c.WebSocket.ResumeBuffer = c.WebSocket.SendBuffer - 1 }},
		{"websocket.max_frame_bytes", func(c *Config) { c.WebSocket.MaxFrameBytes = 10 }},
	}
	for _, tc := range cases {
		c := base()
		tc.mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%s: %v", tc.key, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: secret in error %v", tc.key, err)
		}
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	var buf safeBuffer
	cfg := testConfig(t)
	fh := newFakeHandler()
	srv, err := NewServer(cfg, fh, zerolog.New(&buf).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Routes(mux)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	hs := &harness{t: t, srv: srv, h: fh, ts: ts, clock: &fakeClock{t: time.Now()}}
	hs.post("/api/v1/login", "", map[string]string{"username": "alice", "password": "wrong-but-secret"}).Body.Close()
	tok, _ := hs.login("alice")
	c := hs.dial(tok, "")
	expectSnapshot(t, c, 0)
	c.cmd("call.hangup", map[string]any{"call_id": "boom"}) // handler error text is logged, not sent
	admin, _ := hs.login("root")
	hs.post("/api/v1/users", admin, map[string]any{"username": "carol", "role": "agent", "password": "carol-secret-1"}).Body.Close()
	hs.post("/api/v1/logout", tok, map[string]string{}).Body.Close()
	if _, err := c.read(5 * time.Second); err == nil {
		if _, err := c.read(5 * time.Second); err == nil {
			t.Fatal("socket not closed by logout")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	log := buf.String()
	if !strings.Contains(log, "login failed") || !strings.Contains(log, "user created") {
		t.Fatalf("log lacks the events:\n%s", log)
	}
	for _, secret := range []string{testPassword, "wrong-but-secret", "carol-secret-1", tok, admin, "$2a$"} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains a secret %q", secret)
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
