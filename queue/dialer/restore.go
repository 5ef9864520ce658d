package dialer

import (
	"fmt"
	"time"
)

// NumberHistory is what an earlier run of the campaign did with one number of a
// contact (ctid restarted): how often it was dialled and until when it is locked out
// after a safe-harbour abandon.
type NumberHistory struct {
	Contact     ContactID
	Number      string // E.164, one of the contact's numbers
	Attempts    int
	LockedUntil time.Time
}

// Restore applies an earlier run's history to a contact loaded by AddContacts and not
// dialled yet in this run: the attempts count against MaxAttemptsPerNumber and
// MaxAttemptsPerContact, and the lockout holds as if it had been set in this run.
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
		return nil
	}
	return fmt.Errorf("%w: contact %q has no number %q", ErrBadContact, h.Contact, h.Number)
}
