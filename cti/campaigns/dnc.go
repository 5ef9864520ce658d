package campaigns

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ctid/ctid/cti/store"
)

// DNCStore is where the do-not-call lists live (*store.Store).
type DNCStore interface {
	AddDNC(ctx context.Context, entries ...store.DNCEntry) (int, error)
	RemoveDNC(ctx context.Context, scope, number string) error
	EachDNC(ctx context.Context, fn func(store.DNCEntry) error) error
}

// DNC is the do-not-call check: the internal list (every campaign, manual dials too)
// and each campaign's own list, held in memory (8 bytes a number) and written through
// to the store before a change is acknowledged. Safe for concurrent use; lookups
// never block on the database, so the dialer can call them on its loop.
//
// It cannot be bypassed by how a number is typed: CheckDial normalises to E.164 first,
// and a number that does not normalise is refused rather than dialled unchecked.
type DNC struct {
	st       DNCStore
	reloadMu sync.Mutex // one Reload at a time
	mu       sync.RWMutex
	sets     map[string]map[uint64]struct{} // scope ("" = internal list) → numbers
	// While a Reload reads the store, additions are also noted here and merged into
	// the new sets, so none is lost between the read and the swap.
	reloading bool
	during    []dncKey
}

type dncKey struct {
	scope string
	key   uint64
}

func key(e164 string) (uint64, bool) {
	if len(e164) < 2 || e164[0] != '+' || e164[1] == '0' {
		return 0, false
	}
	v, err := strconv.ParseUint(e164[1:], 10, 64)
	return v, err == nil
}

// LoadDNC reads every list from the store.
func LoadDNC(ctx context.Context, st DNCStore) (*DNC, error) {
	d := &DNC{st: st}
	if err := d.Reload(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Reload replaces the in-memory lists with the store's (e.g. periodically when
// several ctid nodes share one PostgreSQL database).
func (d *DNC) Reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.mu.Lock()
	d.reloading, d.during = true, nil
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.reloading, d.during = false, nil
		d.mu.Unlock()
	}()
	sets := map[string]map[uint64]struct{}{}
	err := d.st.EachDNC(ctx, func(e store.DNCEntry) error {
		k, ok := key(e.Number)
		if !ok {
			return nil // not E.164: cannot match a dialled number
		}
		s := sets[e.Scope]
		if s == nil {
			s = map[uint64]struct{}{}
			sets[e.Scope] = s
		}
		s[k] = struct{}{}
		return nil
	})
	if err != nil {
		return fmt.Errorf("loading do-not-call lists: %w", err)
	}
	d.mu.Lock()
	for _, k := range d.during {
		addKey(sets, k.scope, k.key)
	}
	d.sets = sets
	d.mu.Unlock()
	return nil
}

func addKey(sets map[string]map[uint64]struct{}, scope string, k uint64) {
	s := sets[scope]
	if s == nil {
		s = map[uint64]struct{}{}
		sets[scope] = s
	}
	s[k] = struct{}{}
}

// Run reloads the lists every interval until ctx ends: for several ctid nodes sharing
// one PostgreSQL database, so an entry added on another node is in force here too.
// A failed reload keeps the current lists and is reported to onErr.
func (d *DNC) Run(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.Reload(ctx); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// Blocked reports whether an E.164 number is on the internal list or on campaign's
// list. A number that is not E.164 is blocked (it cannot be checked).
func (d *DNC) Blocked(campaign, e164 string) bool {
	k, ok := key(e164)
	if !ok {
		return true
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if _, hit := d.sets[store.DNCGlobal][k]; hit {
		return true
	}
	if campaign == store.DNCGlobal {
		return false
	}
	_, hit := d.sets[campaign][k]
	return hit
}

// For is the check for one campaign, as queue/dialer's Config.IsDNC.
func (d *DNC) For(campaign string) func(e164 string) bool {
	return func(e164 string) bool { return d.Blocked(campaign, e164) }
}

// CheckDial is the check before any dial, manual or automatic: it normalises the
// number as typed (region: the default for numbers without a country code) and returns
// its E.164 form, ErrBadNumber if it is not a phone number, or ErrDNC.
func (d *DNC) CheckDial(campaign, number, region string) (string, error) {
	e164, err := Normalise(number, region)
	if err != nil {
		return "", err
	}
	if d.Blocked(campaign, e164) {
		return e164, fmt.Errorf("%w: %s", ErrDNC, e164)
	}
	return e164, nil
}

// Add puts entries on their lists (numbers must be E.164): saved first, then in
// force. It returns how many were new.
func (d *DNC) Add(ctx context.Context, entries ...store.DNCEntry) (int, error) {
	keys := make([]uint64, len(entries))
	for i, e := range entries {
		k, ok := key(e.Number)
		if !ok {
			return 0, fmt.Errorf("%w: %q is not E.164", ErrBadNumber, e.Number)
		}
		keys[i] = k
	}
	n, err := d.st.AddDNC(ctx, entries...)
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, e := range entries {
		addKey(d.sets, e.Scope, keys[i])
		if d.reloading {
			d.during = append(d.during, dncKey{e.Scope, keys[i]})
		}
	}
	return n, nil
}

// Remove takes a number off one list (store.ErrNotFound if it is not on it).
func (d *DNC) Remove(ctx context.Context, scope, e164 string) error {
	k, ok := key(e164)
	if !ok {
		return fmt.Errorf("%w: %q is not E.164", ErrBadNumber, e164)
	}
	if err := d.st.RemoveDNC(ctx, scope, e164); err != nil {
		return err
	}
	d.mu.Lock()
	delete(d.sets[scope], k)
	d.mu.Unlock()
	return nil
}

// DispositionEvent is an agent's wrap-up result on a campaign call.
type DispositionEvent struct {
	Campaign string
	Number   string // E.164 number that was dialled
	Agent    string
	Code     string
	DNC      bool // the disposition carries the DNC flag (do_not_call)
}

// OnDisposition is the hook the runner (or wrap-up) calls for every campaign
// disposition: a DNC disposition puts the number on the internal list (the customer
// asked the company, not one campaign, to stop calling) and on the campaign's own,
// saved before it returns.
func (d *DNC) OnDisposition(ctx context.Context, ev DispositionEvent) error {
	if !ev.DNC {
		return nil
	}
	if ev.Agent == "" {
		ev.Agent = "unknown agent"
	}
	_, err := d.Add(ctx,
		store.DNCEntry{Scope: store.DNCGlobal, Number: ev.Number, Source: store.DNCSourceDisposition, AddedBy: ev.Agent,
			Reason: "disposition " + ev.Code + " in campaign " + ev.Campaign},
		store.DNCEntry{Scope: ev.Campaign, Number: ev.Number, Source: store.DNCSourceDisposition, AddedBy: ev.Agent,
			Reason: "disposition " + ev.Code})
	if err != nil {
		return fmt.Errorf("do-not-call from disposition %s: %w", ev.Code, err)
	}
	return nil
}
