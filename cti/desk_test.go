package cti_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/softphone"
	"github.com/ctid/ctid/telephony"
	"github.com/ctid/ctid/telephony/ariemu"
)

// deskClient is an agent's desktop: one WebSocket, commands with ids, events by seq.
type deskClient struct {
	t      *testing.T
	conn   *websocket.Conn
	mu     sync.Mutex
	events []map[string]any
	reply  map[string]map[string]any
	signal chan struct{}
	nextID int
}

func login(t *testing.T, base, user, pw string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"`+user+`","password":"`+pw+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Token == "" {
		t.Fatalf("login %s: %d %v", user, resp.StatusCode, err)
	}
	return out.Token
}

func openDesk(t *testing.T, ctx context.Context, base, token string) *deskClient {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	d := &deskClient{t: t, conn: conn, reply: map[string]map[string]any{}, signal: make(chan struct{}, 1)}
	go func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) != nil {
				continue
			}
			d.mu.Lock()
			if id, ok := m["id"].(string); ok {
				d.reply[id] = m
			} else {
				d.events = append(d.events, m)
			}
			d.mu.Unlock()
			select {
			case d.signal <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { _ = conn.CloseNow() })
	return d
}

func (d *deskClient) waitFor(check func() bool, what string) {
	d.t.Helper()
	deadline := time.After(10 * time.Second)
	for !check() {
		select {
		case <-d.signal:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			d.mu.Lock()
			defer d.mu.Unlock()
			d.t.Fatalf("timed out waiting for %s; events %v", what, d.events)
		}
	}
}

// do sends a command and returns its one reply.
func (d *deskClient) do(ctx context.Context, cmd string, args map[string]any) map[string]any {
	d.t.Helper()
	d.mu.Lock()
	d.nextID++
	id := "c" + string(rune('0'+d.nextID%10)) + time.Now().Format("150405.000000")
	d.mu.Unlock()
	frame := map[string]any{"id": id, "cmd": cmd}
	for k, v := range args {
		frame[k] = v
	}
	b, _ := json.Marshal(frame)
	if err := d.conn.Write(ctx, websocket.MessageText, b); err != nil {
		d.t.Fatal(err)
	}
	var r map[string]any
	d.waitFor(func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		r = d.reply[id]
		return r != nil
	}, "reply to "+cmd)
	return r
}

func (d *deskClient) event(name string, pred func(map[string]any) bool) map[string]any {
	d.t.Helper()
	var found map[string]any
	d.waitFor(func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, e := range d.events {
			if e["event"] == name && (pred == nil || pred(e)) {
				found = e
				return true
			}
		}
		return false
	}, "event "+name)
	return found
}

func errCode(r map[string]any) string {
	e, _ := r["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// stack is ctid wired as in `ctid serve`: emulator, ARI adapter, orchestrator,
// desktop API over HTTP, and either the real softphone gateway or a UDP stand-in.
type stack struct {
	udp   *udpMedia
	store *store.Store
	emu   *ariemu.Emulator
	orch  *cti.Orchestrator
	web   string
	ctx   context.Context
	mu    sync.Mutex
	audit []store.AuditEntry
}

func (s *stack) audited() []store.AuditEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.audit)
}

func newStack(t *testing.T, gw *softphone.Gateway) *stack {
	t.Helper()
	return newStackCfg(t, gw, cti.DefaultConfig())
}

