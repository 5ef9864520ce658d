package cti

import (
	"testing"
	"time"

	"github.com/ctid/ctid/queue"
)

// The history ring: readings inside one interval accumulate in the running one; a
// reading in a later interval closes it, empty intervals fill a gap, and the ring
// keeps only the last `keep` intervals.
func TestWallboardHistoryIntervals(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	c := func(off, ans, ab int) wbCounts {
		return wbCounts{offered: off, sl: queue.SLCounts{Answered: ans, AnsweredWithin: ans, Abandoned: ab}}
	}
	var h wbHistory
	h.observe(t0.Add(10*time.Second), c(5, 3, 1), 15*time.Minute, 4) // counters since the queue started: this interval's
	h.observe(t0.Add(5*time.Minute), c(7, 4, 1), 15*time.Minute, 4)
	h.observe(t0.Add(14*time.Minute), c(9, 5, 2), 15*time.Minute, 4)
	if cur := h.running(); cur.start != t0 || cur.counts.offered != 9 || cur.counts.sl.Answered != 5 || cur.counts.sl.Abandoned != 2 || len(h.closed) != 0 {
		t.Fatalf("running %+v closed %d", cur, len(h.closed))
	}
	h.observe(t0.Add(16*time.Minute), c(10, 6, 2), 15*time.Minute, 4)
	if len(h.closed) != 1 || h.closed[0].start != t0 || h.closed[0].counts.offered != 9 {
		t.Fatalf("closed %+v", h.closed)
	}
	if cur := h.running(); cur.start != t0.Add(15*time.Minute) || cur.counts.offered != 1 || cur.counts.sl.Answered != 1 {
		t.Fatalf("second interval %+v", cur)
	}
	// 50 minutes without a reading: the 09:15 interval closes, 09:30 and 09:45 are
	// empty, 10:00 runs.
	h.observe(t0.Add(61*time.Minute), c(12, 7, 2), 15*time.Minute, 4)
	if len(h.closed) != 4 || h.closed[1].counts.offered != 1 || h.closed[2].counts.offered != 0 ||
		h.closed[3].start != t0.Add(45*time.Minute) || h.running().start != t0.Add(60*time.Minute) || h.running().counts.offered != 2 {
		t.Fatalf("after a gap: closed %+v running %+v", h.closed, h.running())
	}
	// A day later: the ring holds 4 (empty) intervals right before the running one.
	h.observe(t0.Add(25*time.Hour), c(12, 7, 2), 15*time.Minute, 4)
	if len(h.closed) != 4 || h.closed[3].start != t0.Add(25*time.Hour-15*time.Minute) || h.closed[0].start != t0.Add(24*time.Hour) {
		t.Fatalf("after a day: %+v", h.closed)
	}
	if f := intervalFields(wbInterval{start: t0, counts: c(4, 3, 1)}, queue.SLAbandonsAgainst, 15*time.Minute); f["service_level"] != 0.75 {
		t.Fatalf("interval SL %v", f)
	}
	if f := intervalFields(wbInterval{start: t0}, queue.SLAbandonsAgainst, 15*time.Minute); f["service_level"] != nil {
		t.Fatalf("empty interval SL %v", f)
	}
}

func TestWallboardConfigValidate(t *testing.T) {
	if err := DefaultWallboardConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []WallboardConfig{
		{Every: time.Millisecond},
		{Interval: 10 * time.Second},
		{Interval: time.Hour, History: 30 * time.Minute},
		{Interval: time.Minute, History: 100 * time.Hour},
		{Formula: 9},
		{Queues: []WallboardQueue{{Queue: "sales"}, {Queue: "sales"}}},
	}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("config %d %+v: accepted", i, c)
		}
	}
	for _, name := range []string{"abandons-met", "answered-only", "abandons-against", "short-abandons-neutral"} {
		f, err := ParseSLFormula(name)
		if err != nil || f.String() != name {
			t.Errorf("ParseSLFormula(%q) = %v, %v", name, f, err)
		}
	}
	if _, err := ParseSLFormula("80/20"); err == nil {
		t.Error("unknown formula accepted")
	}
}
