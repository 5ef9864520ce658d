package cti_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/campaigns"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
)

// ctid dies while anna talks on her manual dial; the next run (manual dial enabled)
// takes the call over from its campaign mark: the customer stays bridged with anna,
// her desktop gets call.connected (restored, with the call's screen-pop fields), the
// engine has her talking; she hangs up, wraps up and records the disposition of
// that attempt; the call has one record, closed once, answered by her.
func TestRestartTakesOverManualDialConnectedAtTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers" // 5550000: the far end answers and talks
	manual := runHooks{orch: func(o *cti.Orchestrator) {
		if err := o.EnableManualDial(func(n string) (string, error) { return n, nil }); err != nil {
			t.Fatal(err)
		}
	}}
	run1 := startRunHooked(t, srvURL, qc, cc, db, manual)
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	const number = "5550000"
	call, err := run1.orch.ManualDial(ctx, "anna", number, "")
	if err != nil {
		t.Fatal(err)
	}
	conn := run1.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call })
	bridge, _ := conn["bridge_id"].(string)
	run1.stop()

	run2 := startRunHooked(t, srvURL, qc, cc, db, manual)
	back := run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call && e["restored"] == true })
	if back["bridge_id"] != bridge || back["direction"] != "outbound" || back["dialled"] != number {
		t.Fatalf("restored call.connected %v", back)
	}
	if m := bridgeMembers(emu, bridge); len(m) != 2 || !contains(m, call) {
		t.Fatalf("campaign bridge after the take-over: %v", m)
	}
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State != queue.Talking || string(a.Call) != call {
		t.Fatalf("anna after the take-over: %+v", a)
	}
	if err := run2.orch.Hangup(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: call, Disposition: "sale", Notes: "after the restart"}); err != nil {
		t.Fatal(err)
	}
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Outcome != "answered" || ix.Cause == "ctid restarted" || ix.Direction != store.Outbound || ix.Answered.IsZero() || ix.Campaign != "_manual" || ix.Disposition != "sale" {
		t.Fatalf("record of the taken-over call %+v", ix)
	}
	if talks := segmentsOf(ix, store.SegTalking); len(talks) != 1 || talks[0].Agent != "anna" || !talks[0].Start.Equal(ix.Answered) {
		t.Fatalf("talking segments %+v (answered %s)", talks, ix.Answered)
	}
	oneRecordFor(t, db, number)
}

// campRun is a ctid run with the stored campaigns (node: its lease owner name), as
// cmd/ctid wires them: catalog, contacts and attempts over the store, the running
// campaigns resumed once the run is up.
func campRun(t *testing.T, srvURL string, qc queue.Config, db *store.Store, node string) *ctidRun {
	t.Helper()
	return campRunCfg(t, srvURL, qc, cti.DefaultConfig(), db, node)
}

