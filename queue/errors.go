package queue

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by the engine wraps one of these (test with
// errors.Is); on error the engine state is unchanged.
var (
	ErrInvalidConfig     = errors.New("queue: invalid config")
	ErrUnknownQueue      = errors.New("queue: unknown queue")
	ErrUnknownAgent      = errors.New("queue: unknown agent")
	ErrUnknownCall       = errors.New("queue: unknown call")
	ErrDuplicateCall     = errors.New("queue: call already known")
	ErrAlreadyLoggedIn   = errors.New("queue: agent already logged in")
	ErrInvalidTransition = errors.New("queue: invalid agent state transition")
	ErrNotOffered        = errors.New("queue: call not offered to this agent")
	ErrOfferTimedOut     = errors.New("queue: offer already timed out")
	ErrOfferWithdrawn    = errors.New("queue: offer withdrawn (taken by another agent or abandoned)")
	ErrBadPriority       = errors.New("queue: priority out of range")
	ErrBadSkillExpr      = errors.New("queue: bad skill expression")
	ErrCallState         = errors.New("queue: call is not in a state that allows this")
	ErrLoopStopped       = errors.New("queue: engine loop stopped")
)

// TransitionError is returned for an input that the agent's current state does not accept.
type TransitionError struct {
	Agent AgentID
	From  AgentState
	Input string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("queue: agent %s: %s not allowed in state %s", e.Agent, e.Input, e.From)
}

// Unwrap lets errors.Is(err, ErrInvalidTransition) match.
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }
