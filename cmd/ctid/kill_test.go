package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"github.com/spf13/viper"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony/ariemu"
)

// envKillChild makes the test binary run `ctid serve` with the config file it names
// (TestMain), printing "ready <addr>" once it listens: the process the kill test
// SIGKILLs.
const envKillChild = "CTID_TEST_SERVE_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(envKillChild); path != "" {
		os.Exit(serveChild(path))
	}
	os.Exit(m.Run())
}

func serveChild(path string) int {
	fc, err := loadConfig(viper.New(), path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return exitConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log := newLogger(os.Stderr, "json", fc.Log.Level)
	if err := serve(ctx, fc, log, func(i serveInfo) { fmt.Printf("ready %s\n", i.Addr) }); err != nil {
		fmt.Fprintln(os.Stderr, "child serve:", err)
		return exitFailure
	}
	return exitOK
}

const killPassword = "kill-test-pw"

// killConfig writes a ctid.yaml for an external Asterisk (the test's emulator), a
// store file, and three agents on SIP phones (anna and boris in the queue, carl
// only consulted) (their legs survive a ctid restart as
// they would with real phones).
func killConfig(t *testing.T, ariURL, dbPath string) string {
	t.Helper()
	hash, err := desktop.HashPassword(killPassword, 4)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
log:
  level: info
asterisk:
  mode: external
  url: %s
  username: ctid
  password: pw
  app: ctid
store:
  driver: sqlite
  path: %s
calls:
  offer_timeout: 60s
queues:
  - id: sales
    strategy: longest-idle
    members: [anna, boris]
    wrapup: 60s
agents:
  - id: anna
    device: PJSIP/anna
  - id: boris
    device: PJSIP/boris
  - id: carl
    device: PJSIP/carl
desktop:
  auth:
    bcrypt_cost: 4
    users:
      - {username: anna, role: agent, password_hash: %q}
      - {username: boris, role: agent, password_hash: %q}
      - {username: carl, role: agent, password_hash: %q}
      - {username: sam, role: supervisor, teams: [sales], password_hash: %q}
softphone:
  enabled: false
`, ariURL, dbPath, hash, hash, hash, hash)
	path := filepath.Join(t.TempDir(), "ctid.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// child is one `ctid serve` process.
type child struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
}

// killPBX is what outlives a ctid process in these tests: an emulated PBX on a
// loopback server (its base URL returned) and the path of a SQLite store.
func killPBX(t *testing.T) (emu *ariemu.Emulator, srvURL, dbPath string) {
	t.Helper()
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"ctid": "pw"}, DialplanApp: "ctid", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
	})
	return emu, srv.URL, filepath.Join(t.TempDir(), "ctid.db")
}

// stopAndOpenStore stops the process cleanly (SIGTERM: it writes every record still
// queued) and opens its store for the test to read (closed at the test's end).
func (c *child) stopAndOpenStore(t *testing.T, dbPath string) *store.Store {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("ctid: %v\n%s", err, c.stderr)
	}
	sc := store.DefaultConfig()
	sc.Path = dbPath
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

func startChild(t *testing.T, config string) *child {
	t.Helper()
	return startChildWith(t, config, true)
}

// startChildWith starts `ctid serve`; waitReady also waits for /readyz 200 (ARI
// connected, the earlier run's calls taken over).
func startChildWith(t *testing.T, config string, waitReady bool) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), stderr: &syncBuffer{}}
	c.cmd.Env = append(os.Environ(), envKillChild+"="+config)
	c.cmd.Stderr = c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			line = "error: " + err.Error()
		}
		lines <- line
	}()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
		if !ok {
			t.Fatalf("child did not start: %q\n%s", line, c.stderr)
		}
		c.base = "http://" + addr
	case <-time.After(30 * time.Second):
		t.Fatalf("child not ready in 30 s:\n%s", c.stderr)
	}
	if !waitReady {
		return c
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, _ := get(t, c.base+"/readyz"); code == 200 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("child never ready:\n%s", c.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ws is a minimal desktop: commands with replies, events kept.
type ws struct {
	t      *testing.T
	conn   *websocket.Conn
	mu     sync.Mutex
	frames []map[string]any
	n      int
}

func killLogin(t *testing.T, base, user string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"`+user+`","password":"`+killPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("login %s: %d %v", user, resp.StatusCode, err)
	}
	return out.Token
}

