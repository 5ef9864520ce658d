package cti_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
	"github.com/ctid/ctid/telephony/ariemu"
)

// faultWorld is newWorldCfg with the ARI adapter at hand (its counters tell when a
// reconnect happened).
type faultWorld struct {
	*world
	cli *telephony.Client
}

func newFaultWorld(t testing.TB, qc queue.Config, cc cti.Config) *faultWorld {
	t.Helper()
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"ctid": "pw"}, DialplanApp: "ctid", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	tc := telephony.DefaultConfig()
	tc.URL, tc.Username, tc.Password = srv.URL+"/ari", "ctid", "pw"
	tc.RequestTimeout = 2 * time.Second
	tc.ReconnectMax = time.Second
	cli, err := telephony.New(tc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := queue.NewEngine(qc)
	if err != nil {
		t.Fatal(err)
	}
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{store: st, emu: emu, desk: newDesk(), media: &udpMedia{socks: map[string]net.PacketConn{}, got: map[string]int{}}}
	w.orch, err = cti.New(cti.Params{Config: cc, Log: testLog(t), ARI: cli, Engine: eng, Media: w.media, Notify: w.desk, Records: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.ctx = ctx
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := cli.Run(ctx); err != nil {
			t.Errorf("ari: %v", err)
		}
	})
	wg.Go(func() {
		if err := w.orch.Run(ctx); err != nil {
			t.Errorf("orchestrator: %v", err)
		}
	})
	t.Cleanup(func() {
		emu.ClearHTTPFault()
		cancel()
		wg.Wait()
		_ = w.media.closeAll() // a socket that fails to close is gone anyway
		cli.Close()
		srv.CloseClientConnections()
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Errorf("emulator: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store: %v", err)
		}
	})
	waitUntil(t, 10*time.Second, "ARI connected", cli.Ready)
	return &faultWorld{world: w, cli: cli}
}

// waitUntil polls cond (generous deadline; no timing is asserted).
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// manyAgents is one queue (longest-idle, no wrap-up timer surprises: 60 s) with n
// agents named a00.. and an offer timeout long enough for the offers to outlive
// the fault.
func manyAgents(n int) (queue.Config, []string) {
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("a%02d", i))
	}
	qc := salesConfig(names...)
	qc.OfferTimeout = 2 * time.Minute
	qc.Queues[0].WrapUp = time.Minute
	return qc, names
}

