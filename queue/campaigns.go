package queue

// CampaignAgents counts the agents configured for an outbound campaign
// (AgentConfig.Campaigns), logged in or not.
func (e *Engine) CampaignAgents(campaign string) int {
	n := 0
	for _, a := range e.agents {
		if campaign != "" && a.inCampaign(campaign) {
			n++
		}
	}
	return n
}
