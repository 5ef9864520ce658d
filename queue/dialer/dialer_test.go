package dialer

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/queue"
)

func TestDNCNeverDialled(t *testing.T) {
	national := map[string]bool{"+442070000001": true}
	d := newDialer(t, Config{Mode: Progressive, Windows: alwaysOpen(), IsDNC: func(n string) bool { return national[n] }},
		Contact{ID: "a", Numbers: []string{"+442070000001"}},                  // national DNC: never dialled, contact done
		Contact{ID: "b", Numbers: []string{"+442070000001", "+442070000002"}}, // first number DNC: second dialled
		Contact{ID: "c", Numbers: []string{"+442070000003"}},
		Contact{ID: "d", Numbers: []string{"+442070000003"}}, // same number as c, which asks to be put on DNC
	)
	now := mon
	pl := d.Plan(now, free("a1", "a2", "a3"))
	got := map[ContactID]string{}
	for _, dl := range pl.Dials {
		got[dl.Contact] = dl.Number
	}
	if len(got) != 3 || got["b"] != "+442070000002" || got["c"] != "+442070000003" || got["d"] != "" {
		// d shares c's number but is a different contact: dialled too (c is not DNC yet)
		if !(len(got) == 3 && got["d"] == "+442070000003") {
			t.Fatalf("dials %v", got)
		}
	}
	if st, _, _ := d.ContactState("a"); st != "done:exhausted" {
		t.Fatalf("contact a on DNC: %s", st)
	}
	// c (or d) answers and asks not to be called: the number goes on the campaign DNC.
	for _, dl := range pl.Dials {
		if dl.Number != "+442070000003" {
			mustResult(t, d, now, dl.Attempt, Busy)
			continue
		}
		if eff := mustResult(t, d, now, dl.Attempt, Human); eff.Kind != EffConnect {
			t.Fatalf("reserved line answered: %v", eff.Kind)
		}
		if err := d.Connected(now, dl.Attempt, dl.Agent); err != nil {
			t.Fatal(err)
		}
		if eff, err := d.Disposition(now.Add(time.Minute), dl.Attempt, "do_not_call", CallbackRequest{}); err != nil || eff.Kind != EffDone {
			t.Fatalf("do_not_call: %v %v", eff, err)
		}
	}
	for now := mon; now.Before(mon.Add(48 * time.Hour)); now = now.Add(5 * time.Minute) {
		for _, dl := range d.Plan(now, free("a1", "a2", "a3")).Dials {
			if national[dl.Number] || dl.Number == "+442070000003" {
				t.Fatalf("dialled DNC number %s at %s", dl.Number, now)
			}
			mustResult(t, d, now, dl.Attempt, Busy)
		}
	}
}

