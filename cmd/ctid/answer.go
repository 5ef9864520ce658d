package main

import (
	"fmt"

	"github.com/ctid/ctid/cti"
)

// answers reads queues[].answer (on_arrival, the default, or on_connect).
func (fc fileConfig) answers() ([]cti.QueueAnswer, error) {
	var out []cti.QueueAnswer
	for i, q := range fc.Queues {
		if q.Answer == "" {
			continue
		}
		m, err := cti.ParseAnswerMode(q.Answer)
		if err != nil {
			return nil, fmt.Errorf("queues[%d].answer: %w", i, err)
		}
		out = append(out, cti.QueueAnswer{Queue: q.ID, Mode: m})
	}
	return out, nil
}