func (w *faultWorld) snapshot(t *testing.T) queue.Snapshot {
	t.Helper()
	s, err := w.orch.Snapshot(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// queuedOrder lists the waiting calls by position, with their arrival times.
func queuedOrder(s queue.Snapshot) ([]string, map[string]time.Time) {
	byPos := map[int]string{}
	arrived := map[string]time.Time{}
	for _, c := range s.Calls {
		if c.State == queue.CallWaiting {
			byPos[c.Position] = string(c.ID)
			arrived[string(c.ID)] = c.Arrived
		}
	}
	out := make([]string, 0, len(byPos))
	for p := 1; p <= len(byPos); p++ {
		out = append(out, byPos[p])
	}
	return out, arrived
}

func agentState(s queue.Snapshot, agent string) queue.AgentSnapshot {
	for _, a := range s.Agents {
		if string(a.ID) == agent {
			return a
		}
	}
	return queue.AgentSnapshot{}
}

// callsUp puts up talking calls (agents accept), ringing offers (not accepted) and
// waiting callers, in that order, and returns the call ids of each kind with the
// agent of each talking and ringing call.
func (w *faultWorld) callsUp(t *testing.T, agents []string, talking, ringing, queued int) (tk, rg, qd []string, agentOf map[string]string) {
	t.Helper()
	agentOf = map[string]string{}
	inject := func(n int) []string {
		var ids []string
		for range n {
			id, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: fmt.Sprintf("4822%06d", len(agentOf)+len(ids)), Dialled: "800",
				Args: []string{"inbound", "sales"}, Behaviour: "talk"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	offered := func(ids []string) {
		for _, id := range ids {
			waitUntil(t, 20*time.Second, "offer of "+id, func() bool {
				for _, a := range agents {
					if w.desk.countFor(a, "call.offered", id) > 0 {
						agentOf[id] = a
						return true
					}
				}
				return false
			})
		}
	}
	for _, a := range agents[:talking] {
		w.ready(t, a)
	}
	tk = inject(talking)
	offered(tk)
	for _, id := range tk {
		if err := w.orch.Accept(w.ctx, agentOf[id], id); err != nil {
			t.Fatalf("accept %s by %s: %v", id, agentOf[id], err)
		}
	}
	for _, id := range tk {
		w.desk.wait(t, agentOf[id], "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
	}
	for _, a := range agents[talking : talking+ringing] {
		w.ready(t, a)
	}
	rg = inject(ringing)
	offered(rg)
	qd = inject(queued)
	waitUntil(t, 20*time.Second, "callers queued", func() bool {
		order, _ := queuedOrder(w.snapshot(t))
		return len(order) == queued
	})
	return tk, rg, qd, agentOf
}

// The ARI events WebSocket is cut with 100 calls up (40 talking, 20 ringing, 40
// waiting). Events of the gap are lost; three things happen in it: a waiting caller
// and a talking caller hang up, and one agent's leg vanishes. After reconnect and
// resync: those three calls are closed, nothing else is lost or duplicated, waiting
// callers keep their order and arrival time, talking calls keep their bridges and
// RTP, and every ringing offer can still be accepted.
func TestARIEventsDroppedWithHundredCallsUp(t *testing.T) {
	const talking, ringing, queued = 40, 20, 40
	qc, agents := manyAgents(talking + ringing)
	w := newFaultWorld(t, qc, cti.DefaultConfig())
	tk, rg, qd, agentOf := w.callsUp(t, agents, talking, ringing, queued)

	before, arrivedBefore := queuedOrder(w.snapshot(t))
	bridgeOf := map[string]string{}
	for _, id := range tk {
		e := w.desk.wait(t, agentOf[id], "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
		bridgeOf[id], _ = e["bridge_id"].(string)
	}
	abandoner, hungUp, legLost := before[5], tk[3], tk[7]

	reconnects := w.cli.Stats().Reconnects
	start := time.Now()
	if n := w.emu.DropEventSockets("ctid"); n != 1 {
		t.Fatalf("dropped %d sockets", n)
	}
	// The gap: events of these go nowhere.
	for _, id := range []string{abandoner, hungUp} {
		if err := w.emu.Hangup(id, 16); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.emu.Hangup(legLost+"-agent", 16); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "ARI reconnected", func() bool { return w.cli.Stats().Reconnects > reconnects && w.cli.Ready() })
	t.Logf("events socket back %v after the drop (resync included)", time.Since(start))

	// Calls ended in the gap are closed with their cause; their agents wrap up.
	w.desk.wait(t, agentOf[hungUp], "wrapup.started", func(e map[string]any) bool { return e["call_id"] == hungUp })
	w.desk.wait(t, agentOf[legLost], "wrapup.started", func(e map[string]any) bool { return e["call_id"] == legLost })
	waitUntil(t, 10*time.Second, "the lost agent leg's caller hung up", func() bool {
		_, up := w.emu.Channel(legLost)
		return !up
	})
	waitUntil(t, 10*time.Second, "the gap's calls closed", func() bool {
		for _, id := range []string{abandoner, hungUp, legLost} {
			if err := w.store.Sync(w.ctx); err != nil {
				t.Fatal(err)
			}
			ix, err := w.store.Interaction(w.ctx, id)
			if err != nil || ix.Ended.IsZero() {
				return false
			}
		}
		return true
	})
	if ix := w.interaction(t, abandoner); ix.Outcome != "abandoned" {
		t.Fatalf("caller who left while waiting: %+v", ix)
	}
	if ix := w.interaction(t, hungUp); ix.Outcome != "answered" {
		t.Fatalf("talking caller who hung up in the gap: %+v", ix)
	}

	// Waiting callers keep their order and arrival time.
	after, arrivedAfter := queuedOrder(w.snapshot(t))
	var want []string
	for _, id := range before {
		if id != abandoner {
			want = append(want, id)
		}
	}
	if fmt.Sprint(after) != fmt.Sprint(want) {
		t.Fatalf("queue order changed:\nbefore %v\nafter  %v", want, after)
	}
	for _, id := range after {
		if !arrivedAfter[id].Equal(arrivedBefore[id]) {
			t.Fatalf("%s arrival moved from %v to %v", id, arrivedBefore[id], arrivedAfter[id])
		}
	}
	// Talking calls keep their bridge (caller + agent leg) and audio both ways.
	for _, id := range tk {
		if id == hungUp || id == legLost {
			continue
		}
		if m := bridgeMembers(w.emu, bridgeOf[id]); len(m) != 2 || !contains(m, id) || !contains(m, id+"-agent") {
			t.Fatalf("bridge of %s after resync: %v", id, m)
		}
	}
	for _, id := range tk[:5] {
		if id == hungUp {
			continue
		}
		got, _ := w.emu.RTPStats(id + "-agent")
		_, back := w.emu.RTPStats(id + "-agent")
		waitUntil(t, 10*time.Second, "RTP still flowing for "+id, func() bool {
			g, b := w.emu.RTPStats(id + "-agent")
			return g > got+25 && b > back+25
		})
	}
	// Ringing offers are still live: each agent accepts and is connected.
	for _, id := range rg {
		if err := w.orch.Accept(w.ctx, agentOf[id], id); err != nil {
			t.Fatalf("accepting %s after resync: %v", id, err)
		}
		w.desk.wait(t, agentOf[id], "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
	}
	// Nothing duplicated: one offer per call, one connect per connected call, the
	// engine holds exactly the calls still up, and the emulator no stray leg.
	for _, id := range append(append([]string{}, tk...), rg...) {
		if n := w.desk.countFor(agentOf[id], "call.offered", id); n != 1 {
			t.Fatalf("%s offered %d times", id, n)
		}
		if n := w.desk.countFor(agentOf[id], "call.connected", id); n != 1 {
			t.Fatalf("%s connected %d times", id, n)
		}
	}
	s := w.snapshot(t)
	if len(s.Calls) != talking+ringing+queued-3 {
		t.Fatalf("engine holds %d calls, want %d", len(s.Calls), talking+ringing+queued-3)
	}
	for _, id := range qd {
		for _, a := range agents {
			if w.desk.countFor(a, "call.offered", id) > 0 {
				t.Fatalf("waiting caller %s was offered to %s (no agent was free)", id, a)
			}
		}
	}
	if n := len(w.emu.Bridges()); n != talking-2+ringing {
		t.Fatalf("%d bridges, want %d", n, talking-2+ringing)
	}
}

// ARI's HTTP side fails for 10 s — 5 s of 500s, then 5 s of requests held without an
// answer — while the events socket is cut in the middle. A caller arriving in the
// storm is queued behind the waiting one and answered once it passes; a call the agent hangs up in it is
// released (no caller left in Stasis); waiting callers keep their places; ctid
// reconnects and an agent takes the next caller.
func TestARIHTTPErrorsAndTimeoutsForTenSeconds(t *testing.T) {
	qc, agents := manyAgents(2)
	w := newFaultWorld(t, qc, cti.DefaultConfig())
	tk, _, qd, agentOf := w.callsUp(t, agents[:1], 1, 0, 1)
	talk, waiting := tk[0], qd[0]

	w.emu.SetHTTPFault(ariemu.HTTPFault{Status: 500})
	stormStart := time.Now()
	late, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48229999999", Dialled: "800", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	// The agent hangs up in the storm: the reply comes (the engine moves on) even
	// though Asterisk cannot be told yet.
	if err := w.orch.Hangup(w.ctx, agentOf[talk], talk); err != nil {
		t.Fatalf("hangup in the storm: %v", err)
	}
	w.desk.wait(t, agentOf[talk], "wrapup.started", func(e map[string]any) bool { return e["call_id"] == talk })
	time.Sleep(time.Until(stormStart.Add(2500 * time.Millisecond)))
	reconnects := w.cli.Stats().Reconnects
	w.emu.DropEventSockets("ctid")
	time.Sleep(time.Until(stormStart.Add(5 * time.Second)))
	w.emu.SetHTTPFault(ariemu.HTTPFault{Hang: true})
	time.Sleep(time.Until(stormStart.Add(10 * time.Second)))
	if w.cli.Ready() {
		t.Fatal("the events socket came back while ARI was failing")
	}
	w.emu.ClearHTTPFault()
	t.Logf("%d ARI requests failed or were held in the storm", w.emu.FaultedRequests())

	waitUntil(t, 20*time.Second, "ARI reconnected", func() bool { return w.cli.Stats().Reconnects > reconnects && w.cli.Ready() })
	waitUntil(t, 20*time.Second, "the hung-up call's caller released from Stasis", func() bool {
		_, up := w.emu.Channel(talk)
		return !up
	})
	waitUntil(t, 20*time.Second, "the storm's caller queued behind the waiting one", func() bool {
		order, _ := queuedOrder(w.snapshot(t))
		return fmt.Sprint(order) == fmt.Sprint([]string{waiting, late})
	})
	// Queued at once (its answer is off the offer's path), answered with music once
	// the answer's retries get through.
	waitUntil(t, 20*time.Second, "the storm's caller answered with music", func() bool {
		ch, ok := w.emu.Channel(late)
		return ok && ch.State == "Up" && ch.MOH
	})
	w.ready(t, agents[1])
	w.desk.wait(t, agents[1], "call.offered", func(e map[string]any) bool { return e["call_id"] == waiting })
	if err := w.orch.Accept(w.ctx, agents[1], waiting); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agents[1], "call.connected", func(e map[string]any) bool { return e["call_id"] == waiting })
	if ix := w.interaction(t, talk); ix.Ended.IsZero() || ix.Outcome != "answered" {
		t.Fatalf("the storm's hung-up call: %+v", ix)
	}
	waitUntil(t, 20*time.Second, "the hung-up call's bridge destroyed", func() bool { return len(w.emu.Bridges()) == 1 })
	// The hung-up call's agent leg goes too (the retry backs off up to 5 s).
	waitUntil(t, 20*time.Second, "the hung-up call's agent leg released", func() bool {
		_, up := w.emu.Channel(talk + "-agent")
		return !up
	})
}

// The PBX restarts (every channel and bridge gone, no event) with calls talking,
// ringing and waiting, and stays down for 2 s. ctid closes every affected
// interaction with a clear cause, sends talking agents to wrap-up and ringing agents
// back to ready, releases their softphone legs, and takes calls again once the PBX
// is back.
func TestPBXRestartClosesCallsAndRecovers(t *testing.T) {
	const talking, ringing, queued = 3, 2, 3
	qc, agents := manyAgents(talking + ringing)
	w := newFaultWorld(t, qc, cti.DefaultConfig())
	tk, rg, qd, agentOf := w.callsUp(t, agents, talking, ringing, queued)
	reconnects := w.cli.Stats().Reconnects

	w.emu.SetHTTPFault(ariemu.HTTPFault{Status: 503})
	if lost := w.emu.Restart(); lost < talking+ringing+queued {
		t.Fatalf("restart lost only %d channels", lost)
	}
	time.Sleep(2 * time.Second) // the PBX is down
	w.emu.ClearHTTPFault()
	waitUntil(t, 20*time.Second, "ARI reconnected", func() bool { return w.cli.Stats().Reconnects > reconnects && w.cli.Ready() })

	all := append(append(append([]string{}, tk...), rg...), qd...)
	waitUntil(t, 20*time.Second, "every interaction closed", func() bool {
		if err := w.store.Sync(w.ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range all {
			ix, err := w.store.Interaction(w.ctx, id)
			if err != nil || ix.Ended.IsZero() {
				return false
			}
		}
		return true
	})
	for _, id := range all {
		ix := w.interaction(t, id)
		want := "abandoned"
		if slices.Contains(tk, id) {
			want = "answered"
		}
		if ix.Outcome != want || !strings.Contains(ix.Cause, "PBX restart") {
			t.Fatalf("interaction %s: outcome %q cause %q, want %q with a cause naming the PBX restart", id, ix.Outcome, ix.Cause, want)
		}
	}
	for _, id := range tk {
		w.desk.wait(t, agentOf[id], "call.ended", func(e map[string]any) bool { return e["call_id"] == id })
		w.desk.wait(t, agentOf[id], "wrapup.started", func(e map[string]any) bool { return e["call_id"] == id })
	}
	s := w.snapshot(t)
	if len(s.Calls) != 0 {
		t.Fatalf("engine still holds calls after the PBX restart: %+v", s.Calls)
	}
	for _, a := range agents[:talking] {
		if st := agentState(s, a).State; st != queue.WrapUp {
			t.Fatalf("talking agent %s is %v after the restart, want wrap_up", a, st)
		}
	}
	for _, a := range agents[talking:] {
		if st := agentState(s, a).State; st != queue.Ready {
			t.Fatalf("ringing agent %s is %v after the restart, want ready", a, st)
		}
	}
	waitUntil(t, 10*time.Second, "softphone legs released", func() bool {
		w.media.mu.Lock()
		defer w.media.mu.Unlock()
		return len(w.media.socks) == 0
	})

	// The PBX is back: the next caller is offered, connected, and has audio.
	id, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221110000", Dialled: "800", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	var agent string
	waitUntil(t, 10*time.Second, "offer after the restart", func() bool {
		for _, a := range agents {
			if w.desk.countFor(a, "call.offered", id) > 0 {
				agent = a
				return true
			}
		}
		return false
	})
	if err := w.orch.Accept(w.ctx, agent, id); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agent, "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
	waitRTPBothWays(t, w.emu, w.media, id)
}

// ctidRun is one ctid run (ARI adapter + orchestrator) against a shared emulator and
// store; stop ends it the way a killed process does for Asterisk: the events socket
// goes and nothing is hung up.
type ctidRun struct {
	orch  *cti.Orchestrator
	desk  *desk
	media *udpMedia
	stop  func()
}

// restartPBX is what outlives a ctid restart in these tests: the emulated PBX on a
// loopback server (any HTTP fault cleared at the end) and the store file.
func restartPBX(t *testing.T) (*ariemu.Emulator, string, *store.Store) {
	t.Helper()
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"ctid": "pw"}, DialplanApp: "ctid", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	db, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		emu.ClearHTTPFault()
		srv.CloseClientConnections()
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return emu, srv.URL, db
}

func startRun(t *testing.T, srvURL string, qc queue.Config, st *store.Store, wrap ...func(*udpMedia) cti.Media) *ctidRun {
	t.Helper()
	return startRunCfg(t, srvURL, qc, cti.DefaultConfig(), st, wrap...)
}

func startRunCfg(t *testing.T, srvURL string, qc queue.Config, cc cti.Config, st *store.Store, wrap ...func(*udpMedia) cti.Media) *ctidRun {
	t.Helper()
	return startRunHooked(t, srvURL, qc, cc, st, runHooks{}, wrap...)
}

// runHooks adjust a run: params before cti.New, the orchestrator before Run.
type runHooks struct {
	params func(*cti.Params)
	orch   func(*cti.Orchestrator)
}

func startRunHooked(t *testing.T, srvURL string, qc queue.Config, cc cti.Config, st *store.Store, h runHooks, wrap ...func(*udpMedia) cti.Media) *ctidRun {
	t.Helper()
	tc := telephony.DefaultConfig()
	tc.URL, tc.Username, tc.Password = srvURL+"/ari", "ctid", "pw"
	cli, err := telephony.New(tc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := queue.NewEngine(qc)
	if err != nil {
		t.Fatal(err)
	}
	r := &ctidRun{desk: newDesk(), media: &udpMedia{socks: map[string]net.PacketConn{}, got: map[string]int{}}}
	var media cti.Media = r.media
	for _, w := range wrap {
		media = w(r.media)
	}
	p := cti.Params{Config: cc, Log: testLog(t), ARI: cli, Engine: eng, Notify: r.desk, Media: media, Records: st}
	if h.params != nil {
		h.params(&p)
	}
	r.orch, err = cti.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if h.orch != nil {
		h.orch(r.orch)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = cli.Run(ctx) })
	wg.Go(func() { _ = r.orch.Run(ctx) })
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			cli.Close()
			_ = r.media.closeAll() // a socket that fails to close is gone anyway
		})
	}
	t.Cleanup(r.stop)
	waitUntil(t, 10*time.Second, "ARI connected", cli.Ready)
	return r
}

// ctid stops with one call talking (browser agent, audio both ways) and two callers
// waiting; the next run takes them over from the channel variables: the
// conversation is restored with its agent, bridge and (on a fresh leg) audio, the
// waiting callers keep their order and arrival time, and each interaction is one
// record closed once.
func TestRestartRestoresTalkingAndWaitingCalls(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna", "boris")
	run1 := startRun(t, srvURL, qc, db)
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	talk, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "100", Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.offered", nil)
	if err := run1.orch.Accept(ctx, "anna", talk); err != nil {
		t.Fatal(err)
	}
	conn := run1.desk.wait(t, "anna", "call.connected", nil)
	waitRTPBothWays(t, emu, run1.media, talk)
	var waiting []string
	for _, n := range []string{"201", "202"} {
		id, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: n, Dialled: "1", Args: []string{"inbound", "sales", "priority=4"}})
		if err != nil {
			t.Fatal(err)
		}
		waiting = append(waiting, id)
	}
	var before map[string]time.Time
	waitUntil(t, 10*time.Second, "two callers waiting", func() bool {
		s, err := run1.orch.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		order, before = queuedOrder(s)
		return len(order) == 2
	})
	time.Sleep(200 * time.Millisecond) // some talk time before the stop
	run1.stop()

	run2 := startRun(t, srvURL, qc, db)
	// The conversation is back: anna is talking with the same call and bridge.
	restored := run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == talk })
	if restored["bridge_id"] != conn["bridge_id"] || restored["restored"] != true {
		t.Fatalf("restored %v, before %v", restored, conn)
	}
	bridgeID, _ := conn["bridge_id"].(string)
	waitUntil(t, 10*time.Second, "audio on a fresh leg", func() bool {
		m := bridgeMembers(emu, bridgeID)
		return len(m) == 2 && contains(m, talk) && contains(m, talk+"-agent-2") && run2.media.packets(talk) >= 25
	})
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State != queue.Talking || string(a.Call) != talk {
		t.Fatalf("anna after the restart: %+v", a)
	}
	order, after := queuedOrder(s)
	if fmt.Sprint(order) != fmt.Sprint(waiting) {
		t.Fatalf("waiting order %v, want %v", order, waiting)
	}
	for _, id := range waiting {
		if !after[id].Equal(before[id]) {
			t.Fatalf("%s arrived %v before the restart, %v after", id, before[id], after[id])
		}
	}
	// Boris gets the longest-waiting caller first.
	if err := run2.orch.AgentLogin(ctx, "boris"); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.AgentReady(ctx, "boris"); err != nil {
		t.Fatal(err)
	}
	pop := run2.desk.wait(t, "boris", "call.offered", nil)
	if pop["call_id"] != waiting[0] || pop["priority"] != 4 {
		t.Fatalf("first offer after the restart %v", pop)
	}
	// Anna ends the restored call as any other: one record, closed once.
	if err := run2.orch.Hangup(ctx, "anna", talk); err != nil {
		t.Fatal(err)
	}
	run2.desk.wait(t, "anna", "wrapup.started", func(e map[string]any) bool { return e["call_id"] == talk })
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ix, err := db.Interaction(ctx, talk)
	if err != nil {
		t.Fatal(err)
	}
	var talkSegs int
	for _, sg := range ix.Segments {
		if sg.Kind == store.SegTalking {
			talkSegs++
			if sg.Agent != "anna" || sg.End.Sub(sg.Start) < 200*time.Millisecond {
				t.Fatalf("talking segment %+v", sg)
			}
		}
	}
	if ix.Outcome != "answered" || ix.Ended.IsZero() || talkSegs != 1 {
		t.Fatalf("restored call's record %+v", ix)
	}
	if list, err := db.InteractionsByNumber(ctx, "100", 10); err != nil || len(list) != 1 {
		t.Fatalf("records for the restored caller: %d %v", len(list), err)
	}
}

