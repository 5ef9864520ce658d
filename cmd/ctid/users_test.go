package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/viper"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
)

func postJSON(t *testing.T, url, token string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func userAdd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"user", "add"}, args...))
	err := root.Execute()
	return out.String(), err
}

// `ctid user add --config F` writes the user to the configured store; ctid loads
// stored users at start (config-provisioned users win and are written back), and
// users created over the admin API are stored too.
func TestUserAddWritesStoreAndServeLoadsStoredUsers(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "ctid.db")
	rootHash, err := desktop.HashPassword("root-secret-1", 4)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, "asterisk:\n  mode: emulator\nemulator:\n  listen: 127.0.0.1:0\nserver:\n  listen: 127.0.0.1:0\n"+
		"store:\n  path: "+dbPath+"\nagents:\n  - id: anna\nqueues:\n  - id: sales\n    members: [anna]\n"+
		"desktop:\n  auth:\n    bcrypt_cost: 4\n    users:\n      - username: root\n        role: admin\n        password_hash: \""+rootHash+"\"\n")

	// A stale stored copy of the config user, to be reconciled at start.
	ctx := context.Background()
	sc := store.DefaultConfig()
	sc.Path = dbPath
	st, err := store.Open(ctx, sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertUser(ctx, store.User{Username: "root", Role: store.RoleAgent, PasswordHash: "$2a$04$stale"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	if out, err := userAdd(t, "zoe-secret-1\n", "--config", cfgPath, "zoe", "--role", "supervisor", "--teams", "sales", "--cost", "4"); err != nil || !strings.Contains(out, "zoe") {
		t.Fatalf("user add: %v %q", err, out)
	}
	if _, err := userAdd(t, "anna-secret-1\n", "--config", cfgPath, "anna", "--role", "agent", "--agent-id", "anna", "--cost", "4"); err != nil {
		t.Fatalf("user add anna: %v", err)
	}
	for _, bad := range [][]string{
		{"root", "--role", "admin"},                          // provisioned in the config file
		{"bob", "--role", "agent", "--agent-id", "anna"},     // agent id is not the login
		{"bob", "--role", "agent", "--agent-id", "bob"},      // no such agent
		{"sam", "--role", "supervisor", "--agent-id", "sam"}, // not an agent login
	} {
		if _, err := userAdd(t, "some-secret-1\n", append([]string{"--config", cfgPath, "--cost", "4"}, bad...)...); err == nil {
			t.Fatalf("user add %v accepted", bad)
		}
	}

	fc, err := loadConfig(viper.New(), cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(sctx, fc, zerolog.Nop(), func(i serveInfo) { addrc <- i.Addr })
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	login := func(user, pw string) (int, string) {
		code, m := postJSON(t, base+"/api/v1/login", "", map[string]string{"username": user, "password": pw})
		tok, _ := m["token"].(string)
		return code, tok
	}
	if code, _ := login("zoe", "zoe-secret-1"); code != http.StatusOK {
		t.Fatalf("stored user zoe login: %d", code)
	}
	if code, _ := login("anna", "anna-secret-1"); code != http.StatusOK {
		t.Fatalf("stored user anna login: %d", code)
	}
	code, rootTok := login("root", "root-secret-1")
	if code != http.StatusOK {
		t.Fatalf("config user root login: %d", code)
	}
	if code, m := postJSON(t, base+"/api/v1/users", rootTok, map[string]any{"username": "carol", "role": "agent", "password": "carol-secret-1"}); code != http.StatusCreated {
		t.Fatalf("create carol: %d %v", code, m)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}

	st, err = store.Open(ctx, sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	users, err := st.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.User{}
	for _, u := range users {
		got[u.Username] = u
	}
	if len(got) != 4 || got["root"].PasswordHash != rootHash || got["root"].Role != store.RoleAdmin ||
		got["zoe"].Role != store.RoleSupervisor || strings.Join(got["zoe"].Teams, ",") != "sales" || got["carol"].Role != store.RoleAgent {
		t.Fatalf("stored users %+v", users)
	}
}
