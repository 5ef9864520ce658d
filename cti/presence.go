package cti

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

// An agent whose desktop drops (browser closed, network lost) keeps their calls: a
// desktop that comes back within Config.DesktopGrace resumes (missed events are
// replayed by the desktop hub). After the grace period the agent is logged out and
// a caller they were talking with is queued again with their original arrival, so
// ahead of everyone who came later.

// presence tracks agents whose desktop is gone, with the timer that logs them out.
type presence struct {
	mu      sync.Mutex
	stopped bool
	gone    map[string]*time.Timer
	online  map[string]bool // agents with a desktop connected now
}

// DesktopOpened cancels the grace period of an agent whose desktop is back.
func (o *Orchestrator) DesktopOpened(agent string) {
	p := &o.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.online == nil {
		p.online = map[string]bool{}
	}
	p.online[agent] = true
	if t := p.gone[agent]; t != nil {
		t.Stop()
		delete(p.gone, agent)
		o.log.Info().Str("agent", agent).Msg("desktop back within the grace period")
	}
}

// DesktopClosed starts the grace period of an agent whose desktop went away.
func (o *Orchestrator) DesktopClosed(agent string) {
	p := &o.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.online, agent)
	o.startGrace(agent)
}

// expectDesktop starts the grace period of an agent given a call by a restart
// (restored conversation) unless their desktop is already connected.
func (o *Orchestrator) expectDesktop(agent string) {
	p := &o.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.online[agent] && p.gone[agent] == nil {
		o.startGrace(agent)
	}
}

// startGrace (p.mu held) arms the agent's grace timer.
func (o *Orchestrator) startGrace(agent string) {
	p := &o.presence
	if o.cfg.DesktopGrace <= 0 || p.stopped {
		return
	}
	if p.gone == nil {
		p.gone = map[string]*time.Timer{}
	}
	if t := p.gone[agent]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(o.cfg.DesktopGrace, func() {
		p.mu.Lock()
		current := p.gone[agent] == t && !p.stopped
		if current {
			delete(p.gone, agent)
		}
		p.mu.Unlock()
		if current {
			o.desktopLost(agent)
		}
	})
	p.gone[agent] = t
}

// stopPresence stops every grace timer (the orchestrator is stopping).
func (o *Orchestrator) stopPresence() {
	p := &o.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for a, t := range p.gone {
		t.Stop()
		delete(p.gone, a)
	}
}

// desktopLost applies the policy to an agent whose desktop did not come back: the
// caller they talk with is queued again, then the agent is logged out (at once, or
// when the wrap-up of that call ends).
func (o *Orchestrator) desktopLost(agent string) {
	o.mu.Lock()
	ctx := o.runCtx
	var talking *callActor
	for _, a := range o.calls {
		if a.talkingWith() == agent {
			talking = a
			break
		}
	}
	o.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*o.cfg.OpTimeout)
	defer cancel()
	log := o.log.With().Str("agent", agent).Dur("grace", o.cfg.DesktopGrace).Logger()
	if talking != nil {
		if err := talking.ask(ctx, agentLostMsg{agent: agent}); err != nil {
			log.Warn().Err(err).Str("call_id", talking.id).Msg("could not re-queue the caller of an agent whose desktop is gone")
		}
	}
	if err := o.AgentLogout(ctx, agent); err != nil && !errors.Is(err, queue.ErrInvalidTransition) {
		log.Warn().Err(err).Msg("logging out an agent whose desktop is gone")
		return
	}
	// In wrap-up the logout is pending: nobody is there to finish the wrap-up, so it
	// ends now (and the pending logout with it).
	err := o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.WrapUpDone(now, queue.AgentID(agent))
	})
	if err != nil && !errors.Is(err, queue.ErrInvalidTransition) {
		log.Warn().Err(err).Msg("ending the wrap-up of an agent whose desktop is gone")
	}
	o.mu.Lock()
	delete(o.wrapups, agent)
	o.mu.Unlock()
	log.Warn().Msg("desktop gone past the grace period: agent logged out")
}

// agentLostMsg: the agent's desktop is gone past the grace period.
type agentLostMsg struct{ agent string }

func (m agentLostMsg) agentName() string { return m.agent }

// requeueLostAgent takes the call away from an agent who is gone and puts the
// caller back in the queue with their original arrival.
func (a *callActor) requeueLostAgent(ctx context.Context) error {
	switch a.state {
	case stateTalking, stateHeld:
	default:
		return nil // connecting, consulting, external: the call's own flow ends it
	}
	now := a.o.now()
	if err := a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.CallEnded(now, a.ecall())
	}); err != nil {
		a.log.Warn().Err(err).Msg("engine: end the lost agent's part")
	}
	agent := a.releaseAgent(ctx, now)
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	if a.bridge != "" {
		if err := a.o.ari.DestroyBridge(octx, a.bridge); err != nil && !errors.Is(err, telephony.ErrNotFound) {
			a.log.Warn().Err(err).Msg("destroy bridge of the lost agent's call")
			a.o.strandBridge(a.bridge, err)
		}
		a.bridge = ""
	}
	if err := a.o.ari.StopMOH(octx, a.channel); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		a.log.Warn().Err(err).Msg("reset music on hold")
	}
	if err := a.o.ari.StartMOH(octx, a.channel, a.o.cfg.MOHClass); err != nil {
		a.log.Warn().Err(err).Msg("music on hold for the re-queued caller")
	}
	a.o.publish(agent, "call.ended", map[string]any{"call_id": a.id, "reason": "desktop gone past the grace period; caller re-queued"})
	a.agent = ""
	a.setState(stateQueued)
	a.log.Warn().Str("agent", agent).Msg("agent's desktop gone: caller queued again ahead of later callers")
	// The engine keeps the original arrival (the caller's place); the call's own
	// clock restarts so that the record's queued segments do not overlap.
	first := a.arrived
	a.arrived = now
	return a.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.CallArrived(now, queue.Call{ID: queue.CallID(a.id), Queue: queue.QueueID(a.in.queue),
			Priority: a.in.priority, Skills: a.in.skills, Arrived: first})
	})
}
