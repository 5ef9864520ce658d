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
