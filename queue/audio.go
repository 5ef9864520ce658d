package queue

import "time"

// AgentAudio records whether the agent's audio path is up (ok) or down (a browser
// softphone whose ICE failed or never connected). While it is down, only queues with
// OfferWithoutAudio offer calls to the agent; the agent's state does not change. A
// ready agent is re-indexed at once (and may be offered a waiting call when audio
// comes back). Agents start with audio up.
func (e *Engine) AgentAudio(now time.Time, id AgentID, ok bool) ([]Decision, error) {
	e.begin()
	a, err := e.agent(id)
	if err != nil {
		return nil, err
	}
	if a.noAudio == !ok {
		return e.out, nil
	}
	a.noAudio = !ok
	if a.state == Ready {
		e.removeReady(a)
		e.agentFree(a, now)
	}
	return e.out, nil
}

// OffersWithoutAudio reports whether any queue the agent is a member of offers calls
// to an agent whose audio path is down.
func (e *Engine) OffersWithoutAudio(id AgentID) (bool, error) {
	a, err := e.agent(id)
	if err != nil {
		return false, err
	}
	for _, m := range a.members {
		if m.q.cfg.OfferWithoutAudio {
			return true, nil
		}
	}
	return false, nil
}

// AgentHasAudio reports whether the agent's audio path is up (AgentAudio).
func (e *Engine) AgentHasAudio(id AgentID) (bool, error) {
	a, err := e.agent(id)
	if err != nil {
		return false, err
	}
	return !a.noAudio, nil
}
