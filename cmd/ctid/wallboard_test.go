package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"
	"golang.org/x/crypto/bcrypt"
)

func TestDemoAndWallboardConfigErrors(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"demo needs the emulator", "asterisk:\n  mode: external\n  url: http://127.0.0.1:8088/ari\n  username: u\n  password: p\ndemo:\n  traffic: true\n",
			`demo.traffic: true: only valid with asterisk.mode: emulator`},
		{"bot not an agent", "asterisk:\n  mode: emulator\ndemo:\n  traffic: true\n  bots: [zed]\n", `demo.bots[0]: "zed": no such agent`},
		{"bot on the softphone", "asterisk:\n  mode: emulator\nagents:\n  - id: zed\ndemo:\n  traffic: true\n  bots: [zed]\n",
			`demo.bots[0]: "zed": a bot needs a device`},
		{"bad demo gap", "asterisk:\n  mode: emulator\ndemo:\n  traffic: true\n  every: 1ms\n", `demo.every`},
		{"unknown formula", "wallboard:\n  sl_formula: 80-20\n", `wallboard.sl_formula`},
		{"unknown queue formula", "agents:\n  - id: a\nqueues:\n  - id: q\n    strategy: longest-idle\n    members: [a]\n    sl_formula: best\n", `queues[0].sl_formula`},
		{"bad interval", "wallboard:\n  interval: 5s\n", `wallboard.interval`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{"check", "--config", writeConfig(t, tc.body)}, &out, &errb); code != exitConfig {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitConfig, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q does not contain %q", errb.String(), tc.want)
			}
		})
	}
}

// The demo logins printed at start are the sample config's real passwords.
func TestSampleDemoLoginsMatchTheirHashes(t *testing.T) {
	vp := viper.New()
	fc, err := loadConfig(vp, "../../configs/ctid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !fc.Demo.Traffic || len(fc.Demo.Bots) == 0 || len(fc.Demo.Logins) < 2 {
		t.Fatalf("sample demo config %+v", fc.Demo)
	}
	for _, l := range fc.Demo.Logins {
		_, rest, _ := strings.Cut(l, ":")
		user, rest, ok := strings.Cut(strings.TrimSpace(rest), " / ")
		pw, _, _ := strings.Cut(rest, " ")
		if !ok {
			t.Fatalf("login %q is not 'role: user / password'", l)
		}
		found := false
		for _, u := range fc.Desktop.Auth.Users {
			if u.Username == user {
				found = true
				if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pw)); err != nil {
					t.Errorf("demo login %q: the password does not match %s's hash", l, user)
				}
			}
		}
		if !found {
			t.Errorf("demo login %q: no such user", l)
		}
	}
}

// ctid serve on the sample config: the banner names the console, the wallboard and
// the demo logins; /supervisor is served; the demo traffic moves the wallboard.
func TestServeSampleConfigDemoMovesTheWallboard(t *testing.T) {
	vp := viper.New()
	vp.Set("server.listen", "127.0.0.1:0")
	vp.Set("emulator.listen", "127.0.0.1:0")
	vp.Set("store.path", t.TempDir()+"/ctid.db")
	vp.Set("softphone.enabled", false)
	vp.Set("demo.every", "300ms")
	vp.Set("demo.talk_min", "300ms")
	vp.Set("demo.talk_max", "600ms")
	vp.Set("demo.wrap_min", "100ms")
	vp.Set("demo.wrap_max", "200ms")
	fc, err := loadConfig(vp, "../../configs/ctid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, fc, newLogger(logs, "json", "info"), func(i serveInfo) { addrc <- i.Addr }) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(60 * time.Second): // -race on a loaded 2-core machine: start alone can take 10 s+
		t.Fatal("serve did not start")
	}
	for _, want := range []string{base + "/supervisor", "anna / anna-demo", "sam / sam-demo"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("start-up banner lacks %q: %s", want, logs.String())
		}
	}
	if code, body := get(t, base+"/supervisor"); code != 200 || !strings.Contains(body, "/static/supervisor.js") {
		t.Fatalf("/supervisor %d %q", code, body)
	}

	resp, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"sam","password":"sam-demo"}`))
	if err != nil {
		t.Fatal(err)
	}
	var lr struct {
		Token string `json:"token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&lr)
	resp.Body.Close()
	if err != nil || lr.Token == "" {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, err := http.NewRequest(http.MethodGet, base+"/api/v1/wallboard", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+lr.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var wb struct {
			Queues []struct {
				Queue    string  `json:"queue"`
				Offered  int     `json:"offered"`
				Answered int     `json:"answered"`
				Formula  string  `json:"sl_formula"`
				SLT      float64 `json:"sl_threshold_seconds"`
			} `json:"queues"`
		}
		err = json.NewDecoder(resp.Body).Decode(&wb)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(wb.Queues) != 2 {
			t.Fatalf("wallboard %d %v %+v", resp.StatusCode, err, wb)
		}
		if wb.Queues[0].Queue != "sales" || wb.Queues[0].Formula != "abandons-against" || wb.Queues[0].SLT != 20 ||
			wb.Queues[1].Formula != "abandons-met" || wb.Queues[1].SLT != 30 {
			t.Fatalf("queue presentation %+v", wb.Queues)
		}
		answered := wb.Queues[0].Answered + wb.Queues[1].Answered
		if answered >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not move the wallboard in 60s: %+v", wb.Queues)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
