package dialer

import (
	"container/heap"
	"fmt"
	"slices"
	"time"

	"github.com/ctid/ctid/queue"
)

// NumberHistory is what an earlier run of the campaign did with one number of a
// contact (ctid restarted): how often it was dialled, when it may be dialled again
// (its retry timer), whether it is dead (invalid, bad number) and until when it is
// locked out after a safe-harbour abandon.
type NumberHistory struct {
	Contact     ContactID
	Number      string // E.164, one of the contact's numbers
	Attempts    int
	NextAt      time.Time // the retry timer of the last attempt (zero: none)
	Dead        bool      // never dialled again
	LockedUntil time.Time
}

// Restore applies an earlier run's history to a contact loaded by AddContacts and not
// dialled yet in this run: the attempts count against MaxAttemptsPerNumber and
// MaxAttemptsPerContact, the retry timer and the lockout hold as if they had been set
// in this run (the contact is parked until then when it comes up), a dead number is
// never dialled.
func (d *Dialer) Restore(h NumberHistory) error {
	c, ok := d.contacts[h.Contact]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownContact, h.Contact)
	}
	if c.st != cNew {
		return fmt.Errorf("%w: contact %q is %s", ErrAttemptState, h.Contact, c.stateName())
	}
	if h.Attempts < 0 {
		return fmt.Errorf("%w: contact %q: %d attempts", ErrBadContact, h.Contact, h.Attempts)
	}
	for i := range c.nums {
		n := &c.nums[i]
		if n.e164 != h.Number {
			continue
		}
		n.attempts += h.Attempts
		c.attempts += h.Attempts
		if h.LockedUntil.After(n.lockedUntil) {
			n.lockedUntil = h.LockedUntil
		}
		if h.NextAt.After(n.nextAt) {
			n.nextAt = h.NextAt
		}
		n.dead = n.dead || h.Dead
		return nil
	}
	return fmt.Errorf("%w: contact %q has no number %q", ErrBadContact, h.Contact, h.Number)
}

// AbandonSample is a count of live-answered calls (connected to an agent or
// abandoned) and of abandons at one instant of an earlier run.
type AbandonSample struct {
	At                 time.Time
	Answered, Abandons int // Abandons ≤ Answered
}

// RestoreAbandons refills the rolling abandon window from an earlier run (restart),
// so the abandon cap counts the calls made before it: samples older than the window
// at now are ignored, the others are added in time order; a sample after now (another
// node's clock ahead of this one) counts at now. Call it before the first Plan of this
// run. Impossible counts are an error (no sample is applied).
func (d *Dialer) RestoreAbandons(now time.Time, samples []AbandonSample) error {
	for _, s := range samples {
		if s.Answered < 0 || s.Abandons < 0 || s.Abandons > s.Answered {
			return fmt.Errorf("%w: abandon sample %+v", ErrBadHistory, s)
		}
	}
	sorted := make([]AbandonSample, 0, len(samples))
	cut := now.Add(-d.cfg.AbandonWindow)
	for _, s := range samples {
		if s.At.After(now) {
			s.At = now
		}
		if s.At.After(cut) && s.Answered > 0 {
			sorted = append(sorted, s)
		}
	}
	slices.SortStableFunc(sorted, func(a, b AbandonSample) int { return a.At.Compare(b.At) })
	for _, s := range sorted {
		d.abandon.AddN(s.At, s.Answered, s.Abandons)
	}
	return nil
}

// RestoreConnects refills the measured connect rate from an earlier run's last
// attempts, oldest first (true: a person answered), so pacing resumes on what it had
// measured instead of the prior.
func (d *Dialer) RestoreConnects(hits []bool) {
	if len(hits) > len(d.hits) {
		hits = hits[len(hits)-len(d.hits):]
	}
	for _, h := range hits {
		d.sample(h)
	}
}

// RestoreConnected takes back a line of an earlier run that a person answered and
// an agent is still talking on (ctid restarted; the PBX kept the call up): the
// contact, loaded by AddContacts (with its history restored) and not dialled yet in
// this run, is in progress again on number with agent since connected, and the
// returned attempt takes the agent's disposition as usual. The attempt was counted
// by the earlier run (its history) and its live answer is in the restored abandon
// window: neither is counted again.
func (d *Dialer) RestoreConnected(id ContactID, num string, agent queue.AgentID, connected time.Time) (AttemptID, error) {
	c, ok := d.contacts[id]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownContact, id)
	}
	if agent == "" {
		return "", fmt.Errorf("%w: contact %q: no agent", ErrAttemptState, id)
	}
	if held := d.held[agent]; held != nil {
		return "", fmt.Errorf("%w: agent %q holds attempt %q", ErrAttemptState, agent, held.id)
	}
	ni := slices.IndexFunc(c.nums, func(n number) bool { return n.e164 == num })
	if ni < 0 {
		return "", fmt.Errorf("%w: contact %q has no number %q", ErrBadContact, id, num)
	}
	switch c.st {
	case cNew:
		for i := d.newHead; i < len(d.newQ); i++ {
			if d.newQ[i] == c {
				d.newQ = slices.Delete(d.newQ, i, i+1)
				break
			}
		}
	case cDue:
		heap.Remove(&d.due, c.hidx)
	default:
		return "", fmt.Errorf("%w: contact %q is %s", ErrAttemptState, id, c.stateName())
	}
	a := d.newAttempt(c, ni, "")
	a.agent, a.st, a.hit = agent, aConnected, true
	a.placed, a.answered, a.connected = connected, connected, connected
	return a.id, nil
}
