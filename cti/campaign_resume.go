package cti

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue/dialer"
)

// Resuming a campaign after a restart, and running it on one node of several.
//
// Pacing history: the rolling abandon window (live answers and abandons of the
// earlier run) and the measured connect rate are read back from the attempts, so
// that a restart neither resets the abandon cap nor re-learns the connect rate.
//
// Lease: with a CampaignLeaser catalog (StoreCampaigns), a campaign dials only on the
// node holding its lease. The holder renews it every third of its time to live; a
// node that cannot renew stops placing lines (the calls in progress finish), a node
// that never held it waits (standby) and takes over once the holder released it or
// its lease expired, with a dialer rebuilt from the store (the other node's
// attempts, retry timers, lockouts and callbacks).

// ErrLeaseHeld: another ctid node runs the campaign (holds its lease).
var ErrLeaseHeld = errors.New("cti: campaign runs on another node")

// PacingHistory is what an earlier run measured: the live answers and abandons of the
// rolling abandon window and the last attempts' connects (oldest first).
type PacingHistory struct {
	Abandons []dialer.AbandonSample
	Connects []bool
}

// PacingSource is a ContactSource that also has the earlier run's pacing history.
type PacingSource interface {
	CampaignPacing(ctx context.Context, campaign string) (PacingHistory, error)
}

// CampaignLeaser is a CampaignCatalog that arbitrates which node runs a campaign.
type CampaignLeaser interface {
	// LeaseCampaign takes or renews the campaign's lease for this node at now;
	// ErrLeaseHeld when another node holds it. It returns the lease's renewal period
	// and the campaign's stored state (a lifecycle command given on another node).
	LeaseCampaign(ctx context.Context, id string, now time.Time) (every time.Duration, state string, err error)
	// ReleaseCampaign gives the lease up (this node stops running the campaign).
	ReleaseCampaign(ctx context.Context, id string) error
}

// leaseState is a campaign actor's view of its lease (no leaser: always held).
type leaseState struct {
	leaser  CampaignLeaser
	held    bool
	until   time.Time // dial only before (the lease's end as last renewed)
	renewAt time.Time // renew at
	stale   bool      // the dialer ran under a lease since lost: rebuild before dialing
	stored  string    // the campaign's state in the store at the last renewal
}

// dialing: the node may place lines at now.
func (l *leaseState) dialing(now time.Time) bool {
	return l.leaser == nil || (l.held && now.Before(l.until))
}

func (c *campaignActor) leaser() CampaignLeaser {
	if c.id == manualCampaign {
		return nil
	}
	l, ok := c.o.catalog().(CampaignLeaser)
	if !ok {
		return nil
	}
	return l
}

