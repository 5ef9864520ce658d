package cti

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue/dialer"
	"github.com/ctid/ctid/telephony"
)

// Lines still ringing when a run died (docs/RELIABILITY.md): the PBX ends a line
// nobody answers at its originate timeout (the ring timeout plus originateSlack)
// without the next run hearing of it — a ringing originated channel is not in the
// application, so the start-up resync does not list it. Its interaction record and
// its attempt would stay open for ever. When a campaign is loaded (start, resume
// after a restart, lease taken over), the store hands over its attempts that were
// placed and never answered, connected or ended (OpenLineSource); once each is past
// its originate timeout plus sweepMargin, the campaign actor checks it: if the
// channel is gone in the PBX and the record is still open and unanswered, the record
// is closed (outcome no-answer, cause sweptCause) and the attempt ends as a
// no-answer with the number's retry timer the dialer already applied when it loaded
// the cut attempt (its no-answer rule from the placing). A line answered in the
// meantime is someone's call (late answer: closeLateOutbound; or a call another
// node follows) and is left alone.
//
// Several nodes on one database: only the node holding the campaign's lease loads
// it, hence sweeps it; and a never-answered line older than the originate timeout
// has ended on whichever PBX it rang, so no live node's call is closed. A line
// another node placed under a lease it since lost still rings on that node's PBX
// until its originate timeout at the latest, which the sweep waits for.

// originateSlack is what a campaign line's originate timeout adds to its ring
// timeout: the PBX's backstop behind the dialer's own hang-up.
const originateSlack = 5 * time.Second

// sweepMargin is how long after a line's originate timeout the sweep looks at it
// (the writer's batching, an answer recorded late, clocks of several nodes).
const sweepMargin = 5 * time.Second

// sweptCause is the interaction cause of a line closed by the sweep.
const sweptCause = "line ended unanswered while ctid was down"

// OpenLine is an attempt an earlier run placed and never saw end (no answer, no
// outcome): a line ringing when that run died.
type OpenLine struct {
	CallID, Attempt, Contact, Number string
	Placed                           time.Time
}

// OpenLineSource is a ContactSource that also hands over the open lines it saw in
// the campaign's attempts when it last read its contacts.
type OpenLineSource interface {
	OpenLines(campaign string) []OpenLine
}

// lineProgresser tells whether an open line's attempt row moved on since it was
// read (answered, connected or ended: someone follows that call). A customer who
// answered just before the originate timeout, whose agent's phone still rings on
// another node, has no answer in the interaction record yet, but in the attempt.
type lineProgresser interface {
	LineProgressed(ctx context.Context, campaign, contact, id string) (bool, error)
}

// OpenLineReader reads a campaign's open lines from the store (the manual-dial
// campaign's: it loads no contacts).
type OpenLineReader interface {
	ReadOpenLines(ctx context.Context, campaign string) ([]OpenLine, error)
}

// campSweepOpen asks the manual-dial campaign to check the open lines an earlier
// run left (ResumeCampaigns).
type campSweepOpen struct{}

// sweepManualLines: the manual dials an earlier run left ringing (no campaign's
// load covers them).
func (o *Orchestrator) sweepManualLines(ctx context.Context) error {
	if !o.manualDialEnabled() {
		return nil
	}
	if _, ok := o.contacts.(OpenLineReader); !ok {
		return nil
	}
	c, err := o.campaign(ctx, manualCampaign)
	if err != nil {
		return err
	}
	return c.ask(ctx, campSweepOpen{})
}

// readOpenLines takes the manual-dial campaign's open lines from the store.
func (c *campaignActor) readOpenLines(ctx context.Context) error {
	r, ok := c.o.contacts.(OpenLineReader)
	if !ok {
		return nil
	}
	lines, err := r.ReadOpenLines(ctx, c.id)
	if err != nil {
		return err
	}
	c.addOpenLines(lines)
	return nil
}

// sweepLine is an open line waiting for its check.
type sweepLine struct {
	OpenLine
	due, ended, retryAt time.Time
}

// collectOpenLines takes the open lines of the contacts just loaded.
func (c *campaignActor) collectOpenLines() {
	src, ok := c.o.contacts.(OpenLineSource)
	if !ok {
		return
	}
	c.addOpenLines(src.OpenLines(c.id))
}

