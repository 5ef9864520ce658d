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
