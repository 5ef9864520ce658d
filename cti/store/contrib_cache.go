package store

import "time"

// contribCache keeps, for the interactions the writer changed lately, what each adds
// to the rollups now (withRollup). A call's records come in over several
// transactions (arrival, answer, segments, close, wrap-up); with the contribution
// kept from one to the next, a change reads the interaction once (after) instead of
// twice (before and after).
//
// It is right as long as only the writer changes interactions and their segments:
// an entry is dropped when linkContacts moves an earlier contact's FCR, the whole
// cache when a transaction fails (what it read is gone with it) and when the
// retention purge has deleted interactions (Purge, under purgeMu so that no commit
// runs meanwhile). Entries live one to two rotations (contribKeep, or contribMax
// entries a generation), so the memory it holds stays bounded.
// Writer goroutine only.
type contribCache struct {
	cur, old map[string]contribSnapshot
	rotated  time.Time
}

const (
	contribKeep = 30 * time.Second
	contribMax  = 20000
)

func (c *contribCache) get(id string) (contribSnapshot, bool) {
	if v, ok := c.cur[id]; ok {
		return v, true
	}
	v, ok := c.old[id]
	return v, ok
}

func (c *contribCache) put(id string, v contribSnapshot) {
	if c.cur == nil {
		c.cur = map[string]contribSnapshot{}
	}
	delete(c.old, id)
	c.cur[id] = v
}

func (c *contribCache) drop(id string) {
	delete(c.cur, id)
	delete(c.old, id)
}

func (c *contribCache) reset() { c.cur, c.old = nil, nil }

// rotate starts a new generation once the current one is contribKeep old or full;
// the one before is forgotten.
func (c *contribCache) rotate(now time.Time) {
	if now.Sub(c.rotated) < contribKeep && len(c.cur) < contribMax {
		return
	}
	c.old, c.cur, c.rotated = c.cur, nil, now
}

// lastStateCache keeps each agent's latest agent_state_log entry as the writer
// logged it, so that an entry logged after it (the usual case) needs neither the
// read of the entry before it nor of the one after (applyAgentState). Only the
// writer adds entries; the cache goes with a failed commit and after a retention
// purge, like contribCache. Bounded: emptied when it holds lastStateMax agents.
// Writer goroutine only.
type lastStateCache struct{ m map[string]lastState }

type lastState struct {
	state, reason string
	at            int64
}

const lastStateMax = 50000

func (c *lastStateCache) get(agent string) (lastState, bool) {
	v, ok := c.m[agent]
	return v, ok
}

func (c *lastStateCache) put(agent string, v lastState) {
	if c.m == nil || len(c.m) >= lastStateMax {
		c.m = map[string]lastState{}
	}
	c.m[agent] = v
}

func (c *lastStateCache) reset() { c.m = nil }
