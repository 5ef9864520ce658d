package dialer

import (
	"testing"
	"time"
)

func mustLoc(t testing.TB, z string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(z)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var weekdays9to21 = []Window{{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, From: 9 * time.Hour, To: 21 * time.Hour}}

func TestWindowThreeZonesFixedClock(t *testing.T) {
	ny, lon, tok := mustLoc(t, "America/New_York"), mustLoc(t, "Europe/London"), mustLoc(t, "Asia/Tokyo")
	cases := []struct {
		utc  time.Time
		loc  *time.Location
		in   bool
		next time.Time // NextOpen
	}{
		// Monday 2026-11-23 14:00 UTC: NY 09:00 (open), London 14:00 (open), Tokyo 23:00 (closed)
		{time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC), ny, true, time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)},
		{time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC), lon, true, time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)},
		{time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC), tok, false, time.Date(2026, 11, 24, 9, 0, 0, 0, tok)},
		// one second before NY opens
		{time.Date(2026, 11, 23, 13, 59, 59, 0, time.UTC), ny, false, time.Date(2026, 11, 23, 9, 0, 0, 0, ny)},
		// 21:00 sharp is closed (To is exclusive); next is Tuesday 09:00
		{time.Date(2026, 11, 23, 21, 0, 0, 0, lon), lon, false, time.Date(2026, 11, 24, 9, 0, 0, 0, lon)},
		// Friday 22:00 in Tokyo (Friday 13:00 UTC): next is Monday 09:00 Tokyo
		{time.Date(2026, 11, 27, 22, 0, 0, 0, tok), tok, false, time.Date(2026, 11, 30, 9, 0, 0, 0, tok)},
		// Saturday in New York: Monday 09:00
		{time.Date(2026, 11, 28, 12, 0, 0, 0, ny), ny, false, time.Date(2026, 11, 30, 9, 0, 0, 0, ny)},
	}
	for i, c := range cases {
		if got := InWindow(weekdays9to21, c.utc, c.loc); got != c.in {
			t.Errorf("%d: InWindow(%s in %s) = %v", i, c.utc, c.loc, got)
		}
		next, ok := NextOpen(weekdays9to21, c.utc, c.loc)
		if !ok || !next.Equal(c.next) {
			t.Errorf("%d: NextOpen(%s in %s) = %s %v, want %s", i, c.utc, c.loc, next, ok, c.next)
		}
	}
}

func TestWindowDSTChange(t *testing.T) {
	ny, lon := mustLoc(t, "America/New_York"), mustLoc(t, "Europe/London")
	daily := []Window{{Days: allWeek, From: 9 * time.Hour, To: 21 * time.Hour}}
	// US spring forward: Sunday 2026-03-08 02:00 EST → 03:00 EDT.
	// Saturday 22:00 EST (03:00 UTC Sunday) → Sunday 09:00 EDT = 13:00 UTC (not 14:00).
	next, ok := NextOpen(daily, time.Date(2026, 3, 8, 3, 0, 0, 0, time.UTC), ny)
	if want := time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC); !ok || !next.Equal(want) {
		t.Fatalf("spring forward: NextOpen = %s, want %s", next.UTC(), want)
	}
	// 13:30 UTC is 09:30 EDT on the change day: open; the day before 13:30 UTC was 08:30 EST: closed.
	if !InWindow(daily, time.Date(2026, 3, 8, 13, 30, 0, 0, time.UTC), ny) || InWindow(daily, time.Date(2026, 3, 7, 13, 30, 0, 0, time.UTC), ny) {
		t.Fatal("spring forward: window did not follow the wall clock")
	}
	// US fall back: Sunday 2026-11-01; 09:00 EST = 14:00 UTC.
	next, ok = NextOpen(daily, time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC), ny)
	if want := time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC); !ok || !next.Equal(want) {
		t.Fatalf("fall back: NextOpen = %s, want %s", next.UTC(), want)
	}
	// 20:30 UTC on 2026-03-29 (UK clocks went forward that morning) is 21:30 BST: closed;
	// the day before it was 20:30 GMT: open.
	if InWindow(daily, time.Date(2026, 3, 29, 20, 30, 0, 0, time.UTC), lon) || !InWindow(daily, time.Date(2026, 3, 28, 20, 30, 0, 0, time.UTC), lon) {
		t.Fatal("UK DST: window did not follow the wall clock")
	}
	// A window opening inside the skipped hour (02:30 on the spring-forward day) opens
	// at the first existing instant after it.
	night := []Window{{Days: allWeek, From: 2*time.Hour + 30*time.Minute, To: 4 * time.Hour}}
	next, ok = NextOpen(night, time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC), ny) // 00:00 EST
	if !ok || !InWindow(night, next, ny) || next.Before(time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("window in the DST gap: NextOpen = %s (%s local)", next.UTC(), next.In(ny))
	}
	if _, ok := NextOpen([]Window{{Days: nil, From: 0, To: time.Hour}}, mon, ny); ok {
		t.Fatal("a window with no days opened")
	}
}

// TestNoDialOutsideWindowsSweep runs a progressive campaign across three zones for a
// week around the US DST change, at fixed 7-minute steps with every line busy (so
// contacts come back), and checks every dial against the contact's local wall clock.
func TestNoDialOutsideWindowsSweep(t *testing.T) {
	zones := []string{"America/New_York", "Europe/London", "Asia/Tokyo"}
	var cs []Contact
	for i := 0; i < 30; i++ {
		cs = append(cs, Contact{ID: ContactID("k" + string(rune('a'+i))), Numbers: []string{"+1212555" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "00"}, Zone: zones[i%3]})
	}
	d := newDialer(t, Config{Mode: Progressive, Windows: weekdays9to21, MaxAttemptsPerNumber: 50, MaxAttemptsPerContact: 50,
		Retry: RetryRules{Busy: Retry{After: 20 * time.Minute}}}, cs...)
	start := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	dials := 0
	perZone := map[string]int{}
	for now := start; now.Before(start.Add(7 * 24 * time.Hour)); now = now.Add(7 * time.Minute) {
		pl := d.Plan(now, free("a1", "a2", "a3", "a4"))
		for _, dl := range pl.Dials {
			l := now.In(mustLoc(t, dl.Zone))
			h := l.Hour()
			if l.Weekday() == time.Saturday || l.Weekday() == time.Sunday || h < 9 || h >= 21 {
				t.Fatalf("dialled %s at %s local (%s)", dl.Number, l, dl.Zone)
			}
			dials++
			perZone[dl.Zone]++
			mustResult(t, d, now, dl.Attempt, Busy)
		}
	}
	if dials < 100 || len(perZone) != 3 {
		t.Fatalf("sweep dialled too little: %d %v", dials, perZone)
	}
}
