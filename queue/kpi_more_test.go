package queue

import (
	"testing"
	"time"
)

func TestSurveyAndRatioKPIs(t *testing.T) {
	// 10 answers: 5 promoters, 2 passives, 3 detractors -> 50% - 30% = 20.
	if v, ok := NPS(5, 3, 10); !ok || v != 20 {
		t.Fatalf("NPS = %v, %v; want 20, true", v, ok)
	}
	if _, ok := NPS(0, 0, 0); ok {
		t.Fatal("NPS of no answers must not be ok")
	}
	if v, ok := CSAT(3, 4); !ok || v != 0.75 {
		t.Fatalf("CSAT = %v, %v; want 0.75", v, ok)
	}
	if v, ok := FCR(2, 3); !ok || v != 2.0/3 {
		t.Fatalf("FCR = %v, %v; want 2/3", v, ok)
	}
	if _, ok := FCR(0, 0); ok {
		t.Fatal("FCR of nothing must not be ok")
	}
	if v, ok := Utilisation(30*time.Minute, 2*time.Hour); !ok || v != 0.25 {
		t.Fatalf("Utilisation = %v, %v; want 0.25", v, ok)
	}
	if _, ok := Utilisation(time.Minute, 0); ok {
		t.Fatal("Utilisation without logged-in time must not be ok")
	}
	for score, want := range map[int]int{0: -1, 6: -1, 7: 0, 8: 0, 9: 1, 10: 1} {
		if got := NPSClass(score); got != want {
			t.Errorf("NPSClass(%d) = %d, want %d", score, got, want)
		}
	}
}
