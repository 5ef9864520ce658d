package queue

import "time"

// Ratio is num/den, with ok false when den is not positive (nothing to measure).
func Ratio(num, den int) (float64, bool) {
	if den <= 0 {
		return 0, false
	}
	return float64(num) / float64(den), true
}

// FCR (first-contact resolution) is the fraction of handled contacts with no repeat
// contact within the configured window: resolved / handled.
func FCR(resolved, handled int) (float64, bool) { return Ratio(resolved, handled) }

// Utilisation = time handling calls / time logged in (ready, not ready or handling).
func Utilisation(handling, loggedIn time.Duration) (float64, bool) {
	if loggedIn <= 0 {
		return 0, false
	}
	return float64(handling) / float64(loggedIn), true
}

// NPS (net promoter score, -100..100) is the percentage of promoters (answers 9-10)
// minus the percentage of detractors (0-6) among all answers on the 0-10 scale.
func NPS(promoters, detractors, answers int) (float64, bool) {
	if answers <= 0 {
		return 0, false
	}
	return 100 * float64(promoters-detractors) / float64(answers), true
}

// CSAT is the fraction (0..1) of satisfied answers (4 or 5 on the 1-5 scale).
func CSAT(satisfied, answers int) (float64, bool) { return Ratio(satisfied, answers) }

// NPSClass tells whether a 0-10 answer is a promoter (1), a passive (0) or a detractor (-1).
func NPSClass(score int) int {
	switch {
	case score >= 9:
		return 1
	case score >= 7:
		return 0
	}
	return -1
}
