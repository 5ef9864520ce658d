package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ctid/ctid/queue"
)

// Campaign reports (migration 0007 gives the covering indexes they read).
//
// Attempts count in the interval they were placed in; talk, hold and wrap-up time and
// safe-harbour plays in the interval the call was created in (the dial); callbacks
// scheduled when they were created, due and kept when they were due; do-not-call
// additions when they were added; survey answers when they were given.

// CampaignAbandonFormula names the campaign abandon rate: abandons over live answers
// (answered by a person: connected to an agent or abandoned), the formula of the
// dialer's rolling abandon cap (queue/dialer AbandonTracker), over the interval.
const CampaignAbandonFormula = "abandoned/(connected+abandoned)"

// CallbackKeptWithin: a campaign callback is kept when the contact is dialled again
// from its due time to this long after it (or it is marked done).
const CallbackKeptWithin = 15 * time.Minute

// safeHarbourCauses are the causes cti gives a campaign call that heard the
// safe-harbour message (campaign_flow.go: played to the end, or hung up after the
// bound while playing).
var safeHarbourCauses = []string{"safe-harbour message played", "safe-harbour message timed out"}

// SafeHarbourCauses are the interaction causes a campaign report counts as
// safe-harbour plays (a copy).
func SafeHarbourCauses() []string { return slices.Clone(safeHarbourCauses) }

// CampaignDisposition is what a campaign report needs of one disposition code.
type CampaignDisposition struct {
	Code                       string
	Final, Callback, DNC, Sale bool
}

// CampaignSpec is what a campaign report needs of a campaign's definition.
type CampaignSpec struct {
	Campaign     string
	Dispositions []CampaignDisposition
	// Agents are the campaign's agents: their logged-in time (the agent state log)
	// gives contacts per agent-hour.
	Agents []string
}

// CampaignKPIs are the numbers of one campaign report row. Ratios are 0..1 and nil
// when there is nothing to measure.
type CampaignKPIs struct {
	Start, End time.Time // the interval, in the request's Location

	Attempts    int // dials placed (preview skips excluded)
	Skipped     int // previews the agent skipped without dialling
	Connects    int // live answers connected to an agent
	Abandons    int // live answers no agent reached in time (safe-harbour rule)
	LiveAnswers int // Connects + Abandons
	Machine     int
	Busy        int
	NoAnswer    int
	Congestion  int
	Failed      int // rejected or invalid numbers
	// AbandonRate is Abandons / LiveAnswers (CampaignAbandonFormula).
	AbandonRate      *float64
	AbandonFormula   string
	SafeHarbourPlays int      // calls that heard the safe-harbour message
	ConnectRate      *float64 // Connects / Attempts

	TalkTime, HoldTime, WrapUpTime time.Duration // totals
	AHT                            time.Duration // talk + hold + wrap-up per connect
	AvgTalk, AvgHold, AvgWrapUp    time.Duration
	AgentTime                      time.Duration // the campaign's agents logged in
	ContactsPerAgentHour           *float64      // Connects per hour of AgentTime

	// Dispositions counts the attempts per disposition code; Final, Sales,
	// CallbackDispositions and DNCDispositions count those whose code has the flag.
	Dispositions         map[string]int
	Final                int
	Sales                int
	CallbackDispositions int
	DNCDispositions      int
	Conversion           *float64 // Sales / Connects

	CallbacksScheduled int // campaign callbacks created in the interval
	CallbacksDue       int // due in the interval (cancelled ones excluded)
	CallbacksKept      int // of those due: dialled within CallbackKeptWithin of the due time
	DNCAdded           int // numbers added to the campaign's do-not-call list

	NPS         *float64
	NPSAnswers  int
	CSAT        *float64
	CSATAnswers int
}

// CampaignReportRow is one campaign in one interval.
type CampaignReportRow struct {
	Campaign string
	CampaignKPIs
}

// campFacts are the additive raw numbers of one campaign row.
type campFacts struct {
	attempts, skipped, connects, abandons, machine, busy, noAnswer, congestion, failed int
	plays                                                                              int
	connected, hold, wrapup                                                            time.Duration
	disp                                                                               map[string]int
	cbScheduled, cbDue, cbKept, dncAdded                                               int
	survey                                                                             facts // nps/csat counts only
}

