package dialer

import "time"

// abandonBuckets is the number of buckets a rolling abandon window is split into.
const abandonBuckets = 288 // 5 min buckets for 24 h, 2.5 h for 30 days

type bucket struct {
	start              int64 // unix nanos of the bucket start; 0 = empty
	answered, abandons int
}

// AbandonTracker counts live-answered calls and abandons over a rolling window, in
// fixed buckets (the window is exact to one bucket width: window/288).
type AbandonTracker struct {
	window, width      int64
	b                  [abandonBuckets]bucket
	answered, abandons int // totals over the buckets in b (pruned lazily)
}

// NewAbandonTracker returns a tracker over window (> 0).
func NewAbandonTracker(window time.Duration) *AbandonTracker {
	w := int64(window)
	width := w / abandonBuckets
	if width < 1 {
		width = 1
	}
	return &AbandonTracker{window: w, width: width}
}

func (t *AbandonTracker) slot(now time.Time) (*bucket, int64) {
	ns := now.UnixNano()
	start := ns - ns%t.width
	idx := (start / t.width) % abandonBuckets
	if idx < 0 {
		idx += abandonBuckets
	}
	return &t.b[idx], start
}

func (t *AbandonTracker) prune(now time.Time) {
	cut := now.UnixNano() - t.window
	for i := range t.b {
		b := &t.b[i]
		if b.start != 0 && b.start+t.width <= cut {
			t.answered -= b.answered
			t.abandons -= b.abandons
			*b = bucket{}
		}
	}
}

// Add records one live-answered call, abandoned or connected to an agent.
func (t *AbandonTracker) Add(now time.Time, abandoned bool) {
	x := 0
	if abandoned {
		x = 1
	}
	t.AddN(now, 1, x)
}

// AddN records answered live-answered calls at now, abandons of them abandoned.
// Calls must be added in time order (a restart replays an earlier run's in order).
func (t *AbandonTracker) AddN(now time.Time, answered, abandons int) {
	t.prune(now)
	b, start := t.slot(now)
	if b.start != start {
		t.answered -= b.answered
		t.abandons -= b.abandons
		*b = bucket{start: start}
	}
	b.answered += answered
	t.answered += answered
	b.abandons += abandons
	t.abandons += abandons
}

// Counts returns live-answered calls and abandons in the window ending at now.
func (t *AbandonTracker) Counts(now time.Time) (answered, abandons int) {
	t.prune(now)
	return t.answered, t.abandons
}

// AnsweredAhead is the live-answered calls up to now that are certainly still in the
// exact window ending at now+ahead: only buckets that start inside it count (the
// abandon budget's denominator for calls that may end up to ahead from now; a lower
// bound, where Counts keeps up to one bucket more). It does not change the tracker.
func (t *AbandonTracker) AnsweredAhead(now time.Time, ahead time.Duration) int {
	cut := now.UnixNano() + int64(ahead) - t.window
	n := 0
	for i := range t.b {
		b := &t.b[i]
		if b.start != 0 && b.start >= cut && b.start <= now.UnixNano() {
			n += b.answered
		}
	}
	return n
}

// Rate is abandons / live-answered in the window (0 with no calls).
func (t *AbandonTracker) Rate(now time.Time) float64 {
	a, x := t.Counts(now)
	if a == 0 {
		return 0
	}
	return float64(x) / float64(a)
}
