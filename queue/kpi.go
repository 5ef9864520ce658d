package queue

import (
	"math"
	"time"
)

// SLCounts are the raw facts behind a service level over an interval.
type SLCounts struct {
	Answered        int // calls answered
	AnsweredWithin  int // answered with wait <= threshold
	Abandoned       int // calls abandoned (all)
	AbandonedWithin int // abandoned with wait <= threshold (includes short abandons)
	ShortAbandoned  int // abandoned with wait <= short-abandon threshold
}

// SLFormula selects how abandons count in a service level.
type SLFormula uint8

// Service level formulas.
const (
	// SLAbandonsMet: (answered<=T + abandoned<=T) / (answered + abandoned).
	SLAbandonsMet SLFormula = iota
	// SLAnsweredOnly: answered<=T / answered.
	SLAnsweredOnly
	// SLAbandonsAgainst: answered<=T / (answered + abandoned).
	SLAbandonsAgainst
	// SLShortAbandonsNeutral: like SLAbandonsMet with short abandons removed from both sides.
	SLShortAbandonsNeutral
)

func (f SLFormula) String() string {
	switch f {
	case SLAbandonsMet:
		return "abandons-met"
	case SLAnsweredOnly:
		return "answered-only"
	case SLAbandonsAgainst:
		return "abandons-against"
	case SLShortAbandonsNeutral:
		return "short-abandons-neutral"
	}
	return "unknown"
}

// ServiceLevel returns the fraction (0..1) of calls meeting the threshold under formula
// f; ok is false when there are no calls to measure.
func ServiceLevel(c SLCounts, f SLFormula) (sl float64, ok bool) {
	var num, den int
	switch f {
	case SLAbandonsMet:
		num, den = c.AnsweredWithin+c.AbandonedWithin, c.Answered+c.Abandoned
	case SLAnsweredOnly:
		num, den = c.AnsweredWithin, c.Answered
	case SLAbandonsAgainst:
		num, den = c.AnsweredWithin, c.Answered+c.Abandoned
	case SLShortAbandonsNeutral:
		num = c.AnsweredWithin + c.AbandonedWithin - c.ShortAbandoned
		den = c.Answered + c.Abandoned - c.ShortAbandoned
	default:
		return 0, false
	}
	if den <= 0 {
		return 0, false
	}
	return float64(num) / float64(den), true
}

// AbandonRate is abandoned / (answered + abandoned); with excludeShort, short abandons
// are removed from both sides.
func AbandonRate(c SLCounts, excludeShort bool) (float64, bool) {
	ab, den := c.Abandoned, c.Answered+c.Abandoned
	if excludeShort {
		ab -= c.ShortAbandoned
		den -= c.ShortAbandoned
	}
	if den <= 0 {
		return 0, false
	}
	return float64(ab) / float64(den), true
}

// Average returns total/n (0 when n == 0): ASA = total answered wait / answered,
// AHT = total handle time (talk + hold + wrap-up) / handled.
func Average(total time.Duration, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return total / time.Duration(n)
}

// Occupancy = time handling calls / (time handling calls + time idle ready).
func Occupancy(handling, idle time.Duration) (float64, bool) {
	den := handling + idle
	if den <= 0 {
		return 0, false
	}
	return float64(handling) / float64(den), true
}

// Traffic in erlangs for calls arriving in interval with average handle time aht.
func Traffic(calls float64, interval, aht time.Duration) float64 {
	if interval <= 0 {
		return 0
	}
	return calls * aht.Seconds() / interval.Seconds()
}

// ErlangC is the probability that a call waits, with a erlangs of traffic and n agents.
// It is 1 when n <= a (the queue grows without bound).
func ErlangC(a float64, n int) float64 {
	if a <= 0 {
		return 0
	}
	if float64(n) <= a {
		return 1
	}
	// Erlang B by the stable recurrence, then convert to C.
	b := 1.0
	for k := 1; k <= n; k++ {
		b = a * b / (float64(k) + a*b)
	}
	rho := a / float64(n)
	return b / (1 - rho + rho*b)
}

// ErlangCServiceLevel is the fraction of calls answered within t.
func ErlangCServiceLevel(a float64, n int, t, aht time.Duration) float64 {
	pw := ErlangC(a, n)
	if pw >= 1 {
		return 0
	}
	return 1 - pw*math.Exp(-(float64(n)-a)*t.Seconds()/aht.Seconds())
}

// ErlangCASA is the average speed of answer.
func ErlangCASA(a float64, n int, aht time.Duration) time.Duration {
	pw := ErlangC(a, n)
	if pw >= 1 || float64(n) <= a {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(pw * aht.Seconds() / (float64(n) - a) * float64(time.Second))
}

// AgentsNeeded is the smallest number of agents that reaches service level sl (0..1)
// within t, capped at maxAgents (returns maxAgents+1 if not reachable).
func AgentsNeeded(a, sl float64, t, aht time.Duration, maxAgents int) int {
	for n := int(math.Floor(a)) + 1; n <= maxAgents; n++ {
		if n < 1 {
			continue
		}
		if ErlangCServiceLevel(a, n, t, aht) >= sl {
			return n
		}
	}
	return maxAgents + 1
}