func (f *campFacts) kpis(start, end time.Time, spec *CampaignSpec, agentTime time.Duration) CampaignKPIs {
	opt := func(v float64, ok bool) *float64 {
		if !ok {
			return nil
		}
		return &v
	}
	k := CampaignKPIs{Start: start, End: end, Attempts: f.attempts, Skipped: f.skipped, Connects: f.connects,
		Abandons: f.abandons, LiveAnswers: f.connects + f.abandons, Machine: f.machine, Busy: f.busy,
		NoAnswer: f.noAnswer, Congestion: f.congestion, Failed: f.failed, AbandonFormula: CampaignAbandonFormula,
		SafeHarbourPlays: f.plays, AgentTime: agentTime,
		CallbacksScheduled: f.cbScheduled, CallbacksDue: f.cbDue, CallbacksKept: f.cbKept, DNCAdded: f.dncAdded,
		NPSAnswers: f.survey.npsN, CSATAnswers: f.survey.csatN}
	k.AbandonRate = opt(queue.Ratio(f.abandons, f.connects+f.abandons))
	k.ConnectRate = opt(queue.Ratio(f.connects, f.attempts))
	talk := f.connected - f.hold
	k.TalkTime, k.HoldTime, k.WrapUpTime = talk, f.hold, f.wrapup
	k.AHT = queue.Average(talk+f.hold+f.wrapup, f.connects)
	k.AvgTalk = queue.Average(talk, f.connects)
	k.AvgHold = queue.Average(f.hold, f.connects)
	k.AvgWrapUp = queue.Average(f.wrapup, f.connects)
	if agentTime > 0 {
		k.ContactsPerAgentHour = opt(float64(f.connects)/agentTime.Hours(), true)
	}
	if len(f.disp) > 0 {
		k.Dispositions = maps.Clone(f.disp)
	}
	for _, d := range spec.Dispositions {
		n := f.disp[d.Code]
		if d.Final || d.DNC || d.Sale {
			k.Final += n
		}
		if d.Sale {
			k.Sales += n
		}
		if d.Callback {
			k.CallbackDispositions += n
		}
		if d.DNC {
			k.DNCDispositions += n
		}
	}
	k.Conversion = opt(queue.Ratio(k.Sales, f.connects))
	k.NPS = opt(queue.NPS(f.survey.promoters, f.survey.detractors, f.survey.npsN))
	k.CSAT = opt(queue.CSAT(f.survey.csatSat, f.survey.csatN))
	return k
}

