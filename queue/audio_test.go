package queue

import (
	"testing"
	"time"
)

// An agent whose audio path is down is skipped by a queue unless the queue has
// OfferWithoutAudio; their state stays Ready; audio coming back offers the waiting
// call at once.
func TestAgentAudioDownOfferedOnlyWhereAllowed(t *testing.T) {
	e := mustEngine(t, Config{
		Agents: agentsN(2, nil),
		Queues: []QueueConfig{
			{ID: "strict", Members: members("a1")},
			{ID: "lenient", Members: members("a2"), OfferWithoutAudio: true},
		},
	})
	loginReady(t, e, at(0), "a1", "a2")
	eq(t, "a1 audio down", len(must(t)(e.AgentAudio(at(1), "a1", false))), 0)
	must(t)(e.AgentAudio(at(1), "a2", false))
	if ok, err := e.AgentHasAudio("a1"); err != nil || ok {
		t.Fatalf("AgentHasAudio(a1) = %v, %v; want false", ok, err)
	}
	eq(t, "a1 state", state(t, e, "a1"), Ready)

	// the strict queue waits rather than offer to a1
	eq(t, "offers strict", offers(must(t)(e.CallArrived(at(2), Call{ID: "s1", Queue: "strict"}))), []string(nil))
	// the lenient queue offers to a2 though its audio is down
	eq(t, "offers lenient", offers(must(t)(e.CallArrived(at(3), Call{ID: "l1", Queue: "lenient"}))), []string{"l1>a2"})

	// a1's audio comes back: the waiting call is offered at once
	eq(t, "audio back", offers(must(t)(e.AgentAudio(at(4), "a1", true))), []string{"s1>a1"})
	// repeating the same state is a no-op
	eq(t, "again", len(must(t)(e.AgentAudio(at(5), "a1", true))), 0)

	for _, c := range []struct {
		id   AgentID
		want bool
	}{{"a1", false}, {"a2", true}} {
		got, err := e.OffersWithoutAudio(c.id)
		if err != nil || got != c.want {
			t.Fatalf("OffersWithoutAudio(%s) = %v, %v; want %v", c.id, got, err, c.want)
		}
	}
	ds, err := e.AgentAudio(at(6), "nobody", false)
	mustErr(t, ErrUnknownAgent, ds, err)
}

// An agent with audio down goes Ready and is not offered a strict queue's call that
// is already waiting.
func TestAgentReadyWithAudioDownSkipsStrictQueue(t *testing.T) {
	e := mustEngine(t, Config{
		Agents: agentsN(1, nil),
		Queues: []QueueConfig{
			{ID: "strict", Members: members("a1")},
			{ID: "lenient", Members: members("a1"), OfferWithoutAudio: true},
		},
	})
	must(t)(e.CallArrived(at(0), Call{ID: "s1", Queue: "strict"}))
	must(t)(e.AgentLogin(at(1), "a1"))
	must(t)(e.AgentAudio(at(1), "a1", false))
	eq(t, "ready", offers(must(t)(e.AgentReady(at(2), "a1"))), []string(nil))
	eq(t, "lenient call", offers(must(t)(e.CallArrived(at(3), Call{ID: "l1", Queue: "lenient"}))), []string{"l1>a1"})
}

// The dialer does not count an agent whose audio path is down as free (nor as
// likely free soon): an outbound call would be connected to silence.
func TestAgentAudioDownNotFreeForCampaigns(t *testing.T) {
	ags := []AgentConfig{{ID: "a1", Campaigns: []string{"sales"}}, {ID: "a2", Campaigns: []string{"sales"}}}
	e := mustEngine(t, Config{Agents: ags, Queues: []QueueConfig{{ID: "q", Members: members("a1", "a2"), OfferWithoutAudio: true}}})
	loginReady(t, e, at(0), "a1", "a2")
	eq(t, "both free", e.AgentsFree("sales"), []AgentID{"a1", "a2"})
	must(t)(e.AgentAudio(at(1), "a2", false))
	eq(t, "a2 audio down: state", state(t, e, "a2"), Ready)
	eq(t, "a2 audio down: free", e.AgentsFree("sales"), []AgentID{"a1"})
	eq(t, "a2 audio down: likely free", e.AgentsLikelyFree(at(2), "sales", time.Minute), 1)
	must(t)(e.AgentAudio(at(3), "a2", true))
	eq(t, "a2 audio back", e.AgentsFree("sales"), []AgentID{"a1", "a2"})
}
