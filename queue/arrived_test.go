package queue

import (
	"testing"
	"time"
)

// A caller who brings their original arrival (Call.Arrived, e.g. a transfer from
// another queue) keeps it for the wait KPIs and for their place; zero or a future
// time counts as a new arrival.
func TestCallArrivedKeepsOriginalArrival(t *testing.T) {
	cases := []struct {
		name        string
		arrived     time.Time
		longest     time.Duration // at 105 s
		first       CallID        // offered first when a1 is ready at 110 s
		asa         time.Duration
		within      int // answered within the 20 s service level
		abandonedIn int // t abandoning at 110 s instead: within the service level
	}{
		{name: "new arrival", longest: 15 * time.Second, first: "b", asa: 20 * time.Second, within: 1, abandonedIn: 1},
		{name: "kept", arrived: at(70), longest: 35 * time.Second, first: "t", asa: 40 * time.Second, within: 0, abandonedIn: 0},
		{name: "future is now", arrived: at(200), longest: 15 * time.Second, first: "b", asa: 20 * time.Second, within: 1, abandonedIn: 1},
	}
	cfg := Config{Agents: agentsN(1, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1"), ServiceLevel: 20 * time.Second}}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, cfg)
			must(t)(e.AgentLogin(at(0), "a1"))
			must(t)(e.CallArrived(at(90), Call{ID: "b", Queue: "q"}))
			must(t)(e.CallArrived(at(100), Call{ID: "t", Queue: "q", Arrived: tc.arrived}))
			s, err := e.QueueStats(at(105), "q")
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "longest wait", s.LongestWait, tc.longest)
			ds := must(t)(e.AgentReady(at(110), "a1"))
			eq(t, "offers", offers(ds), []string{string(tc.first) + ">a1"})
			must(t)(e.OfferAccepted(at(110), tc.first, "a1"))
			s, err = e.QueueStats(at(110), "q")
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "ASA", s.ASA, tc.asa)
			eq(t, "answered within", s.Counts.AnsweredWithin, tc.within)

			e = mustEngine(t, cfg)
			must(t)(e.CallArrived(at(100), Call{ID: "t", Queue: "q", Arrived: tc.arrived}))
			must(t)(e.CallAbandoned(at(110), "t"))
			s, err = e.QueueStats(at(110), "q")
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "abandoned", s.Counts.Abandoned, 1)
			eq(t, "abandoned within", s.Counts.AbandonedWithin, tc.abandonedIn)
		})
	}
}