func TestRetriesAtTheRightTimes(t *testing.T) {
	lon := "Europe/London"
	d := newDialer(t, Config{Mode: Progressive, Windows: weekdays9to21, MaxAttemptsPerNumber: 10, MaxAttemptsPerContact: 10},
		Contact{ID: "a", Numbers: []string{"+442070000001"}, Zone: lon})
	now := mon // 12:00 London
	one := func(at time.Time) []Dial { return d.Plan(at, free("a1")).Dials }
	dl := one(now)
	if len(dl) != 1 {
		t.Fatalf("first dial: %v", dl)
	}
	if eff := mustResult(t, d, now, dl[0].Attempt, Busy); eff.Kind != EffRetry || !eff.At.Equal(now.Add(10*time.Minute)) || eff.Agent != "a1" {
		t.Fatalf("busy: %+v", eff)
	}
	if got := one(now.Add(10*time.Minute - time.Second)); len(got) != 0 {
		t.Fatalf("busy retried early: %v", got)
	}
	now = now.Add(10 * time.Minute)
	dl = one(now)
	if len(dl) != 1 {
		t.Fatal("busy not retried after 10 min")
	}
	if eff := mustResult(t, d, now, dl[0].Attempt, NoAnswer); !eff.At.Equal(now.Add(2 * time.Hour)) {
		t.Fatalf("no answer: %+v", eff)
	}
	if got := one(now.Add(2*time.Hour - time.Second)); len(got) != 0 {
		t.Fatal("no-answer retried early")
	}
	now = now.Add(2 * time.Hour) // 14:10
	dl = one(now)
	if len(dl) != 1 {
		t.Fatal("no-answer not retried after 2 h")
	}
	// machine: next day's window opening, 09:00 Tuesday London
	eff := mustResult(t, d, now, dl[0].Attempt, Machine)
	if want := time.Date(2026, 11, 24, 9, 0, 0, 0, mustLoc(t, lon)); !eff.At.Equal(want) {
		t.Fatalf("machine: retry at %s, want %s", eff.At, want)
	}
	if got := one(time.Date(2026, 11, 24, 8, 59, 0, 0, mustLoc(t, lon))); len(got) != 0 {
		t.Fatal("machine retried before the next day's window")
	}
	now = time.Date(2026, 11, 24, 9, 0, 0, 0, mustLoc(t, lon))
	dl = one(now)
	if len(dl) != 1 {
		t.Fatal("machine not retried next day")
	}
	// no answer at 20:00 → 22:00 is outside the window → retried at 09:00 Wednesday
	mustResult(t, d, now, dl[0].Attempt, Busy)
	now = time.Date(2026, 11, 24, 20, 0, 0, 0, mustLoc(t, lon))
	dl = one(now)
	if len(dl) != 1 {
		t.Fatal("not dialled at 20:00")
	}
	if eff := mustResult(t, d, now, dl[0].Attempt, NoAnswer); eff.Kind != EffRetry || !eff.At.Equal(time.Date(2026, 11, 25, 9, 0, 0, 0, mustLoc(t, lon))) {
		t.Fatalf("no answer at 20:00: %+v (want Wednesday 09:00)", eff)
	}
	// invalid number: final for that number
	now = time.Date(2026, 11, 25, 9, 0, 0, 0, mustLoc(t, lon))
	dl = one(now)
	if len(dl) != 1 {
		t.Fatal("not dialled Wednesday")
	}
	if eff := mustResult(t, d, now, dl[0].Attempt, Invalid); eff.Kind != EffDone {
		t.Fatalf("invalid: %+v", eff)
	}
	if st, n, _ := d.ContactState("a"); st != "done:exhausted" || n != 6 {
		t.Fatalf("contact a: %s after %d attempts", st, n)
	}
}

func TestMaxAttempts(t *testing.T) {
	d := newDialer(t, Config{Mode: Progressive, Windows: alwaysOpen(), MaxAttemptsPerNumber: 2, MaxAttemptsPerContact: 3,
		Retry: RetryRules{Busy: Retry{After: time.Minute}}},
		Contact{ID: "a", Numbers: []string{"+442070000001", "+442070000002"}})
	var numbers []string
	finished := false
	for now := mon; now.Before(mon.Add(time.Hour)); now = now.Add(30 * time.Second) {
		pl := d.Plan(now, free("a1"))
		finished = finished || pl.Finished
		for _, dl := range pl.Dials {
			numbers = append(numbers, dl.Number)
			mustResult(t, d, now, dl.Attempt, Busy)
		}
	}
	// number 1 is busy and not due for a minute, so number 2 is tried meanwhile
	want := []string{"+442070000001", "+442070000002", "+442070000001"}
	if !slices.Equal(numbers, want) {
		t.Fatalf("dialled %v, want %v (at most 2 per number, 3 per contact)", numbers, want)
	}
	if st, n, _ := d.ContactState("a"); st != "done:exhausted" || n != 3 {
		t.Fatalf("contact: %s %d", st, n)
	}
	if !finished || d.State() != Finished {
		t.Fatalf("campaign did not finish: %s", d.State())
	}
}

func TestNoContactOnTwoLines(t *testing.T) {
	d := newDialer(t, Config{Mode: Predictive, Windows: alwaysOpen(), Retry: RetryRules{Busy: Retry{After: time.Second}}},
		Contact{ID: "a", Numbers: []string{"+442070000001", "+442070000002"}},
		Contact{ID: "b", Numbers: []string{"+442070000003"}})
	live := map[ContactID]AttemptID{}
	for i := 0; i < 200; i++ {
		now := mon.Add(time.Duration(i) * time.Second)
		for _, dl := range d.Plan(now, free("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8")).Dials {
			if prev, ok := live[dl.Contact]; ok {
				t.Fatalf("contact %s on two lines: %s and %s", dl.Contact, prev, dl.Attempt)
			}
			live[dl.Contact] = dl.Attempt
		}
		if i%3 == 2 { // lines end every 3 s
			for c, id := range live {
				mustResult(t, d, now, id, Busy)
				delete(live, c)
			}
		}
	}
	// preview: a contact previewed by one agent is not handed to another
	p := newDialer(t, Config{Mode: Preview, Windows: alwaysOpen()}, Contact{ID: "a", Numbers: []string{"+442070000001"}})
	if _, err := p.Preview(mon, "a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Preview(mon, "a2"); err == nil {
		t.Fatal("the same contact was previewed by two agents")
	}
	wantErr(t, func() error { _, err := p.Preview(mon, "a1"); return err }(), ErrAgentBusy)
}

