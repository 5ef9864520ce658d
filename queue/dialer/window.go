package dialer

import (
	"slices"
	"time"
)

// sinceMidnight is the local wall-clock time of day of t (in t's location).
func sinceMidnight(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second +
		time.Duration(t.Nanosecond())
}

// InWindow reports whether now, as local time in loc, is inside one of windows.
func InWindow(windows []Window, now time.Time, loc *time.Location) bool {
	l := now.In(loc)
	wd, tod := l.Weekday(), sinceMidnight(l)
	for _, w := range windows {
		if tod >= w.From && tod < w.To && slices.Contains(w.Days, wd) {
			return true
		}
	}
	return false
}

// NextOpen is the first instant at or after t inside one of windows (local time in
// loc); ok is false when no window opens within 8 days.
func NextOpen(windows []Window, t time.Time, loc *time.Location) (time.Time, bool) {
	if InWindow(windows, t, loc) {
		return t, true
	}
	l := t.In(loc)
	y, m, d := l.Date()
	var best time.Time
	for i := 0; i <= 8; i++ {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, loc)
		dy, dm, dd := day.Date()
		for _, w := range windows {
			if !slices.Contains(w.Days, day.Weekday()) {
				continue
			}
			start := time.Date(dy, dm, dd, int(w.From/time.Hour), int(w.From%time.Hour/time.Minute), int(w.From%time.Minute/time.Second), 0, loc)
			if start.Before(t) || !InWindow(windows, start, loc) {
				continue
			}
			if best.IsZero() || start.Before(best) {
				best = start
			}
		}
		if !best.IsZero() {
			return best, true
		}
	}
	return time.Time{}, false
}

// NextDayOpen is the first window opening on a local day after t's local day.
func NextDayOpen(windows []Window, t time.Time, loc *time.Location) (time.Time, bool) {
	l := t.In(loc)
	y, m, d := l.Date()
	return NextOpen(windows, time.Date(y, m, d+1, 0, 0, 0, 0, loc), loc)
}
