package queue

import (
	"fmt"
	"slices"
)

// AssignCampaign lets agents (by id) and the members of queue (when not "") be paced
// for an outbound campaign, as if their AgentConfig.Campaigns listed it (a campaign
// defined at run time over the API). Agents the engine does not know are returned in
// unknown and left out; an unknown queue is ErrUnknownQueue. It returns how many
// agents the campaign has afterwards (CampaignAgents). Assigning twice is harmless.
func (e *Engine) AssignCampaign(campaign string, agents []AgentID, queue QueueID) (n int, unknown []AgentID, err error) {
	if campaign == "" {
		return 0, nil, fmt.Errorf("%w: empty campaign id", ErrInvalidConfig)
	}
	var targets []*agent
	for _, id := range agents {
		a, ok := e.agents[id]
		if !ok {
			unknown = append(unknown, id)
			continue
		}
		targets = append(targets, a)
	}
	if queue != "" {
		q, ok := e.queues[queue]
		if !ok {
			return 0, unknown, fmt.Errorf("%w: %q", ErrUnknownQueue, queue)
		}
		for _, m := range q.members {
			targets = append(targets, m.a)
		}
	}
	for _, a := range targets {
		if !slices.Contains(a.cfg.Campaigns, campaign) {
			a.cfg.Campaigns = append(slices.Clip(a.cfg.Campaigns), campaign)
		}
	}
	return e.CampaignAgents(campaign), unknown, nil
}