func newStackCfg(t *testing.T, gw *softphone.Gateway, cc cti.Config) *stack {
	t.Helper()
	st := &stack{}
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"ctid": "pw"}, DialplanApp: "ctid", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	st.emu = emu
	ariSrv := httptest.NewServer(emu)
	tc := telephony.DefaultConfig()
	tc.URL, tc.Username, tc.Password = ariSrv.URL+"/ari", "ctid", "pw"
	cli, err := telephony.New(tc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := queue.NewEngine(salesConfig("anna", "boris"))
	if err != nil {
		t.Fatal(err)
	}
	udp := &udpMedia{socks: map[string]net.PacketConn{}, got: map[string]int{}}
	st.udp = udp
	agentMedia := cti.NewAgentMedia()
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	db, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	st.store = db
	params := cti.Params{Config: cc, Log: zerolog.Nop(), ARI: cli, Engine: eng, Media: udp, Records: db}
	if gw != nil {
		params.Media = agentMedia
	}
	orch, err := cti.New(params)
	if err != nil {
		t.Fatal(err)
	}
	st.orch = orch
	desk, err := cti.NewDesk(cti.DeskParams{Orchestrator: orch, Gateway: gw, Media: agentMedia, Log: zerolog.Nop(),
		Audit: func(e store.AuditEntry) error {
			st.mu.Lock()
			defer st.mu.Unlock()
			st.audit = append(st.audit, e)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := desktop.HashPassword("secret-anna", 4)
	if err != nil {
		t.Fatal(err)
	}
	dc := desktop.DefaultConfig()
	dc.Auth.Users = []desktop.UserConfig{
		{Username: "anna", Role: "agent", PasswordHash: hash},
		{Username: "boris", Role: "agent", PasswordHash: hash},
		{Username: "sam", Role: "supervisor", PasswordHash: hash, Teams: []string{"sales"}},
		{Username: "sue", Role: "supervisor", PasswordHash: hash, Teams: []string{"support"}},
	}
	server, err := desktop.NewServer(dc, desk, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := orch.RegisterREST(server); err != nil {
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
	for !cli.Ready() {
		time.Sleep(5 * time.Millisecond)
	}
	return st
}

func TestDesktopEndToEnd(t *testing.T) {
	st := newStack(t, nil)
	emu, ctx, web := st.emu, st.ctx, st.web
	anna := openDesk(t, ctx, web, login(t, web, "anna", "secret-anna"))
	boris := openDesk(t, ctx, web, login(t, web, "boris", "secret-anna"))
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("agent.ready: %v", r)
	}
	anna.event("agent.state", func(e map[string]any) bool { return e["state"] == "ready" })

	caller, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48221234567", CallerName: "Jan", Dialled: "800",
		Args: []string{"inbound", "sales", "priority=3"}})
	if err != nil {
		t.Fatal(err)
	}
	pop := anna.event("call.offered", nil)
	if pop["call_id"] != caller || pop["caller_number"] != "48221234567" || pop["queue"] != "sales" {
		t.Fatalf("screen-pop %v", pop)
	}
	if r := boris.do(ctx, "call.accept", map[string]any{"call_id": caller}); r["ok"] != false || errCode(r) != "forbidden" {
		t.Fatalf("boris accepting anna's offer: %v", r)
	}
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("accept: %v", r)
	}
	anna.event("call.connected", nil)
	if r := boris.do(ctx, "call.hangup", map[string]any{"call_id": caller}); errCode(r) != "forbidden" {
		t.Fatalf("boris hanging up anna's call: %v", r)
	}
	if r := anna.do(ctx, "call.hold", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("hold: %v", r)
	}
	anna.event("call.held", nil)
	if r := anna.do(ctx, "call.hold", map[string]any{"call_id": caller}); errCode(r) != "invalid_state" {
		t.Fatalf("second hold: %v", r)
	}
	if r := anna.do(ctx, "call.unhold", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("unhold: %v", r)
	}
	if r := anna.do(ctx, "call.hangup", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("hangup: %v", r)
	}
	anna.event("wrapup.started", nil)
	if r := anna.do(ctx, "wrapup.done", map[string]any{"call_id": caller, "disposition": "resolved", "notes": "ok"}); r["ok"] != true {
		t.Fatalf("wrapup.done: %v", r)
	}
	if r := anna.do(ctx, "call.hangup", map[string]any{"call_id": "no-such-call"}); errCode(r) != "not_found" {
		t.Fatalf("unknown call: %v", r)
	}
	// Supervisors act only on agents of their teams, and every action is audited.
	sam := openDesk(t, ctx, web, login(t, web, "sam", "secret-anna"))
	sue := openDesk(t, ctx, web, login(t, web, "sue", "secret-anna"))
	if r := sue.do(ctx, "supervisor.set_state", map[string]any{"agent": "anna", "state": "not_ready", "reason": "coaching"}); errCode(r) != "forbidden" {
		t.Fatalf("supervisor of another team: %v", r)
	}
	if r := anna.do(ctx, "supervisor.set_state", map[string]any{"agent": "boris", "state": "not_ready"}); errCode(r) != "forbidden" {
		t.Fatalf("agent using a supervisor command: %v", r)
	}
	if r := sam.do(ctx, "supervisor.set_state", map[string]any{"agent": "anna", "state": "not_ready", "reason": "coaching"}); r["ok"] != true {
		t.Fatalf("supervisor set_state: %v", r)
	}
	anna.event("agent.state", func(e map[string]any) bool { return e["state"] == "not_ready" && e["reason"] == "coaching" })
	audit := st.audited()
	// The refused attempts (by team, and an agent's by role) are audited too.
	if len(audit) != 3 || audit[0].Actor != "sue" || !strings.Contains(audit[0].Detail, "forbidden") ||
		audit[1].Actor != "anna" || audit[1].Target != "boris" || !strings.Contains(audit[1].Detail, "forbidden") ||
		audit[2].Actor != "sam" || audit[2].Target != "anna" || audit[2].Action != "supervisor.set_state" {
		t.Fatalf("audit %+v", audit)
	}

	// Events carry a seq rising by one.
	anna.mu.Lock()
	defer anna.mu.Unlock()
	for i := 1; i < len(anna.events); i++ {
		if anna.events[i]["seq"].(float64) != anna.events[i-1]["seq"].(float64)+1 {
			t.Fatalf("seq not contiguous: %v then %v", anna.events[i-1], anna.events[i])
		}
	}
}

// A desktop that drops and comes back gets exactly the events it missed.
func TestDesktopResumesAfterFiveMissedEvents(t *testing.T) {
	st := newStack(t, nil)
	ctx := st.ctx
	token := login(t, st.web, "anna", "secret-anna")
	anna := openDesk(t, ctx, st.web, token)
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready: %v", r)
	}
	last := anna.event("agent.state", func(e map[string]any) bool { return e["state"] == "ready" })
	lastSeq := int(last["seq"].(float64))
	if err := anna.conn.CloseNow(); err != nil {
		t.Fatal(err)
	}

	sam := openDesk(t, ctx, st.web, login(t, st.web, "sam", "secret-anna"))
	states := []string{"not_ready", "ready", "not_ready", "ready", "not_ready"}
	for _, s := range states {
		if r := sam.do(ctx, "supervisor.set_state", map[string]any{"agent": "anna", "state": s, "reason": "break"}); r["ok"] != true {
			t.Fatalf("set_state %s: %v", s, r)
		}
	}
	back := openDesk(t, ctx, st.web, token)
	r := back.do(ctx, "resume", map[string]any{"after": lastSeq})
	if r["ok"] != true || r["replayed"] != float64(5) || r["snapshot"] != false {
		t.Fatalf("resume reply %v", r)
	}
	var got []map[string]any
	back.waitFor(func() bool {
		back.mu.Lock()
		defer back.mu.Unlock()
		got = got[:0]
		for _, e := range back.events {
			if e["event"] != "snapshot" && int(e["seq"].(float64)) > lastSeq {
				got = append(got, e)
			}
		}
		return len(got) >= 5
	}, "five replayed events")
	if len(got) != 5 {
		t.Fatalf("replayed %d events: %v", len(got), got)
	}
	for i, e := range got {
		if e["event"] != "agent.state" || e["state"] != states[i] || int(e["seq"].(float64)) != lastSeq+1+i {
			t.Fatalf("replayed event %d: %v", i, e)
		}
	}
}

