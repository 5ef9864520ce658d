package cti

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
)

// ReportQueue is what the reports know of one configured queue.
type ReportQueue struct {
	Queue        string
	SLThreshold  time.Duration // default 20 s
	ShortAbandon time.Duration // default 5 s
	Formula      string        // a queue.SLFormula name; default abandons-met
	Members      []string
}

// ReportsConfig configures interval reports (config key prefix "reports.").
type ReportsConfig struct {
	// TimeZone is the call centre's IANA time zone: intervals and dates are in it.
	TimeZone string `mapstructure:"time_zone"`
	// FCRDays: a call is resolved at first contact when the same number does not call
	// again within this many days.
	FCRDays int `mapstructure:"fcr_days"`
	// Queues and Agents are filled from queues: and agents: (not keys of reports:).
	Queues []ReportQueue `mapstructure:"-"`
	Agents []string      `mapstructure:"-"`
}

// DefaultReportsConfig is UTC with a 7-day FCR window.
func DefaultReportsConfig() ReportsConfig { return ReportsConfig{TimeZone: "UTC", FCRDays: 7} }

// Validate checks c; keys are named as in ctid.yaml.
func (c ReportsConfig) Validate() error {
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		return fmt.Errorf("%w: reports.time_zone: %q: must be an IANA time zone such as Europe/Warsaw or UTC", ErrInvalidConfig, c.TimeZone)
	}
	if c.FCRDays < 1 || c.FCRDays > 90 {
		return fmt.Errorf("%w: reports.fcr_days: %d: must be between 1 and 90", ErrInvalidConfig, c.FCRDays)
	}
	seen := map[string]bool{}
	for i, q := range c.Queues {
		if q.Queue == "" || seen[q.Queue] {
			return fmt.Errorf("%w: queues[%d].id: %q: must be a unique queue name", ErrInvalidConfig, i, q.Queue)
		}
		seen[q.Queue] = true
		if _, err := parseSLFormula(q.Formula); err != nil {
			return fmt.Errorf("%w: queues[%d].sl_formula: %w", ErrInvalidConfig, i, err)
		}
		if q.SLThreshold < 0 || q.ShortAbandon < 0 {
			return fmt.Errorf("%w: queues[%d]: service_level and short_abandon must not be negative", ErrInvalidConfig, i)
		}
	}
	return nil
}

var errBadFormula = errors.New("unknown service level formula")

