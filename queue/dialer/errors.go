package dialer

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of these (test with
// errors.Is); on error the dialer's state is unchanged.
var (
	ErrInvalidConfig     = errors.New("dialer: invalid config")
	ErrInvalidTransition = errors.New("dialer: invalid campaign state transition")
	ErrNotRunning        = errors.New("dialer: campaign is not running")
	ErrWrongMode         = errors.New("dialer: not allowed in this campaign mode")
	ErrUnknownAttempt    = errors.New("dialer: unknown attempt")
	ErrAttemptState      = errors.New("dialer: attempt is not in a state that allows this")
	ErrUnknownContact    = errors.New("dialer: unknown contact")
	ErrDuplicateContact  = errors.New("dialer: contact already loaded")
	ErrBadContact        = errors.New("dialer: bad contact")
	ErrUnknownZone       = errors.New("dialer: unknown time zone")
	ErrOutsideWindow     = errors.New("dialer: outside the contact's calling window")
	ErrTooLate           = errors.New("dialer: agent connected after the safe-harbour deadline")
	ErrSkipLimit         = errors.New("dialer: contact may not be skipped again")
	ErrUnknownDisp       = errors.New("dialer: unknown disposition")
	ErrAgentBusy         = errors.New("dialer: agent already holds an attempt")
	ErrNoContact         = errors.New("dialer: no contact can be dialled now")
	ErrUnknownOutcome    = errors.New("dialer: unknown outcome")
	ErrNoLine            = errors.New("dialer: all the campaign's lines are in use")
	ErrBadHistory        = errors.New("dialer: bad history from an earlier run")
)

// TransitionError is returned for a campaign input its current state does not accept.
type TransitionError struct {
	Campaign string
	From     State
	Input    Input
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("dialer: campaign %s: %s not allowed in state %s", e.Campaign, e.Input, e.From)
}

// Unwrap lets errors.Is(err, ErrInvalidTransition) match.
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }
