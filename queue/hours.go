package queue

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	// Embed the time zone database so schedules work on machines without
	// /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Schedule is a queue's business hours: weekly opening ranges in a time zone, and
// holidays (whole local days closed). Ranges are [Open, Close) in local wall-clock time.
type Schedule struct {
	TimeZone string // IANA name, e.g. "Europe/Warsaw"; "" = UTC
	Weekly   []OpenRange
	Holidays []string // "2026-12-25" local dates
}

// OpenRange is one opening range on a weekday, "09:00".."18:00" (Close "24:00" = midnight).
type OpenRange struct {
	Day   time.Weekday
	Open  string
	Close string
}

type compiledSchedule struct {
	loc      *time.Location
	ranges   [7][][2]int // minutes since local midnight, [open, close)
	holidays map[[3]int]bool
}

func parseHHMM(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("bad time %q, want HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("bad time %q, want HH:MM", s)
	}
	return hh*60 + mm, nil
}

func (s *Schedule) compile() (*compiledSchedule, error) {
	cs := &compiledSchedule{holidays: map[[3]int]bool{}}
	loc := time.UTC
	if s.TimeZone != "" {
		l, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %w", s.TimeZone, err)
		}
		loc = l
	}
	cs.loc = loc
	for _, r := range s.Weekly {
		if r.Day < time.Sunday || r.Day > time.Saturday {
			return nil, fmt.Errorf("bad weekday %d", r.Day)
		}
		o, err := parseHHMM(r.Open)
		if err != nil {
			return nil, err
		}
		c, err := parseHHMM(r.Close)
		if err != nil {
			return nil, err
		}
		if c <= o {
			return nil, fmt.Errorf("range %s-%s closes before it opens", r.Open, r.Close)
		}
		cs.ranges[r.Day] = append(cs.ranges[r.Day], [2]int{o, c})
	}
	for _, h := range s.Holidays {
		d, err := time.Parse("2006-01-02", h)
		if err != nil {
			return nil, fmt.Errorf("holiday %q: want YYYY-MM-DD", h)
		}
		cs.holidays[[3]int{d.Year(), int(d.Month()), d.Day()}] = true
	}
	return cs, nil
}

// open reports whether the schedule is open at t (compared in the schedule's zone,
// so DST changes move the UTC instants of opening and closing).
func (cs *compiledSchedule) open(t time.Time) bool {
	lt := t.In(cs.loc)
	y, m, d := lt.Date()
	if cs.holidays[[3]int{y, int(m), d}] {
		return false
	}
	min := lt.Hour()*60 + lt.Minute()
	for _, r := range cs.ranges[lt.Weekday()] {
		if min >= r[0] && min < r[1] {
			return true
		}
	}
	return false
}

// Open reports whether the schedule is open at t. An invalid schedule is closed.
func (s *Schedule) Open(t time.Time) bool {
	cs, err := s.compile()
	if err != nil {
		return false
	}
	return cs.open(t)
}
