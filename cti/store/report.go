package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ctid/ctid/queue"
)

// ErrInvalidReport is wrapped when a report request cannot be answered as asked
// (bad range, too many rows, unknown interval).
var ErrInvalidReport = errors.New("invalid report request")

// Interval is the width of one row of an interval report.
type Interval uint8

// Report intervals.
const (
	IntervalRange Interval = iota + 1 // one row for the whole range
	Interval15Min
	IntervalHour
	IntervalDay
)

func (iv Interval) String() string {
	switch iv {
	case IntervalRange:
		return "range"
	case Interval15Min:
		return "15m"
	case IntervalHour:
		return "hour"
	case IntervalDay:
		return "day"
	}
	return "unknown"
}

// ParseInterval parses the String() form.
func ParseInterval(s string) (Interval, error) {
	for iv := IntervalRange; iv <= IntervalDay; iv++ {
		if iv.String() == s {
			return iv, nil
		}
	}
	return 0, fmt.Errorf("%w: interval %q: must be 15m, hour, day or range", ErrInvalidReport, s)
}

// MaxReportRows bounds the rows of one report (buckets x queues or agents).
const MaxReportRows = 200_000

// SurveyKind is which post-call survey question an answer is for.
type SurveyKind uint8

// Survey kinds.
const (
	SurveyNPS  SurveyKind = iota + 1 // 0-10, "how likely are you to recommend us"
	SurveyCSAT                       // 1-5, "how satisfied were you"
)

func (k SurveyKind) String() string {
	switch k {
	case SurveyNPS:
		return "nps"
	case SurveyCSAT:
		return "csat"
	}
	return "unknown"
}

// SurveyAnswer is one answer of the post-call survey, linked to the interaction and
// the agent who handled it.
type SurveyAnswer struct {
	InteractionID string // may be empty (survey of an interaction already purged)
	Queue         string
	Agent         string
	Kind          SurveyKind
	Score         int
	At            time.Time
}

func (a SurveyAnswer) prepared(now time.Time) (Record, error) {
	if a.At.IsZero() {
		a.At = now
	}
	switch a.Kind {
	case SurveyNPS:
		if a.Score < 0 || a.Score > 10 {
			return nil, fmt.Errorf("%w: NPS answer %d: must be 0-10", ErrInvalidRecord, a.Score)
		}
	case SurveyCSAT:
		if a.Score < 1 || a.Score > 5 {
			return nil, fmt.Errorf("%w: CSAT answer %d: must be 1-5", ErrInvalidRecord, a.Score)
		}
	default:
		return nil, fmt.Errorf("%w: survey kind %d", ErrInvalidRecord, a.Kind)
	}
	if err := checkAll(checkText("interaction id", a.InteractionID, false), checkText("queue", a.Queue, false),
		checkText("agent", a.Agent, false)); err != nil {
		return nil, err
	}
	return a, nil
}

func (a SurveyAnswer) describe() string {
	return "survey answer " + a.Kind.String() + " of " + a.InteractionID
}

// SaveSurveyAnswer queues one survey answer. Non-blocking.
func (s *Store) SaveSurveyAnswer(a SurveyAnswer) error { return s.Enqueue(a) }

func (s *Store) applySurveyAnswer(ctx context.Context, tx *sql.Tx, a SurveyAnswer) error {
	return s.exec(ctx, tx, `INSERT INTO survey_answers (interaction_id, queue, agent, kind, score, at)
VALUES (?, ?, ?, ?, ?, ?)`, nullText(a.InteractionID), a.Queue, a.Agent, a.Kind.String(), a.Score, micros(a.At))
}

// QueueSpec is what a queue report needs of a queue's configuration.
type QueueSpec struct {
	Queue        string
	SLThreshold  time.Duration   // answered (or abandoned) within this meets the service level
	ShortAbandon time.Duration   // abandoned within this is a short abandon
	Formula      queue.SLFormula // the queue's service level formula
	// Members are the agents whose state log gives the queue's occupancy and utilisation.
	Members []string
}

// ReportRequest selects the range and the rows of a report.
type ReportRequest struct {
	// From (inclusive) and To (exclusive). With 15m, hour or day intervals, From is
	// moved back and To forward to the interval boundaries in Location.
	From, To time.Time
	Interval Interval
	Location *time.Location // the call centre's time zone; nil is UTC
	// FCRWindow: a handled inbound call is resolved at first contact when no other
	// inbound call comes from the same number within this window after it.
	FCRWindow time.Duration
	// Now bounds the agent state log: the last state lasts until Now, not until To.
	// Zero: the store's clock.
	Now time.Time
}

// KPIs are the numbers of one report row. Ratios are 0..1 and nil when there is
// nothing to measure; NPS is -100..100.
type KPIs struct {
	Start, End time.Time // the interval, in the request's Location

	Offered        int // queue: inbound calls that entered the queue; agent: offers (ringing)
	Answered       int // queue: calls answered; agent: calls talked to
	Abandoned      int // caller hung up while waiting
	ShortAbandoned int // abandoned within the queue's short-abandon threshold
	// ServiceLevel under the formula SLFormula with the threshold SLThreshold.
	ServiceLevel *float64
	SLFormula    string
	SLThreshold  time.Duration
	AbandonRate  *float64 // short abandons excluded
	ASA          time.Duration
	AHT          time.Duration // talk + hold + wrap-up per answered call
	AvgTalk      time.Duration // connected time without hold, per answered call
	AvgHold      time.Duration
	AvgWrapUp    time.Duration
	LongestWait  time.Duration
	Transfers    int
	Occupancy    *float64 // handling / (handling + ready)
	Utilisation  *float64 // handling / logged in
	FCR          *float64
	FCRCalls     int // answered calls with a caller number (FCR's denominator)
	NPS          *float64
	NPSAnswers   int
	CSAT         *float64
	CSATAnswers  int
	// Callbacks requested in the interval, those completed, and the average time from
	// request to completion (the call that reached the customer).
	CallbacksRequested    int
	CallbacksCompleted    int
	CallbackFirstResponse time.Duration
	// Agent time by state (the agent state log), summed over the row's agents.
	ReadyTime, NotReadyTime, HandlingTime, LoggedInTime time.Duration
	// NotReadyByReason splits NotReadyTime by the not-ready reason ("" for none, such
	// as the time between login and the first ready); nil when there is none.
	NotReadyByReason map[string]time.Duration
	// WrapUpStateTime is the part of HandlingTime spent in the wrap_up state.
	WrapUpStateTime time.Duration
}

// QueueReportRow is one queue in one interval.
type QueueReportRow struct {
	Queue string
	KPIs
}

// AgentReportRow is one agent in one interval.
type AgentReportRow struct {
	Agent string
	KPIs
}

// facts are the additive raw numbers of one row; KPIs are computed from them.
type facts struct {
	offered, answered, answeredWithin, abandoned, abandonedWithin, shortAbandoned int
	waitAnswered, longestWait                                                     time.Duration
	connected, hold, wrapup                                                       time.Duration
	transfers                                                                     int
	fcrCalls, fcrResolved                                                         int
	npsN, promoters, detractors, csatN, csatSat                                   int
	cbRequested, cbCompleted                                                      int
	cbResponse                                                                    time.Duration
	ready, notReady, handling                                                     time.Duration
	notReadyBy                                                                    map[string]time.Duration // by reason
	wrapState                                                                     time.Duration            // in the wrap_up state
}

func (f *facts) kpis(start, end time.Time, spec *QueueSpec) KPIs {
	k := KPIs{Start: start, End: end, Offered: f.offered, Answered: f.answered, Abandoned: f.abandoned,
		ShortAbandoned: f.shortAbandoned, LongestWait: f.longestWait, Transfers: f.transfers,
		FCRCalls: f.fcrCalls, NPSAnswers: f.npsN, CSATAnswers: f.csatN,
		CallbacksRequested: f.cbRequested, CallbacksCompleted: f.cbCompleted,
		ReadyTime: f.ready, NotReadyTime: f.notReady, HandlingTime: f.handling,
		LoggedInTime: f.ready + f.notReady + f.handling, WrapUpStateTime: f.wrapState}
	if len(f.notReadyBy) > 0 {
		k.NotReadyByReason = maps.Clone(f.notReadyBy)
	}
	opt := func(v float64, ok bool) *float64 {
		if !ok {
			return nil
		}
		return &v
	}
	counts := queue.SLCounts{Answered: f.answered, AnsweredWithin: f.answeredWithin, Abandoned: f.abandoned,
		AbandonedWithin: f.abandonedWithin, ShortAbandoned: f.shortAbandoned}
	if spec != nil {
		k.SLFormula, k.SLThreshold = spec.Formula.String(), spec.SLThreshold
		k.ServiceLevel = opt(queue.ServiceLevel(counts, spec.Formula))
		k.AbandonRate = opt(queue.AbandonRate(counts, true))
		k.ASA = queue.Average(f.waitAnswered, f.answered)
	}
	talk := f.connected - f.hold
	k.AHT = queue.Average(talk+f.hold+f.wrapup, f.answered)
	k.AvgTalk = queue.Average(talk, f.answered)
	k.AvgHold = queue.Average(f.hold, f.answered)
	k.AvgWrapUp = queue.Average(f.wrapup, f.answered)
	k.Occupancy = opt(queue.Occupancy(f.handling, f.ready))
	k.Utilisation = opt(queue.Utilisation(f.handling, k.LoggedInTime))
	k.FCR = opt(queue.FCR(f.fcrResolved, f.fcrCalls))
	k.NPS = opt(queue.NPS(f.promoters, f.detractors, f.npsN))
	k.CSAT = opt(queue.CSAT(f.csatSat, f.csatN))
	k.CallbackFirstResponse = queue.Average(f.cbResponse, f.cbCompleted)
	return k
}

// buckets are a report's intervals.
type buckets struct {
	starts []time.Time // ascending; bucket i is [starts[i], starts[i+1]) and the last ends at end
	end    time.Time
	loc    *time.Location
}

func (b *buckets) bounds(i int) (time.Time, time.Time) {
	if i+1 < len(b.starts) {
		return b.starts[i].In(b.loc), b.starts[i+1].In(b.loc)
	}
	return b.starts[i].In(b.loc), b.end.In(b.loc)
}

// index is the bucket holding t (clamped to the range).
func (b *buckets) index(t time.Time) int {
	i := sort.Search(len(b.starts), func(i int) bool { return b.starts[i].After(t) }) - 1
	return max(i, 0)
}

func (b *buckets) from() time.Time { return b.starts[0] }

// slotWidth: rows are grouped by UTC 15-minute slots in SQL and the slots are
// merged into the (local) intervals. Time zone offsets are multiples of 15 minutes,
// so a slot never straddles two intervals.
const slotMicros = int64(15 * time.Minute / time.Microsecond)

func (b *buckets) slot(slot int64) int { return b.index(time.UnixMicro(slot * slotMicros)) }

func floorLocal(t time.Time, iv Interval, loc *time.Location) time.Time {
	l := t.In(loc)
	switch iv {
	case Interval15Min:
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute()-l.Minute()%15, 0, 0, loc)
	case IntervalHour:
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, loc)
	case IntervalDay:
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	}
	return t
}

func nextLocal(t time.Time, iv Interval, loc *time.Location) time.Time {
	switch iv {
	case Interval15Min:
		return t.Add(15 * time.Minute)
	case IntervalHour:
		return t.Add(time.Hour)
	case IntervalDay:
		l := t.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
	}
	return t
}

func newBuckets(req ReportRequest, rowsPerBucket int) (*buckets, error) {
	loc := req.Location
	if loc == nil {
		loc = time.UTC
	}
	if req.From.IsZero() || req.To.IsZero() || !req.From.Before(req.To) {
		return nil, fmt.Errorf("%w: from %s must be before to %s", ErrInvalidReport, req.From, req.To)
	}
	if req.Interval.String() == "unknown" {
		return nil, fmt.Errorf("%w: interval %d", ErrInvalidReport, req.Interval)
	}
	b := &buckets{loc: loc}
	if req.Interval == IntervalRange {
		b.starts, b.end = []time.Time{req.From}, req.To
		return b, nil
	}
	t := floorLocal(req.From, req.Interval, loc)
	for t.Before(req.To) {
		if (len(b.starts)+1)*max(rowsPerBucket, 1) > MaxReportRows {
			return nil, fmt.Errorf("%w: more than %d rows; use a wider interval or a shorter range", ErrInvalidReport, MaxReportRows)
		}
		b.starts = append(b.starts, t)
		t = nextLocal(t, req.Interval, loc)
	}
	b.end = t
	return b, nil
}

