package queue

// Hand-written binary heaps with position tracking: per-class heaps of waiting calls
// (by priority then arrival) and per-class heaps of ready agents (by strategy key),
// plus the engine's timer heap. They are allocation-free once their slices have grown.

// callKey orders waiting calls: smaller is served first.
func callLess(a, b *call) bool {
	if a.k1 != b.k1 {
		return a.k1 < b.k1
	}
	if a.k2 != b.k2 {
		return a.k2 < b.k2
	}
	return a.seq < b.seq
}

type callHeap struct{ items []*call }

func (h *callHeap) len() int { return len(h.items) }

func (h *callHeap) top() *call {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *callHeap) push(c *call) {
	c.hidx = len(h.items)
	h.items = append(h.items, c)
	h.up(c.hidx)
}

func (h *callHeap) remove(c *call) {
	i := c.hidx
	if i < 0 || i >= len(h.items) || h.items[i] != c {
		return
	}
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	h.items[last] = nil
	h.items = h.items[:last]
	c.hidx = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *callHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].hidx = i
	h.items[j].hidx = j
}

func (h *callHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !callLess(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *callHeap) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && callLess(h.items[r], h.items[l]) {
			j = r
		}
		if !callLess(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// rkey orders ready agents within a class: smaller is offered first.
type rkey struct {
	tier   int64
	k1, k2 int64
	seq    int64
}

func (a rkey) less(b rkey) bool {
	if a.tier != b.tier {
		return a.tier < b.tier
	}
	if a.k1 != b.k1 {
		return a.k1 < b.k1
	}
	if a.k2 != b.k2 {
		return a.k2 < b.k2
	}
	return a.seq < b.seq
}

type readyItem struct {
	key  rkey
	a    *agent
	slot int // index into a.slots
	m    *membership
}

// slot records where an agent sits in one class's ready heap.
type slot struct {
	cls *class
	pos int
}

type readyHeap struct{ items []readyItem }

func (h *readyHeap) len() int { return len(h.items) }

func (h *readyHeap) push(it readyItem) {
	i := len(h.items)
	h.items = append(h.items, it)
	it.a.slots[it.slot].pos = i
	h.up(i)
}

func (h *readyHeap) removeAt(i int) {
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	h.items[last] = readyItem{}
	h.items = h.items[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *readyHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].a.slots[h.items[i].slot].pos = i
	h.items[j].a.slots[h.items[j].slot].pos = j
}

func (h *readyHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.items[j].key.less(h.items[i].key) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *readyHeap) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.items[r].key.less(h.items[l].key) {
			j = r
		}
		if !h.items[j].key.less(h.items[i].key) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// timers

type timerKind uint8

const (
	tOffer         timerKind = iota // agent: offer / callback-originate timeout
	tWrap                           // agent: wrap-up end
	tRelax                          // call: next relax stage
	tMaxWait                        // call: max wait
	tAnnounce                       // call: next announcement
	tCallbackRetry                  // call: parked callback becomes eligible again
)

const agentTimerKinds = 2

type timerEntry struct {
	at   int64
	kind timerKind
	a    *agent
	c    *call
}

type timerHeap struct{ items []timerEntry }

func (h *timerHeap) idx(t *timerEntry) *int {
	if t.kind < agentTimerKinds {
		return &t.a.tidx[t.kind]
	}
	return &t.c.tidx[t.kind-agentTimerKinds]
}

func (h *timerHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.idx(&h.items[i]) = i
	*h.idx(&h.items[j]) = j
}

func (h *timerHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if h.items[j].at >= h.items[i].at {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *timerHeap) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.items[r].at < h.items[l].at {
			j = r
		}
		if h.items[j].at >= h.items[i].at {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// set schedules (or reschedules) the timer of kind for its owner.
func (h *timerHeap) set(t timerEntry) {
	p := h.idx(&t)
	if *p >= 0 {
		i := *p
		h.items[i].at = t.at
		if !h.down(i) {
			h.up(i)
		}
		return
	}
	i := len(h.items)
	h.items = append(h.items, t)
	*p = i
	h.up(i)
}

// cancel removes the timer of kind for the owner, if scheduled.
func (h *timerHeap) cancel(t timerEntry) {
	p := h.idx(&t)
	i := *p
	if i < 0 {
		return
	}
	*p = -1
	last := len(h.items) - 1
	if i != last {
		h.items[i] = h.items[last]
		*h.idx(&h.items[i]) = i
	}
	h.items[last] = timerEntry{}
	h.items = h.items[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}
