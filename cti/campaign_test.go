package cti_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/queue/dialer"
	"github.com/ctid/ctid/telephony"
	"github.com/ctid/ctid/telephony/ariemu"
)

// vclock is the campaign tests' clock: it moves only when the test advances it, so
// windows, retries, ring timeouts and the 2-second rule are decided on virtual time.
type vclock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *vclock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// supDesk also takes supervisor broadcasts (as the desktop server does), filed
// under the user "@supervisors".
type supDesk struct{ *desk }

func (d supDesk) Broadcast(role desktop.Role, event string, f map[string]any) {
	if role == desktop.RoleSupervisor {
		d.Publish("@supervisors", event, f)
	}
}

type campWorld struct {
	emu      *ariemu.Emulator
	orch     *cti.Orchestrator
	desk     *desk
	clock    *vclock
	contacts *cti.MemContacts
	attempts *cti.MemAttempts
	ctx      context.Context
	stop     func() // stops the orchestrator and ARI client (idempotent; also at cleanup)
}

// campOpts replace the world's in-memory contacts and attempts (a store-backed
// campaign layer, campaign_resume_test.go).
type campOpts struct {
	contacts cti.ContactSource
	attempts cti.AttemptSink
	catalog  cti.CampaignCatalog
}

// Wednesday 4 March 2026, 14:00 UTC: London 14:00 and New York 09:00 (open),
// Tokyo 23:00 (closed).
var campStart = time.Date(2026, time.March, 4, 14, 0, 0, 0, time.UTC)

func newCampWorld(t *testing.T, campaign string, agents ...string) *campWorld {
	t.Helper()
	return newCampWorldWith(t, campaign, campOpts{}, agents...)
}

