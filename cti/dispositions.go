package cti

import (
	"fmt"
	"regexp"

	"github.com/ctid/ctid/queue/dialer"
)

// QueueDisposition is one wrap-up outcome a queue offers its agents (the
// queues[].dispositions list): it reaches the desktop in the screen-pop
// (call.offered "dispositions"), so that the wrap-up form lists the queue's own set.
type QueueDisposition struct {
	Code     string
	Label    string // shown to the agent; empty: the console's translation of Code
	Callback bool   // the agent gives a callback date-time with it
	Final    bool   // the matter is closed (reporting)
}

var dispositionCode = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func validateQueueDispositions(i int, list []QueueDisposition) error {
	seen := map[string]bool{}
	for j, d := range list {
		if !dispositionCode.MatchString(d.Code) || seen[d.Code] {
			return fmt.Errorf("%w: calls.desks[%d].dispositions[%d].code: %q: must be a unique code of 1-64 lower-case letters, digits, '-' or '_'",
				ErrInvalidConfig, i, j, d.Code)
		}
		if len(d.Label) > 200 {
			return fmt.Errorf("%w: calls.desks[%d].dispositions[%d].label: must be at most 200 characters", ErrInvalidConfig, i, j)
		}
		seen[d.Code] = true
	}
	return nil
}

// popDispositions is the "dispositions" field of a screen-pop.
func popDispositions(list []QueueDisposition) []map[string]any {
	out := make([]map[string]any, 0, len(list))
	for _, d := range list {
		label := d.Label
		if label == "" {
			label = d.Code
		}
		out = append(out, map[string]any{"code": d.Code, "label": label, "callback": d.Callback, "final": d.Final})
	}
	return out
}

// campaignDispositions is a campaign's disposition set as the screen-pop lists it
// (labels from the campaign definition, the code where it has none).
func campaignDispositions(set []dialer.Disposition, labels map[string]string) []map[string]any {
	list := make([]QueueDisposition, 0, len(set))
	for _, d := range set {
		list = append(list, QueueDisposition{Code: d.Code, Label: labels[d.Code], Callback: d.Callback,
			Final: d.Final || d.DNC || d.BadNum || d.Sale})
	}
	return popDispositions(list)
}