func parseSLFormula(s string) (queue.SLFormula, error) {
	if s == "" {
		return queue.SLAbandonsMet, nil
	}
	for f := queue.SLAbandonsMet; f <= queue.SLShortAbandonsNeutral; f++ {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%w: %q: must be abandons-met, answered-only, abandons-against or short-abandons-neutral", errBadFormula, s)
}

// ReportStore is the store the reports read.
type ReportStore interface {
	QueueReport(ctx context.Context, req store.ReportRequest, specs []store.QueueSpec) ([]store.QueueReportRow, error)
	AgentReport(ctx context.Context, req store.ReportRequest, agents []string) ([]store.AgentReportRow, error)
	CampaignReport(ctx context.Context, req store.ReportRequest, specs []store.CampaignSpec) ([]store.CampaignReportRow, error)
	Campaigns(ctx context.Context) ([]store.Campaign, error)
}

// ReportsParams are the reports' dependencies.
type ReportsParams struct {
	Config ReportsConfig
	Store  ReportStore
	Log    zerolog.Logger
	Now    func() time.Time
}

// Reports serves GET /api/v1/reports/queues and /api/v1/reports/agents.
type Reports struct {
	cfg    ReportsConfig
	loc    *time.Location
	specs  map[string]store.QueueSpec
	order  []string // configured queue order
	agents map[string]bool
	st     ReportStore
	log    zerolog.Logger
	now    func() time.Time
}

// NewReports validates the config.
func NewReports(p ReportsParams) (*Reports, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Store == nil {
		return nil, fmt.Errorf("%w: reports need a store", ErrInvalidConfig)
	}
	loc, err := time.LoadLocation(p.Config.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("%w: reports.time_zone: %w", ErrInvalidConfig, err)
	}
	r := &Reports{cfg: p.Config, loc: loc, specs: map[string]store.QueueSpec{}, agents: map[string]bool{},
		st: p.Store, log: p.Log.With().Str("component", "reports").Logger(), now: p.Now}
	if r.now == nil {
		r.now = time.Now
	}
	for _, q := range p.Config.Queues {
		f, err := parseSLFormula(q.Formula)
		if err != nil {
			return nil, err
		}
		spec := store.QueueSpec{Queue: q.Queue, SLThreshold: q.SLThreshold, ShortAbandon: q.ShortAbandon, Formula: f,
			Members: slices.Clone(q.Members)}
		if spec.SLThreshold == 0 {
			spec.SLThreshold = 20 * time.Second
		}
		if spec.ShortAbandon == 0 {
			spec.ShortAbandon = 5 * time.Second
		}
		r.specs[q.Queue] = spec
		r.order = append(r.order, q.Queue)
	}
	for _, a := range p.Config.Agents {
		r.agents[a] = true
	}
	return r, nil
}

// RegisterREST adds the report routes (docs/openapi.yaml, x-owner: cti).
func (r *Reports) RegisterREST(api *desktop.Server) error {
	if err := api.HandleREST(http.MethodGet, "/api/v1/reports/queues", desktop.RoleSupervisor, r.queues); err != nil {
		return err
	}
	// Agents may read their own report; the handler checks.
	if err := api.HandleREST(http.MethodGet, "/api/v1/reports/agents", desktop.RoleAgent, r.agentsReport); err != nil {
		return err
	}
	// Campaign reports (report_campaign_rest.go).
	if err := api.HandleREST(http.MethodGet, "/api/v1/reports/campaigns", desktop.RoleSupervisor, r.campaignsReport); err != nil {
		return err
	}
	return api.HandleREST(http.MethodGet, "/api/v1/reports/campaigns/{id}", desktop.RoleSupervisor, r.campaignsReport)
}

// maxRange is the longest range a report may cover, per interval: it bounds the
// rows of one answer (31 days of 15-minute rows is 2976 per queue).
func maxRange(iv store.Interval) (time.Duration, string) {
	switch iv {
	case store.Interval15Min:
		return 31 * 24 * time.Hour, "31 days"
	case store.IntervalHour:
		return 92 * 24 * time.Hour, "92 days"
	}
	return 366 * 24 * time.Hour, "366 days"
}

// reportQuery is a parsed ?from&to&interval&tz&format.
type reportQuery struct {
	req store.ReportRequest
	csv bool
}

// parseTime accepts 2006-01-02 (midnight), 2006-01-02T15:04[:05] (local to loc) or RFC 3339.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02), a local time (2006-01-02T15:04) or RFC 3339", s)
}

func (r *Reports) parseQuery(q map[string][]string) (reportQuery, *desktop.Error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	loc := r.loc
	if tz := get("tz"); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
			return reportQuery{}, desktop.Errorf(desktop.CodeInvalidArgument, "tz %q: must be an IANA time zone such as Europe/Warsaw", tz)
		}
		loc = l
	}
	ivName := get("interval")
	if ivName == "" {
		ivName = store.IntervalHour.String()
	}
	iv, err := store.ParseInterval(ivName)
	if err != nil {
		return reportQuery{}, desktop.Errorf(desktop.CodeInvalidArgument, "interval %q: must be 15m, hour, day or range", ivName)
	}
	now := r.now().In(loc)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	if s := get("from"); s != "" {
		if from, err = parseTime(s, loc); err != nil {
			return reportQuery{}, desktop.Errorf(desktop.CodeInvalidArgument, "from: %v", err)
		}
	}
	to := from.AddDate(0, 0, 1)
	if s := get("to"); s != "" {
		if to, err = parseTime(s, loc); err != nil {
			return reportQuery{}, desktop.Errorf(desktop.CodeInvalidArgument, "to: %v", err)
		}
	}
	if !from.Before(to) {
		return reportQuery{}, desktop.Errorf(desktop.CodeInvalidArgument, "from %s must be before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if limit, name := maxRange(iv); to.Sub(from) > limit {
		return reportQuery{}, desktop.Errorf(desktop.CodeInvalidArgument, "range of %.0f days is over the limit of %s for %s intervals",
			to.Sub(from).Hours()/24, name, iv)
	}
	out := reportQuery{req: store.ReportRequest{From: from, To: to, Interval: iv, Location: loc,
		FCRWindow: time.Duration(r.cfg.FCRDays) * 24 * time.Hour, Now: r.now()}}
	switch f := get("format"); f {
	case "", "json":
	case "csv":
		out.csv = true
	default:
		return reportQuery{}, desktop.Errorf(desktop.CodeInvalidArgument, "format %q: must be json or csv", f)
	}
	return out, nil
}

