package queue

import (
	"fmt"
	"time"
)

// RestoreConnected puts back a call that was already connected to an agent when the
// process driving the engine restarted (the PBX kept the conversation up): the call
// is known again as connected to agent since answered, and the agent, signed in if
// needed, is Talking. Only an idle agent (logged out, not ready or ready) can be
// restored onto a call; anything else is ErrInvalidTransition. Queue counters are
// not touched (the call was counted by the earlier run).
func (e *Engine) RestoreConnected(now time.Time, in Call, agentID AgentID, answered time.Time) ([]Decision, error) {
	e.begin()
	q, err := e.newCallQueue(in)
	if err != nil {
		return nil, err
	}
	a, err := e.agent(agentID)
	if err != nil {
		return nil, err
	}
	switch a.state {
	case LoggedOut, NotReady, Ready:
	default:
		return nil, &TransitionError{Agent: a.id, From: a.state, Input: "restore_connected"}
	}
	prio, err := e.priorityOf(in)
	if err != nil {
		return nil, err
	}
	p, err := e.planFor(q, in.Skills, false)
	if err != nil {
		return nil, err
	}
	if answered.IsZero() || answered.After(now) {
		answered = now
	}
	arrived := answered
	if !in.Arrived.IsZero() && in.Arrived.Before(answered) {
		arrived = in.Arrived
	}
	c := e.newCall()
	c.id, c.priority, c.arrived, c.seq, c.skills = in.ID, prio, arrived, e.nextSeq(), in.Skills
	c.hidx = -1
	for i := range c.tidx {
		c.tidx[i] = -1
	}
	c.q, c.plan, c.stage, c.enq = q, p, 0, arrived
	c.cls = p.stages[0]
	e.seatRestored(now, c, a, answered)
	return e.out, nil
}

// RestoreHeld marks a call restored with RestoreConnected as on hold since heldSince
// (the caller was on hold when the process restarted): the agent goes OnHold and
// the call's hold time counts from heldSince (clamped to now).
func (e *Engine) RestoreHeld(now time.Time, id CallID, heldSince time.Time) ([]Decision, error) {
	out, err := e.holdInput(now, id, inHold)
	if err != nil {
		return nil, err
	}
	if c, cerr := e.callByID(id); cerr == nil && !heldSince.IsZero() && heldSince.Before(now) {
		c.held = heldSince
	}
	return out, nil
}

// RestoreOutbound puts back an outbound (campaign or manual-dial) call that was
// connected to an agent when the process driving the engine restarted: the call is
// known again as the agent's outbound call since answered (no queue: the agent's
// wrap-up after it counts for no queue, as after any outbound call), and the agent,
// signed in if needed, is Talking. Only an idle agent (logged out, not ready or
// ready) can be restored onto a call; anything else is ErrInvalidTransition.
func (e *Engine) RestoreOutbound(now time.Time, id CallID, agentID AgentID, answered time.Time) ([]Decision, error) {
	e.begin()
	if id == "" {
		return nil, fmt.Errorf("%w: empty call id", ErrUnknownCall)
	}
	if _, dup := e.calls[id]; dup {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateCall, id)
	}
	a, err := e.agent(agentID)
	if err != nil {
		return nil, err
	}
	switch a.state {
	case LoggedOut, NotReady, Ready:
	default:
		return nil, &TransitionError{Agent: a.id, From: a.state, Input: "restore_outbound"}
	}
	if answered.IsZero() || answered.After(now) {
		answered = now
	}
	c := e.newCall()
	c.id, c.outbound, c.arrived, c.enq, c.seq, c.hidx = id, true, answered, answered, e.nextSeq(), -1
	for i := range c.tidx {
		c.tidx[i] = -1
	}
	e.seatRestored(now, c, a, answered)
	return e.out, nil
}

// seatRestored makes c a connected call with agent a since answered and a Talking
// on it (signed in first if a was logged out): the common end of the restores.
func (e *Engine) seatRestored(now time.Time, c *call, a *agent, answered time.Time) {
	c.state, c.agent, c.answered = CallConnected, a, answered
	e.calls[c.id] = c
	if a.state == LoggedOut {
		e.setAgentState(a, NotReady, "login", now)
	}
	e.removeReady(a)
	a.call = c
	e.setAgentState(a, Talking, "restored", now)
}

// RestoreCallback puts back a keep-your-place callback the process driving the
// engine was keeping when it restarted (the caller asked for it and hung up; no dial
// of it was ringing): the entry goes back into in.Queue with the caller's original
// arrival (in.Arrived, clamped to now) and priority, so it keeps its place ahead of
// callers who arrived later, as if the process had not restarted. failed counts its
// dials that were not answered and lastFailed is when the last of them ended (zero:
// none). As after CallbackFailed: a callback whose failed dials reached
// Config.CallbackRetries is dropped at once (DecCallbackDropped, nothing kept); one
// whose retry delay after lastFailed has not passed is parked until then; any other
// waits at its place (dialled at once for a Ready agent: DecOriginateCallback). The
// queue's closed / full / empty admission rules are not applied (the caller was
// admitted before the restart) and the request is not counted again (entering the
// queue is, as for a caller queued again after a restart).
func (e *Engine) RestoreCallback(now time.Time, in Call, number string, failed int, lastFailed time.Time) ([]Decision, error) {
	e.begin()
	q, err := e.newCallQueue(in)
	if err != nil {
		return nil, err
	}
	if number == "" {
		return nil, fmt.Errorf("%w: empty callback number", ErrCallState)
	}
	if failed < 0 {
		return nil, fmt.Errorf("%w: %d failed callback dials", ErrCallState, failed)
	}
	prio, err := e.priorityOf(in)
	if err != nil {
		return nil, err
	}
	p, err := e.planFor(q, in.Skills, false)
	if err != nil {
		return nil, err
	}
	if failed >= e.cfg.CallbackRetries {
		e.emit(Decision{Kind: DecCallbackDropped, Call: in.ID, Queue: q.cfg.ID, Number: number})
		return e.out, nil
	}
	arrived := now
	if !in.Arrived.IsZero() && in.Arrived.Before(now) {
		arrived = in.Arrived
	}
	c := e.newCall()
	c.id, c.priority, c.arrived, c.origin, c.seq, c.skills = in.ID, prio, arrived, arrived, e.nextSeq(), in.Skills
	c.callback, c.number, c.cbAttempts = true, number, failed
	c.hidx = -1
	for i := range c.tidx {
		c.tidx[i] = -1
	}
	e.calls[c.id] = c
	c.q, c.plan, c.stage, c.enq = q, p, 0, now
	c.cls = p.stages[0]
	q.counters.entered++
	e.place(c, q, p, now)
	if retry := lastFailed.Add(e.cfg.CallbackRetryDelay); !lastFailed.IsZero() && retry.After(now) {
		c.state = CallParked
		e.timers.set(timerEntry{at: retry.UnixNano(), kind: tCallbackRetry, c: c})
		return e.out, nil
	}
	e.enqueue(c, now)
	return e.out, nil
}