func getJSON(t *testing.T, url, token string) (int, map[string]any) {
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

// REST for wallboards and records: supervisors read agents and queue KPIs; an agent
// reads their own interaction, not another agent's.
func TestRESTAgentsQueuesInteractions(t *testing.T) {
	st := newStack(t, nil)
	ctx := st.ctx
	annaTok := login(t, st.web, "anna", "secret-anna")
	anna := openDesk(t, ctx, st.web, annaTok)
	borisTok := login(t, st.web, "boris", "secret-anna")
	samTok := login(t, st.web, "sam", "secret-anna")
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatal(r)
	}
	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48500600700", Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	anna.event("call.offered", nil)
	anna.do(ctx, "call.accept", map[string]any{"call_id": caller})
	anna.event("call.connected", nil)
	anna.do(ctx, "call.hangup", map[string]any{"call_id": caller})
	anna.event("wrapup.started", nil)
	if r := anna.do(ctx, "wrapup.done", map[string]any{"call_id": caller, "disposition": "sale", "notes": "2 lines"}); r["ok"] != true {
		t.Fatal(r)
	}
	if err := st.store.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	if code, _ := getJSON(t, st.web+"/api/v1/queues", annaTok); code != http.StatusForbidden {
		t.Fatalf("agent reading queue KPIs: %d", code)
	}
	code, qs := getJSON(t, st.web+"/api/v1/queues", samTok)
	queues, _ := qs["queues"].([]any)
	if code != 200 || len(queues) != 1 {
		t.Fatalf("queues %d %v", code, qs)
	}
	sales, _ := queues[0].(map[string]any)
	if sales["queue"] != "sales" || sales["answered"] != float64(1) || sales["offered"] != float64(1) {
		t.Fatalf("sales KPIs %v", sales)
	}
	code, ag := getJSON(t, st.web+"/api/v1/agents", samTok)
	if agents, _ := ag["agents"].([]any); code != 200 || len(agents) != 2 {
		t.Fatalf("agents %d %v", code, ag)
	}
	code, ix := getJSON(t, st.web+"/api/v1/interactions/"+caller, annaTok)
	if code != 200 || ix["disposition"] != "sale" || ix["outcome"] != "answered" {
		t.Fatalf("own interaction %d %v", code, ix)
	}
	if code, _ := getJSON(t, st.web+"/api/v1/interactions/"+caller, borisTok); code != http.StatusForbidden {
		t.Fatalf("boris reading anna's interaction: %d", code)
	}
	if code, _ := getJSON(t, st.web+"/api/v1/contacts/48500600700/interactions", borisTok); code != http.StatusForbidden {
		t.Fatalf("boris reading anna's caller's history: %d", code)
	}
	code, h := getJSON(t, st.web+"/api/v1/contacts/48500600700/interactions", samTok)
	if list, _ := h["interactions"].([]any); code != 200 || len(list) != 1 {
		t.Fatalf("history %d %v", code, h)
	}
	if code, _ := getJSON(t, st.web+"/api/v1/interactions/nope", samTok); code != http.StatusNotFound {
		t.Fatalf("unknown interaction: %d", code)
	}
}

