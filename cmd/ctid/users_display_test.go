package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/viper"

	"github.com/ctid/ctid/cti/desktop"
)

// getAuthJSON GETs url with a bearer token and decodes the JSON answer.
func getAuthJSON(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
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

// namesIn maps the "agent" (or "username") of each row of list to its field.
func namesIn(list any, key, field string) map[string]any {
	out := map[string]any{}
	rows, _ := list.([]any)
	for _, r := range rows {
		if m, ok := r.(map[string]any); ok {
			if k, ok := m[key].(string); ok {
				out[k] = m[field]
			}
		}
	}
	return out
}

// Display names of users created over the admin API and with `ctid user add
// --display-name` are stored: after a restart GET /api/v1/users still has them,
// and the wallboard and GET /api/v1/agents show them as the agents' "name" (the
// username for an agent without one).
func TestDisplayNamesStoredAndShownOnTheWallboard(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "ctid.db")
	rootHash, err := desktop.HashPassword("root-secret-1", 4)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, "asterisk:\n  mode: emulator\nemulator:\n  listen: 127.0.0.1:0\nserver:\n  listen: 127.0.0.1:0\n"+
		"store:\n  path: "+dbPath+"\nagents:\n  - id: anna\n  - id: carol\n  - id: zoe\nqueues:\n  - id: sales\n    members: [anna, carol, zoe]\n"+
		"desktop:\n  auth:\n    bcrypt_cost: 4\n    users:\n      - username: root\n        role: admin\n        password_hash: \""+rootHash+"\"\n")
	if _, err := userAdd(t, "zoe-secret-1\n", "--config", cfgPath, "zoe", "--display-name", "Zoe Zielińska", "--role", "agent",
		"--agent-id", "zoe", "--cost", "4"); err != nil {
		t.Fatalf("user add: %v", err)
	}
	fc, err := loadConfig(viper.New(), cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	run := func(body func(base, rootTok string)) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		addrc := make(chan net.Addr, 1)
		done := make(chan error, 1)
		go func() { done <- serve(ctx, fc, zerolog.Nop(), func(i serveInfo) { addrc <- i.Addr }) }()
		var base string
		select {
		case a := <-addrc:
			base = "http://" + a.String()
		case err := <-done:
			t.Fatalf("serve exited: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not start")
		}
		code, m := postJSON(t, base+"/api/v1/login", "", map[string]string{"username": "root", "password": "root-secret-1"})
		tok, _ := m["token"].(string)
		if code != http.StatusOK || tok == "" {
			t.Fatalf("root login: %d %v", code, m)
		}
		body(base, tok)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop")
		}
	}
	run(func(base, tok string) {
		if code, m := postJSON(t, base+"/api/v1/users", tok, map[string]any{"username": "carol", "display_name": "Carol Díaz",
			"role": "agent", "password": "carol-secret-1"}); code != http.StatusCreated || m["display_name"] != "Carol Díaz" {
			t.Fatalf("create carol: %d %v", code, m)
		}
	})
	run(func(base, tok string) {
		_, users := getAuthJSON(t, base+"/api/v1/users", tok)
		names := namesIn(users["users"], "username", "display_name")
		if names["carol"] != "Carol Díaz" || names["zoe"] != "Zoe Zielińska" {
			t.Fatalf("display names after a restart: %v", users)
		}
		_, wb := getAuthJSON(t, base+"/api/v1/wallboard", tok)
		grid := namesIn(wb["agents"], "agent", "name")
		if grid["carol"] != "Carol Díaz" || grid["zoe"] != "Zoe Zielińska" || grid["anna"] != "anna" {
			t.Fatalf("wallboard names %v", grid)
		}
		_, ag := getAuthJSON(t, base+"/api/v1/agents", tok)
		if list := namesIn(ag["agents"], "agent", "name"); list["carol"] != "Carol Díaz" || list["anna"] != "anna" {
			t.Fatalf("GET /api/v1/agents names %v", list)
		}
	})
}