// takeLease tries to take or renew the lease at now; false: another node holds it,
// or the store could not be asked (the campaign waits).
func (c *campaignActor) takeLease(ctx context.Context, now time.Time) bool {
	l := c.leaser()
	c.lease.leaser = l
	if l == nil {
		return true
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	every, state, err := l.LeaseCampaign(lctx, c.id, now)
	if err != nil {
		if c.lease.held && !errors.Is(err, ErrLeaseHeld) && now.Before(c.lease.until) {
			// the store did not answer: the lease is still ours until it expires
			// (nobody can take it before), so dial on and retry in a second
			c.log.Warn().Err(err).Time("until", c.lease.until).Msg("campaign lease not renewed; retrying")
			c.lease.renewAt = now.Add(time.Second)
			return true
		}
		if c.lease.held {
			c.log.Warn().Err(err).Msg("campaign lease lost: no new lines from this node")
			c.lease.stale = true
		} else if !errors.Is(err, ErrLeaseHeld) {
			c.log.Warn().Err(err).Msg("campaign lease not taken")
		}
		c.lease.held = false
		c.lease.renewAt = now.Add(time.Second)
		return false
	}
	if !c.lease.held {
		c.log.Info().Msg("campaign lease taken: this node dials the campaign")
	}
	c.lease.held, c.lease.until, c.lease.renewAt, c.lease.stored = true, now.Add(3*every), now.Add(every), state
	return true
}

// followStored applies a lifecycle change another node wrote to the store (a
// supervisor's command there) to the campaign this node runs.
func (c *campaignActor) followStored(ctx context.Context) {
	st, stored := c.d.State(), c.lease.stored
	var in dialer.Input
	switch {
	case stored == dialer.Paused.String() && st == dialer.Running:
		in = dialer.InPause
	case stored == dialer.Running.String() && st == dialer.Paused:
		in = dialer.InResume
	case (stored == dialer.Stopped.String() || stored == dialer.Finished.String()) && (st == dialer.Running || st == dialer.Paused):
		in = dialer.InStop
		c.savedState = stored // never rewrite the stored end
	default:
		return
	}
	c.log.Info().Str("stored", stored).Msg("campaign state changed on another node")
	if err := c.lifecycle(ctx, campLifecycle{in: in}); err != nil {
		c.log.Warn().Err(err).Msg("following the stored campaign state")
	}
}

// standbyCommand: a lifecycle command on a node that does not run the campaign is
// written to the store, where the running node follows it at its next renewal.
func (c *campaignActor) standbyCommand(ctx context.Context, m campLifecycle) (bool, error) {
	if c.lease.leaser == nil || c.lease.held || c.d.State() != dialer.Draft {
		return false, nil
	}
	cat := c.o.catalog()
	if cat == nil {
		return false, nil
	}
	to := ""
	switch {
	case m.start || m.in == dialer.InResume:
		to = dialer.Running.String()
	case m.in == dialer.InPause:
		to = dialer.Paused.String()
	case m.in == dialer.InStop:
		to = dialer.Stopped.String()
	default:
		return false, nil
	}
	if err := cat.CampaignState(ctx, c.id, to); err != nil {
		return true, err
	}
	c.log.Info().Str("state", to).Msg("campaign runs on another node: state stored for it")
	return true, nil
}

// checkLease renews the lease when due; a standby actor that takes it over loads
// the campaign from the store (again, if it ran it before losing the lease).
func (c *campaignActor) checkLease(ctx context.Context, now time.Time) {
	if c.lease.leaser == nil || now.Before(c.lease.renewAt) {
		return
	}
	standby := !c.lease.held
	if standby && len(c.lines) > 0 {
		return // the calls placed under the lost lease finish first
	}
	if !c.takeLease(ctx, now) {
		return
	}
	if !standby {
		c.followStored(ctx)
		return
	}
	if c.d.State() == dialer.Draft && !c.lease.stale {
		if err := c.lifecycle(ctx, campLifecycle{start: true}); err != nil {
			c.log.Error().Err(err).Msg("campaign not started after taking its lease")
			return
		}
		c.applyStoredState(ctx)
		return
	}
	if err := c.rebuild(ctx); err != nil {
		c.log.Error().Err(err).Msg("campaign not reloaded after taking its lease back")
	}
}

// applyStoredState follows the state the store has for the campaign: paused there
// (by another node) pauses here; finished or stopped ends the actor.
func (c *campaignActor) applyStoredState(ctx context.Context) {
	cat := c.o.catalog()
	if cat == nil {
		return
	}
	def, err := cat.LoadCampaign(ctx, c.id)
	switch {
	case errors.Is(err, ErrCampaignOver):
		c.savedState = dialer.Stopped.String()
		if err := c.d.Apply(dialer.InStop); err != nil {
			c.log.Warn().Err(err).Msg("ending a campaign that is over")
		}
	case err != nil:
		c.log.Warn().Err(err).Msg("reading the campaign's stored state")
	case def.State == "paused" && c.d.State() == dialer.Running:
		if err := c.lifecycle(ctx, campLifecycle{in: dialer.InPause}); err != nil {
			c.log.Warn().Err(err).Msg("pausing as stored")
		}
	}
}

// rebuild replaces a stale dialer (the campaign ran elsewhere meanwhile) with one
// loaded from the store. No line is live (checkLease waits for them).
func (c *campaignActor) rebuild(ctx context.Context) error {
	d, err := dialer.New(c.dcfg)
	if err != nil {
		return err
	}
	c.d, c.lease.stale = d, false
	c.contacts = map[dialer.ContactID]CampaignContact{}
	c.rejected, c.pace = 0, dialer.PaceDecision{}
	c.savedState = ""
	if err := c.lifecycle(ctx, campLifecycle{start: true}); err != nil {
		return err
	}
	c.applyStoredState(ctx)
	return nil
}

// releaseLease gives the lease up as the actor ends.
func (c *campaignActor) releaseLease(ctx context.Context) {
	if c.lease.leaser == nil || !c.lease.held {
		return
	}
	c.lease.held = false
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := c.lease.leaser.ReleaseCampaign(rctx, c.id); err != nil {
		c.log.Warn().Err(err).Msg("campaign lease not released (it expires)")
	}
}

// restorePacing gives a freshly loaded dialer the earlier run's pacing history.
func (c *campaignActor) restorePacing(ctx context.Context) {
	src, ok := c.o.contacts.(PacingSource)
	if !ok {
		return
	}
	h, err := src.CampaignPacing(ctx, c.id)
	if err != nil {
		c.log.Warn().Err(err).Msg("pacing history not read: the abandon window starts empty")
		return
	}
	if err := c.d.RestoreAbandons(c.o.now(), h.Abandons); err != nil {
		c.log.Warn().Err(err).Msg("abandon window not restored")
	}
	c.d.RestoreConnects(h.Connects)
}

// --- StoreCampaigns: pacing history and leases ----------------------------------------

// connectHistory is how many of the last attempts the connect rate is restored from.
const connectHistory = 2000

// CampaignPacing implements PacingSource: live answers (connected to an agent) and
// abandons of the last 31 days by minute, and the last attempts' connects.
func (s *StoreCampaigns) CampaignPacing(ctx context.Context, campaign string) (PacingHistory, error) {
	cut := s.p.Now().Add(-31 * 24 * time.Hour)
	buckets := map[int64]*dialer.AbandonSample{}
	var order []int64
	hits := make([]bool, 0, 64)
	add := func(at time.Time, abandon bool) {
		if at.Before(cut) {
			return
		}
		k := at.Truncate(time.Minute).UnixNano()
		b := buckets[k]
		if b == nil {
			b = &dialer.AbandonSample{At: at.Truncate(time.Minute)}
			buckets[k] = b
			order = append(order, k)
		}
		b.Answered++
		if abandon {
			b.Abandons++
		}
	}
	err := s.p.Store.EachCampaignAttempt(ctx, campaign, func(a store.CampaignAttempt) error {
		switch {
		case a.Outcome == "abandoned" && !a.Ended.IsZero():
			add(a.Ended, true)
		case !a.Connected.IsZero():
			add(a.Connected, false)
		}
		if a.Outcome != "skipped" && (a.Outcome != "" || !a.Answered.IsZero()) {
			if len(hits) == connectHistory {
				hits = append(hits[:0], hits[connectHistory/2:]...)
			}
			hits = append(hits, !a.Answered.IsZero())
		}
		return nil
	})
	if err != nil {
		return PacingHistory{}, err
	}
	h := PacingHistory{Connects: hits, Abandons: make([]dialer.AbandonSample, 0, len(order))}
	for _, k := range order {
		h.Abandons = append(h.Abandons, *buckets[k])
	}
	return h, nil
}

// LeaseCampaign implements CampaignLeaser over the store's campaign_leases.
func (s *StoreCampaigns) LeaseCampaign(ctx context.Context, id string, now time.Time) (time.Duration, string, error) {
	if ls, ok := s.p.Store.(LeaseStore); ok {
		if _, err := ls.AcquireLease(ctx, id, s.p.NodeID, now, s.p.LeaseTTL); err != nil {
			if errors.Is(err, store.ErrLeaseHeld) {
				return 0, "", errors.Join(ErrLeaseHeld, err)
			}
			return 0, "", err
		}
	} // else a store without leases: a single node
	sc, err := s.p.Store.Campaign(ctx, id)
	if err != nil {
		return 0, "", err
	}
	return s.p.LeaseTTL / 3, sc.State, nil
}

// ReleaseCampaign implements CampaignLeaser.
func (s *StoreCampaigns) ReleaseCampaign(ctx context.Context, id string) error {
	ls, ok := s.p.Store.(LeaseStore)
	if !ok {
		return nil
	}
	return ls.ReleaseLease(ctx, id, s.p.NodeID)
}

// LeaseStore is the store's campaign leases (*store.Store).
type LeaseStore interface {
	AcquireLease(ctx context.Context, campaignID, owner string, now time.Time, ttl time.Duration) (store.Lease, error)
	ReleaseLease(ctx context.Context, campaignID, owner string) error
}

// defaultNodeID is host name, process id and a random suffix.
func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "ctid"
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}

// runNonce makes a run's call ids unique across runs (they are the attempts' keys in
// the store): the clock's sub-second part alone repeats on a restart at a whole
// second (or on a virtual clock).
func runNonce(now time.Time) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(now.UnixNano()%1e9, 36)
	}
	return strconv.FormatInt(now.UnixNano()%1e9, 36) + fmt.Sprintf("%x", b)
}
