package cti

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeLeaser answers lease renewals with err (nil: granted, renew every 5 s).
type fakeLeaser struct{ err error }

func (f *fakeLeaser) LoadCampaign(context.Context, string) (CampaignDef, error) {
	return CampaignDef{}, errors.New("not used")
}
func (f *fakeLeaser) CampaignState(context.Context, string, string) error { return nil }
func (f *fakeLeaser) ActiveCampaigns(context.Context) ([]string, error)   { return nil, nil }
func (f *fakeLeaser) ReleaseCampaign(context.Context, string) error       { return nil }
func (f *fakeLeaser) LeaseCampaign(context.Context, string, time.Time) (time.Duration, string, error) {
	if f.err != nil {
		return 0, "", f.err
	}
	return 5 * time.Second, "running", nil
}

// The lease as the actor sees it: a renewal the store did not answer keeps the lease
// (and dialing) until the lease's end, then the node stops; a lease another node took
// stops the node at once; a standby node never dials.
func TestLeaseRenewalFailures(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	f := &fakeLeaser{}
	o := &Orchestrator{camps: newCampaignSet()}
	o.camps.catalog = f
	c := &campaignActor{o: o, id: "c1", log: zerolog.Nop()}

	if !c.takeLease(ctx, t0) || !c.lease.dialing(t0) {
		t.Fatal("lease not taken")
	}
	f.err = errors.New("database unreachable")
	if !c.takeLease(ctx, t0.Add(5*time.Second)) || !c.lease.dialing(t0.Add(5*time.Second)) {
		t.Fatal("an unanswered renewal dropped a lease that is still ours")
	}
	if !c.lease.renewAt.Equal(t0.Add(6 * time.Second)) {
		t.Fatalf("retry at %s, want a second later", c.lease.renewAt)
	}
	if c.lease.dialing(t0.Add(15 * time.Second)) {
		t.Fatal("dialing after the lease's end")
	}
	if c.takeLease(ctx, t0.Add(15*time.Second)) || c.lease.held || !c.lease.stale {
		t.Fatalf("lease at its end without renewal: %+v", c.lease)
	}

	f.err = nil
	if !c.takeLease(ctx, t0.Add(16*time.Second)) {
		t.Fatal("lease not taken back")
	}
	f.err = errors.Join(ErrLeaseHeld, errors.New("node-b"))
	if c.takeLease(ctx, t0.Add(21*time.Second)) || c.lease.dialing(t0.Add(21*time.Second)) {
		t.Fatal("dialing on after another node took the lease")
	}
	s := &campaignActor{o: o, id: "c2", log: zerolog.Nop()}
	if s.takeLease(ctx, t0) || s.lease.dialing(t0) || s.lease.stale {
		t.Fatalf("standby node: %+v", s.lease)
	}
}