// rangeArgs are the micros bounds of the buckets.
func (b *buckets) rangeArgs() (int64, int64) { return micros(b.from()), micros(b.end) }

// eachRow runs a query and calls scan for every row.
func (s *Store) eachRow(ctx context.Context, what, query string, args []any, scan func(rows *sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return fmt.Errorf("store: report %s: %w", what, err)
	}
	for rows.Next() {
		if err := scan(rows); err != nil {
			return errors.Join(fmt.Errorf("store: report %s: %w", what, err), rows.Close())
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("store: report %s: %w", what, err)
	}
	return nil
}

const usec = time.Microsecond

// QueueReport reports each queue of specs (in that order) per interval, oldest first.
// Calls count in the interval they were created in; time in agent states counts
// where it was spent.
func (s *Store) QueueReport(ctx context.Context, req ReportRequest, specs []QueueSpec) ([]QueueReportRow, error) {
	b, err := newBuckets(req, len(specs))
	if err != nil {
		return nil, err
	}
	if req.FCRWindow <= 0 {
		return nil, fmt.Errorf("%w: FCR window %s must be positive", ErrInvalidReport, req.FCRWindow)
	}
	now := req.Now
	if now.IsZero() {
		now = s.now()
	}
	from, to := b.rangeArgs()
	perQueue, err := s.parallel(ctx, len(specs), len(b.starts), func(ctx context.Context, i int, f []facts) error {
		spec := &specs[i]
		if err := s.queueFacts(ctx, b, spec, from, to, req.FCRWindow, f); err != nil {
			return err
		}
		for _, agent := range spec.Members {
			if err := s.stateFacts(ctx, b, agent, now, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]QueueReportRow, 0, len(specs)*len(b.starts))
	for i := range specs {
		for j := range perQueue[i] {
			start, end := b.bounds(j)
			out = append(out, QueueReportRow{Queue: specs[i].Queue, KPIs: perQueue[i][j].kpis(start, end, &specs[i])})
		}
	}
	return out, nil
}

// reportParallelism bounds the queries one report runs at once (SQLite in WAL mode
// and PostgreSQL both serve concurrent readers; the pool has store.max_open_conns).
const reportParallelism = 4

// parallel runs work for items 0..n-1, at most reportParallelism at a time, each with
// its own facts (one per bucket); the first error cancels the rest.
func (s *Store) parallel(ctx context.Context, n, nBuckets int, work func(ctx context.Context, i int, f []facts) error) ([][]facts, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([][]facts, n)
	errs := make([]error, n)
	sem := make(chan struct{}, min(reportParallelism, max(s.cfg.MaxOpenConns-1, 1)))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			f := make([]facts, nBuckets)
			if err := work(ctx, i, f); err != nil {
				errs[i] = err
				cancel()
				return
			}
			out[i] = f
		})
	}
	wg.Wait()
	// Report the first real error, not the cancellations it caused.
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

// waitExpr is how long an inbound call waited for an answer (or until it ended).
const waitExpr = "(COALESCE(answered_at, ended_at) - COALESCE(queued_at, created_at))"

func (s *Store) queueFacts(ctx context.Context, b *buckets, spec *QueueSpec, from, to int64, fcr time.Duration, f []facts) error {
	base := []any{spec.Queue, from, to}
	if err := s.callFacts(ctx, b, spec, from, to, fcr, f); err != nil {
		return err
	}
	if err := s.surveyFacts(ctx, b, "queue", spec.Queue, from, to, f); err != nil {
		return err
	}
	// Callbacks: requested in the interval; completed ones and their response time.
	return s.eachRow(ctx, "callbacks", `SELECT requested_at / `+fmt.Sprint(slotMicros)+` AS slot, COUNT(*),
    CAST(SUM(CASE WHEN status = 'done' AND completed_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
    CAST(SUM(CASE WHEN status = 'done' AND completed_at IS NOT NULL THEN completed_at - requested_at ELSE 0 END) AS BIGINT)
FROM callbacks WHERE queue = ? AND requested_at >= ? AND requested_at < ?
GROUP BY requested_at / `+fmt.Sprint(slotMicros), base, func(rows *sql.Rows) error {
		var slot, n, done, resp int64
		if err := rows.Scan(&slot, &n, &done, &resp); err != nil {
			return err
		}
		x := &f[b.slot(slot)]
		x.cbRequested += int(n)
		x.cbCompleted += int(done)
		x.cbResponse += time.Duration(resp) * usec
		return nil
	})
}

func scanSegmentFacts(rows *sql.Rows, b *buckets, f []facts) error {
	var (
		slot, n, dur int64
		kind         string
	)
	if err := rows.Scan(&slot, &kind, &n, &dur); err != nil {
		return err
	}
	x := &f[b.slot(slot)]
	d := time.Duration(dur) * usec
	switch kind {
	case SegTalking.String():
		x.connected += d
	case SegHold.String():
		x.hold += d
	case SegWrapUp.String():
		x.wrapup += d
	case SegTransfer.String():
		x.transfers += int(n)
	}
	return nil
}

// surveyFacts adds the survey answers of one queue or agent (column col).
func (s *Store) surveyFacts(ctx context.Context, b *buckets, col, key string, from, to int64, f []facts) error {
	return s.eachRow(ctx, "surveys", `SELECT at / `+fmt.Sprint(slotMicros)+` AS slot, kind, score, COUNT(*)
FROM survey_answers WHERE `+col+` = ? AND at >= ? AND at < ?
GROUP BY at / `+fmt.Sprint(slotMicros)+`, kind, score`, []any{key, from, to}, func(rows *sql.Rows) error {
		return scanSurvey(rows, b, f)
	})
}

// scanSurvey adds one (slot, kind, score, count) row of survey answers.
func scanSurvey(rows *sql.Rows, b *buckets, f []facts) error {
	var (
		slot, score, n int64
		kind           string
	)
	if err := rows.Scan(&slot, &kind, &score, &n); err != nil {
		return err
	}
	x := &f[b.slot(slot)]
	switch kind {
	case SurveyNPS.String():
		x.npsN += int(n)
		switch queue.NPSClass(int(score)) {
		case 1:
			x.promoters += int(n)
		case -1:
			x.detractors += int(n)
		}
	case SurveyCSAT.String():
		x.csatN += int(n)
		if score >= 4 {
			x.csatSat += int(n)
		}
	}
	return nil
}

// stateClass sorts an agent state log entry: ready, not ready (logged in), handling
// (offered, talking, on hold, wrap-up) or logged out.
type stateClass uint8

const (
	classOut stateClass = iota
	classReady
	classNotReady
	classHandling
)

func classify(state string) stateClass {
	switch state {
	case queue.Ready.String():
		return classReady
	case queue.NotReady.String(), "login":
		return classNotReady
	case queue.Reserved.String(), queue.Talking.String(), queue.OnHold.String(), queue.WrapUp.String():
		return classHandling
	}
	return classOut
}

// AgentReport reports each agent (in that order) per interval, oldest first. Calls
// count in the interval their segment (ringing, talking, ...) started in.
func (s *Store) AgentReport(ctx context.Context, req ReportRequest, agents []string) ([]AgentReportRow, error) {
	b, err := newBuckets(req, len(agents))
	if err != nil {
		return nil, err
	}
	if req.FCRWindow <= 0 {
		return nil, fmt.Errorf("%w: FCR window %s must be positive", ErrInvalidReport, req.FCRWindow)
	}
	now := req.Now
	if now.IsZero() {
		now = s.now()
	}
	for _, agent := range agents {
		if strings.TrimSpace(agent) == "" {
			return nil, fmt.Errorf("%w: empty agent name", ErrInvalidReport)
		}
	}
	from, to := b.rangeArgs()
	perAgent, err := s.parallel(ctx, len(agents), len(b.starts), func(ctx context.Context, i int, f []facts) error {
		if err := s.agentFacts(ctx, b, agents[i], from, to, req.FCRWindow, f); err != nil {
			return err
		}
		return s.stateFacts(ctx, b, agents[i], now, f)
	})
	if err != nil {
		return nil, err
	}
	out := make([]AgentReportRow, 0, len(agents)*len(b.starts))
	for i, agent := range agents {
		for j := range perAgent[i] {
			start, end := b.bounds(j)
			out = append(out, AgentReportRow{Agent: agent, KPIs: perAgent[i][j].kpis(start, end, nil)})
		}
	}
	return out, nil
}

func (s *Store) agentFacts(ctx context.Context, b *buckets, agent string, from, to int64, fcr time.Duration, f []facts) error {
	if err := s.agentCallFacts(ctx, b, agent, from, to, fcr, f); err != nil {
		return err
	}
	return s.surveyFacts(ctx, b, "agent", agent, from, to, f)
}

// rawAgentFacts adds an agent's segments started in [from, to), read from the segments.
func (s *Store) rawAgentFacts(ctx context.Context, b *buckets, agent string, from, to int64, fcr time.Duration, f []facts) error {
	base := []any{agent, from, to}
	// Offers and answered calls (distinct interactions talked to).
	err := s.eachRow(ctx, "agent calls", `SELECT started_at / `+fmt.Sprint(slotMicros)+` AS slot, kind, COUNT(*),
    COUNT(DISTINCT interaction_id)
FROM interaction_segments WHERE agent = ? AND kind IN ('offered', 'ringing', 'talking')
    AND started_at >= ? AND started_at < ?
GROUP BY started_at / `+fmt.Sprint(slotMicros)+`, kind`, base, func(rows *sql.Rows) error {
		var (
			slot, n, distinct int64
			kind              string
		)
		if err := rows.Scan(&slot, &kind, &n, &distinct); err != nil {
			return err
		}
		x := &f[b.slot(slot)]
		if kind == SegTalking.String() {
			x.answered += int(distinct)
		} else {
			x.offered += int(n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = s.eachRow(ctx, "agent segments", `SELECT started_at / `+fmt.Sprint(slotMicros)+` AS slot, kind, COUNT(*),
    CAST(SUM(COALESCE(ended_at, started_at) - started_at) AS BIGINT)
FROM interaction_segments WHERE agent = ? AND kind IN ('talking', 'hold', 'wrapup', 'transfer')
    AND started_at >= ? AND started_at < ?
GROUP BY started_at / `+fmt.Sprint(slotMicros)+`, kind`, base, func(rows *sql.Rows) error {
		return scanSegmentFacts(rows, b, f)
	})
	if err != nil {
		return err
	}
	// FCR of the calls the agent talked to: a lookup by id per call (a join let the
	// planner scan every inbound interaction).
	counts, err := s.countAgentFCR(ctx, s.db, agent, from, to, fcr.Microseconds())
	if err != nil {
		return fmt.Errorf("store: report agent fcr: %w", err)
	}
	for slot, c := range counts {
		x := &f[b.slot(slot)]
		x.fcrCalls += int(c[0])
		x.fcrResolved += int(c[1])
	}
	return nil
}

// ReportQueues lists the queues with inbound interactions created in [from, to).
func (s *Store) ReportQueues(ctx context.Context, from, to time.Time) ([]string, error) {
	var out []string
	err := s.eachRow(ctx, "queues", `SELECT DISTINCT queue FROM interactions
WHERE direction = 'inbound' AND queue <> '' AND created_at >= ? AND created_at < ? ORDER BY queue`,
		[]any{micros(from), micros(to)}, func(rows *sql.Rows) error {
			var q string
			if err := rows.Scan(&q); err != nil {
				return err
			}
			out = append(out, q)
			return nil
		})
	return out, err
}