func TestSafeHarbourTwoSecondRuleAndLockout(t *testing.T) {
	d := newDialer(t, Config{Mode: Predictive, Windows: alwaysOpen(), Retry: RetryRules{Abandoned: Retry{After: time.Hour}}},
		Contact{ID: "a", Numbers: []string{"+442070000001"}},
		Contact{ID: "b", Numbers: []string{"+442070000002"}})
	now := mon
	pl := d.Plan(now, free("a1", "a2"))
	if len(pl.Dials) != 2 || pl.Dials[0].Agent != "" {
		t.Fatalf("predictive plan: %+v", pl)
	}
	ans := now.Add(5 * time.Second)
	var lineA, lineB AttemptID
	for _, dl := range pl.Dials {
		if dl.Contact == "a" {
			lineA = dl.Attempt
		} else {
			lineB = dl.Attempt
		}
	}
	effA := mustResult(t, d, ans, lineA, Human)
	effB := mustResult(t, d, ans, lineB, Human)
	if effA.Kind != EffFindAgent || !effA.Deadline.Equal(ans.Add(2*time.Second)) {
		t.Fatalf("pooled answer: %+v", effA)
	}
	// a2 was taken by an inbound call meanwhile: only a1 connects.
	if err := d.Connected(ans.Add(1500*time.Millisecond), lineB, "a1"); err != nil {
		t.Fatal(err)
	}
	if effs := d.Tick(ans.Add(1999 * time.Millisecond)); len(effs) != 0 {
		t.Fatalf("safe harbour before 2 s: %+v", effs)
	}
	wantErr(t, d.Connected(ans.Add(2001*time.Millisecond), lineA, "a2"), ErrTooLate)
	effs := d.Tick(ans.Add(2 * time.Second))
	if len(effs) != 1 || effs[0].Kind != EffSafeHarbour || effs[0].Attempt != lineA || effs[0].Number != "+442070000001" {
		t.Fatalf("safe harbour at 2 s: %+v (B was %v)", effs, effB.Kind)
	}
	if st := d.Stats(ans.Add(3 * time.Second)); st.Abandons != 1 || st.LiveAnswered != 2 || st.AbandonRate != 0.5 {
		t.Fatalf("abandon accounting: %+v", st)
	}
	// 72 h lockout: the retry rule says 1 h, but predictive lines never re-dial it for 72 h.
	for at := ans.Add(time.Hour); at.Before(ans.Add(72 * time.Hour)); at = at.Add(30 * time.Minute) {
		for _, dl := range d.Plan(at, free("a1", "a2")).Dials {
			if dl.Number == "+442070000001" {
				t.Fatalf("locked-out number dialled at +%s", at.Sub(ans))
			}
			mustResult(t, d, at, dl.Attempt, NoAnswer)
		}
	}
	if st, _, _ := d.ContactState("a"); st != "scheduled" {
		t.Fatalf("contact a: %s", st)
	}
	// …unless an agent is guaranteed: a callback with a reserved agent may call it.
	cbAt := ans.Add(3 * time.Hour)
	wantErr(t, d.ScheduleCallback("zz", CallbackRequest{At: cbAt}), ErrUnknownContact)
	if err := d.ScheduleCallback("a", CallbackRequest{At: cbAt, Agent: "a2"}); err != nil {
		t.Fatal(err)
	}
	got := d.Plan(cbAt, free("a1", "a2")).Dials
	if len(got) == 0 || got[0].Number != "+442070000001" || got[0].Agent != "a2" || !got[0].Callback {
		t.Fatalf("guaranteed callback during lockout: %+v", got)
	}
}

