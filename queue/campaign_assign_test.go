package queue

import (
	"errors"
	"testing"
)

// A campaign defined at run time: listed agents and a queue's members may be paced
// for it; unknown agents are reported, an unknown queue refused; twice is harmless.
func TestAssignCampaign(t *testing.T) {
	ags := []AgentConfig{{ID: "a1"}, {ID: "a2"}, {ID: "a3"}}
	q := QueueConfig{ID: "q", Members: []Member{{Agent: "a3"}}}
	e := mustEngine(t, Config{Agents: ags, Queues: []QueueConfig{q}})
	loginReady(t, e, at(0), "a1", "a2", "a3")
	eq(t, "nobody before", e.AgentsFree("spring"), []AgentID(nil))
	n, unknown, err := e.AssignCampaign("spring", []AgentID{"a1", "zed"}, "q")
	if err != nil || n != 2 {
		t.Fatalf("assign: %d %v", n, err)
	}
	eq(t, "unknown agents", unknown, []AgentID{"zed"})
	eq(t, "a1 and the member a3 are free for it", e.AgentsFree("spring"), []AgentID{"a1", "a3"})
	if n, _, err := e.AssignCampaign("spring", []AgentID{"a1"}, ""); err != nil || n != 2 {
		t.Fatalf("assign twice: %d %v", n, err)
	}
	eq(t, "other campaigns unaffected", e.CampaignAgents("autumn"), 0)
	if _, _, err := e.AssignCampaign("spring", nil, "nope"); !errors.Is(err, ErrUnknownQueue) {
		t.Fatalf("unknown queue: %v", err)
	}
	if _, _, err := e.AssignCampaign("", []AgentID{"a1"}, ""); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty campaign: %v", err)
	}
}
