package store

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An attempt's retry timer and dead flag survive later saves that do not set them,
// and EachCampaignAttempt streams a campaign's attempts oldest first.
func TestAttemptRetryTimerStored(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		a := CampaignAttempt{ID: "a1", CampaignID: "c1", ContactID: "k1", Number: "+447700900001", Placed: t0}
		require.NoError(t, s.SaveDurable(ctx, a))
		a.Outcome, a.Ended, a.RetryAt = "busy", t0.Add(5*time.Second), t0.Add(10*time.Minute+5*time.Second)
		require.NoError(t, s.SaveDurable(ctx, a))
		require.NoError(t, s.SaveDurable(ctx, CampaignAttempt{ID: "a1", CampaignID: "c1", ContactID: "k1", Number: "+447700900001", Notes: "later"}))
		require.NoError(t, s.SaveDurable(ctx, CampaignAttempt{ID: "a0", CampaignID: "c1", ContactID: "k2", Number: "+447700900002",
			Placed: t0.Add(-time.Minute), Outcome: "invalid", NumberDead: true}))
		require.NoError(t, s.SaveDurable(ctx, CampaignAttempt{ID: "x", CampaignID: "c2", ContactID: "k3", Number: "+447700900003", Placed: t0}))
		var got []CampaignAttempt
		require.NoError(t, s.EachCampaignAttempt(ctx, "c1", func(a CampaignAttempt) error {
			got = append(got, a)
			return nil
		}))
		require.Len(t, got, 2)
		require.Equal(t, "a0", got[0].ID)
		require.True(t, got[0].NumberDead)
		require.True(t, got[0].RetryAt.IsZero())
		require.Equal(t, "a1", got[1].ID)
		require.Equal(t, t0.Add(10*time.Minute+5*time.Second), got[1].RetryAt)
		require.False(t, got[1].NumberDead)
		require.Equal(t, "later", got[1].Notes)
	})
}

// The campaign lease: one holder at a time, renewed by its holder, refused to another
// node until it expires, then taken over; released leases are free at once. Nodes
// racing for a free lease: exactly one wins.
func TestCampaignLease(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		ttl := 15 * time.Second
		_, err := s.CampaignLease(ctx, "c1")
		require.ErrorIs(t, err, ErrNotFound)
		l, err := s.AcquireLease(ctx, "c1", "node-a", t0, ttl)
		require.NoError(t, err)
		require.Equal(t, "node-a", l.Owner)
		require.Equal(t, t0.Add(ttl), l.Expires)
		l, err = s.AcquireLease(ctx, "c1", "node-b", t0.Add(5*time.Second), ttl)
		require.ErrorIs(t, err, ErrLeaseHeld)
		require.Equal(t, "node-a", l.Owner)
		l, err = s.AcquireLease(ctx, "c1", "node-a", t0.Add(10*time.Second), ttl) // renewal
		require.NoError(t, err)
		require.Equal(t, t0.Add(25*time.Second), l.Expires)
		require.Equal(t, t0, l.Acquired)
		_, err = s.AcquireLease(ctx, "c1", "node-b", t0.Add(24*time.Second), ttl)
		require.ErrorIs(t, err, ErrLeaseHeld, "taken before the renewed lease expired")
		l, err = s.AcquireLease(ctx, "c1", "node-b", t0.Add(25*time.Second), ttl) // node-a died
		require.NoError(t, err)
		require.Equal(t, "node-b", l.Owner)
		require.Equal(t, t0.Add(25*time.Second), l.Acquired)
		_, err = s.AcquireLease(ctx, "c1", "node-a", t0.Add(26*time.Second), ttl)
		require.ErrorIs(t, err, ErrLeaseHeld, "the old holder came back: it must not take the lease back")
		require.NoError(t, s.ReleaseLease(ctx, "c1", "node-a"), "releasing a lease one does not hold is a no-op")
		require.NoError(t, s.ReleaseLease(ctx, "c1", "node-b"))
		_, err = s.AcquireLease(ctx, "c1", "node-a", t0.Add(27*time.Second), ttl)
		require.NoError(t, err)
		_, err = s.AcquireLease(ctx, "", "node-a", t0, ttl)
		require.ErrorIs(t, err, ErrInvalidRecord)
		_, err = s.AcquireLease(ctx, "c1", "node-a", t0, 0)
		require.ErrorIs(t, err, ErrInvalidRecord)

		// a race for a free lease
		var mu sync.Mutex
		won := 0
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				_, err := s.AcquireLease(ctx, "race", string(rune('a'+i)), t0, ttl)
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
					return
				}
				if !errors.Is(err, ErrLeaseHeld) {
					t.Errorf("racing for the lease: %v", err)
				}
			})
		}
		wg.Wait()
		require.Equal(t, 1, won)
	})
}

// A lease still held by a run that is gone is taken over from that owner only: not
// from another owner, and the new owner then renews it as usual.
func TestTakeOverLease(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		ttl := 15 * time.Second
		require.ErrorIs(t, s.TakeOverLease(ctx, "c1", "dead", "node-b", t0, ttl), ErrLeaseHeld, "no lease at all")
		_, err := s.AcquireLease(ctx, "c1", "dead", t0, ttl)
		require.NoError(t, err)
		require.ErrorIs(t, s.TakeOverLease(ctx, "c1", "node-x", "node-b", t0.Add(time.Second), ttl), ErrLeaseHeld)
		require.NoError(t, s.TakeOverLease(ctx, "c1", "dead", "node-b", t0.Add(time.Second), ttl))
		l, err := s.CampaignLease(ctx, "c1")
		require.NoError(t, err)
		require.Equal(t, "node-b", l.Owner)
		require.Equal(t, t0.Add(time.Second+ttl), l.Expires)
		_, err = s.AcquireLease(ctx, "c1", "dead", t0.Add(2*time.Second), ttl)
		require.ErrorIs(t, err, ErrLeaseHeld)
		_, err = s.AcquireLease(ctx, "c1", "node-b", t0.Add(2*time.Second), ttl)
		require.NoError(t, err)
		require.ErrorIs(t, s.TakeOverLease(ctx, "", "dead", "node-b", t0, ttl), ErrInvalidRecord)
	})
}