func dialDesk(t *testing.T, ctx context.Context, base, user string) *ws {
	t.Helper()
	tok := killLogin(t, base, user)
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	if err != nil {
		t.Fatal(err)
	}
	d := &ws{t: t, conn: conn}
	go func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				d.mu.Lock()
				d.frames = append(d.frames, m)
				d.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { _ = conn.CloseNow() })
	return d
}

func (d *ws) wait(what string, pred func(map[string]any) bool) map[string]any {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d.mu.Lock()
		for _, f := range d.frames {
			if pred(f) {
				d.mu.Unlock()
				return f
			}
		}
		d.mu.Unlock()
		if time.Now().After(deadline) {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.t.Fatalf("timed out waiting for %s; frames %v", what, d.frames)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *ws) do(ctx context.Context, cmd string, args map[string]any) map[string]any {
	d.t.Helper()
	d.n++
	id := fmt.Sprintf("k%d", d.n)
	frame := map[string]any{"id": id, "cmd": cmd}
	for k, v := range args {
		frame[k] = v
	}
	b, err := json.Marshal(frame)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := d.conn.Write(ctx, websocket.MessageText, b); err != nil {
		d.t.Fatal(err)
	}
	return d.wait("reply to "+cmd, func(f map[string]any) bool { return f["id"] == id })
}

func event(name, callID string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["event"] == name && (callID == "" || f["call_id"] == callID) }
}