// agentsState reads an agent's state from GET /api/v1/agents (a supervisor's view).
func agentsState(t *testing.T, base, token, agent string) string {
	t.Helper()
	_, out := getJSON(t, base+"/api/v1/agents", token)
	list, _ := out["agents"].([]any)
	for _, x := range list {
		if m, ok := x.(map[string]any); ok && m["agent"] == agent {
			s, _ := m["state"].(string)
			return s
		}
	}
	return ""
}

func lastSeq(d *deskClient) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, e := range d.events {
		if s, ok := e["seq"].(float64); ok && int(s) > n {
			n = int(s)
		}
	}
	return n
}

// An agent's browser drops mid-call. Within the grace period the call stays up and
// the reconnected desktop gets what it missed (here: the caller hanging up, and the
// wrap-up). Past the grace period the agent is logged out and the caller is queued
// again ahead of a caller who came later.
func TestAgentDesktopDropGraceThenRequeue(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.DesktopGrace = 4 * time.Second
	st := newSecStack(t, secOpts{calls: &cc})
	ctx := st.ctx
	samTok := loginAs(t, st.web, "sam")
	annaTok := loginAs(t, st.web, "anna")
	anna := openDesk(t, ctx, st.web, annaTok)
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatal(r)
	}
	call1, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48220000001", Dialled: "800", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	anna.event("call.offered", nil)
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": call1}); r["ok"] != true {
		t.Fatal(r)
	}
	conn := anna.event("call.connected", nil)
	seq := lastSeq(anna)

	// Within the grace period.
	if err := anna.conn.CloseNow(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if ch, ok := st.emu.Channel(call1); !ok || ch.Bridge != conn["bridge_id"] {
		t.Fatalf("the call did not stay up while anna's desktop was away: %+v %v", ch, ok)
	}
	if err := st.emu.Hangup(call1, 16); err != nil {
		t.Fatal(err)
	}
	anna = openDesk(t, ctx, st.web, annaTok)
	if r := anna.do(ctx, "resume", map[string]any{"after": seq}); r["ok"] != true || r["snapshot"] != false {
		t.Fatalf("resume %v", r)
	}
	anna.event("call.ended", func(e map[string]any) bool { return e["call_id"] == call1 })
	anna.event("wrapup.started", func(e map[string]any) bool { return e["call_id"] == call1 })
	waitUntil(t, 10*time.Second, "anna in wrap-up", func() bool { return agentsState(t, st.web, samTok, "anna") == "wrap_up" })
	time.Sleep(cc.DesktopGrace + time.Second) // the grace timer was cancelled by the reconnect
	if s := agentsState(t, st.web, samTok, "anna"); s != "wrap_up" {
		t.Fatalf("anna %s after reconnecting within the grace period", s)
	}
	if r := anna.do(ctx, "wrapup.done", map[string]any{"call_id": call1, "disposition": "ok"}); r["ok"] != true {
		t.Fatal(r)
	}

	// Past the grace period.
	call2, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48220000002", Dialled: "800", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	anna.event("call.offered", func(e map[string]any) bool { return e["call_id"] == call2 })
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": call2}); r["ok"] != true {
		t.Fatal(r)
	}
	anna.event("call.connected", func(e map[string]any) bool { return e["call_id"] == call2 })
	if err := anna.conn.CloseNow(); err != nil {
		t.Fatal(err)
	}
	call3, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48220000003", Dialled: "800", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "anna logged out after the grace period", func() bool {
		return agentsState(t, st.web, samTok, "anna") == "logged_out"
	})
	if ch, ok := st.emu.Channel(call2); !ok || ch.Bridge != "" || !ch.MOH {
		t.Fatalf("call2 after anna's grace period: %+v %v (want up, out of the bridge, with music)", ch, ok)
	}
	if _, ok := st.emu.Channel(call2 + "-agent"); ok {
		t.Fatal("anna's leg still up")
	}
	boris := openDesk(t, ctx, st.web, loginAs(t, st.web, "boris"))
	if r := boris.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatal(r)
	}
	pop := boris.event("call.offered", nil)
	if pop["call_id"] != call2 {
		t.Fatalf("boris was offered %v first; want the re-queued %s ahead of %s", pop["call_id"], call2, call3)
	}
	if r := boris.do(ctx, "call.accept", map[string]any{"call_id": call2}); r["ok"] != true {
		t.Fatal(r)
	}
	boris.event("call.connected", func(e map[string]any) bool { return e["call_id"] == call2 })
}

