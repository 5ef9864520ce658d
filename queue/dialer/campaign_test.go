package dialer

import (
	"errors"
	"testing"
	"time"
)

func TestCampaignStateMachine(t *testing.T) {
	type step struct {
		in   Input
		want State
		ok   bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"lifecycle", []step{{InStart, Running, true}, {InPause, Paused, true}, {InResume, Running, true}, {InFinish, Finished, true}}},
		{"stop from draft", []step{{InStop, Stopped, true}, {InStart, Stopped, false}}},
		{"stop while paused", []step{{InStart, Running, true}, {InPause, Paused, true}, {InStop, Stopped, true}, {InResume, Stopped, false}}},
		{"no pause in draft", []step{{InPause, Draft, false}, {InResume, Draft, false}, {InFinish, Draft, false}}},
		{"finished is terminal", []step{{InStart, Running, true}, {InFinish, Finished, true}, {InStop, Finished, false}, {InStart, Finished, false}}},
		{"double start", []step{{InStart, Running, true}, {InStart, Running, false}, {InResume, Running, false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Config{ID: "x"})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				err := d.Apply(s.in)
				if s.ok != (err == nil) {
					t.Fatalf("step %d %s: err %v", i, s.in, err)
				}
				if err != nil {
					var te *TransitionError
					if !errors.As(err, &te) || !errors.Is(err, ErrInvalidTransition) || te.Input != s.in {
						t.Fatalf("step %d: want *TransitionError, got %v", i, err)
					}
				}
				if d.State() != s.want {
					t.Fatalf("step %d %s: state %s, want %s", i, s.in, d.State(), s.want)
				}
			}
		})
	}
	for s := Draft; s <= Stopped; s++ {
		if s.String() == "unknown" {
			t.Fatalf("state %d has no name", s)
		}
	}
	for in := InStart; in <= InStop; in++ {
		if in.String() == "unknown" {
			t.Fatalf("input %d has no name", in)
		}
	}
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := Config{ID: "x"}.WithDefaults()
	if c.RingTimeout < MinRingTimeout || c.AbandonLimit != 0.03 || c.AbandonWindow != 24*time.Hour ||
		c.SafeHarbour != 2*time.Second || c.Lockout != 72*time.Hour || c.Retry.Busy.After != 10*time.Minute ||
		c.Retry.NoAnswer.After != 2*time.Hour || !c.Retry.Machine.NextDay || c.MaxAttemptsPerNumber != 3 {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Config{
		{},
		{ID: "x", RingTimeout: 10 * time.Second},
		{ID: "x", AbandonLimit: 1.5},
		{ID: "x", AbandonWindow: time.Minute},
		{ID: "x", DefaultZone: "Mars/Olympus"},
		{ID: "x", Windows: []Window{{Days: []time.Weekday{time.Monday}, From: 10 * time.Hour, To: 9 * time.Hour}}},
		{ID: "x", Windows: []Window{{From: 9 * time.Hour, To: 10 * time.Hour}}},
		{ID: "x", Dispositions: []Disposition{{Code: "a"}, {Code: "a"}}},
		{ID: "x", Dispositions: []Disposition{{Code: "a", Final: true, Callback: true}}},
		{ID: "x", Mode: 9},
		{ID: "x", Retry: RetryRules{Busy: Retry{After: -time.Second}}},
	}
	for i, b := range bad {
		if _, err := New(b); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("bad config %d accepted: %v", i, err)
		}
	}
	for _, s := range []string{"preview", "progressive", "predictive"} {
		m, err := ParseMode(s)
		if err != nil || m.String() != s {
			t.Fatalf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMode("turbo"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("ParseMode(turbo): %v", err)
	}
}

func TestAddContactsAllOrNothing(t *testing.T) {
	d, err := New(Config{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	good := Contact{ID: "a", Numbers: []string{"+442071234567"}, Zone: "Europe/London"}
	for i, bad := range []Contact{
		{ID: "", Numbers: []string{"+442071234567"}},
		{ID: "b"},
		{ID: "b", Numbers: []string{"02071234567"}},
		{ID: "b", Numbers: []string{"+44 20 7123"}},
		{ID: "b", Numbers: []string{"+442071234567"}, Zone: "Nowhere/Land"},
		{ID: "b", Numbers: []string{"+442071234567"}, NumberZones: []string{"UTC", "UTC"}},
		{ID: "a", Numbers: []string{"+442071234567"}},
	} {
		err := d.AddContacts([]Contact{good, bad})
		if err == nil || !(errors.Is(err, ErrBadContact) || errors.Is(err, ErrDuplicateContact)) {
			t.Fatalf("bad contact %d: %v", i, err)
		}
		if st := d.Stats(mon); st.Contacts != 0 {
			t.Fatalf("bad contact %d: %d contacts half-imported", i, st.Contacts)
		}
	}
	if err := d.AddContacts([]Contact{good}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, d.AddContacts([]Contact{good}), ErrDuplicateContact)
}