// ctid is SIGKILLed with one call talking (agent on a SIP phone) and two callers
// waiting, and restarted against the same emulator and store: the talking call is
// restored with its agent (her reconnected desktop sees it and hangs it up), the
// waiting callers are queued again oldest first with their original wait, and every
// interaction is one record, closed once the calls end.
func TestKillNineMidTrafficAndRestart(t *testing.T) {
	emu, srvURL, dbPath := killPBX(t)
	config := killConfig(t, srvURL+"/ari", dbPath)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := startChild(t, config)
	anna := dialDesk(t, ctx, first.base, "anna")
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready %v", r)
	}
	talk, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48221000001", Dialled: "800", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	anna.wait("offer", event("call.offered", talk))
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": talk}); r["ok"] != true {
		t.Fatalf("accept %v", r)
	}
	conn := anna.wait("connected", event("call.connected", talk))
	var waiting []string
	for _, n := range []string{"48221000002", "48221000003"} {
		id, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: n, Dialled: "800", Args: []string{"inbound", "sales"}})
		if err != nil {
			t.Fatal(err)
		}
		waiting = append(waiting, id)
		deadline := time.Now().Add(15 * time.Second)
		for ch, _ := emu.Channel(id); !ch.MOH; ch, _ = emu.Channel(id) {
			if time.Now().After(deadline) {
				t.Fatalf("caller %s never queued with music:\n%s", id, first.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	injected := time.Now()
	time.Sleep(1100 * time.Millisecond) // the callers have waited over a second

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := first.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("first ctid not killed: %v", err)
	}
	for _, id := range append([]string{talk, talk + "-agent"}, waiting...) {
		if _, ok := emu.Channel(id); !ok {
			t.Fatalf("%s gone with ctid; Asterisk keeps calls when its ARI client dies", id)
		}
	}

	// Anna's desktop reconnects as soon as ctid listens, before /readyz says the
	// take-over is done: she is talking on the same call and bridge.
	second := startChildWith(t, config, false)
	anna = dialDesk(t, ctx, second.base, "anna")
	snap := anna.wait("snapshot", func(f map[string]any) bool { return f["event"] == "snapshot" })
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	// Her first snapshot already has the call: desktops wait for the take-over of
	// the earlier run's calls (cti.Desk.SessionOpened, bounded), and /readyz is 503
	// until it is done.
	if !strings.Contains(string(b), `"state":"talking"`) || !strings.Contains(string(b), talk) {
		t.Fatalf("anna's first snapshot after the restart has no restored call: %s\n%s", b, second.stderr)
	}
	if ch, _ := emu.Channel(talk); ch.Bridge != conn["bridge_id"] {
		t.Fatalf("caller in bridge %q, was %v", ch.Bridge, conn["bridge_id"])
	}
	// Boris takes the callers in their original order, and the pop shows the wait
	// from the first run.
	boris := dialDesk(t, ctx, second.base, "boris")
	if r := boris.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready %v", r)
	}
	pop := boris.wait("offer", event("call.offered", ""))
	if pop["call_id"] != waiting[0] {
		t.Fatalf("first offer after the restart %v, want %s", pop, waiting[0])
	}
	if w, _ := pop["wait_seconds"].(float64); w < 1 || time.Duration(w)*time.Second > time.Since(injected)+2*time.Second {
		t.Fatalf("wait_seconds %v after the restart (callers waiting since %v)", pop["wait_seconds"], injected)
	}
	if r := boris.do(ctx, "call.accept", map[string]any{"call_id": waiting[0]}); r["ok"] != true {
		t.Fatalf("accept %v", r)
	}
	boris.wait("connected", event("call.connected", waiting[0]))
	// Anna ends the restored call as usual.
	if r := anna.do(ctx, "call.hangup", map[string]any{"call_id": talk}); r["ok"] != true {
		t.Fatalf("hangup of the restored call %v", r)
	}
	anna.wait("wrap-up", event("wrapup.started", talk))
	if r := anna.do(ctx, "wrapup.done", map[string]any{"call_id": talk, "disposition": "resolved"}); r["ok"] != true {
		t.Fatalf("wrapup %v", r)
	}
	// The others hang up; then ctid stops cleanly.
	for _, id := range waiting {
		if err := emu.Hangup(id, 16); err != nil {
			t.Fatal(err)
		}
	}
	boris.wait("end", event("call.ended", waiting[0]))
	time.Sleep(300 * time.Millisecond) // the last records are queued
	db := second.stopAndOpenStore(t, dbPath)
	for i, id := range append([]string{talk}, waiting...) {
		ix, err := db.Interaction(ctx, id)
		if err != nil {
			t.Fatalf("interaction %s: %v", id, err)
		}
		if ix.Ended.IsZero() || ix.Outcome == "" {
			t.Fatalf("interaction %s left open: %+v", id, ix)
		}
		list, err := db.InteractionsByNumber(ctx, fmt.Sprintf("4822100000%d", i+1), 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("records for caller %d: %d %v", i+1, len(list), err)
		}
	}
	if ix, _ := db.Interaction(ctx, talk); ix.Outcome != "answered" || ix.Disposition != "resolved" {
		t.Fatalf("restored call's record %+v", ix)
	}
	if ix, _ := db.Interaction(ctx, waiting[1]); ix.Outcome != "abandoned" {
		t.Fatalf("caller who gave up after the restart %+v", ix)
	}
}

// ctid is SIGKILLed with anna's call on hold and boris consulting carl about his
// caller: after the restart anna's call is on hold (her snapshot says so, the
// caller hears music, she unholds it), boris's consultation is over (carl's leg
// hung up) and he is back with his held caller; every record is closed once, with
// the hold from before the kill and carl's consultation.
func TestKillNineWithCallOnHoldAndConsultation(t *testing.T) {
	emu, srvURL, dbPath := killPBX(t)
	config := killConfig(t, srvURL+"/ari", dbPath)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := startChild(t, config)
	connect := func(d *ws, number string) string {
		t.Helper()
		if r := d.do(ctx, "agent.ready", nil); r["ok"] != true {
			t.Fatalf("ready %v", r)
		}
		call, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: number, Dialled: "800", Args: []string{"inbound", "sales"}})
		if err != nil {
			t.Fatal(err)
		}
		d.wait("offer", event("call.offered", call))
		if r := d.do(ctx, "call.accept", map[string]any{"call_id": call}); r["ok"] != true {
			t.Fatalf("accept %v", r)
		}
		d.wait("connected", event("call.connected", call))
		return call
	}
	anna := dialDesk(t, ctx, first.base, "anna")
	held := connect(anna, "48222000001")
	holdAsked := time.Now()
	if r := anna.do(ctx, "call.hold", map[string]any{"call_id": held}); r["ok"] != true {
		t.Fatalf("hold %v", r)
	}
	boris := dialDesk(t, ctx, first.base, "boris")
	consulting := connect(boris, "48222000002")
	carl := dialDesk(t, ctx, first.base, "carl")
	if r := carl.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("carl ready %v", r)
	}
	if r := boris.do(ctx, "call.transfer", map[string]any{"call_id": consulting, "mode": "attended", "to": map[string]any{"agent": "carl"}}); r["ok"] != true {
		t.Fatalf("consult %v", r)
	}
	boris.wait("consultation connected", func(f map[string]any) bool { return f["event"] == "call.consult" && f["state"] == "connected" })
	carlLeg := consulting + "-agent-2"
	if _, ok := emu.Channel(carlLeg); !ok {
		t.Fatalf("no consultation leg %s among %v", carlLeg, emu.ChannelIDs())
	}

	killed := time.Now()
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := first.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("first ctid not killed: %v", err)
	}

	second := startChild(t, config)
	deadline := time.Now().Add(15 * time.Second)
	for _, ok := emu.Channel(carlLeg); ok; _, ok = emu.Channel(carlLeg) {
		if time.Now().After(deadline) {
			t.Fatalf("carl's consultation leg still up after the restart:\n%s", second.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	onHold := func(user, call string) *ws {
		t.Helper()
		d := dialDesk(t, ctx, second.base, user)
		snap := d.wait("snapshot", func(f map[string]any) bool { return f["event"] == "snapshot" })
		b, err := json.Marshal(snap)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"state":"on_hold"`) || !strings.Contains(string(b), call) {
			t.Fatalf("%s's snapshot after the restart: %s\n%s", user, b, second.stderr)
		}
		if ch, _ := emu.Channel(call); !ch.MOH || ch.Bridge == "" {
			t.Fatalf("%s's caller after the restart: %+v", user, ch)
		}
		if r := d.do(ctx, "call.unhold", map[string]any{"call_id": call}); r["ok"] != true {
			t.Fatalf("%s unhold %v", user, r)
		}
		if r := d.do(ctx, "call.hangup", map[string]any{"call_id": call}); r["ok"] != true {
			t.Fatalf("%s hangup %v", user, r)
		}
		d.wait("wrap-up", event("wrapup.started", call))
		return d
	}
	onHold("anna", held)
	onHold("boris", consulting)
	deadline = time.Now().Add(15 * time.Second)
	for len(emu.ChannelIDs()) > 0 || len(emu.Bridges()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("left in the emulator: channels %v, bridges %v", emu.ChannelIDs(), emu.Bridges())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the last records are queued
	db := second.stopAndOpenStore(t, dbPath)
	count := func(ix store.Interaction, kind store.SegmentKind, agent string) (n int, first store.Segment) {
		for _, sg := range ix.Segments {
			if sg.Kind == kind && sg.Agent == agent {
				if n == 0 {
					first = sg
				}
				n++
			}
		}
		return n, first
	}
	for i, id := range []string{held, consulting} {
		ix, err := db.Interaction(ctx, id)
		if err != nil {
			t.Fatalf("interaction %s: %v", id, err)
		}
		if ix.Ended.IsZero() || ix.Outcome != "answered" {
			t.Fatalf("interaction %s: %+v", id, ix)
		}
		if list, err := db.InteractionsByNumber(ctx, fmt.Sprintf("4822200000%d", i+1), 10); err != nil || len(list) != 1 {
			t.Fatalf("records for caller %d: %d %v", i+1, len(list), err)
		}
	}
	ix, _ := db.Interaction(ctx, held)
	if n, h := count(ix, store.SegHold, "anna"); n != 1 || h.Start.Before(holdAsked.Truncate(time.Microsecond)) || h.Start.After(killed) {
		t.Fatalf("anna's hold segments: %d, first %+v (hold asked at %v, killed at %v)", n, h, holdAsked, killed)
	}
	ix, _ = db.Interaction(ctx, consulting)
	if n, _ := count(ix, store.SegConsult, "carl"); n != 1 {
		t.Fatalf("carl's consultation in the record: %d segments %+v", n, ix.Segments)
	}
	if n, _ := count(ix, store.SegHold, "boris"); n != 1 {
		t.Fatalf("boris's hold in the record: %d segments %+v", n, ix.Segments)
	}
}