// A desktop that stops reading its socket while the engine keeps publishing to it
// (large screen-pop updates) is disconnected as a slow consumer; meanwhile another
// agent's call goes through offer, accept, talk and hang-up as usual: neither the
// engine nor other desktops wait for the stuck one.
func TestSlowDesktopNeverBlocksEngineOrOthers(t *testing.T) {
	var logs secretLog
	st, srv := newSecStackServer(t, secOpts{sendBuffer: 8, log: &logs})
	ctx := st.ctx
	// anna's desktop connects and never reads again.
	stuck, _, err := websocket.Dial(ctx, strings.Replace(st.web, "http", "ws", 1)+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + loginAs(t, st.web, "anna")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stuck.CloseNow() }()
	boris := openDesk(t, ctx, st.web, loginAs(t, st.web, "boris"))
	if r := boris.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatal(r)
	}
	slowGone := func() bool {
		return strings.Contains(logs.String(), `"agent":"anna","reason":"slow_consumer"`)
	}
	big := strings.Repeat("x", 64<<10)
	done := make(chan int)
	go func() {
		n := 0
		for ; n < 2000 && !slowGone(); n++ {
			srv.Publish("anna", "call.updated", map[string]any{"call_id": "x", "crm": map[string]any{"pad": big}})
		}
		done <- n
	}()
	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48221112222", Dialled: "800", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	boris.event("call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	if r := boris.do(ctx, "call.accept", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatal(r)
	}
	boris.event("call.connected", func(e map[string]any) bool { return e["call_id"] == caller })
	if r := boris.do(ctx, "call.hangup", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatal(r)
	}
	boris.event("wrapup.started", func(e map[string]any) bool { return e["call_id"] == caller })
	var published int
	select {
	case published = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("publishing to a stuck desktop blocked")
	}
	waitUntil(t, 15*time.Second, "anna's stuck desktop disconnected as a slow consumer", slowGone)
	t.Logf("anna's desktop was cut after %d unread events of 64 KiB", published)
}

