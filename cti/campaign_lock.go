package cti

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ctid/ctid/queue/dialer"
)

// ErrContactLocked: the number belongs to a contact that another agent (or the
// dialer) holds right now — previewed, ringing, talking or awaiting its
// disposition. It is an ErrCallState (the desktop's invalid_state).
var ErrContactLocked = fmt.Errorf("%w: the contact is locked to another call", ErrCallState)

// An outbound contact is locked to at most one agent. The dialer hands a contact
// out once (its attempt marks it busy until the result), and every campaign
// operation runs on the campaign actor's goroutine, so previews, callbacks and
// predictive lines cannot share a contact. An agent's manual dial with the
// campaign's id goes around the dialer, so it is checked here against the live
// lines: a number of a contact on a live line (any of the contact's numbers) is
// refused. The other way round, a line the dialer plans (predictive, progressive, a
// due callback) to a number an agent is dialling by hand is not placed but reported
// busy (retried as the campaign's busy retry says), and a preview of it cannot be
// dialled until that manual call is over (the agent may skip it). A manual dial
// locks its number only within its campaign.

// lineTo returns a live line of the campaign other than except whose contact has
// number, or nil.
func (c *campaignActor) lineTo(number string, except *campLine) *campLine {
	for _, l := range c.lines {
		if l != except && (l.dial.Number == number || slices.Contains(l.contact.Numbers, number)) {
			return l
		}
	}
	return nil
}

// checkManualLock refuses a manual dial of a number locked to a live line.
func (c *campaignActor) checkManualLock(agent, number string) error {
	l := c.lineTo(number, nil)
	if l == nil {
		return nil
	}
	c.log.Warn().Str("agent", agent).Str("number", number).Str("locked_by", l.agent).Str("call_id", l.callID).
		Msg("manual dial of a contact locked to another call refused")
	return fmt.Errorf("%w: %s is on call %s", ErrContactLocked, number, l.callID)
}

// lockedPlanned reports a planned line whose number an agent's manual dial holds:
// the dialer gets Busy, a reserved agent is released.
func (c *campaignActor) lockedPlanned(ctx context.Context, now time.Time, dl dialer.Dial) bool {
	other := c.lineTo(dl.Number, nil)
	if other == nil || !other.manual {
		// the dialer's own attempts lock contacts in the dialer (two contacts
		// may share a number, e.g. a switchboard: each is its own attempt)
		return false
	}
	c.log.Info().Str("number", dl.Number).Str("attempt", string(dl.Attempt)).Str("locked_by", other.agent).
		Msg("planned line not placed: the number is on another call; reported busy")
	if _, err := c.d.Result(now, dl.Attempt, dialer.Busy); err != nil {
		c.log.Error().Err(err).Msg("reporting a locked planned line")
	}
	if dl.Agent != "" {
		c.release(ctx, c.callID(dl.Attempt))
	}
	return true
}