// visibleQueues are the queues p may report on: all for admins, their teams for supervisors.
func (r *Reports) visibleQueues(p desktop.Principal) []string {
	if p.Role >= desktop.RoleAdmin {
		return r.order
	}
	var out []string
	for _, q := range r.order {
		if slices.Contains(p.Teams, q) {
			out = append(out, q)
		}
	}
	return out
}

func (r *Reports) queues(w http.ResponseWriter, req *http.Request) {
	p, ok := desktop.PrincipalFrom(req.Context())
	if !ok {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeUnauthenticated, "no principal"))
		return
	}
	q, derr := r.parseQuery(req.URL.Query())
	if derr != nil {
		desktop.WriteError(w, derr)
		return
	}
	visible := r.visibleQueues(p)
	names := visible
	if qs := req.URL.Query()["queue"]; len(qs) > 0 {
		var derr *desktop.Error
		names, derr = listParam(qs, func(name string) *desktop.Error {
			if _, ok := r.specs[name]; !ok {
				return desktop.Errorf(desktop.CodeNotFound, "no queue %q", name)
			}
			if !slices.Contains(visible, name) {
				return desktop.Errorf(desktop.CodeForbidden, "queue %s is not in your teams", name)
			}
			return nil
		})
		if derr != nil {
			desktop.WriteError(w, derr)
			return
		}
	}
	specs := make([]store.QueueSpec, 0, len(names))
	for _, n := range names {
		specs = append(specs, r.specs[n])
	}
	ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
	defer cancel()
	rows, err := r.st.QueueReport(ctx, q.req, specs)
	if err != nil {
		r.fail(w, err)
		return
	}
	out := make([]reportLine, 0, len(rows))
	for _, row := range rows {
		out = append(out, reportLine{key: row.Queue, k: row.KPIs})
	}
	r.write(w, q, "queue", out)
}

func (r *Reports) agentsReport(w http.ResponseWriter, req *http.Request) {
	p, ok := desktop.PrincipalFrom(req.Context())
	if !ok {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeUnauthenticated, "no principal"))
		return
	}
	q, derr := r.parseQuery(req.URL.Query())
	if derr != nil {
		desktop.WriteError(w, derr)
		return
	}
	// Who p may see: themselves (agents), their teams' members (supervisors), everyone (admins).
	visible := func(agent string) bool {
		switch {
		case p.Role >= desktop.RoleAdmin:
			return true
		case p.Role >= desktop.RoleSupervisor:
			for _, qn := range r.visibleQueues(p) {
				if slices.Contains(r.specs[qn].Members, agent) {
					return true
				}
			}
			return agent == p.User
		}
		return agent == p.User
	}
	var names []string
	if as := req.URL.Query()["agent"]; len(as) > 0 {
		var derr *desktop.Error
		names, derr = listParam(as, func(name string) *desktop.Error {
			if !r.agents[name] && name != p.User {
				return desktop.Errorf(desktop.CodeNotFound, "no agent %q", name)
			}
			if !visible(name) {
				return desktop.Errorf(desktop.CodeForbidden, "an agent may read only their own report")
			}
			return nil
		})
		if derr != nil {
			desktop.WriteError(w, derr)
			return
		}
	} else if p.Role < desktop.RoleSupervisor {
		names = []string{p.User}
	} else {
		for _, a := range r.cfg.Agents {
			if visible(a) {
				names = append(names, a)
			}
		}
	}
	ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
	defer cancel()
	rows, err := r.st.AgentReport(ctx, q.req, names)
	if err != nil {
		r.fail(w, err)
		return
	}
	out := make([]reportLine, 0, len(rows))
	for _, row := range rows {
		out = append(out, reportLine{key: row.Agent, k: row.KPIs})
	}
	r.write(w, q, "agent", out)
}

// listParam reads a repeatable, comma-separated query parameter (?queue=a,b&queue=c)
// in order, without repeats; the first name check refuses ends the reading.
func listParam(vals []string, check func(name string) *desktop.Error) ([]string, *desktop.Error) {
	var names []string
	for _, v := range vals {
		for name := range strings.SplitSeq(v, ",") {
			if derr := check(name); derr != nil {
				return nil, derr
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names, nil
}

func (r *Reports) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrInvalidReport) {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "%s", strings.TrimPrefix(err.Error(), store.ErrInvalidReport.Error()+": ")))
		return
	}
	r.log.Error().Err(err).Msg("report query failed")
	desktop.WriteError(w, desktop.Errorf(desktop.CodeInternal, "store unavailable"))
}

type reportLine struct {
	key string
	k   store.KPIs
}

// column is one field of a report row, in JSON and CSV.
type column struct {
	name  string
	queue bool // queue reports only
	val   func(k *store.KPIs) any
}

func ratio(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func secs(d time.Duration) any { return d.Seconds() }

var reportColumns = []column{
	{"offered", false, func(k *store.KPIs) any { return k.Offered }},
	{"answered", false, func(k *store.KPIs) any { return k.Answered }},
	{"abandoned", true, func(k *store.KPIs) any { return k.Abandoned }},
	{"short_abandoned", true, func(k *store.KPIs) any { return k.ShortAbandoned }},
	{"service_level", true, func(k *store.KPIs) any { return ratio(k.ServiceLevel) }},
	{"sl_formula", true, func(k *store.KPIs) any { return k.SLFormula }},
	{"sl_threshold_seconds", true, func(k *store.KPIs) any { return secs(k.SLThreshold) }},
	{"abandon_rate", true, func(k *store.KPIs) any { return ratio(k.AbandonRate) }},
	{"asa_seconds", true, func(k *store.KPIs) any { return secs(k.ASA) }},
	{"aht_seconds", false, func(k *store.KPIs) any { return secs(k.AHT) }},
	{"avg_talk_seconds", false, func(k *store.KPIs) any { return secs(k.AvgTalk) }},
	{"avg_hold_seconds", false, func(k *store.KPIs) any { return secs(k.AvgHold) }},
	{"avg_wrapup_seconds", false, func(k *store.KPIs) any { return secs(k.AvgWrapUp) }},
	{"longest_wait_seconds", true, func(k *store.KPIs) any { return secs(k.LongestWait) }},
	{"transfers", false, func(k *store.KPIs) any { return k.Transfers }},
	{"occupancy", false, func(k *store.KPIs) any { return ratio(k.Occupancy) }},
	{"utilisation", false, func(k *store.KPIs) any { return ratio(k.Utilisation) }},
	{"fcr", false, func(k *store.KPIs) any { return ratio(k.FCR) }},
	{"fcr_calls", false, func(k *store.KPIs) any { return k.FCRCalls }},
	{"nps", false, func(k *store.KPIs) any { return ratio(k.NPS) }},
	{"nps_answers", false, func(k *store.KPIs) any { return k.NPSAnswers }},
	{"csat", false, func(k *store.KPIs) any { return ratio(k.CSAT) }},
	{"csat_answers", false, func(k *store.KPIs) any { return k.CSATAnswers }},
	{"callbacks_requested", true, func(k *store.KPIs) any { return k.CallbacksRequested }},
	{"callbacks_completed", true, func(k *store.KPIs) any { return k.CallbacksCompleted }},
	{"callback_first_response_seconds", true, func(k *store.KPIs) any { return secs(k.CallbackFirstResponse) }},
	{"ready_seconds", false, func(k *store.KPIs) any { return secs(k.ReadyTime) }},
	{"not_ready_seconds", false, func(k *store.KPIs) any { return secs(k.NotReadyTime) }},
	{"handling_seconds", false, func(k *store.KPIs) any { return secs(k.HandlingTime) }},
	{"logged_in_seconds", false, func(k *store.KPIs) any { return secs(k.LoggedInTime) }},
	{"not_ready_by_reason", false, func(k *store.KPIs) any { return byReason(k.NotReadyByReason) }},
	{"wrapup_state_seconds", false, func(k *store.KPIs) any { return secs(k.WrapUpStateTime) }},
}

// reasonSeconds is not-ready time by reason: a JSON object of seconds, and in CSV
// "reason=seconds" pairs separated by ';' in reason order ("" is written "none").
type reasonSeconds map[string]float64

func byReason(m map[string]time.Duration) reasonSeconds {
	out := reasonSeconds{}
	for r, d := range m {
		if r == "" {
			r = "none"
		}
		out[r] += d.Seconds()
	}
	return out
}

func (r reasonSeconds) String() string {
	keys := slices.Sorted(maps.Keys(r))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.FormatFloat(r[k], 'f', -1, 64))
	}
	return strings.Join(parts, ";")
}

