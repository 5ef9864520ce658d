package desktop

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// memTokens is a TokenStore in memory (ctid's is cti/store's desk_tokens table).
type memTokens struct {
	mu   sync.Mutex
	m    map[[sha256.Size]byte]StoredToken
	fail error
}

func (s *memTokens) SaveToken(_ context.Context, t StoredToken, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.m[t.Hash] = t
	return nil
}

func (s *memTokens) DeleteToken(_ context.Context, h [sha256.Size]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, h)
	return nil
}

func (s *memTokens) Tokens(context.Context, time.Time) ([]StoredToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StoredToken, 0, len(s.m))
	for _, t := range s.m {
		out = append(out, t)
	}
	return out, nil
}

func (s *memTokens) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// A login outlives a restart of the server when a TokenStore keeps it (only its
// hash); a logout, an expiry or the user's removal ends it for good.
func TestLoginKeptAcrossRestartByTokenStore(t *testing.T) {
	ts := &memTokens{m: map[[sha256.Size]byte]StoredToken{}}
	ctx := context.Background()
	first := newHarness(t, nil)
	if err := first.srv.SetTokenStore(ctx, ts); err != nil {
		t.Fatal(err)
	}
	tok, _ := first.login("alice")
	if ts.len() != 1 {
		t.Fatalf("%d logins kept, want 1", ts.len())
	}
	for h := range ts.m {
		if h != sha256.Sum256([]byte(tok)) {
			t.Fatal("the store keeps something else than the token's SHA-256")
		}
	}

	// The restarted server knows the token.
	second := newHarness(t, nil)
	if err := second.srv.SetTokenStore(ctx, ts); err != nil {
		t.Fatal(err)
	}
	if resp := second.get("/api/v1/me", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("me after the restart: %d", resp.StatusCode)
	}
	if f := second.dial(tok, "").next(); f["event"] != "snapshot" {
		t.Fatalf("first frame on the socket after the restart: %v", f)
	}
	// Logout forgets it in the store too: a third run refuses it.
	if resp := second.post("/api/v1/logout", tok, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if ts.len() != 0 {
		t.Fatalf("%d logins kept after the logout", ts.len())
	}
	third := newHarness(t, nil)
	if err := third.srv.SetTokenStore(ctx, ts); err != nil {
		t.Fatal(err)
	}
	if resp := third.get("/api/v1/me", tok); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("me with a logged-out token after a restart: %d", resp.StatusCode)
	}

	// Expired logins and logins of users who no longer exist are not loaded.
	old, _ := third.login("alice")
	gone := StoredToken{Hash: sha256.Sum256([]byte("gone")), User: "nobody", Expires: third.clock.Now().Add(time.Hour)}
	if err := ts.SaveToken(ctx, gone, third.clock.Now()); err != nil {
		t.Fatal(err)
	}
	fourth := newHarness(t, nil)
	fourth.clock.Add(13 * time.Hour)
	if err := fourth.srv.SetTokenStore(ctx, ts); err != nil {
		t.Fatal(err)
	}
	if resp := fourth.get("/api/v1/me", old); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("me with an expired kept token: %d", resp.StatusCode)
	}
	if resp := fourth.get("/api/v1/me", "gone"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("me as a user who no longer exists: %d", resp.StatusCode)
	}

	// A store that refuses the login does not refuse the agent.
	ts.fail = errors.New("disk full")
	if tok, _ := fourth.login("alice"); tok == "" {
		t.Fatal("no token")
	}
}
