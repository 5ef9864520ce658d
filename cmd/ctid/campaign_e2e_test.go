package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"github.com/spf13/viper"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony/ariemu"
)

// wsClient is a desktop WebSocket client: replies by id, events in order.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	mu     sync.Mutex
	events []map[string]any
	reply  map[string]map[string]any
	signal chan struct{}
	seq    int
}

func dialWS(t *testing.T, ctx context.Context, base, token string) *wsClient {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	c := &wsClient{t: t, conn: conn, reply: map[string]map[string]any{}, signal: make(chan struct{}, 1)}
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
			c.mu.Lock()
			if id, ok := m["id"].(string); ok {
				c.reply[id] = m
			} else {
				c.events = append(c.events, m)
			}
			c.mu.Unlock()
			select {
			case c.signal <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { _ = conn.CloseNow() })
	return c
}

// do sends a command and waits (10 s at most) for its reply.
func (c *wsClient) do(ctx context.Context, cmd string, args map[string]any) (map[string]any, error) {
	c.mu.Lock()
	c.seq++
	id := fmt.Sprintf("r%d", c.seq)
	c.mu.Unlock()
	frame := map[string]any{"id": id, "cmd": cmd}
	for k, v := range args {
		frame[k] = v
	}
	b, err := json.Marshal(frame)
	if err != nil {
		return nil, err
	}
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, err
	}
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		r := c.reply[id]
		c.mu.Unlock()
		if r != nil {
			return r, nil
		}
		select {
		case <-c.signal:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			return nil, fmt.Errorf("no reply to %s", cmd)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *wsClient) snapshot() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]map[string]any, len(c.events))
	copy(out, c.events)
	return out
}

func replyErr(r map[string]any) string {
	e, ok := r["error"].(map[string]any)
	if !ok {
		return ""
	}
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	return code + ": " + msg
}

func restCall(t *testing.T, method, url, token, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func loginToken(t *testing.T, base, user, pw string) string {
	t.Helper()
	code, body := restCall(t, http.MethodPost, base+"/api/v1/login", "", "application/json",
		fmt.Sprintf(`{"username":%q,"password":%q}`, user, pw))
	var lr struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &lr); err != nil || code != 200 || lr.Token == "" {
		t.Fatalf("login %s: %d %s", user, code, body)
	}
	return lr.Token
}

// campaignStack runs `ctid serve` on the embedded emulator with agents a1, a2 (PJSIP
// devices the emulator answers) and supervisor sam.
type campaignStack struct {
	base   string
	emu    *ariemu.Emulator
	cancel context.CancelFunc
	done   chan error
}

func campaignConfig(t *testing.T, dbPath string) fileConfig {
	t.Helper()
	hash, err := desktop.HashPassword("secret-pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
asterisk:
  mode: emulator
emulator:
  listen: 127.0.0.1:0
store:
  path: %s
calls:
  default_region: GB
  external_endpoint: "Local/{number}@callers"
softphone:
  enabled: false
demo:
  traffic: false
queues:
  - id: sales
    strategy: longest-idle
    members: [a1, a2]
    wrapup: 60s
agents:
  - id: a1
    device: PJSIP/a1
  - id: a2
    device: PJSIP/a2
desktop:
  auth:
    bcrypt_cost: 4
    users:
      - {username: a1, role: agent, password_hash: %q}
      - {username: a2, role: agent, password_hash: %q}
      - {username: sam, role: supervisor, teams: [sales], password_hash: %q}
`, dbPath, hash, hash, hash)
	fc, err := loadConfig(viper.New(), writeConfig(t, yaml))
	if err != nil {
		t.Fatal(err)
	}
	return fc
}

func startCampaignStack(t *testing.T, fc fileConfig) *campaignStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &campaignStack{cancel: cancel, done: make(chan error, 1)}
	infoc := make(chan serveInfo, 1)
	go func() { s.done <- serve(ctx, fc, zerolog.Nop(), func(i serveInfo) { infoc <- i }) }()
	select {
	case i := <-infoc:
		s.base, s.emu = "http://"+i.Addr.String(), i.Emu
	case err := <-s.done:
		cancel()
		t.Fatalf("serve exited: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return s
}

func (s *campaignStack) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop")
	}
}

// agentBot is an agent at their desk: Ready, and for every connected campaign call
// hang up, then record the disposition dispFor gives the number.
func agentBot(ctx context.Context, ws *wsClient, dispFor func(number string) string, disposed chan<- string, errs chan<- error) {
	handled := map[string]bool{}
	numbers := map[string]string{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, e := range ws.snapshot() {
			id, _ := e["call_id"].(string)
			if e["event"] == "call.offered" {
				if n, ok := e["caller_number"].(string); ok {
					numbers[id] = n
				}
			}
			if e["event"] != "call.connected" || handled[id] {
				continue
			}
			handled[id] = true
			if r, err := ws.do(ctx, "call.hangup", map[string]any{"call_id": id}); err != nil || replyErr(r) != "" {
				if ctx.Err() == nil { // not the test stopping the bots
					errs <- fmt.Errorf("hangup %s: %v %v", id, err, r)
				}
				return
			}
			// the disposition is accepted once the call is over: retry while it ends
			deadline := time.Now().Add(10 * time.Second)
			for {
				r, err := ws.do(ctx, "wrapup.done", map[string]any{"call_id": id, "disposition": dispFor(numbers[id])})
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				if replyErr(r) == "" {
					select {
					case disposed <- numbers[id]:
					default:
					}
					break
				}
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("wrapup.done %s: %s", id, replyErr(r))
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}
}

// A campaign created over REST, its list uploaded as CSV (one number on the internal
// do-not-call list), started over the WebSocket: desk agents take and dispose every
// call, the DNC number is never originated, attempts and dispositions are stored, a
// do_not_call disposition lands on the internal list, the campaign finishes and its
// state is saved.
func TestCampaignEndToEndOverRESTAndWebSocket(t *testing.T) {
	dbPath := t.TempDir() + "/ctid.db"
	fc := campaignConfig(t, dbPath)
	s := startCampaignStack(t, fc)
	stopped := false
	defer func() {
		if !stopped {
			s.stop(t)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sam := loginToken(t, s.base, "sam", "secret-pw")

	def := `{"id":"autumn","name":"Autumn renewals","mode":"progressive","endpoint":"PJSIP/{number}@trunk",
	  "agents":["a1","a2"],"default_region":"GB","caller_id":"020 7946 0999",
	  "windows":[{"days":["mon","tue","wed","thu","fri","sat","sun"],"from":"00:00","to":"24:00"}]}`
	if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/campaigns", sam, "application/json", def); code != http.StatusCreated {
		t.Fatalf("create campaign: %d %s", code, body)
	}
	var csv strings.Builder
	csv.WriteString("first_name,last_name,phone\n")
	var numbers []string
	for i := range 10 {
		fmt.Fprintf(&csv, "Contact,N%d,020 7946 01%02d\n", i, i)
		numbers = append(numbers, fmt.Sprintf("+4420794601%02d", i))
	}
	const dncNumber = "+442079460103" // on the internal list before the start
	const optOut = "+442079460107"    // the contact asks not to be called again
	const manualNumber = "+442079460150"
	if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/campaigns/autumn/lists", sam, "text/csv", csv.String()); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, body)
	}
	if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/dnc", sam, "application/json",
		`{"number":"020 7946 0103","reason":"asked by letter"}`); code/100 != 2 {
		t.Fatalf("dnc add: %d %s", code, body)
	}

	samWS := dialWS(t, ctx, s.base, sam)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	disposed := make(chan string, 32)
	botCtx, stopBots := context.WithCancel(ctx)
	defer func() { stopBots(); wg.Wait() }()
	for _, a := range []string{"a1", "a2"} {
		ws := dialWS(t, ctx, s.base, loginToken(t, s.base, a, "secret-pw"))
		// A manual dial of the DNC number is refused (the agent cannot override it).
		for _, args := range []map[string]any{{"number": dncNumber, "campaign_id": "autumn"}, {"number": dncNumber}} {
			r, err := ws.do(ctx, "call.dial", args)
			if err != nil || !strings.HasPrefix(replyErr(r), "forbidden") {
				t.Fatalf("%s manual dial %v (DNC): %v %v", a, args, err, r)
			}
		}
		if r, err := ws.do(ctx, "agent.ready", nil); err != nil || replyErr(r) != "" {
			t.Fatalf("%s ready: %v %v", a, err, r)
		}
		if a == "a1" { // a manual dial without a campaign goes out through calls.external_endpoint
			if r, err := ws.do(ctx, "call.dial", map[string]any{"number": manualNumber}); err != nil || replyErr(r) != "" {
				t.Fatalf("manual dial without a campaign: %v %v", err, r)
			}
		}
		wg.Go(func() {
			agentBot(botCtx, ws, func(n string) string {
				if n == optOut {
					return "do_not_call"
				}
				return "sale"
			}, disposed, errs)
		})
	}
	if r, err := samWS.do(ctx, "campaign.start", map[string]any{"campaign_id": "autumn"}); err != nil || replyErr(r) != "" {
		t.Fatalf("campaign.start: %v %v", err, r)
	}

	waitCampaignState(t, ctx, s, "autumn", "finished", errs)
	// The campaign finishes when its last line is over, which can be before that
	// call's disposition is in: wait for every disposition (and the manual dial's)
	// before stopping the bots.
	want := map[string]bool{manualNumber: true}
	for _, n := range numbers {
		if n != dncNumber {
			want[n] = true
		}
	}
	for len(want) > 0 {
		select {
		case n := <-disposed:
			delete(want, n)
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("never disposed: %v", want)
		}
	}
	stopBots()
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	for _, rq := range s.emu.Requests() {
		if rq.Method == http.MethodPost && strings.HasPrefix(rq.Path, "/channels") &&
			strings.Contains(fmt.Sprint(rq.Query, rq.Body), strings.TrimPrefix(dncNumber, "+")) {
			t.Errorf("the DNC number was dialled: %+v", rq)
		}
	}
	s.stop(t)
	stopped = true

	db := openStore(t, dbPath)
	as, err := db.CampaignAttempts(ctx, "autumn", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	dialled := map[string]store.CampaignAttempt{}
	for _, a := range as {
		if _, dup := dialled[a.Number]; dup {
			t.Errorf("%s dialled twice", a.Number)
		}
		dialled[a.Number] = a
		want := "sale"
		if a.Number == optOut {
			want = "do_not_call"
		}
		if a.Disposition != want || a.Agent == "" || a.Connected.IsZero() || a.InteractionID == "" {
			t.Errorf("attempt %+v: want disposition %s by an agent", a, want)
		}
	}
	if _, ok := dialled[dncNumber]; ok || len(dialled) != 9 {
		t.Errorf("dialled %d numbers (want 9, not %s): %v", len(dialled), dncNumber, dialled)
	}
	for _, n := range numbers {
		if _, ok := dialled[n]; !ok && n != dncNumber {
			t.Errorf("%s never dialled", n)
		}
	}
	entries, err := db.DNCLookup(ctx, optOut)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Scope != store.DNCGlobal || entries[0].Source != store.DNCSourceDisposition {
		t.Errorf("do_not_call disposition: DNC entries %+v, want the internal and the campaign's list", entries)
	}
	md, err := db.CampaignAttempts(ctx, "_manual", "", 10)
	if err != nil || len(md) != 1 || md[0].Number != manualNumber || md[0].Agent != "a1" || md[0].Disposition != "sale" {
		t.Errorf("manual dial without a campaign: %+v %v", md, err)
	}
	c, err := db.Campaign(ctx, "autumn")
	if err != nil || c.State != "finished" {
		t.Errorf("stored campaign %+v %v", c, err)
	}
}

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	sc := store.DefaultConfig()
	sc.Path = path
	db, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// waitCampaignState polls the campaign over REST until it is in state (90 s at most).
func waitCampaignState(t *testing.T, ctx context.Context, s *campaignStack, id, state string, errs <-chan error) map[string]any {
	t.Helper()
	sam := loginToken(t, s.base, "sam", "secret-pw")
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body := restCall(t, http.MethodGet, s.base+"/api/v1/campaigns/"+id, sam, "", "")
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil || code != 200 {
			t.Fatalf("get campaign: %d %s", code, body)
		}
		if m["state"] == state {
			return m
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("campaign %s never %s: %s", id, state, body)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s never %s: %s", id, state, body)
		}
	}
}

// A campaign running when ctid stops resumes when it starts again, without a new
// start command: its contacts are loaded from the store and dialled; a paused one
// stays paused until it is stopped (saved; it cannot start again).
func TestCampaignRunningAtShutdownResumesAfterRestart(t *testing.T) {
	dbPath := t.TempDir() + "/ctid.db"
	fc := campaignConfig(t, dbPath)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	s := startCampaignStack(t, fc)
	sam := loginToken(t, s.base, "sam", "secret-pw")
	for _, id := range []string{"winter", "spring"} {
		def := `{"id":"` + id + `","name":"` + id + `","mode":"progressive","endpoint":"PJSIP/{number}@trunk",
		  "agents":["a1","a2"],"default_region":"GB",
		  "windows":[{"days":["mon","tue","wed","thu","fri","sat","sun"],"from":"00:00","to":"24:00"}]}`
		if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/campaigns", sam, "application/json", def); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, code, body)
		}
		csv := "first_name,phone\n"
		for i := range 4 {
			d := 20 + i
			if id == "spring" {
				d = 40 + i
			}
			csv += fmt.Sprintf("C%d,020 7946 01%02d\n", i, d)
		}
		if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/campaigns/"+id+"/lists", sam, "text/csv", csv); code != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", id, code, body)
		}
		// no agent is Ready: nothing is dialled before the restart
		if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/campaigns/"+id+"/start", sam, "", ""); code != 200 || !strings.Contains(body, `"state":"running"`) {
			t.Fatalf("start %s: %d %s", id, code, body)
		}
	}
	if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/campaigns/spring/pause", sam, "", ""); code != 200 || !strings.Contains(body, `"state":"paused"`) {
		t.Fatalf("pause: %d %s", code, body)
	}
	if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/campaigns/spring/pause", sam, "", ""); code != http.StatusConflict {
		t.Fatalf("pausing a paused campaign: %d %s, want 409", code, body)
	}
	s.stop(t)

	s = startCampaignStack(t, fc)
	stopped := false
	defer func() {
		if !stopped {
			s.stop(t)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	botCtx, stopBots := context.WithCancel(ctx)
	defer func() { stopBots(); wg.Wait() }()
	for _, a := range []string{"a1", "a2"} {
		ws := dialWS(t, ctx, s.base, loginToken(t, s.base, a, "secret-pw"))
		if r, err := ws.do(ctx, "agent.ready", nil); err != nil || replyErr(r) != "" {
			t.Fatalf("%s ready: %v %v", a, err, r)
		}
		wg.Go(func() { agentBot(botCtx, ws, func(string) string { return "not_interested" }, nil, errs) })
	}
	waitCampaignState(t, ctx, s, "winter", "finished", errs)
	stopBots()
	wg.Wait()
	sam = loginToken(t, s.base, "sam", "secret-pw")
	if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/campaigns/spring/stop", sam, "", ""); code != 200 || !strings.Contains(body, `"state":"stopped"`) {
		t.Fatalf("stop: %d %s", code, body)
	}
	if code, body := restCall(t, http.MethodPost, s.base+"/api/v1/campaigns/spring/start", sam, "", ""); code != http.StatusConflict {
		t.Fatalf("starting a stopped campaign: %d %s, want 409", code, body)
	}
	s.stop(t) // the store's writer flushes every queued attempt
	stopped = true

	db := openStore(t, dbPath)
	as, err := db.CampaignAttempts(ctx, "winter", "", 100)
	if err != nil || len(as) != 4 {
		t.Fatalf("winter attempts after the restart: %d %v", len(as), err)
	}
	for _, a := range as {
		if a.Disposition != "not_interested" {
			t.Errorf("attempt %+v", a)
		}
	}
	as, err = db.CampaignAttempts(ctx, "spring", "", 100)
	if err != nil || len(as) != 0 {
		t.Errorf("the paused campaign dialled after the restart: %+v %v", as, err)
	}
	c, err := db.Campaign(ctx, "spring")
	if err != nil || c.State != "stopped" {
		t.Errorf("spring after the restart: %+v %v", c, err)
	}
}
