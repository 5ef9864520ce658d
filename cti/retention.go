package cti

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
)

// Clock is the time source of scheduled jobs (tests inject a fake one).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RetentionParams configure the daily retention purge.
type RetentionParams struct {
	// Purge deletes what is older than each table's retention (store.Purge), relative to now.
	Purge func(ctx context.Context, now time.Time) (store.PurgeResult, error)
	// RunAt is the local time of day of the run, "HH:MM" (store.retention.run_at; "" is 03:30).
	RunAt    string
	Location *time.Location // nil: UTC
	Clock    Clock          // nil: the wall clock
	// Timeout bounds one run (default 10 min); RetryAfter is when a failed run is
	// tried again (default 1 h).
	Timeout, RetryAfter time.Duration
	Log                 zerolog.Logger
}

// RetentionJob runs the retention purge once a day until its context ends.
type RetentionJob struct {
	p      RetentionParams
	hh, mm int
}

// ParseTimeOfDay parses "HH:MM" (24 h).
func ParseTimeOfDay(s string) (h, m int, err error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %q: must be HH:MM, e.g. 03:30", ErrInvalidConfig, s)
	}
	return t.Hour(), t.Minute(), nil
}

// NewRetentionJob checks the parameters.
func NewRetentionJob(p RetentionParams) (*RetentionJob, error) {
	if p.Purge == nil {
		return nil, fmt.Errorf("%w: retention job needs a purge function", ErrInvalidConfig)
	}
	if p.RunAt == "" {
		p.RunAt = "03:30"
	}
	hh, mm, err := ParseTimeOfDay(p.RunAt)
	if err != nil {
		return nil, fmt.Errorf("store.retention.run_at: %w", err)
	}
	if p.Location == nil {
		p.Location = time.UTC
	}
	if p.Clock == nil {
		p.Clock = realClock{}
	}
	if p.Timeout <= 0 {
		p.Timeout = 10 * time.Minute
	}
	if p.RetryAfter <= 0 {
		p.RetryAfter = time.Hour
	}
	p.Log = p.Log.With().Str("component", "retention").Logger()
	return &RetentionJob{p: p, hh: hh, mm: mm}, nil
}

// next is the first run time strictly after now.
func (j *RetentionJob) next(now time.Time) time.Time {
	l := now.In(j.p.Location)
	t := time.Date(l.Year(), l.Month(), l.Day(), j.hh, j.mm, 0, 0, j.p.Location)
	for !t.After(now) {
		l = l.AddDate(0, 0, 1)
		t = time.Date(l.Year(), l.Month(), l.Day(), j.hh, j.mm, 0, 0, j.p.Location)
	}
	return t
}

// Run purges every day at RunAt until ctx ends; a failed run is logged at error
// level and retried after RetryAfter. It returns nil when ctx ends.
func (j *RetentionJob) Run(ctx context.Context) error {
	at := j.next(j.p.Clock.Now())
	for {
		j.p.Log.Debug().Time("next_run", at).Msg("retention purge scheduled")
		select {
		case <-ctx.Done():
			return nil
		case <-j.p.Clock.After(at.Sub(j.p.Clock.Now())):
		}
		now := j.p.Clock.Now()
		rctx, cancel := context.WithTimeout(ctx, j.p.Timeout)
		res, err := j.p.Purge(rctx, now)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return nil
		case err != nil:
			at = now.Add(j.p.RetryAfter)
			j.p.Log.Error().Err(err).Time("retry_at", at).Msg("retention purge failed; personal data older than the retention is still stored")
		default:
			at = j.next(now)
			j.p.Log.Info().Int64("interactions", res.Interactions).Int64("agent_states", res.AgentStates).
				Int64("audit", res.Audit).Int64("callbacks", res.Callbacks).Int64("surveys", res.Surveys).
				Time("next_run", at).Msg("retention purge done")
		}
	}
}