func (r *Reports) write(w http.ResponseWriter, q reportQuery, keyName string, lines []reportLine) {
	cols := make([]column, 0, len(reportColumns))
	for _, c := range reportColumns {
		if !c.queue || keyName == "queue" {
			cols = append(cols, c)
		}
	}
	if q.csv {
		writeCSV(w, keyName, cols, lines, r.log)
		return
	}
	rows := make([]map[string]any, 0, len(lines))
	for _, l := range lines {
		m := map[string]any{keyName: l.key, "start": l.k.Start.Format(time.RFC3339), "end": l.k.End.Format(time.RFC3339)}
		for _, c := range cols {
			m[c.name] = c.val(&l.k)
		}
		rows = append(rows, m)
	}
	desktop.WriteJSON(w, http.StatusOK, map[string]any{
		"from": q.req.From.In(q.req.Location).Format(time.RFC3339), "to": q.req.To.In(q.req.Location).Format(time.RFC3339),
		"interval": q.req.Interval.String(), "tz": q.req.Location.String(), "fcr_days": r.cfg.FCRDays, "rows": rows,
	})
}

// csvCell renders a value; text that a spreadsheet would run as a formula is quoted with '.
func csvCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x != "" && strings.ContainsRune("=+-@\t\r", rune(x[0])) {
			return "'" + x
		}
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case reasonSeconds:
		return csvCell(x.String())
	}
	return fmt.Sprint(v)
}

func writeCSV(w http.ResponseWriter, keyName string, cols []column, lines []reportLine, log zerolog.Logger) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ctid-`+keyName+`-report.csv"`)
	cw := csv.NewWriter(w)
	header := []string{keyName, "start", "end"}
	for _, c := range cols {
		header = append(header, c.name)
	}
	err := cw.Write(header)
	for _, l := range lines {
		if err != nil {
			break
		}
		rec := []string{csvCell(l.key), l.k.Start.Format(time.RFC3339), l.k.End.Format(time.RFC3339)}
		for _, c := range cols {
			rec = append(rec, csvCell(c.val(&l.k)))
		}
		err = cw.Write(rec)
	}
	cw.Flush()
	if err = errors.Join(err, cw.Error()); err != nil {
		log.Warn().Err(err).Msg("writing a CSV report (client gone?)")
	}
}
