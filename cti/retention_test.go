package cti_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
)

// fakeClock fires After channels only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	changed chan struct{} // signalled when a waiter is added
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, changed: make(chan struct{}, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return ch
}

// waitTimer waits until someone waits on the clock and returns when it fires.
func (c *fakeClock) waitTimer(t *testing.T) time.Time {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		if n := len(c.waiters); n > 0 {
			at := c.waiters[n-1].at
			c.mu.Unlock()
			return at
		}
		c.mu.Unlock()
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatal("nobody waits on the clock")
		}
	}
}

// set moves the clock to at and fires the waiters that are due.
func (c *fakeClock) set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(at) {
			w.ch <- at
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

func TestRetentionJobRunsDaily(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(time.Date(2026, 12, 1, 10, 0, 0, 0, loc))
	calls := make(chan time.Time)
	fail := make(chan bool, 1)
	fail <- false
	job, err := cti.NewRetentionJob(cti.RetentionParams{
		Purge: func(ctx context.Context, now time.Time) (store.PurgeResult, error) {
			calls <- now
			if <-fail {
				return store.PurgeResult{}, errors.New("disk I/O error")
			}
			return store.PurgeResult{Interactions: 3}, nil
		},
		RunAt: "03:30", Location: loc, Clock: clock, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()

	purged := func(want time.Time) {
		t.Helper()
		select {
		case got := <-calls:
			if !got.Equal(want) {
				t.Fatalf("purge at %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no purge")
		}
	}
	// First run: the next 03:30 local.
	first := clock.waitTimer(t)
	if want := time.Date(2026, 12, 2, 3, 30, 0, 0, loc); !first.Equal(want) {
		t.Fatalf("first run at %s, want %s", first, want)
	}
	clock.set(first)
	purged(first)
	// Then the day after; that run fails and is retried an hour later.
	second := clock.waitTimer(t)
	if want := time.Date(2026, 12, 3, 3, 30, 0, 0, loc); !second.Equal(want) {
		t.Fatalf("second run at %s, want %s", second, want)
	}
	fail <- true
	clock.set(second)
	purged(second)
	retry := clock.waitTimer(t)
	if want := second.Add(time.Hour); !retry.Equal(want) {
		t.Fatalf("retry at %s, want %s", retry, want)
	}
	fail <- false
	clock.set(retry)
	purged(retry)
	if next := clock.waitTimer(t); !next.Equal(time.Date(2026, 12, 4, 3, 30, 0, 0, loc)) {
		t.Fatalf("after the retry, next run at %s", next)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestRetentionJobConfig(t *testing.T) {
	purge := func(context.Context, time.Time) (store.PurgeResult, error) { return store.PurgeResult{}, nil }
	for _, at := range []string{"25:00", "3h", "noon"} {
		if _, err := cti.NewRetentionJob(cti.RetentionParams{Purge: purge, RunAt: at}); !errors.Is(err, cti.ErrInvalidConfig) {
			t.Errorf("run_at %q: %v", at, err)
		}
	}
	if _, err := cti.NewRetentionJob(cti.RetentionParams{RunAt: "03:30"}); !errors.Is(err, cti.ErrInvalidConfig) {
		t.Errorf("no purge: %v", err)
	}
}
