package cti_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/campaigns"
	"github.com/ctid/ctid/cti/store"
)

// storedCampaign creates a progressive campaign for anna in the store, running, with
// one contact per number (field disp: the bot's disposition); it returns the
// contact ids by number.
func storedCampaign(t *testing.T, db *store.Store, id string, numbers map[string]string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	def := campaigns.Definition{ID: id, Name: "Resume " + id, Mode: "progressive", Endpoint: "Local/{digits}@callers",
		Agents: []string{"anna"}, DefaultRegion: "GB", SafeHarbourMedia: "sound:hello-world"}
	body, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCampaign(ctx, store.Campaign{ID: id, Name: def.Name, State: "draft", Config: body}); err != nil {
		t.Fatal(err)
	}
	im, err := db.BeginImport(ctx, store.ImportSpec{CampaignID: id, ListName: "main", Mode: store.ImportAllOrNothing})
	if err != nil {
		t.Fatal(err)
	}
	var cs []store.Contact
	line := 2
	for n, disp := range numbers {
		cs = append(cs, store.Contact{Line: line, FirstName: "C", LastName: n, Zone: "Europe/London",
			Fields: map[string]string{"disp": disp}, Numbers: []store.ContactNumber{{Number: n}}})
		line++
	}
	if err := im.Add(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Finish(ctx, store.ImportCounts{Rows: len(cs), Imported: len(cs)}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCampaignState(ctx, id, "draft", "running"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	if err := db.EachContact(ctx, id, func(c store.Contact) error {
		ids[c.Numbers[0].Number] = c.ID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// storeNode is one ctid node's campaign layer over the shared store, on the
// emulator, starting at start (virtual clock).
func storeNode(t *testing.T, db *store.Store, campaign, node string, start time.Time) (*campWorld, *cti.StoreCampaigns) {
	t.Helper()
	dnc, err := campaigns.LoadDNC(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	clock := &vclock{t: start}
	sc, err := cti.NewStoreCampaigns(cti.StoreCampaignsParams{Store: db, DNC: dnc, Log: zerolog.Nop(), Now: clock.Now,
		Tick: 50 * time.Millisecond, NodeID: node, LeaseTTL: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := newCampWorldWith(t, campaign, campOpts{contacts: sc, attempts: sc, catalog: sc}, "anna")
	w.clock.mu.Lock()
	w.clock.t = start
	w.clock.mu.Unlock()
	// the store campaigns read the same virtual time as the node
	clock.mu.Lock()
	clock.t = start
	clock.mu.Unlock()
	return w, sc
}

func attemptsOf(t *testing.T, db *store.Store, campaign string) map[string][]store.CampaignAttempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	out := map[string][]store.CampaignAttempt{}
	if err := db.EachCampaignAttempt(ctx, campaign, func(a store.CampaignAttempt) error {
		out[a.ContactID] = append(out[a.ContactID], a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func stats(t *testing.T, w *campWorld, id string) cti.CampaignStats {
	t.Helper()
	if err := w.orch.StepCampaign(w.ctx, id); err != nil {
		t.Fatal(err)
	}
	settle()
	st, err := w.orch.CampaignStats(w.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A campaign stopped by a restart resumes where it was, on a fixed clock: node A runs
// it over the emulator from 14:00 (a busy number retried 10 min later, a callback
// promised for an hour later, a final disposition), stops at about 14:05; node B,
// fresh on the same store at 14:05, does not dial the busy number before its retry
// timer and dials it then, dials the callback at its time for its agent, never
// dials the closed contact again, and starts with the earlier rolling abandon window
// (97 connected and 3 abandoned calls of an earlier run: the 3 % cap is already
// used up).
func TestCampaignResumesRetryTimersCallbacksAndAbandonWindow(t *testing.T) {
	db := openCampaignStore(t)
	ids := storedCampaign(t, db, "r1", map[string]string{"+5550001": "sale", "+442079460301": "callback", "+442079460302": "not_interested"})
	busy, cb, closed := ids["+5550001"], ids["+442079460301"], ids["+442079460302"]

	wa, sca := storeNode(t, db, "r1", "node-a", campStart)
	// an earlier run's calls, two hours ago: 100 live answers, 3 abandoned
	old := campStart.Add(-2 * time.Hour)
	for i := range 100 {
		n := fmt.Sprintf("+4420794699%02d", i)
		r := cti.AttemptRecord{Campaign: "r1", Attempt: fmt.Sprintf("old-%d", i), Contact: fmt.Sprintf("old-%d", i), Number: n, Event: cti.AttemptDialled, At: old}
		if err := sca.RecordAttempt(r); err != nil {
			t.Fatal(err)
		}
		r.Event, r.At = cti.AttemptConnected, old.Add(10*time.Second)
		if i < 3 {
			r.Event = cti.AttemptSafeHarbour
		}
		if err := sca.RecordAttempt(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := wa.orch.ResumeCampaigns(wa.ctx); err != nil {
		t.Fatal(err)
	}
	st := runCampaign(t, wa, "r1", []*bot{newBot("anna", 30*time.Second, wa.clock.Now)}, time.Minute, 5*time.Minute)
	if st.AbandonRate < 3.0/103 || st.AbandonRate > 3.0/100 {
		t.Errorf("node A's abandon rate %.4f: the earlier run's window (3 in 100) was not restored", st.AbandonRate)
	}
	wa.stop()
	as := attemptsOf(t, db, "r1")
	if len(as[busy]) != 1 || as[busy][0].Outcome != "busy" || as[busy][0].RetryAt.IsZero() {
		t.Fatalf("node A's busy attempt %+v", as[busy])
	}
	due := as[busy][0].RetryAt
	if d := due.Sub(as[busy][0].Ended); d != 10*time.Minute {
		t.Fatalf("busy retry timer %s after the attempt, want 10 min", d)
	}
	if len(as[cb]) != 1 || as[cb][0].Disposition != "callback" || len(as[closed]) != 1 {
		t.Fatalf("node A's attempts %+v", as)
	}
	cbs, err := db.CampaignCallbacks(context.Background(), "r1", store.CallbackPending)
	if err != nil || len(cbs) != 1 || cbs[0].Agent != "anna" {
		t.Fatalf("callbacks %+v %v", cbs, err)
	}
	cbDue := cbs[0].Due

	// node B, fresh, at 14:05
	restart := campStart.Add(5 * time.Minute)
	if !due.After(restart) {
		t.Fatalf("the retry (%s) is due before the restart", due)
	}
	wb, _ := storeNode(t, db, "r1", "node-b", restart)
	if err := wb.orch.ResumeCampaigns(wb.ctx); err != nil {
		t.Fatal(err)
	}
	st = stats(t, wb, "r1")
	if st.Dials != 0 || st.State != "running" {
		t.Fatalf("node B at 14:05: %+v (nothing is due)", st)
	}
	if st.AbandonRate < 3.0/103 || st.AbandonRate > 3.0/100 {
		t.Errorf("node B's abandon rate %.4f: the rolling window did not survive the restart", st.AbandonRate)
	}
	if s, n, err := wb.orch.CampaignContactState(wb.ctx, "r1", busy); err != nil || s != "scheduled" || n != 1 {
		t.Errorf("busy contact after the restart: %s, %d attempts, %v", s, n, err)
	}
	if s, _, err := wb.orch.CampaignContactState(wb.ctx, "r1", cb); err != nil || s != "callback" {
		t.Errorf("callback contact after the restart: %s %v", s, err)
	}
	if _, _, err := wb.orch.CampaignContactState(wb.ctx, "r1", closed); err == nil {
		t.Errorf("the closed contact was loaded again")
	}
	wb.clock.Advance(due.Sub(restart) - time.Second)
	if st := stats(t, wb, "r1"); st.Dials != 0 {
		t.Fatalf("dialled before the busy retry timer (%s): %+v", due, st)
	}
	wb.clock.Advance(time.Second)
	st = runCampaign(t, wb, "r1", []*bot{newBot("anna", 30*time.Second, wb.clock.Now)}, time.Minute, 6*time.Hour)
	if st.State != "finished" {
		t.Fatalf("node B's run %+v", st)
	}
	as = attemptsOf(t, db, "r1")
	if len(as[busy]) < 2 || as[busy][1].Placed.Before(due) || as[busy][1].Placed.After(due.Add(time.Minute)) {
		t.Errorf("busy contact's retry %+v: want it placed at %s", as[busy], due)
	}
	if len(as[cb]) != 2 || as[cb][1].Placed.Before(cbDue) || as[cb][1].Agent != "anna" {
		t.Errorf("callback %+v: want it placed at %s for anna", as[cb], cbDue)
	}
	if len(as[closed]) != 1 {
		t.Errorf("the closed contact was dialled again: %+v", as[closed])
	}
}

// Two nodes on one store: only the lease holder dials. A node that died leaves a
// lease that blocks the others until it expires; then one node takes the campaign
// over and the other stays on standby; a node that loses its lease stops placing
// lines.
func TestCampaignLeaseOneNodeDials(t *testing.T) {
	db := openCampaignStore(t)
	nums := map[string]string{}
	for i := range 6 {
		nums[fmt.Sprintf("+4420794604%02d", i)] = "not_interested"
	}
	storedCampaign(t, db, "l1", nums)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := db.AcquireLease(ctx, "l1", "dead-node", campStart, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	wb, _ := storeNode(t, db, "l1", "node-b", campStart)
	wc, _ := storeNode(t, db, "l1", "node-c", campStart)
	for _, w := range []*campWorld{wb, wc} {
		if err := w.orch.ResumeCampaigns(w.ctx); err != nil {
			t.Fatal(err)
		}
	}
	both := func(d time.Duration) (cti.CampaignStats, cti.CampaignStats) {
		wb.clock.Advance(d)
		wc.clock.Advance(d)
		return stats(t, wb, "l1"), stats(t, wc, "l1")
	}
	if b, c := both(0); b.Dials != 0 || c.Dials != 0 {
		t.Fatalf("dialled under a dead node's live lease: b %+v c %+v", b, c)
	}
	if b, c := both(10 * time.Second); b.Dials != 0 || c.Dials != 0 {
		t.Fatalf("dialled under a dead node's live lease (10 s): b %+v c %+v", b, c)
	}
	// the dead node's lease expires at +15 s: b's clock gets there first and b takes
	// it (the actors also step on their own ticks: c's clock stays a second behind)
	wb.clock.Advance(5 * time.Second)
	wc.clock.Advance(4 * time.Second)
	b := stats(t, wb, "l1")
	wc.clock.Advance(time.Second)
	c := stats(t, wc, "l1")
	if b.Dials != 1 || b.State != "running" || c.Dials != 0 {
		t.Fatalf("after the lease expired: b %+v c %+v (want b dialling alone)", b, c)
	}
	l, err := db.CampaignLease(ctx, "l1")
	if err != nil || l.Owner != "node-b" {
		t.Fatalf("lease %+v %v", l, err)
	}
	bots := []*bot{newBot("anna", 20*time.Second, wb.clock.Now)}
	for range 20 { // b dials on, renewing its lease; c stays on standby
		wb.clock.Advance(5 * time.Second)
		wc.clock.Advance(5 * time.Second)
		for _, x := range bots {
			x.act(t, wb)
		}
		stats(t, wb, "l1") // b renews (a node that stopped stepping would lose the lease)
		if c := stats(t, wc, "l1"); c.Dials != 0 {
			t.Fatalf("node c dialled while node b holds the lease: %+v", c)
		}
	}
	b = stats(t, wb, "l1")
	if b.Dials < 2 || b.Done == 6 {
		t.Fatalf("node b's run %+v (want some dialled, some left)", b)
	}
	// a supervisor pauses the campaign on node c (standby): node b follows the stored
	// state at its next renewal, then resumes when c is told to start it again
	if err := wc.orch.CampaignPause(wc.ctx, "l1"); err != nil {
		t.Fatal(err)
	}
	wb.clock.Advance(5 * time.Second)
	wc.clock.Advance(5 * time.Second)
	if b = stats(t, wb, "l1"); b.State != "paused" {
		t.Fatalf("node b after a pause on node c: %+v", b)
	}
	if err := wc.orch.CampaignStart(wc.ctx, "l1"); err != nil {
		t.Fatal(err)
	}
	wb.clock.Advance(5 * time.Second)
	wc.clock.Advance(5 * time.Second)
	if b = stats(t, wb, "l1"); b.State != "running" {
		t.Fatalf("node b after a start on node c: %+v", b)
	}
	// b loses the lease: another holder whose clock is an hour ahead finds it expired
	// and takes it (the nodes' actors renew on their own ticks, so the take-over is
	// one conditional statement, not a release and a take); no new lines from b
	if _, err := db.AcquireLease(ctx, "l1", "thief", wb.clock.Now().Add(time.Hour), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	lost := -1
	for range 20 {
		wb.clock.Advance(5 * time.Second)
		wc.clock.Advance(5 * time.Second)
		for _, x := range bots {
			x.act(t, wb)
		}
		settle()
		b = stats(t, wb, "l1")
		if b.LinesInUse == 0 && b.AwaitingDisp == 0 {
			if lost < 0 {
				lost = b.Dials
			} else if b.Dials != lost {
				t.Fatalf("node b dialled after losing its lease: %+v", b)
			}
		}
		if c := stats(t, wc, "l1"); c.Dials != 0 {
			t.Fatalf("node c dialled under another holder's lease: %+v", c)
		}
	}
	if lost < 0 || b.Done == 6 {
		t.Fatalf("node b %+v", b)
	}
}

// A call cut by the restart (dialled, nothing recorded after) is not dialled again at
// once on resume: its number waits as after no answer (2 h by default).
func TestStoreCampaignsCutCallWaits(t *testing.T) {
	db := openCampaignStore(t)
	ids := storedCampaign(t, db, "x1", map[string]string{"+442079460501": "sale"})
	k := ids["+442079460501"]
	dnc, err := campaigns.LoadDNC(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := cti.NewStoreCampaigns(cti.StoreCampaignsParams{Store: db, DNC: dnc, Log: zerolog.Nop(),
		Now: func() time.Time { return campStart.Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sc.LoadCampaign(ctx, "x1"); err != nil {
		t.Fatal(err)
	}
	if err := sc.RecordAttempt(cti.AttemptRecord{Campaign: "x1", Attempt: "x1-1", CallID: "x1-1.a", Contact: k,
		Number: "+442079460501", Event: cti.AttemptDialled, At: campStart}); err != nil {
		t.Fatal(err)
	}
	cs, err := sc.CampaignContacts(ctx, "x1")
	if err != nil || len(cs) != 1 || len(cs[0].History) != 1 {
		t.Fatalf("contacts %+v %v", cs, err)
	}
	if h := cs[0].History[0]; h.Attempts != 1 || !h.NextAt.Equal(campStart.Add(2*time.Hour)) {
		t.Fatalf("history of the cut call %+v: want 1 attempt, next at %s", h, campStart.Add(2*time.Hour))
	}
}
