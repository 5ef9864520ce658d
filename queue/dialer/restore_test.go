package dialer

import (
	"testing"
	"time"
)

// History from an earlier run: attempts count against the caps, a lockout keeps a
// pooled (predictive) line off the number, and only undialled contacts take it.
func TestRestoreHistory(t *testing.T) {
	cfg := Config{ID: "c1", Mode: Progressive, Windows: alwaysOpen(), MaxAttemptsPerNumber: 2}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddContacts([]Contact{{ID: "a", Numbers: []string{"+442079460001"}}, {ID: "b", Numbers: []string{"+442079460002"}}}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, d.Restore(NumberHistory{Contact: "zz", Number: "+442079460001", Attempts: 1}), ErrUnknownContact)
	wantErr(t, d.Restore(NumberHistory{Contact: "a", Number: "+442079460009", Attempts: 1}), ErrBadContact)
	wantErr(t, d.Restore(NumberHistory{Contact: "a", Number: "+442079460001", Attempts: -1}), ErrBadContact)
	if err := d.Restore(NumberHistory{Contact: "a", Number: "+442079460001", Attempts: 2}); err != nil {
		t.Fatal(err)
	}
	if _, n, err := d.ContactState("a"); err != nil || n != 2 {
		t.Fatalf("attempts of a: %d %v", n, err)
	}
	if err := d.Apply(InStart); err != nil {
		t.Fatal(err)
	}
	plan := d.Plan(mon, free("x", "y"))
	if len(plan.Dials) != 1 || plan.Dials[0].Contact != "b" {
		t.Fatalf("dials %+v: want only b (a used its 2 attempts before the restart)", plan.Dials)
	}
	wantErr(t, d.Restore(NumberHistory{Contact: "b", Number: "+442079460002", Attempts: 1}), ErrAttemptState)
	if st, _, _ := d.ContactState("a"); st != "done:exhausted" {
		t.Fatalf("a is %s", st)
	}

	// predictive: a number locked out by an earlier run's abandon waits for its end
	p, err := New(Config{ID: "c2", Mode: Predictive, Windows: alwaysOpen()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddContacts([]Contact{{ID: "a", Numbers: []string{"+442079460001"}}}); err != nil {
		t.Fatal(err)
	}
	until := mon.Add(72 * time.Hour)
	if err := p.Restore(NumberHistory{Contact: "a", Number: "+442079460001", Attempts: 1, LockedUntil: until}); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(InStart); err != nil {
		t.Fatal(err)
	}
	if plan := p.Plan(mon, free("x")); len(plan.Dials) != 0 {
		t.Fatalf("a locked-out number was dialled on a pooled line: %+v", plan.Dials)
	}
	if st, _, _ := p.ContactState("a"); st == "new" || st[:4] == "done" {
		t.Fatalf("the locked-out contact is %s, want scheduled for after the lockout", st)
	}
}

// A retry timer from an earlier run holds (a busy number due at 12:10 is not dialled
// at 12:05, and is at 12:10); a dead number is never dialled; the Effect of a line's
// end carries the number's timer so the runner can persist it.
func TestRestoreRetryTimerAndDeadNumber(t *testing.T) {
	d, err := New(Config{ID: "c1", Mode: Progressive, Windows: alwaysOpen(), Retry: RetryRules{Busy: Retry{After: 10 * time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddContacts([]Contact{{ID: "a", Numbers: []string{"+442079460001"}},
		{ID: "b", Numbers: []string{"+442079460002", "+442079460003"}}}); err != nil {
		t.Fatal(err)
	}
	due := mon.Add(10 * time.Minute)
	if err := d.Restore(NumberHistory{Contact: "a", Number: "+442079460001", Attempts: 1, NextAt: due}); err != nil {
		t.Fatal(err)
	}
	if err := d.Restore(NumberHistory{Contact: "b", Number: "+442079460002", Attempts: 1, Dead: true}); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(InStart); err != nil {
		t.Fatal(err)
	}
	at := mon.Add(5 * time.Minute)
	plan := d.Plan(at, free("x", "y"))
	if len(plan.Dials) != 1 || plan.Dials[0].Contact != "b" || plan.Dials[0].Number != "+442079460003" {
		t.Fatalf("dials at 12:05: %+v (want only b, on its live number)", plan.Dials)
	}
	if st, _, _ := d.ContactState("a"); st != "scheduled" {
		t.Fatalf("a is %s at 12:05, want scheduled", st)
	}
	eff := mustResult(t, d, at.Add(time.Second), plan.Dials[0].Attempt, Busy)
	if !eff.NumberAt.Equal(at.Add(time.Second+10*time.Minute)) || eff.NumberDead {
		t.Fatalf("busy effect %+v: want the number's retry timer", eff)
	}
	if plan := d.Plan(due.Add(-time.Second), free("x")); len(plan.Dials) != 0 {
		t.Fatalf("dialled before the restored timer: %+v", plan.Dials)
	}
	if plan := d.Plan(due, free("x")); len(plan.Dials) != 1 || plan.Dials[0].Contact != "a" {
		t.Fatalf("dials at the restored timer: %+v", plan.Dials)
	}
	eff = mustResult(t, d, due.Add(time.Second), d.live[0].id, Invalid)
	if !eff.NumberDead {
		t.Fatalf("invalid effect %+v: want the number dead", eff)
	}
}

// The rolling abandon window of an earlier run counts: 3 abandons in 100 live answers
// restored at 3 % leave no budget, samples older than the window are dropped.
func TestRestoreAbandons(t *testing.T) {
	d := newDialer(t, Config{Mode: Predictive, Windows: alwaysOpen()})
	bad := []AbandonSample{{At: mon, Answered: 1, Abandons: 2}}
	wantErr(t, d.RestoreAbandons(mon, bad), ErrBadHistory)
	wantErr(t, d.RestoreAbandons(mon, []AbandonSample{{At: mon, Answered: -1}}), ErrBadHistory)
	samples := []AbandonSample{
		{At: mon.Add(-time.Hour), Answered: 59, Abandons: 2},
		{At: mon.Add(time.Second), Answered: 1},                    // another node's clock ahead: counted now
		{At: mon.Add(-25 * time.Hour), Answered: 500, Abandons: 0}, // outside the 24 h window
		{At: mon.Add(-3 * time.Hour), Answered: 40, Abandons: 1},
	}
	if err := d.RestoreAbandons(mon, samples); err != nil {
		t.Fatal(err)
	}
	st := d.Stats(mon)
	if st.LiveAnswered != 100 || st.AbandonRate != 0.03 {
		t.Fatalf("restored window: %d answered, rate %v; want 100, 0.03", st.LiveAnswered, st.AbandonRate)
	}
	d.RestoreConnects([]bool{true, false, false, false})
	if st := d.Stats(mon); st.ConnectRate <= 0 {
		t.Fatalf("connect rate %v", st.ConnectRate)
	}
}

// A line an agent still talks on after a restart is taken back connected: the
// contact is in progress (not dialled again, not counted again), the line is in use,
// the abandon window is untouched, and the agent's disposition ends it as usual;
// a contact already in progress or done, an unknown number or a second line for the
// same agent is refused.
func TestRestoreConnectedTakesTheDisposition(t *testing.T) {
	cfg := Config{ID: "c1", Mode: Progressive, Windows: alwaysOpen(), Retry: RetryRules{NoAnswer: Retry{After: time.Hour}}}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddContacts([]Contact{{ID: "a", Numbers: []string{"+442079460001"}}, {ID: "b", Numbers: []string{"+442079460002"}},
		{ID: "c", Numbers: []string{"+442079460003"}}}); err != nil {
		t.Fatal(err)
	}
	// the earlier run dialled a (cut by the restart: parked as after no answer)
	if err := d.Restore(NumberHistory{Contact: "a", Number: "+442079460001", Attempts: 1, NextAt: mon.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(InStart); err != nil {
		t.Fatal(err)
	}
	_, err = d.RestoreConnected("zz", "+442079460001", "x", mon)
	wantErr(t, err, ErrUnknownContact)
	_, err = d.RestoreConnected("a", "+442079460009", "x", mon)
	wantErr(t, err, ErrBadContact)
	id, err := d.RestoreConnected("a", "+442079460001", "x", mon.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.RestoreConnected("a", "+442079460001", "y", mon)
	wantErr(t, err, ErrAttemptState)
	if st, n, _ := d.ContactState("a"); st != "in-progress" || n != 1 {
		t.Fatalf("a is %s after %d attempts", st, n)
	}
	s := d.Stats(mon)
	if s.InProgress != 1 || s.Dials != 0 || s.Humans != 0 || s.LiveAnswered != 0 || s.Ringing != 0 || s.Waiting != 0 {
		t.Fatalf("stats %+v", s)
	}
	// the progressive plan dials b for y only: x is on the restored line
	plan := d.Plan(mon, free("y"))
	if len(plan.Dials) != 1 || plan.Dials[0].Contact != "b" {
		t.Fatalf("dials %+v", plan.Dials)
	}
	eff, err := d.Disposition(mon.Add(time.Minute), id, "sale", CallbackRequest{})
	if err != nil || eff.Kind != EffDone {
		t.Fatalf("disposition %+v %v", eff, err)
	}
	if st, n, _ := d.ContactState("a"); st != "done:sale" || n != 1 {
		t.Fatalf("a is %s after %d attempts", st, n)
	}
	if s := d.Stats(mon.Add(time.Minute)); s.Sales != 1 || s.InProgress != 1 {
		t.Fatalf("stats after the disposition %+v", s)
	}
	// a contact done or in progress cannot be taken back
	_, err = d.RestoreConnected("a", "+442079460001", "x", mon)
	wantErr(t, err, ErrAttemptState)
	_, err = d.RestoreConnected("b", "+442079460002", "x", mon)
	wantErr(t, err, ErrAttemptState)
	// a new contact (never dialled here) can
	if _, err := d.RestoreConnected("c", "+442079460003", "x", mon); err != nil {
		t.Fatal(err)
	}
}
