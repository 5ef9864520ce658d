package cti

import (
	"context"
	"time"

	"github.com/ctid/ctid/queue"
)

// AnnouncementMedia exposes the prompt list to the external tests.
var AnnouncementMedia = announcementMedia

// E164 exposes the caller-number normaliser to the external tests.
var E164 = e164

// StepCampaign runs one planning step of a campaign at the orchestrator's clock
// (tests that drive a virtual clock call it after each advance).
func (o *Orchestrator) StepCampaign(ctx context.Context, id string) error {
	return o.campaignAsk(ctx, id, campStep{})
}

// UpsertQueueForTest replaces a queue's configuration in the running engine.
func (o *Orchestrator) UpsertQueueForTest(ctx context.Context, qc queue.QueueConfig) error {
	return o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.UpsertQueue(now, qc)
	})
}