func newCampWorldWith(t *testing.T, campaign string, opts campOpts, agents ...string) *campWorld {
	t.Helper()
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"ctid": "pw"}, DialplanApp: "ctid", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	tc := telephony.DefaultConfig()
	tc.URL, tc.Username, tc.Password = srv.URL+"/ari", "ctid", "pw"
	cli, err := telephony.New(tc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	qc := queue.Config{OfferTimeout: 5 * time.Second}
	q := queue.QueueConfig{ID: "sales", WrapUp: 30 * time.Second}
	for _, a := range agents {
		qc.Agents = append(qc.Agents, queue.AgentConfig{ID: queue.AgentID(a), Campaigns: []string{campaign}})
		q.Members = append(q.Members, queue.Member{Agent: queue.AgentID(a), Tier: 1})
	}
	qc.Queues = []queue.QueueConfig{q}
	eng, err := queue.NewEngine(qc)
	if err != nil {
		t.Fatal(err)
	}
	w := &campWorld{emu: emu, desk: newDesk(), clock: &vclock{t: campStart}, contacts: &cti.MemContacts{}, attempts: &cti.MemAttempts{}}
	media := &udpMedia{socks: map[string]net.PacketConn{}, got: map[string]int{}}
	var src cti.ContactSource = w.contacts
	var sink cti.AttemptSink = w.attempts
	if opts.contacts != nil {
		src, sink = opts.contacts, opts.attempts
	}
	w.orch, err = cti.New(cti.Params{Config: cti.DefaultConfig(), Log: testLog(t), ARI: cli, Engine: eng, Media: media,
		Notify: supDesk{w.desk}, Now: w.clock.Now, Contacts: src, Attempts: sink})
	if err != nil {
		t.Fatal(err)
	}
	if opts.catalog != nil {
		w.orch.SetCampaignCatalog(opts.catalog)
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
	var once sync.Once
	w.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(func() {
		w.stop()
		_ = media.closeAll() // a socket that fails to close is gone anyway
		cli.Close()
		srv.CloseClientConnections()
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Errorf("emulator: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !cli.Ready(); {
		if time.Now().After(deadline) {
			t.Fatal("ARI never connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, a := range agents {
		if err := w.orch.AgentLogin(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := w.orch.AgentReady(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// addCampaign registers the campaign once the orchestrator runs.
func (w *campWorld) addCampaign(t *testing.T, cfg cti.CampaignConfig) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := w.orch.AddCampaign(cfg)
		if err == nil {
			return
		}
		if !errors.Is(err, cti.ErrNotStarted) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bot is an agent who talks for talk (virtual time) to whoever the dialer connects,
// then hangs up and records the disposition the contact's "disp" field asks for.
type bot struct {
	name   string
	talk   time.Duration
	seen   map[string]time.Time // call id -> connected at (virtual)
	done   map[string]bool
	dispFn func(pop map[string]any, callbacks int) (string, *time.Time)
	cbs    int
}

// act hangs up and disposes the calls whose talk time has passed. Bots act
// concurrently (each from its own goroutine), like agents at their desks.
func (b *bot) act(t *testing.T, w *campWorld) {
	w.desk.mu.Lock()
	var conns []map[string]any
	pops := map[string]map[string]any{}
	for _, e := range w.desk.events[b.name] {
		id, _ := e["call_id"].(string)
		switch e["event"] {
		case "call.connected":
			conns = append(conns, e)
		case "call.offered":
			pops[id] = e
		}
	}
	w.desk.mu.Unlock()
	now := w.clock.Now()
	for _, e := range conns {
		id, _ := e["call_id"].(string)
		if b.done[id] {
			continue
		}
		at, ok := b.seen[id]
		if !ok {
			b.seen[id] = now
			continue
		}
		if now.Sub(at) < b.talk {
			continue
		}
		b.done[id] = true
		if err := w.orch.Hangup(w.ctx, b.name, id); err != nil {
			t.Errorf("%s hanging up %s: %v", b.name, id, err)
			return
		}
		disp, cbAt := b.dispFn(pops[id], b.cbs)
		if cbAt != nil {
			b.cbs++
		}
		if err := w.orch.WrapUpDone(w.ctx, b.name, cti.WrapUpResult{CallID: id, Disposition: disp, CallbackAt: cbAt}); err != nil {
			t.Errorf("%s wrap-up of %s (%s): %v", b.name, id, disp, err)
			return
		}
	}
}

// connecting: the bot was offered a call that is neither connected nor ended yet
// (ringing, or the agent's leg being set up).
func (b *bot) connecting(w *campWorld) bool {
	w.desk.mu.Lock()
	defer w.desk.mu.Unlock()
	open := map[string]bool{}
	for _, e := range w.desk.events[b.name] {
		id, _ := e["call_id"].(string)
		switch e["event"] {
		case "call.offered":
			open[id] = true
		case "call.connected", "call.ended":
			delete(open, id)
		}
	}
	return len(open) > 0
}

func newBot(name string, talk time.Duration, now func() time.Time) *bot {
	return &bot{name: name, talk: talk, seen: map[string]time.Time{}, done: map[string]bool{},
		dispFn: func(pop map[string]any, callbacks int) (string, *time.Time) {
			fields, _ := pop["contact"].(map[string]string)
			disp := "sale"
			if f, ok := pop["contact"].(map[string]any); ok {
				if d, ok := f["disp"].(string); ok {
					disp = d
				}
			}
			if fields != nil && fields["disp"] != "" {
				disp = fields["disp"]
			}
			if disp == "callback" {
				if cb, _ := pop["callback"].(bool); cb {
					return "sale", nil // the promised call
				}
				at := now().Add(time.Hour)
				return disp, &at
			}
			return disp, nil
		}}
}

// settle lets the emulator's events reach the actors (virtual time does not move).
func settle() { time.Sleep(15 * time.Millisecond) }

// runCampaign drives the virtual clock until the campaign is over or until limit of
// virtual time has passed: 250 ms steps while an answer waits for an agent (the
// 2-second rule), 1 s while lines ring, 5 s while agents only talk, idle jumps when
// nothing is live. Real time is given to the emulator only while lines ring or wait.
func runCampaign(t *testing.T, w *campWorld, id string, bots []*bot, idle, limit time.Duration) cti.CampaignStats {
	t.Helper()
	end := w.clock.Now().Add(limit)
	realDeadline := time.Now().Add(120 * time.Second)
	dials := -1
	for {
		if time.Now().After(realDeadline) {
			t.Fatalf("campaign did not end in 120 s of real time (virtual %s)", w.clock.Now())
		}
		if err := w.orch.StepCampaign(w.ctx, id); err != nil && !strings.Contains(err.Error(), "ended") {
			t.Fatal(err)
		}
		st, err := w.orch.CampaignStats(w.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		connecting := false
		for _, b := range bots {
			connecting = connecting || b.connecting(w)
		}
		if st.Ringing > 0 || st.Waiting > 0 || st.Dials != dials || connecting {
			settle()
		}
		dials = st.Dials
		if st.LinesInUse > 0 || st.AwaitingDisp > 0 {
			var wg sync.WaitGroup
			for _, b := range bots {
				wg.Go(func() { b.act(t, w) })
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			if st, err = w.orch.CampaignStats(w.ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if st.State == "finished" || st.State == "stopped" || !w.clock.Now().Before(end) {
			return st
		}
		switch {
		case st.Waiting > 0 || connecting:
			w.clock.Advance(250 * time.Millisecond)
		case st.Ringing > 0:
			w.clock.Advance(time.Second)
		case st.LinesInUse > 0 || st.AwaitingDisp > 0:
			w.clock.Advance(5 * time.Second)
		default:
			w.clock.Advance(idle)
		}
	}
}

func mustZone(t *testing.T, z string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(z)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// inWindow: Mon–Fri 09:00–21:00 local.
func inWindow(at time.Time, loc *time.Location) bool {
	l := at.In(loc)
	if l.Weekday() == time.Saturday || l.Weekday() == time.Sunday {
		return false
	}
	h := l.Hour()
	return h >= 9 && h < 21
}

// The campaign over the emulator: 50 contacts across three time zones with
// mixed outcomes (answer with each disposition, busy, no answer, congestion, machine,
// a number on the DNC list, an invalid number) run to completion in progressive mode
// with three bot agents, on a virtual clock that starts on a Wednesday at 14:00 UTC.
func TestCampaignProgressiveRunsToCompletion(t *testing.T) {
	w := newCampWorld(t, "c1", "anna", "boris", "carl")
	zones := []string{"Europe/London", "America/New_York", "Asia/Tokyo"}
	dnc := map[string]bool{}
	// kind -> number (shared emulator behaviours) or "" for a unique talking number
	kinds := []string{"sale", "not_interested", "callback", "do_not_call", "busy", "noanswer", "congestion", "machine", "dnc", "invalid"}
	emuNumber := map[string]string{"busy": "+5550001", "noanswer": "+5550002", "congestion": "+5550003", "machine": "+5550007"}
	var cs []cti.CampaignContact
	kindOf := map[string]string{}
	for i := range 50 {
		kind := kinds[i%len(kinds)]
		num := fmt.Sprintf("+44207946%04d", i)
		switch {
		case emuNumber[kind] != "":
			num = emuNumber[kind]
		case kind == "dnc":
			dnc[num] = true
		case kind == "invalid":
			num = fmt.Sprintf("12%03d", i)
		}
		id := fmt.Sprintf("%s-%02d", kind, i)
		kindOf[id] = kind
		cs = append(cs, cti.CampaignContact{ID: id, Name: "Contact " + id, Numbers: []string{num}, Zone: zones[i%3],
			Fields: map[string]string{"disp": kind, "plan": "gold"}})
	}
	w.contacts.Set("c1", cs)
	w.addCampaign(t, cti.CampaignConfig{
		Name: "Renewals", Endpoint: "Local/{digits}@callers", CallerID: "Renewals <4420794600>",
		SafeHarbourMedia: []string{"sound:hello-world"}, Tick: 50 * time.Millisecond,
		Dialer: dialer.Config{ID: "c1", Mode: dialer.Progressive, IsDNC: func(n string) bool { return dnc[n] }},
	})
	if err := w.orch.CampaignStart(w.ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	bots := []*bot{newBot("anna", 30*time.Second, w.clock.Now), newBot("boris", 30*time.Second, w.clock.Now), newBot("carl", 30*time.Second, w.clock.Now)}
	st := runCampaign(t, w, "c1", bots, 5*time.Minute, 6*24*time.Hour)
	t.Logf("progressive: %+v", st)
	if st.State != "finished" || st.Rejected != 5 || st.Abandons != 0 || st.Contacts != 45 || st.Done != 45 {
		t.Fatalf("campaign %+v", st)
	}

	zoneOf := map[string]*time.Location{}
	for _, c := range cs {
		zoneOf[c.ID] = mustZone(t, c.Zone)
	}
	dials := map[string][]cti.AttemptRecord{}
	outcomes := map[string][]cti.AttemptRecord{}
	disps := map[string][]cti.AttemptRecord{}
	rejected := 0
	for _, r := range w.attempts.Records() {
		switch r.Event {
		case cti.AttemptRejected:
			rejected++
			if kindOf[r.Contact] != "invalid" || r.Reason == "" {
				t.Errorf("rejected %+v", r)
			}
		case cti.AttemptDialled:
			if !inWindow(r.At, zoneOf[r.Contact]) {
				t.Errorf("%s dialled at %s local: outside its window", r.Contact, r.At.In(zoneOf[r.Contact]))
			}
			if dnc[r.Number] {
				t.Errorf("DNC number dialled: %+v", r)
			}
			if r.Agent == "" {
				t.Errorf("progressive line without a reserved agent: %+v", r)
			}
			dials[r.Contact] = append(dials[r.Contact], r)
		case cti.AttemptOutcome:
			outcomes[r.Contact] = append(outcomes[r.Contact], r)
		case cti.AttemptDisposition:
			disps[r.Contact] = append(disps[r.Contact], r)
		case cti.AttemptSafeHarbour:
			t.Errorf("progressive campaign abandoned a call: %+v", r)
		}
	}
	if os.Getenv("CAMP_DEBUG") != "" {
		for _, r := range w.attempts.Records() {
			if r.At.Before(campStart.Add(90 * time.Minute)) {
				t.Logf("%s %-12s %-18s %-6s %s %s", r.At.Format("15:04:05"), r.Event, r.Contact, r.Agent, r.Outcome+r.Disposition, r.RetryAt.Format("15:04:05"))
			}
		}
	}
	if rejected != 5 {
		t.Errorf("%d contacts rejected, want the 5 invalid ones", rejected)
	}
	retry := map[string]time.Duration{"busy": 10 * time.Minute, "noanswer": 2 * time.Hour, "congestion": 15 * time.Minute}
	for _, c := range cs {
		kind, d, o, ds := kindOf[c.ID], dials[c.ID], outcomes[c.ID], disps[c.ID]
		switch kind {
		case "dnc", "invalid":
			if len(d) != 0 {
				t.Errorf("%s dialled %d times", c.ID, len(d))
			}
		case "busy", "noanswer", "congestion", "machine":
			// max attempts per number (3), each retry at its rule's time
			if len(d) != 3 || len(o) != 3 {
				t.Errorf("%s: %d dials, %d outcomes, want 3 (max attempts)", c.ID, len(d), len(o))
				continue
			}
			for i := 1; i < 3; i++ {
				gap := d[i].At.Sub(o[i-1].At)
				if kind == "machine" {
					if l := d[i].At.In(zoneOf[c.ID]); gap < 12*time.Hour || l.Hour() != 9 || l.Minute() >= 6 {
						t.Errorf("%s machine retry %d at %s local (%s later), want the next day's opening", c.ID, i, l, gap)
					}
					continue
				}
				if gap < retry[kind] || gap > retry[kind]+6*time.Minute {
					t.Errorf("%s retry %d after %s, want %s (+ the test's 5 min idle step)", c.ID, i, gap, retry[kind])
				}
			}
			if s, _, err := w.orch.CampaignContactState(w.ctx, "c1", c.ID); err != nil || s != "done:exhausted" {
				t.Errorf("%s state %q %v", c.ID, s, err)
			}
		case "callback":
			if len(ds) != 2 || ds[0].Disposition != "callback" || ds[1].Disposition != "sale" || ds[0].CallbackAgent == "" || len(d) != 2 {
				t.Errorf("%s: dials %+v dispositions %+v", c.ID, d, ds)
				continue
			}
			if at := d[1].At; at.Before(ds[0].CallbackAt) || at.After(ds[0].CallbackAt.Add(6*time.Minute)) || d[1].Agent != ds[0].CallbackAgent || ds[1].Agent != ds[0].CallbackAgent {
				t.Errorf("%s: callback dialled at %s for %s, promised at %s by %s", c.ID, at, d[1].Agent, ds[0].CallbackAt, ds[0].CallbackAgent)
			}
		default: // answered: one call, the disposition recorded
			if len(d) != 1 || len(ds) != 1 || ds[0].Disposition != kind || ds[0].Agent != d[0].Agent {
				t.Errorf("%s: dials %+v dispositions %+v", c.ID, d, ds)
			}
			if s, _, err := w.orch.CampaignContactState(w.ctx, "c1", c.ID); err != nil || s != "done:"+kind {
				t.Errorf("%s state %q %v", c.ID, s, err)
			}
		}
	}
	// The screen-pop of an outbound call carries the contact's fields.
	agent := disps["sale-00"][0].Agent
	pop := w.desk.wait(t, agent, "call.offered", func(e map[string]any) bool { return e["contact_id"] == "sale-00" })
	if f, _ := pop["contact"].(map[string]string); pop["direction"] != "outbound" || pop["campaign_id"] != "c1" || f["plan"] != "gold" {
		t.Errorf("screen-pop %v", pop)
	}
}

func indexOf(cs []cti.CampaignContact, id string) int {
	for i, c := range cs {
		if c.ID == id {
			return i
		}
	}
	return -1
}

// The predictive campaign floods answers (every number answers, the connect-rate
// prior says 5 %, so the model wants ~20 lines per agent): the hard abandon budget
// holds the 3 % cap from the first call of the day — reserved (progressive) lines
// until 3 % of the live-answered calls plus the answers that could come makes room
// for one abandon, then only as many lines beyond the free agents as that budget
// leaves room for, so no abandon before 34 live-answered calls. Answers no agent can
// take within the 2-second rule get the safe-harbour message and count as abandons;
// the rolling rate is within the cap at every abandon; locked-out numbers are called
// again only after 72 h; no contact is ever connected to two agents.
func TestCampaignPredictiveSafeHarbourAndAbandonCap(t *testing.T) {
	agents := []string{"anna", "boris", "carl"}
	w := newCampWorld(t, "p1", agents...)
	var cs []cti.CampaignContact
	for i := range 120 {
		cs = append(cs, cti.CampaignContact{ID: fmt.Sprintf("k%03d", i), Numbers: []string{fmt.Sprintf("+442079461%03d", i)},
			Zone: "Europe/London", Fields: map[string]string{"disp": "not_interested"}})
	}
	w.contacts.Set("p1", cs)
	w.addCampaign(t, cti.CampaignConfig{
		Name: "Flood", Endpoint: "Local/{digits}@callers", SafeHarbourMedia: []string{"sound:hello-world"}, Tick: 50 * time.Millisecond,
		Dialer: dialer.Config{ID: "p1", Mode: dialer.Predictive,
			Pacing: dialer.PacingConfig{PriorConnectRate: 0.05, PriorWeight: 1000, MinSample: 1}},
	})
	if err := w.orch.CampaignStart(w.ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	var bots []*bot
	for _, a := range agents {
		bots = append(bots, newBot(a, 20*time.Second, w.clock.Now))
	}
	st := runCampaign(t, w, "p1", bots, 5*time.Minute, 7*24*time.Hour)
	t.Logf("predictive flood: %+v", st)
	if st.Abandons == 0 {
		t.Fatalf("the flood caused no abandon (the budget never let an over-dialled line through): %+v", st)
	}
	recs := w.attempts.Records()
	redialled := 0
	abandoned := map[string]time.Time{}
	harbours, live := 0, 0
	var answers []cti.AttemptRecord    // live-answered calls: connected or abandoned, in order
	connectedTo := map[string]string{} // contact -> agent of the live connection
	for _, r := range recs {
		switch r.Event {
		case cti.AttemptSafeHarbour:
			harbours++
			live++
			answers = append(answers, r)
			if d := r.At.Sub(r.AnsweredAt); r.AnsweredAt.IsZero() || d > 2*time.Second {
				t.Errorf("safe-harbour message %s after the answer (2-second rule): %+v", d, r)
			}
			abandoned[r.Number] = r.At
			// the rolling 24 h rate at this abandon, from the records: the cap holds
			// at every abandon (so none before 34 live-answered calls)
			n, x := 0, 0
			for _, a := range answers {
				if r.At.Sub(a.At) < 24*time.Hour {
					n++
					if a.Event == cti.AttemptSafeHarbour {
						x++
					}
				}
			}
			if float64(x) > 0.03*float64(n)+1e-9 {
				t.Errorf("abandon at %s: %d abandons in %d live-answered calls over the last 24 h (%.2f %% > 3 %%)", r.At, x, n, 100*float64(x)/float64(n))
			}
		case cti.AttemptDialled:
			if at, ok := abandoned[r.Number]; ok {
				if r.At.Sub(at) < 72*time.Hour {
					t.Errorf("%s dialled %s after its abandon (72 h lockout)", r.Number, r.At.Sub(at))
				}
				redialled++
			}
		case cti.AttemptConnected:
			live++
			answers = append(answers, r)
			if other, busy := connectedTo[r.Contact]; busy {
				t.Errorf("contact %s connected to %s while with %s", r.Contact, r.Agent, other)
			}
			connectedTo[r.Contact] = r.Agent
		case cti.AttemptDisposition:
			delete(connectedTo, r.Contact)
		}
	}
	// Over the whole run: abandons ≤ ⌊3 % × live answered⌋, with no allowance — the
	// budget is a worst-case bound, not an average.
	if lim := int(math.Floor(0.03*float64(live) + 1e-9)); st.Abandons > lim {
		t.Errorf("%d abandons for %d live-answered calls: over ⌊3 %%⌋ = %d", st.Abandons, live, lim)
	}
	if redialled == 0 {
		t.Errorf("no abandoned number was called again after its lockout")
	}
	if harbours != st.Abandons {
		t.Errorf("%d safe-harbour records for %d abandons", harbours, st.Abandons)
	}
	plays := 0
	for _, rq := range w.emu.Requests() {
		if strings.Contains(rq.Path, "/play") && strings.Contains(fmt.Sprint(rq.Query, rq.Body), "hello-world") {
			plays++
		}
	}
	if plays != st.Abandons {
		t.Errorf("%d safe-harbour playbacks for %d abandons", plays, st.Abandons)
	}
}

// deskCmd runs one desktop command through the Desk as the server would.
func deskCmd(t *testing.T, ctx context.Context, d *cti.Desk, p desktop.Principal, frame string) (desktop.Result, string) {
	t.Helper()
	c, err := desktop.DecodeCommand([]byte(frame))
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.HandleCommand(ctx, p, c)
	if err != nil {
		var de *desktop.Error
		if !errors.As(err, &de) {
			t.Fatalf("%s: untyped error %v", frame, err)
		}
		return nil, de.Code
	}
	return res, ""
}

// Supervisors start, pause, resume and stop a campaign; an agent's manual dial is
// connected to them, and a do-not-call number cannot be dialled by hand — neither one
// on the internal list nor one the agent's own do_not_call disposition just added.
func TestCampaignCommandsAndManualDialDNC(t *testing.T) {
	w := newCampWorld(t, "m1", "anna")
	dnc := "+442079460999"
	// A Tokyo contact: closed at the test's clock, so the campaign stays running idle.
	w.contacts.Set("m1", []cti.CampaignContact{{ID: "tyo", Numbers: []string{"+81355550100"}, Zone: "Asia/Tokyo"}})
	w.addCampaign(t, cti.CampaignConfig{
		Name: "Manual", Endpoint: "Local/{digits}@callers", Tick: 50 * time.Millisecond, Teams: []string{"sales"},
		Dialer: dialer.Config{ID: "m1", Mode: dialer.Progressive, IsDNC: func(n string) bool { return n == dnc }},
	})
	d, err := cti.NewDesk(cti.DeskParams{Orchestrator: w.orch, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	sam := desktop.Principal{User: "sam", Role: desktop.RoleSupervisor, Teams: []string{"sales"}}
	sue := desktop.Principal{User: "sue", Role: desktop.RoleSupervisor, Teams: []string{"support"}}
	if _, code := deskCmd(t, w.ctx, d, sue, `{"id":"0","cmd":"campaign.start","campaign_id":"m1"}`); code != "forbidden" {
		t.Fatalf("a supervisor of another team starting the campaign: %q", code)
	}
	anna := desktop.Principal{User: "anna", Role: desktop.RoleAgent}
	ctx := w.ctx
	for _, step := range []struct{ cmd, code, state string }{
		{"campaign.pause", "invalid_state", "draft"},
		{"campaign.start", "", "running"},
		{"campaign.pause", "", "paused"},
		{"campaign.pause", "invalid_state", "paused"},
		{"campaign.start", "", "running"},
	} {
		if _, code := deskCmd(t, ctx, d, sam, `{"id":"1","cmd":"`+step.cmd+`","campaign_id":"m1"}`); code != step.code {
			t.Fatalf("%s: code %q, want %q", step.cmd, code, step.code)
		}
		if st, err := w.orch.CampaignStats(ctx, "m1"); err != nil || st.State != step.state {
			t.Fatalf("after %s: %+v %v", step.cmd, st, err)
		}
	}
	w.desk.wait(t, "@supervisors", "campaign.stats", func(e map[string]any) bool {
		return e["campaign_id"] == "m1" && e["state"] == "running" && e["contacts"] == 1 && e["remaining"] == 1
	})
	if _, code := deskCmd(t, ctx, d, sam, `{"id":"1","cmd":"campaign.start","campaign_id":"nope"}`); code != "not_found" {
		t.Fatalf("unknown campaign: %q", code)
	}
	if _, code := deskCmd(t, ctx, d, anna, `{"id":"2","cmd":"call.dial","number":"`+dnc+`","campaign_id":"m1"}`); code != "forbidden" {
		t.Fatalf("manual dial of a DNC number: %q", code)
	}
	number := "+442079460123"
	res, code := deskCmd(t, ctx, d, anna, `{"id":"3","cmd":"call.dial","number":"`+number+`","campaign_id":"m1"}`)
	if code != "" {
		t.Fatalf("manual dial: %q", code)
	}
	id, _ := res["call_id"].(string)
	pop := w.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == id })
	if pop["direction"] != "outbound" || pop["dialled"] != number {
		t.Fatalf("manual dial pop %v", pop)
	}
	w.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
	if err := w.orch.Hangup(ctx, "anna", id); err != nil {
		t.Fatal(err)
	}
	if _, code := deskCmd(t, ctx, d, anna, `{"id":"4","cmd":"wrapup.done","call_id":"`+id+`","disposition":"no_such_code"}`); code != "invalid_argument" {
		t.Fatalf("unknown disposition: %q", code)
	}
	if _, code := deskCmd(t, ctx, d, anna, `{"id":"5","cmd":"wrapup.done","call_id":"`+id+`","disposition":"do_not_call"}`); code != "" {
		t.Fatalf("wrapup.done: %q", code)
	}
	if _, code := deskCmd(t, ctx, d, anna, `{"id":"6","cmd":"call.dial","number":"`+number+`","campaign_id":"m1"}`); code != "forbidden" {
		t.Fatalf("manual dial after the contact asked not to be called: %q", code)
	}
	if _, code := deskCmd(t, ctx, d, sam, `{"id":"7","cmd":"campaign.stop","campaign_id":"m1"}`); code != "" {
		t.Fatalf("stop: %q", code)
	}
	if st, err := w.orch.CampaignStats(ctx, "m1"); err != nil || st.State != "stopped" || st.Dials != 0 {
		t.Fatalf("after stop: %+v %v", st, err)
	}
	if _, code := deskCmd(t, ctx, d, sam, `{"id":"8","cmd":"campaign.start","campaign_id":"m1"}`); code != "invalid_state" {
		t.Fatalf("start after stop: %q", code)
	}
}

// Preview mode: the agent sees each contact first (campaign.preview) and dials it
// (call.accept) or skips it (call.reject) — at most twice per contact, which then
// comes back after the skip delay and must be dialled.
func TestCampaignPreviewDialAndSkip(t *testing.T) {
	w := newCampWorld(t, "v1", "anna")
	w.contacts.Set("v1", []cti.CampaignContact{
		{ID: "a", Name: "Ada", Numbers: []string{"+442079461001"}, Zone: "Europe/London", Fields: map[string]string{"plan": "silver"}},
		{ID: "b", Name: "Bob", Numbers: []string{"+442079461002"}, Zone: "Europe/London"},
	})
	w.addCampaign(t, cti.CampaignConfig{Name: "Preview", Endpoint: "Local/{digits}@callers", Tick: 50 * time.Millisecond,
		Dialer: dialer.Config{ID: "v1", Mode: dialer.Preview}})
	ctx := w.ctx
	if err := w.orch.CampaignStart(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	previews := 0
	next := func(contact string) string {
		t.Helper()
		previews++
		n := previews
		var e map[string]any
		for deadline := time.Now().Add(10 * time.Second); e == nil; {
			if err := w.orch.StepCampaign(ctx, "v1"); err != nil {
				t.Fatal(err)
			}
			w.desk.mu.Lock()
			k := 0
			for _, x := range w.desk.events["anna"] {
				if x["event"] == "campaign.preview" {
					if k++; k == n {
						e = x
					}
				}
			}
			w.desk.mu.Unlock()
			if time.Now().After(deadline) {
				t.Fatalf("preview %d never came", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if e["contact_id"] != contact {
			t.Fatalf("preview %d: %v, want contact %s", n, e, contact)
		}
		id, _ := e["call_id"].(string)
		return id
	}
	talk := func(id, disp string) {
		t.Helper()
		if err := w.orch.Accept(ctx, "anna", id); err != nil {
			t.Fatalf("dial %s: %v", id, err)
		}
		w.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
		if err := w.orch.Hangup(ctx, "anna", id); err != nil {
			t.Fatal(err)
		}
		if err := w.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: id, Disposition: disp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.orch.Reject(ctx, "anna", next("a")); err != nil {
		t.Fatalf("skip: %v", err)
	}
	talk(next("b"), "sale")
	w.clock.Advance(time.Hour) // the skipped contact comes back after the skip delay
	if err := w.orch.Reject(ctx, "anna", next("a")); err != nil {
		t.Fatalf("second skip: %v", err)
	}
	w.clock.Advance(time.Hour)
	id := next("a")
	if err := w.orch.Reject(ctx, "anna", id); !errors.Is(err, cti.ErrCallState) || !errors.Is(err, dialer.ErrSkipLimit) {
		t.Fatalf("third skip: %v", err)
	}
	talk(id, "not_interested")
	var st cti.CampaignStats
	for deadline := time.Now().Add(10 * time.Second); st.State != "finished"; {
		if err := w.orch.StepCampaign(ctx, "v1"); err != nil && !strings.Contains(err.Error(), "ended") {
			t.Fatal(err)
		}
		var err error
		if st, err = w.orch.CampaignStats(ctx, "v1"); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("preview campaign not finished: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st.Dials != 2 || st.Sales != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Blending: inbound takes precedence. An agent with an inbound call offered or
// waiting is not dialled for; the campaign uses them once the inbound work is done.
func TestCampaignInboundTakesPrecedence(t *testing.T) {
	w := newCampWorld(t, "b1", "anna")
	ctx := w.ctx
	w.contacts.Set("b1", []cti.CampaignContact{
		{ID: "x", Numbers: []string{"+442079462001"}, Zone: "Europe/London"},
		{ID: "y", Numbers: []string{"+442079462002"}, Zone: "Europe/London"},
	})
	w.addCampaign(t, cti.CampaignConfig{Name: "Blend", Endpoint: "Local/{digits}@callers", Tick: 50 * time.Millisecond,
		Dialer: dialer.Config{ID: "b1", Mode: dialer.Progressive}})
	inbound := func() string {
		t.Helper()
		id, err := w.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48221234567", Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
		if err != nil {
			t.Fatal(err)
		}
		w.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == id })
		return id
	}
	dials := func() int {
		t.Helper()
		if err := w.orch.StepCampaign(ctx, "b1"); err != nil {
			t.Fatal(err)
		}
		st, err := w.orch.CampaignStats(ctx, "b1")
		if err != nil {
			t.Fatal(err)
		}
		return st.Dials
	}
	in1 := inbound() // offered to anna before the campaign starts
	if err := w.orch.CampaignStart(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if err := w.orch.Accept(ctx, "anna", in1); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == in1 })
	if n := dials(); n != 0 {
		t.Fatalf("%d lines dialled for an agent on an inbound call", n)
	}
	if err := w.orch.Hangup(ctx, "anna", in1); err != nil {
		t.Fatal(err)
	}
	if n := dials(); n != 0 {
		t.Fatalf("%d lines dialled for an agent in inbound wrap-up", n)
	}
	if err := w.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: in1, Disposition: "done"}); err != nil {
		t.Fatal(err)
	}
	// Ready again: the campaign dials for her.
	var out string
	w.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool {
		if e["direction"] == "outbound" && e["contact_id"] == "x" {
			out, _ = e["call_id"].(string)
			return true
		}
		return false
	})
	w.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == out })
	in2, err := w.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48221234568", Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; { // the caller waits in the queue
		snap, err := w.orch.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(snap.Calls, func(c queue.CallSnapshot) bool { return string(c.ID) == in2 }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the inbound caller never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.orch.Hangup(ctx, "anna", out); err != nil {
		t.Fatal(err)
	}
	if err := w.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: out, Disposition: "sale"}); err != nil {
		t.Fatal(err)
	}
	// The waiting inbound caller gets her before the campaign's next contact.
	w.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == in2 })
	if n := dials(); n != 1 {
		t.Fatalf("%d lines dialled while an inbound caller waited for the agent", n)
	}
}

// An agent who records no disposition does not hold the contact (or themselves) for
// ever: after DispositionTimeout the call gets no_decision and a follow-up retry.
func TestCampaignDispositionTimeout(t *testing.T) {
	w := newCampWorld(t, "d1", "anna")
	ctx := w.ctx
	w.contacts.Set("d1", []cti.CampaignContact{{ID: "x", Numbers: []string{"+442079463001"}, Zone: "Europe/London"}})
	w.addCampaign(t, cti.CampaignConfig{Name: "Timeout", Endpoint: "Local/{digits}@callers", Tick: 50 * time.Millisecond,
		DispositionTimeout: 2 * time.Minute, Dialer: dialer.Config{ID: "d1", Mode: dialer.Progressive}})
	if err := w.orch.CampaignStart(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	var id string
	w.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { id, _ = e["call_id"].(string); return true })
	if err := w.orch.Hangup(ctx, "anna", id); err != nil {
		t.Fatal(err)
	}
	state := func() (string, cti.CampaignStats) {
		t.Helper()
		if err := w.orch.StepCampaign(ctx, "d1"); err != nil {
			t.Fatal(err)
		}
		st, err := w.orch.CampaignStats(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := w.orch.CampaignContactState(ctx, "d1", "x")
		if err != nil {
			t.Fatal(err)
		}
		return s, st
	}
	if s, st := state(); s != "in-progress" || st.AwaitingDisp != 1 {
		t.Fatalf("before the timeout: %s %+v", s, st)
	}
	w.clock.Advance(2 * time.Minute)
	if s, st := state(); s != "scheduled" || st.AwaitingDisp != 0 {
		t.Fatalf("after the timeout: %s %+v", s, st)
	}
	var disp cti.AttemptRecord
	for _, r := range w.attempts.Records() {
		if r.Event == cti.AttemptDisposition {
			disp = r
		}
	}
	if disp.Disposition != "no_decision" || disp.Agent != "anna" || disp.RetryAt.Sub(w.clock.Now()) != 24*time.Hour {
		t.Fatalf("automatic disposition %+v", disp)
	}
}

// wrapup.done with callback_at and callback_shared schedules a shared callback,
// dialled at its time for whichever agent is free.
func TestCampaignSharedCallbackFromTheDesktop(t *testing.T) {
	w := newCampWorld(t, "s1", "anna")
	ctx := w.ctx
	w.contacts.Set("s1", []cti.CampaignContact{{ID: "x", Numbers: []string{"+442079464001"}, Zone: "Europe/London"}})
	w.addCampaign(t, cti.CampaignConfig{Name: "Shared", Endpoint: "Local/{digits}@callers", Tick: 50 * time.Millisecond,
		Dialer: dialer.Config{ID: "s1", Mode: dialer.Progressive}})
	d, err := cti.NewDesk(cti.DeskParams{Orchestrator: w.orch, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.orch.CampaignStart(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	var id string
	w.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { id, _ = e["call_id"].(string); return true })
	if err := w.orch.Hangup(ctx, "anna", id); err != nil {
		t.Fatal(err)
	}
	anna := desktop.Principal{User: "anna", Role: desktop.RoleAgent}
	late := w.clock.Now().Add(10 * time.Hour).Format(time.RFC3339) // 00:00 in London: outside the window
	if _, code := deskCmd(t, ctx, d, anna, `{"id":"1","cmd":"wrapup.done","call_id":"`+id+`","disposition":"callback","callback_at":"`+late+`"}`); code != "invalid_argument" {
		t.Fatalf("callback outside the window: %q", code)
	}
	at := w.clock.Now().Add(time.Hour)
	if _, code := deskCmd(t, ctx, d, anna, `{"id":"2","cmd":"wrapup.done","call_id":"`+id+`","disposition":"callback","callback_at":"`+at.Format(time.RFC3339)+`","callback_shared":true}`); code != "" {
		t.Fatalf("wrapup.done: %q", code)
	}
	w.clock.Advance(time.Hour)
	var again string
	for deadline := time.Now().Add(10 * time.Second); again == ""; {
		if err := w.orch.StepCampaign(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		w.desk.mu.Lock()
		for _, e := range w.desk.events["anna"] {
			if e["event"] == "call.offered" && e["contact_id"] == "x" && e["callback"] == true {
				again, _ = e["call_id"].(string)
			}
		}
		w.desk.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the shared callback was never dialled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var cb cti.AttemptRecord
	for _, r := range w.attempts.Records() {
		if r.Event == cti.AttemptDisposition {
			cb = r
		}
	}
	if cb.Disposition != "callback" || cb.CallbackAgent != "" || !cb.CallbackAt.Equal(at.Truncate(time.Second)) {
		t.Fatalf("callback record %+v", cb)
	}
}

// Bad campaign input gets clear errors and leaves nothing half-started.
func TestCampaignBadInput(t *testing.T) {
	w := newCampWorld(t, "c1", "anna")
	ctx := w.ctx
	good := func(id string) cti.CampaignConfig {
		return cti.CampaignConfig{Name: id, Endpoint: "PJSIP/{number}@trunk", Dialer: dialer.Config{ID: id, Mode: dialer.Predictive}}
	}
	for name, cfg := range map[string]cti.CampaignConfig{
		"endpoint without {number}": func() cti.CampaignConfig { c := good("e"); c.Endpoint = "PJSIP/trunk"; return c }(),
		"ring timeout under 15 s":   func() cti.CampaignConfig { c := good("r"); c.Dialer.RingTimeout = 10 * time.Second; return c }(),
		"no id":                     good(""),
		"margin beyond the rule":    func() cti.CampaignConfig { c := good("m"); c.SafeHarbourMargin = 3 * time.Second; return c }(),
	} {
		if err := w.orch.AddCampaign(cfg); !errors.Is(err, cti.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	w.addCampaign(t, good("lonely"))
	if err := w.orch.AddCampaign(good("lonely")); !errors.Is(err, cti.ErrCampaignExists) {
		t.Errorf("duplicate: %v", err)
	}
	if err := w.orch.CampaignStart(ctx, "lonely"); !errors.Is(err, cti.ErrNoAgents) {
		t.Errorf("campaign without agents started: %v", err)
	}
	if st, err := w.orch.CampaignStats(ctx, "lonely"); err != nil || st.State != "draft" || st.Contacts != 0 {
		t.Errorf("after the refused start: %+v %v", st, err)
	}
	if _, err := w.orch.CampaignStats(ctx, "nope"); !errors.Is(err, cti.ErrUnknownCampaign) {
		t.Errorf("unknown campaign: %v", err)
	}
}

// Pause places no new line while calls in progress go on; stop ends the campaign
// once the lines still ringing have ended (never leaving a contact in Stasis).
func TestCampaignPauseResumeStopWithLiveLines(t *testing.T) {
	w := newCampWorld(t, "l1", "anna")
	ctx := w.ctx
	w.contacts.Set("l1", []cti.CampaignContact{
		{ID: "talk", Numbers: []string{"+442079465001"}, Zone: "Europe/London"},
		{ID: "ring", Numbers: []string{"+5550002"}, Zone: "Europe/London"}, // never answers
	})
	w.addCampaign(t, cti.CampaignConfig{Name: "Lifecycle", Endpoint: "Local/{digits}@callers", Tick: 50 * time.Millisecond,
		Dialer: dialer.Config{ID: "l1", Mode: dialer.Progressive}})
	stats := func() cti.CampaignStats {
		t.Helper()
		if err := w.orch.StepCampaign(ctx, "l1"); err != nil && !strings.Contains(err.Error(), "ended") {
			t.Fatal(err)
		}
		st, err := w.orch.CampaignStats(ctx, "l1")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if err := w.orch.CampaignStart(ctx, "l1"); err != nil {
		t.Fatal(err)
	}
	var id string
	w.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { id, _ = e["call_id"].(string); return true })
	if err := w.orch.CampaignPause(ctx, "l1"); err != nil {
		t.Fatal(err)
	}
	if err := w.orch.Hangup(ctx, "anna", id); err != nil { // the call went on while paused
		t.Fatal(err)
	}
	if err := w.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: id, Disposition: "sale"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		w.clock.Advance(time.Second)
		if st := stats(); st.Dials != 1 || st.State != "paused" {
			t.Fatalf("paused campaign: %+v", st)
		}
	}
	if err := w.orch.CampaignStart(ctx, "l1"); err != nil { // resume
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); stats().Ringing != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("no line after resume: %+v", stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.orch.CampaignStop(ctx, "l1"); err != nil {
		t.Fatal(err)
	}
	if st := stats(); st.State != "stopped" || st.Ringing != 1 {
		t.Fatalf("stopped with a line ringing: %+v", st)
	}
	st := stats()
	for deadline := time.Now().Add(10 * time.Second); st.Ringing != 0 || st.LinesInUse != 0; {
		w.clock.Advance(time.Second) // up to the ring timeout: ctid hangs the line up
		st = stats()
		if time.Now().After(deadline) {
			t.Fatalf("the ringing line never ended: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st.State != "stopped" || st.Dials != 2 {
		t.Fatalf("after stop: %+v", st)
	}
	if s, n, err := w.orch.CampaignContactState(ctx, "l1", "ring"); err != nil || s != "scheduled" || n != 1 {
		t.Fatalf("ringing contact after stop: %s %d %v", s, n, err)
	}
	for deadline := time.Now().Add(10 * time.Second); slices.ContainsFunc(w.emu.ChannelIDs(), func(c string) bool { return strings.HasPrefix(c, "l1-") }); {
		if time.Now().After(deadline) {
			t.Fatalf("campaign channels left: %v", w.emu.ChannelIDs())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