// addOpenLines schedules the check of open lines (each once).
func (c *campaignActor) addOpenLines(lines []OpenLine) {
	cfg := c.d.Config()
	n := len(c.sweep)
	for _, l := range lines {
		if c.byCall[l.CallID] != nil || slices.ContainsFunc(c.sweep, func(s sweepLine) bool { return s.CallID == l.CallID }) {
			continue
		}
		end := l.Placed.Add(cfg.RingTimeout + originateSlack)
		sl := sweepLine{OpenLine: l, due: end.Add(sweepMargin), ended: end}
		if c.id != manualCampaign && l.Contact != "manual" {
			sl.retryAt = l.Placed.Add(cfg.Retry.NoAnswer.After) // an agent's manual dial has no retry
		}
		c.sweep = append(c.sweep, sl)
	}
	if len(c.sweep) > n {
		c.log.Info().Int("lines", len(c.sweep)).Msg("lines of an earlier run never seen to end: checked after their originate timeout")
	}
}

// sweepDue checks the open lines past their originate timeout (off the actor: ARI
// and store reads).
func (c *campaignActor) sweepDue(ctx context.Context, now time.Time) {
	var due []sweepLine
	c.sweep = slices.DeleteFunc(c.sweep, func(l sweepLine) bool {
		if now.Before(l.due) {
			return false
		}
		due = append(due, l)
		return true
	})
	if len(due) == 0 {
		return
	}
	c.o.wg.Go(func() {
		for _, l := range due {
			if ctx.Err() != nil {
				return
			}
			c.sweepLine(ctx, l)
		}
	})
}

// channelGetter is the PBX's GET /channels/{id} (*telephony.Client).
type channelGetter interface {
	Channel(ctx context.Context, id string) (*ari.ChannelData, error)
}

// sweepLine closes one open line whose channel is gone (see above).
func (c *campaignActor) sweepLine(ctx context.Context, l sweepLine) {
	log := c.log.With().Str("call_id", l.CallID).Str("contact", l.Contact).Time("placed", l.Placed).Logger()
	if g, ok := c.o.ari.(channelGetter); ok {
		octx, cancel := context.WithTimeout(ctx, c.o.cfg.OpTimeout)
		_, err := g.Channel(octx, l.CallID)
		cancel()
		switch {
		case err == nil:
			log.Info().Msg("a line of an earlier run is still up in the PBX: left to whoever follows it")
			return
		case !errors.Is(err, telephony.ErrNotFound):
			log.Warn().Err(err).Msg("cannot tell whether a line of an earlier run is gone; left open")
			return
		}
	}
	if p, ok := c.o.contacts.(lineProgresser); ok {
		pctx, cancel := context.WithTimeout(ctx, c.o.cfg.OpTimeout)
		moved, err := p.LineProgressed(pctx, c.id, l.Contact, l.CallID)
		cancel()
		switch {
		case err != nil:
			log.Warn().Err(err).Msg("cannot read the attempt of a line of an earlier run; left open")
			return
		case moved:
			return // answered, connected or ended meanwhile: someone's call
		}
	}
	if c.o.records != nil {
		rctx, cancel := context.WithTimeout(ctx, c.o.cfg.OpTimeout)
		ix, err := c.o.records.Interaction(rctx, l.CallID)
		cancel()
		switch {
		case err == nil && (!ix.Ended.IsZero() || !ix.Answered.IsZero()):
			return // closed meanwhile, or answered: not an unanswered line
		case err != nil && !errors.Is(err, store.ErrNotFound):
			log.Warn().Err(err).Msg("cannot read the record of a line of an earlier run; left open")
			return
		case err == nil:
			ended := l.endedBy(c.o.now())
			c.o.record(func(r Records) error {
				return r.CloseInteraction(store.InteractionClose{ID: l.CallID, Ended: ended, Outcome: dialer.NoAnswer.String(), Cause: sweptCause})
			})
		}
	}
	c.record(AttemptRecord{Event: AttemptOutcome, Attempt: l.Attempt, Contact: l.Contact, Number: l.Number, CallID: l.CallID,
		Outcome: dialer.NoAnswer.String(), Reason: sweptCause, At: l.endedBy(c.o.now()), NumberRetryAt: l.retryAt})
	log.Info().Msg("closed a line of an earlier run that ended unanswered while ctid was down")
}

// endedBy is when the line ended at the latest: its originate timeout, or now.
func (l sweepLine) endedBy(now time.Time) time.Time {
	if now.Before(l.ended) {
		return now
	}
	return l.ended
}