// campRunCfg is campRun with cc; with cc.ExternalEndpoint, manual dial is enabled
// (any number: the emulator's far ends are not real numbers).
func campRunCfg(t *testing.T, srvURL string, qc queue.Config, cc cti.Config, db *store.Store, node string) *ctidRun {
	t.Helper()
	dnc, err := campaigns.LoadDNC(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := cti.NewStoreCampaigns(cti.StoreCampaignsParams{Store: db, DNC: dnc, Log: zerolog.Nop(),
		Tick: 100 * time.Millisecond, NodeID: node, LeaseTTL: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(qc.Agents[0].Campaigns) == 0 {
		qc.Agents[0].Campaigns = []string{"k1"}
	}
	r := startRunHooked(t, srvURL, qc, cc, db, runHooks{
		params: func(p *cti.Params) { p.Contacts, p.Attempts = sc, sc },
		orch: func(o *cti.Orchestrator) {
			o.SetCampaignCatalog(sc)
			if cc.ExternalEndpoint != "" {
				if err := o.EnableManualDial(func(n string) (string, error) { return n, nil }); err != nil {
					t.Fatal(err)
				}
			}
		},
	})
	if err := r.orch.ResumeCampaigns(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// ctid (node-1) dies while anna talks on a call its progressive campaign placed;
// the next run (node-2, same store and PBX) takes the campaign's lease from the dead
// run at once, takes the call over — anna still with the customer, her desktop told
// with the contact's screen-pop, the engine has her talking — and after her hang-up
// and disposition the contact is done: one attempt (its row continued: connected by
// node-1, disposition by node-2), one interaction record, never dialled again.
func TestRestartTakesOverCampaignCallConnectedAtTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	const number = "+5550000" // the far end answers and talks
	ids := storedCampaign(t, db, "k1", map[string]string{number: "sale"})
	qc := salesConfig("anna")
	run1 := campRun(t, srvURL, qc, db, "node-1")
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	conn := run1.desk.wait(t, "anna", "call.connected", nil)
	call, _ := conn["call_id"].(string)
	bridge, _ := conn["bridge_id"].(string)
	run1.stop() // calls are left up, as by a kill
	// a killed run does not release its lease: node-1 still holds it for 15 s
	if _, err := db.AcquireLease(ctx, "k1", "node-1", time.Now(), 15*time.Second); err != nil {
		t.Fatal(err)
	}

	run2 := campRun(t, srvURL, qc, db, "node-2")
	back := run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call && e["restored"] == true })
	if back["bridge_id"] != bridge || back["campaign_id"] != "k1" || back["contact_id"] != ids[number] {
		t.Fatalf("restored call.connected %v", back)
	}
	if m := bridgeMembers(emu, bridge); len(m) != 2 || !contains(m, call) {
		t.Fatalf("campaign bridge after the take-over: %v", m)
	}
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State != queue.Talking || string(a.Call) != call {
		t.Fatalf("anna after the take-over: %+v", a)
	}
	if st, n, err := run2.orch.CampaignContactState(ctx, "k1", ids[number]); err != nil || st != "in-progress" || n != 1 {
		t.Fatalf("contact during the taken-over call: %s, %d attempts, %v", st, n, err)
	}
	// not dialled nor answered again by this run, and no abandon counted
	if st, err := run2.orch.CampaignStats(ctx, "k1"); err != nil || st.Dials != 0 || st.Abandons != 0 || st.AbandonRate != 0 || st.LinesInUse != 1 {
		t.Fatalf("campaign stats after the take-over %+v %v", st, err)
	}
	if err := run2.orch.Hangup(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	run2.desk.wait(t, "anna", "wrapup.started", func(e map[string]any) bool { return e["call_id"] == call })
	if err := run2.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: call, Disposition: "sale"}); err != nil {
		t.Fatal(err)
	}
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Outcome != "answered" || ix.Cause == "ctid restarted" || ix.Campaign != "k1" || ix.Disposition != "sale" {
		t.Fatalf("record of the taken-over call %+v", ix)
	}
	if talks := segmentsOf(ix, store.SegTalking); len(talks) != 1 || talks[0].Agent != "anna" {
		t.Fatalf("talking segments %+v", talks)
	}
	if st, n, err := run2.orch.CampaignContactState(ctx, "k1", ids[number]); err != nil || st != "done:sale" || n != 1 {
		t.Fatalf("contact after the disposition: %s, %d attempts, %v", st, n, err)
	}
	time.Sleep(300 * time.Millisecond) // a few campaign ticks: nothing is dialled again
	as := attemptsOf(t, db, "k1")[ids[number]]
	if len(as) != 1 || as[0].ID != call || as[0].Connected.IsZero() || as[0].Disposition != "sale" || as[0].Agent != "anna" {
		t.Fatalf("attempts of the contact %+v", as)
	}
	if list, err := db.InteractionsByNumber(ctx, number, 10); err != nil || len(list) != 1 {
		t.Fatalf("records for %s: %d %v", number, len(list), err)
	}
	if len(emu.ChannelIDs()) != 0 {
		t.Fatalf("dialled again: %v", emu.ChannelIDs())
	}
}

// The fallback when the campaign runs on another node: node-1 dies while anna talks
// on its campaign call, and by the time node-2 starts a third node (node-3, alive)
// holds the campaign's lease. node-2 cannot continue the attempt (node-3's dialer
// owns the campaign now), so it ends the call cleanly as before: both legs hung up,
// anna told (reason "ctid restarted"), the record closed once with that cause, and
// node-2 dials nothing nor un-pauses the campaign node-3 paused.
func TestRestartEndsCampaignCallWhenAnotherNodeHoldsTheLease(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	const number = "+5550000"
	storedCampaign(t, db, "k1", map[string]string{number: "sale"})
	qc := salesConfig("anna")
	run1 := campRun(t, srvURL, qc, db, "node-1")
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	conn := run1.desk.wait(t, "anna", "call.connected", nil)
	call, _ := conn["call_id"].(string)
	run1.stop()
	if _, err := db.AcquireLease(ctx, "k1", "node-3", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCampaignState(ctx, "k1", "running", "paused"); err != nil { // a supervisor paused it on node-3
		t.Fatal(err)
	}

	run2 := campRun(t, srvURL, qc, db, "node-2")
	run2.desk.wait(t, "anna", "call.ended", func(e map[string]any) bool {
		return e["call_id"] == call && e["reason"] == "ctid restarted"
	})
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Cause != "ctid restarted" || ix.Outcome != "answered" {
		t.Fatalf("record of the campaign call %+v", ix)
	}
	if list, err := db.InteractionsByNumber(ctx, number, 10); err != nil || len(list) != 1 {
		t.Fatalf("records for %s: %d %v", number, len(list), err)
	}
	if l, err := db.CampaignLease(ctx, "k1"); err != nil || l.Owner != "node-3" {
		t.Fatalf("lease %+v %v", l, err)
	}
	// node-2, on standby, left the stored state alone
	if sc, err := db.Campaign(ctx, "k1"); err != nil || sc.State != "paused" {
		t.Fatalf("stored campaign after node-2's start %+v %v", sc, err)
	}
}

// shortRing sets the stored campaign's ring timeout to the shortest allowed (15 s):
// its lines' originate timeout is then 20 s.
func shortRing(t *testing.T, db *store.Store, id string) {
	t.Helper()
	ctx := context.Background()
	sc, err := db.Campaign(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var d campaigns.Definition
	if err := json.Unmarshal(sc.Config, &d); err != nil {
		t.Fatal(err)
	}
	d.RingTimeout = campaigns.Duration(15 * time.Second)
	if sc.Config, err = json.Marshal(d); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateCampaign(ctx, sc); err != nil {
		t.Fatal(err)
	}
}

// ctid dies while a campaign line rings (a number that never answers); the PBX ends
// it at its originate timeout (20 s) while the next run is up, which never hears of
// it. The next run's sweep closes the record the dead run opened (outcome no-answer,
// a cause naming the restart), ends the attempt as a no-answer once with the retry
// timer of that rule, and does not dial the contact again before it.
func TestRestartSweepsCampaignLineRingingAtTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	const number = "+5550002" // rings until the originate timeout (cause 19)
	ids := storedCampaign(t, db, "k2", map[string]string{number: "sale"})
	shortRing(t, db, "k2")
	qc := salesConfig("anna")
	qc.Agents[0].Campaigns = []string{"k2"}
	run1 := campRun(t, srvURL, qc, db, "node-1")
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	offer := run1.desk.wait(t, "anna", "call.offered", nil)
	call, _ := offer["call_id"].(string)
	waitUntil(t, 10*time.Second, "the line ringing and its record stored", func() bool {
		if _, ok := emu.Channel(call); !ok {
			return false
		}
		if err := db.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := db.Interaction(ctx, call)
		return err == nil
	})
	run1.stop()

	run2 := campRun(t, srvURL, qc, db, "node-2")
	if err := run2.orch.AgentLogin(ctx, "anna"); err != nil { // anna free: the contact is not dialled before its retry
		t.Fatal(err)
	}
	if err := run2.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	var ix store.Interaction
	waitUntil(t, 40*time.Second, "the record closed by the sweep", func() bool {
		if err := db.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var err error
		ix, err = db.Interaction(ctx, call)
		return err == nil && !ix.Ended.IsZero()
	})
	if ix.Outcome != "no-answer" || !strings.Contains(ix.Cause, "ctid was down") || ix.Direction != store.Outbound || !ix.Answered.IsZero() {
		t.Fatalf("record of the line ringing at the kill %+v", ix)
	}
	if d := ix.Ended.Sub(ix.Created); d < 19*time.Second || d > 21*time.Second {
		t.Fatalf("the line ended %s after it was placed, want its originate timeout (20 s)", d)
	}
	as := attemptsOf(t, db, "k2")[ids[number]]
	if len(as) != 1 || as[0].ID != call || as[0].Outcome != "no-answer" || as[0].Ended.IsZero() {
		t.Fatalf("attempts of the contact %+v", as)
	}
	if d := as[0].RetryAt.Sub(as[0].Placed); d != 2*time.Hour {
		t.Fatalf("retry %s after the placing, want the no-answer rule's 2 h", d)
	}
	if st, n, err := run2.orch.CampaignContactState(ctx, "k2", ids[number]); err != nil || st != "scheduled" || n != 1 {
		t.Fatalf("contact after the sweep: %s, %d attempts, %v", st, n, err)
	}
	if list, err := db.InteractionsByNumber(ctx, number, 10); err != nil || len(list) != 1 {
		t.Fatalf("records for %s: %d %v", number, len(list), err)
	}
	noChannelsLeft(t, emu)
}

// A manual dial on hold at the kill comes back on hold with anna: her desktop gets
// call.held with the original hold start, the engine has her on hold, the customer
// still hears music; unhold and hang-up work and the record keeps the hold.
func TestRestartTakesOverCampaignCallOnHold(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers"
	manual := runHooks{orch: func(o *cti.Orchestrator) {
		if err := o.EnableManualDial(func(n string) (string, error) { return n, nil }); err != nil {
			t.Fatal(err)
		}
	}}
	run1 := startRunHooked(t, srvURL, qc, cc, db, manual)
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	call, err := run1.orch.ManualDial(ctx, "anna", "5550000", "")
	if err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call })
	before := time.Now()
	if err := run1.orch.Hold(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.held", nil)
	run1.stop()

	run2 := startRunHooked(t, srvURL, qc, cc, db, manual)
	run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call && e["restored"] == true })
	held := run2.desk.wait(t, "anna", "call.held", func(e map[string]any) bool { return e["call_id"] == call })
	since, err := time.Parse(time.RFC3339Nano, held["held_since"].(string))
	if err != nil || since.Before(before) || since.After(time.Now()) {
		t.Fatalf("held_since %v %v", held["held_since"], err)
	}
	if ch, _ := emu.Channel(call); !ch.MOH {
		t.Fatalf("the customer hears no music after the take-over: %+v", ch)
	}
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := agentState(s, "anna"); a.State != queue.OnHold || string(a.Call) != call {
		t.Fatalf("anna after the take-over: %+v", a)
	}
	if err := run2.orch.Unhold(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.Hangup(ctx, "anna", call); err != nil {
		t.Fatal(err)
	}
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if hs := segmentsOf(ix, store.SegHold); len(hs) != 1 || !hs[0].Start.Equal(since.Truncate(time.Microsecond)) {
		t.Fatalf("hold segments %+v (held since %s)", hs, since)
	}
	oneRecordFor(t, db, "5550000")
}

