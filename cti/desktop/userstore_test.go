package desktop

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
)

type memUsers struct {
	mu    sync.Mutex
	saved []UserConfig
	fail  error
}

func (m *memUsers) SaveUser(_ context.Context, u UserConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.saved = append(m.saved, u)
	return nil
}

// Users created over the admin API go to the user store; one the store refuses
// is not created (internal error) and cannot log in.
func TestCreatedUsersArePersisted(t *testing.T) {
	hs := newHarness(t, nil)
	us := &memUsers{}
	hs.srv.SetUserStore(us)
	admin, _ := hs.login("root")
	resp := hs.post("/api/v1/users", admin, map[string]any{"username": "carol", "role": "supervisor", "password": "carol-secret-1", "teams": []string{"sales"}})
	if m := decodeBody(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	us.mu.Lock()
	if len(us.saved) != 1 || us.saved[0].Username != "carol" || us.saved[0].Role != "supervisor" ||
		len(us.saved[0].Teams) != 1 || !verifyPassword(us.saved[0].PasswordHash, "carol-secret-1") {
		t.Fatalf("saved %+v", us.saved)
	}
	us.fail = errors.New("disk full")
	us.mu.Unlock()
	resp = hs.post("/api/v1/users", admin, map[string]any{"username": "dave", "role": "agent", "password": "dave-secret-1"})
	if m := decodeBody(t, resp); resp.StatusCode != http.StatusInternalServerError || errCode(m) != CodeInternal {
		t.Fatalf("create with a failing store: %d %v", resp.StatusCode, m)
	}
	resp = hs.post("/api/v1/login", "", map[string]string{"username": "dave", "password": "dave-secret-1"})
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dave logged in although not saved: %d", resp.StatusCode)
	}
	for _, u := range hs.srv.Users() {
		if u.Username == "dave" {
			t.Fatal("dave listed although not saved")
		}
	}
}