// CampaignReport reports each campaign of specs (in that order) per interval, oldest
// first.
func (s *Store) CampaignReport(ctx context.Context, req ReportRequest, specs []CampaignSpec) ([]CampaignReportRow, error) {
	b, err := newBuckets(req, len(specs))
	if err != nil {
		return nil, err
	}
	for _, sp := range specs {
		if strings.TrimSpace(sp.Campaign) == "" {
			return nil, fmt.Errorf("%w: empty campaign id", ErrInvalidReport)
		}
	}
	now := req.Now
	if now.IsZero() {
		now = s.now()
	}
	from, to := b.rangeArgs()
	camp := make([][]campFacts, len(specs))
	// parallel hands each campaign its agents' state facts; the campaign facts go to camp[i].
	agentFacts, err := s.parallel(ctx, len(specs), len(b.starts), func(ctx context.Context, i int, f []facts) error {
		cf := make([]campFacts, len(b.starts))
		if err := s.campaignFacts(ctx, b, specs[i].Campaign, from, to, cf); err != nil {
			return err
		}
		camp[i] = cf
		for _, agent := range specs[i].Agents {
			if err := s.stateFacts(ctx, b, agent, now, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]CampaignReportRow, 0, len(specs)*len(b.starts))
	for i := range specs {
		for j := range camp[i] {
			start, end := b.bounds(j)
			a := &agentFacts[i][j]
			out = append(out, CampaignReportRow{Campaign: specs[i].Campaign,
				CampaignKPIs: camp[i][j].kpis(start, end, &specs[i], a.ready+a.notReady+a.handling)})
		}
	}
	return out, nil
}

var slotSQL = fmt.Sprint(slotMicros)

// addAttempts adds n attempts of one (slot, outcome, disposition, connected) group.
func (x *campFacts) addAttempts(outcome, disp string, connected, n int64) {
	c := int(n)
	if outcome == "skipped" {
		x.skipped += c
		return
	}
	x.attempts += c
	if connected == 1 {
		x.connects += c
	}
	switch outcome {
	case "abandoned":
		x.abandons += c
	case "machine":
		x.machine += c
	case "busy":
		x.busy += c
	case "no-answer":
		x.noAnswer += c
	case "congestion":
		x.congestion += c
	case "rejected", "invalid":
		x.failed += c
	}
	if disp != "" && c != 0 {
		if x.disp == nil {
			x.disp = map[string]int{}
		}
		x.disp[disp] += c
	}
}

func (x *campFacts) addCalls(connected, hold, wrapup, plays int64) {
	x.connected += time.Duration(connected) * usec
	x.hold += time.Duration(hold) * usec
	x.wrapup += time.Duration(wrapup) * usec
	x.plays += int(plays)
}

// attemptRows adds rows of (slot, outcome, disposition, connected, count) to f.
func attemptRows(b *buckets, f []campFacts) func(*sql.Rows) error {
	return func(rows *sql.Rows) error {
		var (
			slot, connected, n int64
			outcome, disp      string
		)
		if err := rows.Scan(&slot, &outcome, &disp, &connected, &n); err != nil {
			return err
		}
		f[b.slot(slot)].addAttempts(outcome, disp, connected, n)
		return nil
	}
}

// callRows adds rows of (slot, connected, hold, wrap-up µs, safe-harbour plays) to f.
func callRows(b *buckets, f []campFacts) func(*sql.Rows) error {
	return func(rows *sql.Rows) error {
		var slot, connected, hold, wrapup, plays int64
		if err := rows.Scan(&slot, &connected, &hold, &wrapup, &plays); err != nil {
			return err
		}
		f[b.slot(slot)].addCalls(connected, hold, wrapup, plays)
		return nil
	}
}

// campaignRollupFacts adds the rollups of slots [lo, hi).
func (s *Store) campaignRollupFacts(ctx context.Context, b *buckets, campaign string, lo, hi int64, f []campFacts) error {
	err := s.eachRow(ctx, "campaign attempt rollups", `SELECT slot, outcome, disposition, connected, n
FROM report_campaign_slots WHERE campaign_id = ? AND slot >= ? AND slot < ? AND n <> 0`, []any{campaign, lo, hi},
		attemptRows(b, f))
	if err != nil {
		return err
	}
	return s.eachRow(ctx, "campaign call rollups", `SELECT slot, connected_us, hold_us, wrapup_us, plays
FROM report_campaign_call_slots WHERE campaign = ? AND slot >= ? AND slot < ?`, []any{campaign, lo, hi},
		callRows(b, f))
}

// rawCampaignFacts adds the attempts placed and the calls created in [from, to), from
// their rows.
func (s *Store) rawCampaignFacts(ctx context.Context, b *buckets, campaign string, from, to int64, f []campFacts) error {
	err := s.eachRow(ctx, "campaign attempts", `SELECT placed_at / `+slotSQL+` AS slot, outcome, disposition,
    CASE WHEN connected_at IS NOT NULL THEN 1 ELSE 0 END AS connected, COUNT(*)
FROM campaign_attempts WHERE campaign_id = ? AND placed_at >= ? AND placed_at < ?
GROUP BY placed_at / `+slotSQL+`, outcome, disposition, CASE WHEN connected_at IS NOT NULL THEN 1 ELSE 0 END`,
		[]any{campaign, from, to}, attemptRows(b, f))
	if err != nil {
		return err
	}
	return s.eachRow(ctx, "campaign calls", `SELECT created_at / `+slotSQL+` AS slot,
    CAST(SUM(connected_us) AS BIGINT), CAST(SUM(hold_us) AS BIGINT), CAST(SUM(wrapup_us) AS BIGINT),
    CAST(SUM(CASE WHEN cause IN (?, ?) THEN 1 ELSE 0 END) AS BIGINT)
FROM interactions WHERE campaign = ? AND campaign <> '' AND created_at >= ? AND created_at < ?
GROUP BY created_at / `+slotSQL, []any{safeHarbourCauses[0], safeHarbourCauses[1], campaign, from, to},
		callRows(b, f))
}

func (s *Store) campaignFacts(ctx context.Context, b *buckets, campaign string, from, to int64, f []campFacts) error {
	base := []any{campaign, from, to}
	// Attempts and calls: whole 15-minute slots from the rollups, the partial slots at
	// the ends of a custom range from the rows.
	first := (from + slotMicros - 1) / slotMicros
	last := to / slotMicros
	if from < 0 || to < 0 || first >= last {
		if err := s.rawCampaignFacts(ctx, b, campaign, from, to, f); err != nil {
			return err
		}
	} else {
		if err := s.campaignRollupFacts(ctx, b, campaign, first, last, f); err != nil {
			return err
		}
		for _, r := range [][2]int64{{from, first * slotMicros}, {last * slotMicros, to}} {
			if r[0] < r[1] {
				if err := s.rawCampaignFacts(ctx, b, campaign, r[0], r[1], f); err != nil {
					return err
				}
			}
		}
	}
	// Callbacks scheduled.
	err := s.eachRow(ctx, "campaign callbacks", `SELECT created_at / `+slotSQL+` AS slot, COUNT(*)
FROM campaign_callbacks WHERE campaign_id = ? AND created_at >= ? AND created_at < ?
GROUP BY created_at / `+slotSQL, base, func(rows *sql.Rows) error {
		var slot, n int64
		if err := rows.Scan(&slot, &n); err != nil {
			return err
		}
		f[b.slot(slot)].cbScheduled += int(n)
		return nil
	})
	if err != nil {
		return err
	}
	// Callbacks due, and kept: done, or the contact dialled again in time (the
	// contact's attempts by index campaign_attempts_contact: "|| ''" keeps SQLite off
	// the campaign's index).
	err = s.eachRow(ctx, "campaign callbacks kept", `SELECT c.due_at / `+slotSQL+` AS slot, COUNT(*),
    CAST(SUM(CASE WHEN c.status = 'done' OR EXISTS (SELECT 1 FROM campaign_attempts a
        WHERE a.contact_id = c.contact_id AND a.campaign_id || '' = c.campaign_id AND a.outcome <> 'skipped'
        AND a.placed_at >= c.due_at AND a.placed_at <= c.due_at + ?) THEN 1 ELSE 0 END) AS BIGINT)
FROM campaign_callbacks c WHERE c.campaign_id = ? AND c.status <> 'cancelled' AND c.due_at >= ? AND c.due_at < ?
GROUP BY c.due_at / `+slotSQL, []any{CallbackKeptWithin.Microseconds(), campaign, from, to}, func(rows *sql.Rows) error {
		var slot, n, kept int64
		if err := rows.Scan(&slot, &n, &kept); err != nil {
			return err
		}
		x := &f[b.slot(slot)]
		x.cbDue += int(n)
		x.cbKept += int(kept)
		return nil
	})
	if err != nil {
		return err
	}
	// Numbers added to the campaign's do-not-call list.
	err = s.eachRow(ctx, "campaign dnc", `SELECT added_at / `+slotSQL+` AS slot, COUNT(*)
FROM dnc WHERE scope = ? AND added_at >= ? AND added_at < ?
GROUP BY added_at / `+slotSQL, base, func(rows *sql.Rows) error {
		var slot, n int64
		if err := rows.Scan(&slot, &n); err != nil {
			return err
		}
		f[b.slot(slot)].dncAdded += int(n)
		return nil
	})
	if err != nil {
		return err
	}
	// Survey answers about the campaign's calls.
	sf := make([]facts, len(f))
	err = s.eachRow(ctx, "campaign surveys", `SELECT s.at / `+slotSQL+` AS slot, s.kind, s.score, COUNT(*)
FROM survey_answers s JOIN interactions i ON i.id = s.interaction_id
WHERE i.campaign = ? AND i.campaign <> '' AND s.at >= ? AND s.at < ?
GROUP BY s.at / `+slotSQL+`, s.kind, s.score`, base, func(rows *sql.Rows) error {
		return scanSurvey(rows, b, sf)
	})
	if err != nil {
		return err
	}
	for i := range f {
		f[i].survey = sf[i]
	}
	return nil
}