// gatedMedia is the UDP stand-in whose AttachCall fails until the agent's softphone
// is "back" (as AgentMedia does without a softphone session).
type gatedMedia struct {
	*udpMedia
	mu   sync.Mutex
	open bool
}

func (g *gatedMedia) AttachCall(ctx context.Context, agent, callID string) (string, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	if !open {
		return "", errors.New("no softphone session for " + agent)
	}
	return g.udpMedia.AttachCall(ctx, agent, callID)
}

// annaTalking signs anna in on run, makes her ready and connects her to a caller
// from number; it returns the call id and its bridge.
func annaTalking(t *testing.T, run *ctidRun, emu *ariemu.Emulator, number string) (string, string) {
	t.Helper()
	ctx := context.Background()
	if err := run.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	call, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: number, Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	run.desk.wait(t, "anna", "call.offered", nil)
	if err := run.orch.Accept(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	conn := run.desk.wait(t, "anna", "call.connected", nil)
	bridge, _ := conn["bridge_id"].(string)
	return call, bridge
}

// A conversation restored while the agent's softphone is not back keeps its call
// up without audio to the agent; when the softphone renegotiates, the call gets a
// fresh audio leg and RTP flows.
func TestRestoredCallGetsAudioWhenSoftphoneReturns(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	run1 := startRun(t, srvURL, qc, db)
	talk, bridge := annaTalking(t, run1, emu, "300")
	run1.stop()

	var gate *gatedMedia
	run2 := startRun(t, srvURL, qc, db, func(m *udpMedia) cti.Media {
		gate = &gatedMedia{udpMedia: m}
		return gate
	})
	run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == talk && e["restored"] == true })
	if m := bridgeMembers(emu, bridge); len(m) != 2 || !contains(m, talk+"-agent") {
		t.Fatalf("bridge before the softphone is back: %v", m)
	}
	gate.mu.Lock()
	gate.open = true
	gate.mu.Unlock()
	run2.orch.SoftphoneReady("anna")
	waitUntil(t, 10*time.Second, "audio on a fresh leg", func() bool {
		m := bridgeMembers(emu, bridge)
		return len(m) == 2 && contains(m, talk+"-agent-2") && run2.media.packets(talk) >= 25
	})
	if err := run2.orch.Hangup(ctx, "anna", talk); err != nil {
		t.Fatal(err)
	}
	run2.desk.wait(t, "anna", "wrapup.started", nil)
}

