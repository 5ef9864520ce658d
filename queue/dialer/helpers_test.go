package dialer

import (
	"errors"
	"testing"
	"time"

	"github.com/ctid/ctid/queue"
)

// mon is Monday 2026-11-23 12:00 UTC.
var mon = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var allWeek = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}

func alwaysOpen() []Window { return []Window{{Days: allWeek, From: 0, To: 24 * time.Hour}} }

func newDialer(t testing.TB, cfg Config, cs ...Contact) *Dialer {
	t.Helper()
	if cfg.ID == "" {
		cfg.ID = "c1"
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.AddContacts(cs); err != nil {
		t.Fatalf("AddContacts: %v", err)
	}
	if err := d.Apply(InStart); err != nil {
		t.Fatalf("start: %v", err)
	}
	return d
}

func agents(ids ...string) []queue.AgentID {
	out := make([]queue.AgentID, len(ids))
	for i, s := range ids {
		out[i] = queue.AgentID(s)
	}
	return out
}

func free(ids ...string) Load { a := agents(ids...); return Load{Free: a, LikelyFree: len(a)} }

func mustResult(t testing.TB, d *Dialer, now time.Time, id AttemptID, o Outcome) Effect {
	t.Helper()
	eff, err := d.Result(now, id, o)
	if err != nil {
		t.Fatalf("Result(%s, %s): %v", id, o, err)
	}
	return eff
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func contactsOf(dials []Dial) []ContactID {
	out := make([]ContactID, len(dials))
	for i, d := range dials {
		out[i] = d.Contact
	}
	return out
}
