package cti

import (
	"sync"
)

// displayNames is where the orchestrator finds the agents' display names (the
// desktop users' display_name): a source set once at wiring, read by the wallboard
// once per frame, outside the engine loop.
type displayNames struct {
	mu  sync.Mutex
	src func() map[string]string
}

func (d *displayNames) get() map[string]string {
	d.mu.Lock()
	src := d.src
	d.mu.Unlock()
	if src == nil {
		return nil
	}
	return src()
}

// SetDisplayNames sets where agents' display names come from (username → name;
// cmd wires the desktop users). The wallboard's agent grid and GET /api/v1/agents
// show them as "name" (the username when there is none).
func (o *Orchestrator) SetDisplayNames(src func() map[string]string) {
	o.names.mu.Lock()
	defer o.names.mu.Unlock()
	o.names.src = src
}

// nameOf is agent's display name, or agent itself.
func nameOf(names map[string]string, agent string) string {
	if n := names[agent]; n != "" {
		return n
	}
	return agent
}