func TestAbandonCapBindsUnderFlood(t *testing.T) {
	var cs []Contact
	for i := 0; i < 4000; i++ {
		cs = append(cs, Contact{ID: ContactID("k" + itoa(i)), Numbers: []string{"+44207" + itoa(1000000+i)}})
	}
	d := newDialer(t, Config{Mode: Predictive, Windows: alwaysOpen(), MaxLines: 500}, cs...)
	ag := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}
	busy := map[queue.AgentID]time.Time{} // agent → free again at
	bound, reservedOK := false, 0
	now := mon
	for step := 0; step < 3600; step++ { // 1 h, one decision a second
		now = mon.Add(time.Duration(step) * time.Second)
		var fr []string
		for _, a := range ag {
			if busy[queue.AgentID(a)].After(now) {
				continue
			}
			fr = append(fr, a)
		}
		pl := d.Plan(now, free(fr...))
		if strings.HasPrefix(pl.Pace.Reason, "abandon budget") || strings.Contains(pl.Pace.Reason, "and abandon budget") {
			bound = true
		}
		if len(pl.Dials) > 0 && pl.Pace.Worst > 0 && pl.Pace.Worst > pl.Pace.Budget {
			t.Fatalf("%s: %d lines placed with a worst case of %d abandons over the budget %d: %+v", now, len(pl.Dials), pl.Pace.Worst, pl.Pace.Budget, pl.Pace)
		}
		if pl.Pace.Brake == 0 {
			nFree := len(fr)
			if len(pl.Dials) > nFree {
				t.Fatalf("full brake placed %d lines for %d free agents", len(pl.Dials), nFree)
			}
			for _, dl := range pl.Dials {
				if dl.Agent == "" {
					t.Fatal("full brake placed a pooled line")
				}
			}
		}
		// the flood: every line is answered by a person at once
		pool := slices.Clone(fr)
		for _, dl := range pl.Dials {
			eff := mustResult(t, d, now, dl.Attempt, Human)
			agent := eff.Agent
			if eff.Kind == EffFindAgent {
				agent = ""
				for i, a := range pool {
					if _, taken := busy[queue.AgentID(a)]; !taken || !busy[queue.AgentID(a)].After(now) {
						agent = queue.AgentID(a)
						pool = slices.Delete(pool, i, i+1)
						break
					}
				}
			} else {
				reservedOK++
				pool = slices.DeleteFunc(pool, func(s string) bool { return queue.AgentID(s) == agent })
			}
			if agent == "" {
				continue // nobody free: Tick will abandon it
			}
			if err := d.Connected(now, dl.Attempt, agent); err != nil {
				t.Fatal(err)
			}
			busy[agent] = now.Add(60 * time.Second)
			if _, err := d.Disposition(now.Add(60*time.Second), dl.Attempt, "not_interested", CallbackRequest{}); err != nil {
				t.Fatal(err)
			}
		}
		if effs := d.Tick(now.Add(2 * time.Second)); len(effs) > 0 {
			// at every abandon the rolling rate is within the cap
			if st := d.Stats(now.Add(2 * time.Second)); st.AbandonRate > 0.03 {
				t.Fatalf("%s: rolling abandon rate %d/%d = %.4f over the cap", now, st.Abandons, st.LiveAnswered, st.AbandonRate)
			}
		}
	}
	st := d.Stats(now)
	t.Logf("after the flood: %d abandons / %d live answered = %.2f%%, %d reserved lines", st.Abandons, st.LiveAnswered, 100*st.AbandonRate, reservedOK)
	if !bound || reservedOK == 0 || st.Abandons == 0 {
		t.Fatalf("the abandon budget never bound (bound %v, reserved lines %d, abandons %d): %+v", bound, reservedOK, st.Abandons, st)
	}
	// one window, no call left it: the total is within ⌊3 % × live answered⌋
	if lim := int(math.Floor(0.03*float64(st.LiveAnswered) + 1e-9)); st.Abandons > lim {
		t.Fatalf("%d abandons for %d live answered: over ⌊3 %%⌋ = %d", st.Abandons, st.LiveAnswered, lim)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestCallbacksDueForTheRightAgent(t *testing.T) {
	ny := "America/New_York"
	d := newDialer(t, Config{Mode: Progressive, Windows: weekdays9to21, CallbackFallback: 30 * time.Minute},
		Contact{ID: "cb1", Numbers: []string{"+12125550001"}, Zone: ny},
		Contact{ID: "cb2", Numbers: []string{"+12125550002"}, Zone: ny},
		Contact{ID: "new1", Numbers: []string{"+12125550003"}, Zone: ny},
		Contact{ID: "new2", Numbers: []string{"+12125550004"}, Zone: ny},
	)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, mustLoc(t, ny))
	// Connect cb1 and cb2 and let the agents ask for callbacks.
	pl := d.Plan(now, free("a1", "a2"))
	if got := contactsOf(pl.Dials); !slices.Equal(got, []ContactID{"cb1", "cb2"}) {
		t.Fatalf("first dials %v", got)
	}
	at, err := LocalTime(ny, 2026, 11, 24, 11, 0) // Tuesday 11:00 New York time
	if err != nil {
		t.Fatal(err)
	}
	late, err := LocalTime(ny, 2026, 11, 24, 22, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, dl := range pl.Dials {
		mustResult(t, d, now, dl.Attempt, Human)
		if err := d.Connected(now, dl.Attempt, dl.Agent); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Disposition(now, dl.Attempt, "callback", CallbackRequest{At: late, Agent: dl.Agent}); err == nil {
			t.Fatal("callback outside the window accepted")
		}
		req := CallbackRequest{At: at, Agent: dl.Agent} // cb1: personal for a1
		if i == 1 {
			req = CallbackRequest{At: at.Add(time.Hour)} // cb2: shared, at 12:00
		}
		if eff, err := d.Disposition(now, dl.Attempt, "callback", req); err != nil || eff.Kind != EffCallback {
			t.Fatalf("callback disposition: %+v %v", eff, err)
		}
	}
	// Tuesday 10:59: the new contacts are dialled, not the callbacks.
	pl = d.Plan(at.Add(-time.Minute), free("a1", "a2"))
	if got := contactsOf(pl.Dials); !slices.Equal(got, []ContactID{"new1", "new2"}) {
		t.Fatalf("before the callback time: %v", got)
	}
	for _, dl := range pl.Dials {
		mustResult(t, d, at.Add(-time.Minute), dl.Attempt, NoAnswer) // back in 2 h
	}
	// 11:00, only a2 free: the personal callback waits for a1.
	if pl := d.Plan(at, free("a2")); len(pl.Dials) != 0 {
		t.Fatalf("personal callback given to another agent: %+v", pl.Dials)
	}
	// 11:05, a1 free: its callback goes first, to a1.
	pl = d.Plan(at.Add(5*time.Minute), free("a2", "a1"))
	if len(pl.Dials) != 1 || pl.Dials[0].Contact != "cb1" || pl.Dials[0].Agent != "a1" || !pl.Dials[0].Callback {
		t.Fatalf("personal callback: %+v", pl.Dials)
	}
	// 12:00 shared callback to whichever agent is free, ahead of the due retries.
	pl = d.Plan(at.Add(time.Hour), free("a2"))
	if len(pl.Dials) != 1 || pl.Dials[0].Contact != "cb2" || pl.Dials[0].Agent != "a2" {
		t.Fatalf("shared callback: %+v", pl.Dials)
	}
}

func TestPersonalCallbackFallsBackToShared(t *testing.T) {
	d := newDialer(t, Config{Mode: Progressive, Windows: alwaysOpen(), CallbackFallback: 30 * time.Minute},
		Contact{ID: "a", Numbers: []string{"+442070000001"}})
	if err := d.ScheduleCallback("a", CallbackRequest{At: mon, Agent: "a1"}); err != nil {
		t.Fatal(err)
	}
	if pl := d.Plan(mon.Add(29*time.Minute), free("a2")); len(pl.Dials) != 0 {
		t.Fatal("personal callback taken by another agent before the fallback")
	}
	pl := d.Plan(mon.Add(30*time.Minute), free("a2"))
	if len(pl.Dials) != 1 || pl.Dials[0].Agent != "a2" {
		t.Fatalf("fallback: %+v", pl.Dials)
	}
}

func TestPreviewSkipAndAutoDial(t *testing.T) {
	d := newDialer(t, Config{Mode: Preview, Windows: alwaysOpen(), Preview: PreviewConfig{MaxSkips: 1, SkipDelay: 10 * time.Minute, AutoDial: 30 * time.Second}},
		Contact{ID: "a", Numbers: []string{"+442070000001"}},
		Contact{ID: "b", Numbers: []string{"+442070000002"}})
	if pl := d.Plan(mon, free("a1")); len(pl.Dials) != 0 {
		t.Fatal("preview mode dialled without the agent")
	}
	p, err := d.Preview(mon, "a1")
	if err != nil || p.Contact != "a" {
		t.Fatalf("preview: %+v %v", p, err)
	}
	if err := d.Skip(mon, p.Attempt); err != nil {
		t.Fatal(err)
	}
	p, err = d.Preview(mon, "a1")
	if err != nil || p.Contact != "b" {
		t.Fatalf("after skip: %+v %v", p, err)
	}
	// auto-dial after 30 s
	if effs := d.Tick(mon.Add(29 * time.Second)); len(effs) != 0 {
		t.Fatalf("auto-dial early: %+v", effs)
	}
	effs := d.Tick(mon.Add(30 * time.Second))
	if len(effs) != 1 || effs[0].Kind != EffAutoDial || effs[0].Dial.Number != "+442070000002" {
		t.Fatalf("auto-dial: %+v", effs)
	}
	mustResult(t, d, mon.Add(40*time.Second), p.Attempt, Busy)
	// a comes back after the skip delay and cannot be skipped again
	_, err = d.Preview(mon.Add(9*time.Minute), "a1")
	wantErr(t, err, ErrNoContact)
	p, err = d.Preview(mon.Add(10*time.Minute), "a1")
	if err != nil || p.Contact != "a" {
		t.Fatalf("skipped contact back: %+v %v", p, err)
	}
	wantErr(t, d.Skip(mon.Add(10*time.Minute), p.Attempt), ErrSkipLimit)
	dl, err := d.PreviewDial(mon.Add(10*time.Minute), p.Attempt)
	if err != nil || dl.Agent != "a1" {
		t.Fatalf("preview dial: %+v %v", dl, err)
	}
	_, err = d.PreviewDial(mon.Add(10*time.Minute), p.Attempt)
	wantErr(t, err, ErrAttemptState)
}

func TestDispositionsAndFinish(t *testing.T) {
	d := newDialer(t, Config{Mode: Progressive, Windows: alwaysOpen()},
		Contact{ID: "a", Numbers: []string{"+442070000001"}},
		Contact{ID: "b", Numbers: []string{"+442070000002", "+442070000003"}},
		Contact{ID: "c", Numbers: []string{"+442070000004"}})
	now := mon
	pl := d.Plan(now, free("a1", "a2", "a3"))
	codes := map[ContactID]string{"a": "sale", "b": "wrong_number", "c": "no_decision"}
	for _, dl := range pl.Dials {
		mustResult(t, d, now, dl.Attempt, Human)
		_, err := d.Disposition(now, dl.Attempt, "sale", CallbackRequest{})
		wantErr(t, err, ErrAttemptState) // not connected yet
		if err := d.Connected(now, dl.Attempt, dl.Agent); err != nil {
			t.Fatal(err)
		}
		_, err = d.Disposition(now, dl.Attempt, "bogus", CallbackRequest{})
		wantErr(t, err, ErrUnknownDisp)
		eff, err := d.Disposition(now.Add(time.Minute), dl.Attempt, codes[dl.Contact], CallbackRequest{})
		if err != nil {
			t.Fatal(err)
		}
		switch dl.Contact {
		case "a":
			if eff.Kind != EffDone || eff.Reason != "sale" {
				t.Fatalf("sale: %+v", eff)
			}
		case "b": // wrong number: the second number is tried (at once)
			if eff.Kind != EffRetry {
				t.Fatalf("wrong number: %+v", eff)
			}
		case "c": // no decision: follow-up after 24 h
			if eff.Kind != EffRetry || !eff.At.Equal(now.Add(time.Minute+24*time.Hour)) {
				t.Fatalf("no decision: %+v", eff)
			}
		}
	}
	pl = d.Plan(now.Add(2*time.Minute), free("a1"))
	if len(pl.Dials) != 1 || pl.Dials[0].Number != "+442070000003" {
		t.Fatalf("after wrong number: %+v", pl.Dials)
	}
	mustResult(t, d, now.Add(2*time.Minute), pl.Dials[0].Attempt, Invalid)
	if st := d.Stats(now); st.Sales != 1 || st.Humans != 3 {
		t.Fatalf("stats %+v", st)
	}
	_, err := d.Result(now, "nope", Busy)
	wantErr(t, err, ErrUnknownAttempt)
	_, err = d.Result(now, "nope", Outcome(99))
	wantErr(t, err, ErrUnknownOutcome)
	if err := d.Apply(InPause); err != nil {
		t.Fatal(err)
	}
	if pl := d.Plan(now.Add(25*time.Hour), free("a1")); len(pl.Dials) != 0 || pl.State != Paused {
		t.Fatalf("paused campaign dialled: %+v", pl)
	}
	if err := d.Apply(InResume); err != nil {
		t.Fatal(err)
	}
	pl = d.Plan(now.Add(25*time.Hour), free("a1"))
	if len(pl.Dials) != 1 || pl.Dials[0].Contact != "c" {
		t.Fatalf("follow-up: %+v", pl.Dials)
	}
	mustResult(t, d, now.Add(25*time.Hour), pl.Dials[0].Attempt, Invalid)
	if pl := d.Plan(now.Add(26*time.Hour), free("a1")); !pl.Finished || pl.State != Finished {
		t.Fatalf("not finished: %+v", pl)
	}
}

func TestRingTimeoutHangup(t *testing.T) {
	d := newDialer(t, Config{Mode: Progressive, Windows: alwaysOpen()}, Contact{ID: "a", Numbers: []string{"+442070000001"}})
	pl := d.Plan(mon, free("a1"))
	if len(pl.Dials) != 1 || pl.Dials[0].RingTimeout != 20*time.Second {
		t.Fatalf("dial: %+v", pl.Dials)
	}
	if effs := d.Tick(mon.Add(19 * time.Second)); len(effs) != 0 {
		t.Fatal("hangup before the ring timeout")
	}
	effs := d.Tick(mon.Add(20 * time.Second))
	if len(effs) != 1 || effs[0].Kind != EffHangup {
		t.Fatalf("ring timeout: %+v", effs)
	}
	if effs := d.Tick(mon.Add(21 * time.Second)); len(effs) != 0 {
		t.Fatal("hangup sent twice")
	}
	if eff := mustResult(t, d, mon.Add(21*time.Second), pl.Dials[0].Attempt, NoAnswer); eff.Agent != "a1" {
		t.Fatalf("reserved agent not released: %+v", eff)
	}
}

func TestMaxLinesCountsCallsNotPreviews(t *testing.T) {
	var cs []Contact
	for i := 0; i < 50; i++ {
		cs = append(cs, Contact{ID: ContactID("k" + itoa(i)), Numbers: []string{"+44207" + itoa(1000000+i)}})
	}
	d := newDialer(t, Config{Mode: Predictive, Windows: alwaysOpen(), MaxLines: 5}, cs...)
	pl := d.Plan(mon, free("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"))
	if len(pl.Dials) != 5 {
		t.Fatalf("%d lines with MaxLines 5", len(pl.Dials))
	}
	// one is answered and connected: still a call on the trunk
	mustResult(t, d, mon.Add(time.Second), pl.Dials[0].Attempt, Human)
	if err := d.Connected(mon.Add(time.Second), pl.Dials[0].Attempt, "a1"); err != nil {
		t.Fatal(err)
	}
	mustResult(t, d, mon.Add(time.Second), pl.Dials[1].Attempt, Busy)
	if got := d.Plan(mon.Add(2*time.Second), free("a2", "a3", "a4", "a5", "a6", "a7", "a8")).Dials; len(got) != 1 {
		t.Fatalf("after one line ended: %d new lines, want 1", len(got))
	}
	p := newDialer(t, Config{Mode: Preview, Windows: alwaysOpen(), MaxLines: 1}, cs[:3]...)
	a, err := p.Preview(mon, "a1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Preview(mon, "a2")
	if err != nil {
		t.Fatalf("a preview took a line: %v", err)
	}
	if _, err := p.PreviewDial(mon, a.Attempt); err != nil {
		t.Fatal(err)
	}
	_, err = p.PreviewDial(mon, b.Attempt)
	wantErr(t, err, ErrNoLine)
}