// The scenario of the call-control issue, over the desktop API: a caller is offered
// with CRM fields from a webhook, accepted, bridged with audio both ways, held (MOH
// on the caller) and unheld, transferred after consultation to a second agent, who
// hangs up; the record shows both agents' parts with their durations.
func TestIssueScenarioCRMAcceptHoldConsultedTransfer(t *testing.T) {
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"customer":"ACME sp. z o.o.","segment":"gold"}`))
	}))
	defer crm.Close()
	cc := cti.DefaultConfig()
	cc.Desks = []cti.QueueDesk{{Queue: "sales", CRMURL: crm.URL + "/lookup?phone={caller}", CRMTimeout: 5 * time.Second}}
	cc.DefaultRegion = "PL"
	st := newStackCfg(t, nil, cc)
	ctx := st.ctx
	anna := openDesk(t, ctx, st.web, login(t, st.web, "anna", "secret-anna"))
	boris := openDesk(t, ctx, st.web, login(t, st.web, "boris", "secret-anna"))
	anna.do(ctx, "agent.ready", nil)

	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "221234567", CallerName: "Jan", Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	pop := anna.event("call.offered", nil)
	// The offer does not wait for the CRM: its answer is in the screen-pop when it
	// came first, or follows in a call.updated.
	crmFields, _ := pop["crm"].(map[string]any)
	if crmFields == nil {
		upd := anna.event("call.updated", func(e map[string]any) bool { return e["call_id"] == caller && e["crm"] != nil })
		crmFields, _ = upd["crm"].(map[string]any)
	}
	if crmFields["customer"] != "ACME sp. z o.o." || pop["caller_e164"] != "+48221234567" {
		t.Fatalf("screen-pop %v, crm %v", pop, crmFields)
	}
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("accept %v", r)
	}
	conn := anna.event("call.connected", nil)
	bridge := conn["bridge_id"].(string)
	if m := bridgeMembers(st.emu, bridge); len(m) != 2 || !contains(m, caller) || !contains(m, caller+"-agent") {
		t.Fatalf("bridge %v", m)
	}
	waitRTPBothWays(t, st.emu, st.udp, caller)
	time.Sleep(300 * time.Millisecond) // some talk time for anna
	if r := anna.do(ctx, "call.hold", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("hold %v", r)
	}
	if ch, _ := st.emu.Channel(caller); !ch.MOH {
		t.Fatal("held caller has no music on hold")
	}
	if r := anna.do(ctx, "call.unhold", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("unhold %v", r)
	}
	if ch, _ := st.emu.Channel(caller); ch.MOH {
		t.Fatal("caller still hears music after unhold")
	}
	boris.do(ctx, "agent.ready", nil)
	boris.event("agent.state", func(e map[string]any) bool { return e["state"] == "ready" })
	if r := anna.do(ctx, "call.transfer", map[string]any{"call_id": caller, "to": map[string]any{"agent": "boris"}, "mode": "attended"}); r["ok"] != true {
		t.Fatalf("consult %v", r)
	}
	anna.event("call.consult", func(e map[string]any) bool { return e["state"] == "connected" })
	if ch, _ := st.emu.Channel(caller); !ch.MOH {
		t.Fatal("caller has no music during the consultation")
	}
	time.Sleep(200 * time.Millisecond) // the consultation
	if r := anna.do(ctx, "call.transfer.complete", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("complete %v", r)
	}
	boris.event("call.connected", func(e map[string]any) bool { return e["transferred_from"] == "anna" })
	time.Sleep(300 * time.Millisecond) // boris talks
	if r := boris.do(ctx, "call.hangup", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("boris hangup %v", r)
	}
	boris.event("wrapup.started", nil)
	anna.do(ctx, "wrapup.done", map[string]any{"call_id": caller, "disposition": "transferred", "notes": ""})
	boris.do(ctx, "wrapup.done", map[string]any{"call_id": caller, "disposition": "sale", "notes": "upgrade"})
	if err := st.store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ix, err := st.store.Interaction(ctx, caller)
	if err != nil {
		t.Fatal(err)
	}
	dur := map[string]time.Duration{}
	for _, sg := range ix.Segments {
		dur[sg.Kind.String()+":"+sg.Agent] += sg.End.Sub(sg.Start)
	}
	if dur["talking:anna"] < 300*time.Millisecond || dur["talking:boris"] < 300*time.Millisecond ||
		dur["consult:boris"] < 200*time.Millisecond || dur["talking:anna"] > 5*time.Second || dur["talking:boris"] > 5*time.Second {
		t.Fatalf("segment durations %v", dur)
	}
	if ix.Disposition != "sale" || ix.Outcome != "answered" {
		t.Fatalf("interaction %+v", ix)
	}
}