// After a restart, an agent whose conversation was restored but whose desktop never
// comes back is handled like a dropped desktop: past the grace period they are
// logged out and the caller is queued again.
func TestRestoredAgentWhoNeverReturnsIsLoggedOut(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	run1 := startRun(t, srvURL, qc, db)
	talk, _ := annaTalking(t, run1, emu, "400")
	run1.stop()

	cc := cti.DefaultConfig()
	cc.DesktopGrace = time.Second
	run2 := startRunCfg(t, srvURL, qc, cc, db)
	run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["restored"] == true })
	run2.desk.wait(t, "anna", "call.ended", func(e map[string]any) bool { return e["call_id"] == talk })
	waitUntil(t, 10*time.Second, "anna logged out and the caller waiting again", func() bool {
		s, err := run2.orch.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		order, _ := queuedOrder(s)
		return agentState(s, "anna").State == queue.LoggedOut && len(order) == 1 && order[0] == talk
	})
	if ch, ok := emu.Channel(talk); !ok || ch.Bridge != "" || !ch.MOH {
		t.Fatalf("caller %+v %v: want up, out of the bridge, with music", ch, ok)
	}
}

// ctid dies while ARI fails, after two callers' StasisStart but before it could
// answer and mark them. The next run finds them in the application with no marks:
// the one whose Stasis arguments (dialplan app_data, as Asterisk reports it) place
// it is queued as its StasisStart would have been, and offered; the one whose
// arguments ctid cannot place gets the fallback (after 2 s, in case the StasisStart
// was merely late) instead of silence.
func TestRestartQueuesOrReleasesCallerNeverMarked(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	run1 := startRun(t, srvURL, qc, db)
	emu.SetHTTPFault(ariemu.HTTPFault{Status: 500})
	caller, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "500", Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	stray, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "501", Dialled: "1", Args: []string{"nonsense"}})
	if err != nil {
		t.Fatal(err)
	}
	faulted := emu.FaultedRequests()
	waitUntil(t, 10*time.Second, "run 1 trying to answer", func() bool { return emu.FaultedRequests() > faulted+1 })
	run1.stop()
	emu.ClearHTTPFault()
	for _, id := range []string{caller, stray} {
		if _, ok := emu.Channel(id); !ok {
			t.Fatalf("%s should still be in Asterisk", id)
		}
	}
	run2 := startRun(t, srvURL, qc, db)
	waitUntil(t, 15*time.Second, "the caller ctid cannot place released", func() bool {
		_, ok := emu.Channel(stray)
		return !ok
	})
	if err := run2.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	run2.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	if _, ok := emu.Channel(caller); !ok {
		t.Fatal("the queued caller was hung up")
	}
}
