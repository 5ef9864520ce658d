package cti_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/campaigns"
	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
	"github.com/ctid/ctid/telephony/ariemu"
)

// Secrets of the security stack: the sweep greps the log for them.
const (
	secARIPassword  = "ari-Pw-7f3b9c-never-logged"
	secUserPassword = "user-Pw-c41d2e-never-logged"
)

// secOpts shapes a wired stack for the security sweep.
type secOpts struct {
	log      io.Writer     // every component's log (nil: discarded)
	tokenTTL time.Duration // 0: the default
	calls    *cti.Config   // nil: cti.DefaultConfig()
	// sendBuffer, when > 0, is websocket.send_buffer (and a resume ring of 64).
	sendBuffer int
}

// newSecStack is newStackCfg with every component logging into opts.log at debug
// level, an ARI password to look for, and a choice of token lifetime.
func newSecStack(t *testing.T, opts secOpts) *stack {
	t.Helper()
	st, _ := newSecStackServer(t, opts)
	return st
}

// newSecStackServer is newSecStack that also hands out the desktop server.
func newSecStackServer(t *testing.T, opts secOpts) (*stack, *desktop.Server) {
	t.Helper()
	logw := opts.log
	if logw == nil {
		logw = io.Discard
	}
	log := zerolog.New(logw).Level(zerolog.DebugLevel)
	st := &stack{}
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"ctid": secARIPassword}, DialplanApp: "ctid", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	st.emu = emu
	ariSrv := httptest.NewServer(emu)
	tc := telephony.DefaultConfig()
	tc.URL, tc.Username, tc.Password = ariSrv.URL+"/ari", "ctid", secARIPassword
	cli, err := telephony.New(tc, log)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := queue.NewEngine(salesConfig("anna", "boris"))
	if err != nil {
		t.Fatal(err)
	}
	udp := &udpMedia{socks: map[string]net.PacketConn{}, got: map[string]int{}}
	st.udp = udp
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	db, err := store.Open(context.Background(), sc, log)
	if err != nil {
		t.Fatal(err)
	}
	st.store = db
	cc := cti.DefaultConfig()
	if opts.calls != nil {
		cc = *opts.calls
	}
	orch, err := cti.New(cti.Params{Config: cc, Log: log, ARI: cli, Engine: eng, Media: udp, Records: db})
	if err != nil {
		t.Fatal(err)
	}
	desk, err := cti.NewDesk(cti.DeskParams{Orchestrator: orch, Media: cti.NewAgentMedia(), Log: log,
		Audit: func(e store.AuditEntry) error {
			st.mu.Lock()
			defer st.mu.Unlock()
			st.audit = append(st.audit, e)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := desktop.HashPassword(secUserPassword, 4)
	if err != nil {
		t.Fatal(err)
	}
	dc := desktop.DefaultConfig()
	dc.Auth.BcryptCost = 4 // the unknown-user dummy hash; cost 12 takes seconds under -race
	if opts.tokenTTL > 0 {
		dc.Auth.TokenTTL = opts.tokenTTL
	}
	if opts.sendBuffer > 0 {
		dc.WebSocket.SendBuffer, dc.WebSocket.ResumeBuffer = opts.sendBuffer, 64
	}
	dc.Auth.Users = []desktop.UserConfig{
		{Username: "anna", Role: "agent", PasswordHash: hash},
		{Username: "boris", Role: "agent", PasswordHash: hash},
		{Username: "sam", Role: "supervisor", PasswordHash: hash, Teams: []string{"sales"}},
		{Username: "sue", Role: "supervisor", PasswordHash: hash, Teams: []string{"support"}},
		{Username: "root", Role: "admin", PasswordHash: hash},
	}
	server, err := desktop.NewServer(dc, desk, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := orch.RegisterREST(server); err != nil {
		t.Fatal(err)
	}
	// Every route `ctid serve` registers, so that the sweep reaches each documented one.
	if err := desk.RegisterCampaignREST(server); err != nil {
		t.Fatal(err)
	}
	dnc, err := campaigns.LoadDNC(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	campaignAPI, err := campaigns.NewAPI(campaigns.Params{Store: db, DNC: dnc, Audit: db.Audit, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := campaignAPI.Register(server); err != nil {
		t.Fatal(err)
	}
	rc := cti.DefaultReportsConfig()
	rc.Queues = []cti.ReportQueue{{Queue: "sales", SLThreshold: 20 * time.Second, Members: []string{"anna", "boris"}}}
	rc.Agents = []string{"anna", "boris"}
	reports, err := cti.NewReports(cti.ReportsParams{Config: rc, Store: db, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.RegisterREST(server); err != nil {
		t.Fatal(err)
	}
	if err := cti.RegisterRecordingCommands(server); err != nil {
		t.Fatal(err)
	}
	if err := orch.RegisterRecordingREST(server); err != nil {
		t.Fatal(err)
	}
	orch.SetNotifier(server)
	desk.SetNotifier(server)
	mux := http.NewServeMux()
	server.Routes(mux)
	web := httptest.NewServer(mux)
	st.web = web.URL
	ctx, cancel := context.WithCancel(context.Background())
	st.ctx = ctx
	var wg sync.WaitGroup
	wg.Go(func() { _ = cli.Run(ctx) })
	wg.Go(func() { _ = orch.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		web.CloseClientConnections()
		web.Close()
		_ = server.Shutdown(context.Background())
		_ = udp.closeAll() // a socket that fails to close is gone anyway
		cli.Close()
		ariSrv.CloseClientConnections()
		ariSrv.Close()
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	waitUntil(t, 10*time.Second, "ARI connected", cli.Ready)
	return st, server
}

// documentedRoutes reads every operation of docs/openapi.yaml with its minimum role.
func documentedRoutes(t *testing.T) []desktop.RouteInfo {
	t.Helper()
	raw, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			MinRole string `yaml:"x-min-role"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []desktop.RouteInfo
	for p, ops := range doc.Paths {
		for m, op := range ops {
			switch m {
			case "get", "post", "put", "patch", "delete":
			default:
				continue
			}
			role := desktop.RoleNone
			if op.MinRole != "none" {
				if role, err = desktop.ParseRole(op.MinRole); err != nil {
					t.Fatalf("%s %s: x-min-role %q: %v", m, p, op.MinRole, err)
				}
			}
			out = append(out, desktop.RouteInfo{Method: strings.ToUpper(m), Path: p, MinRole: role})
		}
	}
	slices.SortFunc(out, func(a, b desktop.RouteInfo) int { return strings.Compare(a.Method+a.Path, b.Method+b.Path) })
	return out
}

// call makes one REST request with a token ("" = none) and returns the status.
func restStatus(t *testing.T, base string, r desktop.RouteInfo, token string) int {
	t.Helper()
	path := strings.NewReplacer("{id}", "no-such-id", "{number}", "48500600700").Replace(r.Path)
	if strings.Contains(path, "{") {
		path = strings.NewReplacer("{", "x", "}", "").Replace(path)
	}
	req, err := http.NewRequest(r.Method, base+path, strings.NewReader("{}"))
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
	_ = resp.Body.Close()
	return resp.StatusCode
}

func loginAs(t *testing.T, base, user string) string { return login(t, base, user, secUserPassword) }

// Every documented REST route of the wired server, without a token and with an
// expired one, answers 401; the WebSocket refuses both.
func TestSecurityEveryRouteUnauthenticatedAndExpired(t *testing.T) {
	st := newSecStack(t, secOpts{tokenTTL: time.Second})
	expired := map[string]string{}
	for _, u := range []string{"anna", "sam", "root"} {
		expired[u] = loginAs(t, st.web, u)
	}
	time.Sleep(1500 * time.Millisecond) // the tokens' lifetime passes
	routes := documentedRoutes(t)
	checked := 0
	for _, r := range routes {
		if r.MinRole == desktop.RoleNone || r.Path == "/api/v1/ws" {
			continue
		}
		checked++
		if got := restStatus(t, st.web, r, ""); got != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", r.Method, r.Path, got)
		}
		for u, tok := range expired {
			if got := restStatus(t, st.web, r, tok); got != http.StatusUnauthorized {
				t.Errorf("%s %s with %s's expired token: %d", r.Method, r.Path, u, got)
			}
		}
	}
	if checked < 6 {
		t.Fatalf("only %d routes in docs/openapi.yaml checked", checked)
	}
	ws := strings.Replace(st.web, "http", "ws", 1) + "/api/v1/ws"
	for name, tok := range map[string]string{"no token": "", "expired token": expired["anna"]} {
		h := http.Header{}
		if tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
		conn, resp, err := websocket.Dial(st.ctx, ws, &websocket.DialOptions{HTTPHeader: h})
		if err == nil {
			_ = conn.CloseNow()
			t.Fatalf("WebSocket with %s accepted", name)
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("WebSocket with %s: %v %v", name, resp, err)
		}
	}
}

// secretLog collects the log of a whole run.
type secretLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *secretLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *secretLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A full flow over the wired stack, where everyone who must not act tries to: an
// agent on another agent's call (every call command) and disposition, an agent on
// supervisor routes and commands, a supervisor on an agent outside their teams. All
// are refused (403 / forbidden), every supervisor listen / whisper / barge (allowed
// or refused) is in the audit log, a foreign Origin cannot open the socket, login is
// rate limited, a logged-out token is dead, and neither the ARI password nor a user
// password (nor a token) appears anywhere in the log.
func TestSecuritySweepWiredStack(t *testing.T) {
	var logs secretLog
	st := newSecStack(t, secOpts{log: &logs})
	ctx := st.ctx
	tok := map[string]string{}
	for _, u := range []string{"anna", "boris", "sam", "sue", "root"} {
		tok[u] = loginAs(t, st.web, u)
	}
	// Roles on REST: each documented route refuses the roles below its minimum.
	roleOf := map[desktop.Role]string{desktop.RoleAgent: "anna", desktop.RoleSupervisor: "sam"}
	for _, r := range documentedRoutes(t) {
		if r.MinRole == desktop.RoleNone || r.Path == "/api/v1/ws" {
			continue
		}
		for role := desktop.RoleAgent; role < r.MinRole; role++ {
			if got := restStatus(t, st.web, r, tok[roleOf[role]]); got != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", r.Method, r.Path, role, got)
			}
		}
	}

	anna := openDesk(t, ctx, st.web, tok["anna"])
	boris := openDesk(t, ctx, st.web, tok["boris"])
	sam := openDesk(t, ctx, st.web, tok["sam"])
	sue := openDesk(t, ctx, st.web, tok["sue"])
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatal(r)
	}
	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48500600700", Dialled: "800", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	anna.event("call.offered", nil)
	// Boris tries every call command on anna's offered call, then on her connected call.
	callCmds := []struct {
		cmd  string
		args map[string]any
	}{
		{"call.accept", nil}, {"call.reject", nil}, {"call.hold", nil}, {"call.unhold", nil},
		{"call.mute", nil}, {"call.unmute", nil}, {"call.dtmf", map[string]any{"digits": "1"}},
		{"call.transfer", map[string]any{"to": map[string]any{"queue": "sales"}, "mode": "blind"}},
		{"call.transfer", map[string]any{"to": map[string]any{"agent": "boris"}, "mode": "attended"}},
		{"call.transfer", map[string]any{"to": map[string]any{"agent": "boris"}, "mode": "blind"}},
		{"call.transfer", map[string]any{"to": map[string]any{"number": "0048221234567"}, "mode": "blind"}},
		{"call.transfer.complete", nil}, {"call.transfer.cancel", nil}, {"call.conference", nil},
		{"call.record.start", nil}, {"call.record.pause", nil}, {"call.record.resume", nil}, {"call.record.stop", nil},
		{"call.hangup", nil},
	}
	try := func(phase string) {
		for _, c := range callCmds {
			args := map[string]any{"call_id": caller}
			for k, v := range c.args {
				args[k] = v
			}
			if r := boris.do(ctx, c.cmd, args); r["ok"] != false || errCode(r) != "forbidden" {
				t.Errorf("%s: boris %s %v on anna's call: %v", phase, c.cmd, c.args, r)
			}
		}
	}
	try("offered")
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("accept %v", r)
	}
	anna.event("call.connected", nil)
	try("connected")
	if _, ok := st.emu.Channel(caller); !ok {
		t.Fatal("boris's attempts ended anna's call")
	}
	// Supervisors: sue (support) may not listen, whisper or barge on anna (sales);
	// sam may. Agents may not use supervisor commands at all.
	for _, mode := range []string{"supervisor.listen", "supervisor.whisper", "supervisor.barge"} {
		if r := sue.do(ctx, mode, map[string]any{"agent": "anna"}); errCode(r) != "forbidden" {
			t.Errorf("sue %s anna: %v", mode, r)
		}
		if r := boris.do(ctx, mode, map[string]any{"agent": "anna"}); errCode(r) != "forbidden" {
			t.Errorf("agent boris %s anna: %v", mode, r)
		}
		if r := sam.do(ctx, mode, map[string]any{"agent": "anna"}); r["ok"] != true {
			t.Errorf("sam %s anna: %v", mode, r)
		}
	}
	if r := boris.do(ctx, "supervisor.set_state", map[string]any{"agent": "anna", "state": "logged_out"}); errCode(r) != "forbidden" {
		t.Errorf("agent boris logging anna out: %v", r)
	}
	if err := st.store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Records: boris reads neither anna's interaction nor her caller's history.
	if code, _ := getJSON(t, st.web+"/api/v1/interactions/"+caller, tok["boris"]); code != http.StatusForbidden {
		t.Errorf("boris reading anna's interaction: %d", code)
	}
	if code, _ := getJSON(t, st.web+"/api/v1/contacts/48500600700/interactions", tok["boris"]); code != http.StatusForbidden {
		t.Errorf("boris reading anna's caller's history: %d", code)
	}
	if r := anna.do(ctx, "call.hangup", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatal(r)
	}
	anna.event("wrapup.started", nil)
	// Boris cannot write the disposition of anna's call.
	if r := boris.do(ctx, "wrapup.done", map[string]any{"call_id": caller, "disposition": "forged", "notes": "x"}); errCode(r) != "forbidden" {
		t.Errorf("boris writing anna's disposition: %v", r)
	}
	if err := st.store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ix, err := st.store.Interaction(ctx, caller); err != nil || ix.Disposition != "" || ix.Notes != "" {
		t.Fatalf("after boris's attempt: %+v %v", ix, err)
	}
	if r := anna.do(ctx, "wrapup.done", map[string]any{"call_id": caller, "disposition": "resolved"}); r["ok"] != true {
		t.Fatal(r)
	}
	if err := st.store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ix, err := st.store.Interaction(ctx, caller); err != nil || ix.Disposition != "resolved" {
		t.Fatalf("disposition %+v %v", ix, err)
	}

	// The audit log has every listen / whisper / barge, refused or not.
	want := map[string]int{}
	for _, e := range st.audited() {
		if strings.HasPrefix(e.Action, "supervisor.") && e.Action != "supervisor.set_state" && e.Target == "anna" {
			want[e.Actor+" "+e.Action]++
		}
	}
	for _, actor := range []string{"sam", "sue", "boris"} {
		for _, mode := range []string{"supervisor.listen", "supervisor.whisper", "supervisor.barge"} {
			if want[actor+" "+mode] != 1 {
				t.Errorf("audit entries for %s %s: %d (all: %+v)", actor, mode, want[actor+" "+mode], st.audited())
			}
		}
	}

	// Origin: a page on another site cannot open an agent's socket with her cookie.
	ws := strings.Replace(st.web, "http", "ws", 1) + "/api/v1/ws"
	h := http.Header{"Origin": {"https://evil.example"}, "Cookie": {"ctid_session=" + tok["anna"]}}
	if conn, resp, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: h}); err == nil {
		_ = conn.CloseNow()
		t.Error("foreign Origin accepted")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: %v %v", resp, err)
	}
	// Logout revokes the token (REST and socket).
	req, err := http.NewRequest(http.MethodPost, st.web+"/api/v1/logout", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok["boris"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if code := restStatus(t, st.web, desktop.RouteInfo{Method: "GET", Path: "/api/v1/me"}, tok["boris"]); code != http.StatusUnauthorized {
		t.Errorf("revoked token on /me: %d", code)
	}
	// Login is rate limited: a burst of wrong passwords for one user ends in 429.
	limited := false
	for range 50 {
		resp, err := http.Post(st.web+"/api/v1/login", "application/json", strings.NewReader(`{"username":"sue","password":"guess"}`))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
	}
	if !limited {
		t.Error("50 wrong passwords in a row were never rate limited")
	}

	// Secrets never in the log of the whole run.
	out := logs.String()
	if !strings.Contains(out, "supervisor action") || !strings.Contains(out, caller) {
		t.Fatalf("the log does not look like the whole run (%d bytes)", len(out))
	}
	secrets := []string{secARIPassword, secUserPassword, "guess\""}
	for _, tk := range tok {
		secrets = append(secrets, tk)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			i := strings.Index(out, s)
			t.Errorf("secret %q in the log: ...%s...", s, out[max(0, i-200):min(len(out), i+100)])
		}
	}
	var lines int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		lines++
	}
	t.Logf("%d log lines checked for secrets", lines)
}
