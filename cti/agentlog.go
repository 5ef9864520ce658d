package cti

import (
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
)

// agentStateLogger is the part of the store that keeps the agent state log (the
// source of occupancy and utilisation in reports). Optional: a Records without it
// keeps no log.
type agentStateLogger interface {
	LogAgentState(store.AgentStateEntry) error
}

// logAgentState queues one agent state change (non-blocking).
func (o *Orchestrator) logAgentState(d queue.Decision) {
	l, ok := o.records.(agentStateLogger)
	if !ok {
		return
	}
	e := store.AgentStateEntry{Agent: string(d.Agent), State: d.State.String(), Reason: d.Reason, At: o.now()}
	if err := l.LogAgentState(e); err != nil {
		o.log.Error().Err(err).Str("agent", e.Agent).Str("state", e.State).Msg("agent state not logged")
	}
}