// The sweep closes only what is surely over: of four attempts an earlier run left
// open, the one placed a minute ago and unanswered (channel gone) is closed at once;
// one whose record says it was answered (a call someone follows; its attempt row
// lagging), one placed a second ago (it may still ring, on this PBX or another
// node's) and one whose attempt row says it was answered after the campaign loaded
// (its customer answered near the originate timeout; the agent's phone rings on
// another node) are left open.
func TestRestartSweepLeavesAnsweredAndRecentLinesOpen(t *testing.T) {
	_, srvURL, db := restartPBX(t)
	ctx := context.Background()
	ids := storedCampaign(t, db, "k3", map[string]string{"+442079460301": "sale", "+442079460302": "sale", "+442079460303": "sale",
		"+442079460304": "sale"})
	now := time.Now()
	lines := []struct {
		id, number string
		placed     time.Time
		answered   bool
	}{
		{"k3-1.old", "+442079460301", now.Add(-time.Minute), false},
		{"k3-2.old", "+442079460302", now.Add(-time.Minute), true},
		{"k3-3.old", "+442079460303", now.Add(-time.Second), false},
		{"k3-4.old", "+442079460304", now.Add(-25 * time.Second), false}, // due 5 s from now
	}
	for _, l := range lines {
		ix := store.Interaction{ID: l.id, CallID: l.id, Direction: store.Outbound, Campaign: "k3", CallerNumber: l.number,
			Dialled: l.number, Created: l.placed}
		if l.answered {
			ix.Answered = l.placed.Add(5 * time.Second)
		}
		if err := db.SaveInteraction(ix); err != nil {
			t.Fatal(err)
		}
		if err := db.Enqueue(store.CampaignAttempt{ID: l.id, CampaignID: "k3", ContactID: ids[l.number], Number: l.number,
			InteractionID: l.id, Placed: l.placed}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	qc := salesConfig("anna")
	qc.Agents[0].Campaigns = []string{"k3"}
	campRun(t, srvURL, qc, db, "node-2")
	// k3-4's customer answers now (the attempt row only: the interaction is answered
	// when the agent's leg comes up)
	if err := db.Enqueue(store.CampaignAttempt{ID: "k3-4.old", CampaignID: "k3", ContactID: ids["+442079460304"],
		Number: "+442079460304", Answered: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ix := closedRecord(t, db, "k3-1.old")
	if ix.Outcome != "no-answer" || !ix.Ended.Equal(lines[0].placed.Add(25*time.Second).Truncate(time.Microsecond)) {
		t.Fatalf("swept record %+v (placed %s: its originate timeout is 25 s later)", ix, lines[0].placed)
	}
	time.Sleep(time.Until(lines[3].placed.Add(30*time.Second + 500*time.Millisecond))) // k3-4 was due
	for _, id := range []string{"k3-2.old", "k3-3.old", "k3-4.old"} {
		if err := db.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		ix, err := db.Interaction(ctx, id)
		if err != nil || !ix.Ended.IsZero() {
			t.Fatalf("%s closed by the sweep: %+v %v", id, ix, err)
		}
	}
	as := attemptsOf(t, db, "k3")
	if a := as[ids["+442079460301"]]; len(a) != 1 || a[0].Outcome != "no-answer" {
		t.Fatalf("swept attempt %+v", a)
	}
	for _, n := range []string{"+442079460302", "+442079460303", "+442079460304"} {
		if a := as[ids[n]]; len(a) != 1 || a[0].Outcome != "" || !a[0].Ended.IsZero() {
			t.Fatalf("attempt of %s %+v", n, a)
		}
	}
}

// The fallback when the agent cannot be restored: anna talks on her manual dial at
// the kill, and the next run's configuration has no anna. The call is ended cleanly
// (both legs hung up, the bridge destroyed, the record closed once with cause
// "ctid restarted"), not left bridged with nobody to follow it, and the manual-dial
// campaign holds nothing of it.
func TestRestartEndsCampaignCallWhoseAgentIsGone(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers"
	manual := runHooks{orch: func(o *cti.Orchestrator) {
		if err := o.EnableManualDial(func(n string) (string, error) { return n, nil }); err != nil {
			t.Fatal(err)
		}
	}}
	run1 := startRunHooked(t, srvURL, salesConfig("anna"), cc, db, manual)
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	call, err := run1.orch.ManualDial(ctx, "anna", "5550000", "")
	if err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == call })
	run1.stop()

	run2 := startRunHooked(t, srvURL, salesConfig("boris"), cc, db, manual)
	noChannelsLeft(t, emu)
	ix := closedRecord(t, db, call)
	if ix.Cause != "ctid restarted" || ix.Outcome != "answered" {
		t.Fatalf("record of the campaign call %+v", ix)
	}
	oneRecordFor(t, db, "5550000")
	// boris dials on the new run as usual: the manual campaign is not stuck on the old call
	if err := run2.orch.AgentLogin(ctx, "boris"); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.AgentReady(ctx, "boris"); err != nil {
		t.Fatal(err)
	}
	next, err := run2.orch.ManualDial(ctx, "boris", "5550000", "")
	if err != nil {
		t.Fatal(err)
	}
	run2.desk.wait(t, "boris", "call.connected", func(e map[string]any) bool { return e["call_id"] == next })
	if err := run2.orch.Hangup(ctx, "boris", next); err != nil {
		t.Fatal(err)
	}
	noChannelsLeft(t, emu)
}

// ctid dies while anna's manual dial (no campaign) rings at a number that never
// answers; the next run, which loads no campaign for it, checks the manual dials an
// earlier run left open: once past the originate timeout (20 s ring + 5 s) the
// record is closed no-answer with the restart cause and the attempt ended, once.
func TestRestartSweepsManualDialRingingAtTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.ExternalEndpoint = "Local/{number}@callers"
	run1 := campRunCfg(t, srvURL, qc, cc, db, "node-1")
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	const number = "5550002" // rings until the originate timeout
	call, err := run1.orch.ManualDial(ctx, "anna", number, "")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the line ringing and its attempt stored", func() bool {
		if _, ok := emu.Channel(call); !ok {
			return false
		}
		if err := db.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		as, err := db.CampaignAttempts(ctx, "_manual", "", 10)
		return err == nil && len(as) == 1
	})
	run1.stop()

	campRunCfg(t, srvURL, qc, cc, db, "node-2")
	var ix store.Interaction
	waitUntil(t, 45*time.Second, "the record closed by the sweep", func() bool {
		if err := db.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var err error
		ix, err = db.Interaction(ctx, call)
		return err == nil && !ix.Ended.IsZero()
	})
	if ix.Outcome != "no-answer" || !strings.Contains(ix.Cause, "ctid was down") || !ix.Answered.IsZero() {
		t.Fatalf("record of the manual dial ringing at the kill %+v", ix)
	}
	as, err := db.CampaignAttempts(ctx, "_manual", "", 10)
	if err != nil || len(as) != 1 || as[0].Outcome != "no-answer" || as[0].Ended.IsZero() || !as[0].RetryAt.IsZero() {
		t.Fatalf("manual attempts %+v %v", as, err)
	}
	noChannelsLeft(t, emu)
}
