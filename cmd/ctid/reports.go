package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
)

// reportsSection configures interval reports (`reports:`).
type reportsSection struct {
	TimeZone string `mapstructure:"time_zone"` // IANA zone of the call centre, e.g. Europe/Warsaw
	FCRDays  int    `mapstructure:"fcr_days"`  // first-contact resolution window
}

func defaultReports() reportsSection {
	d := cti.DefaultReportsConfig()
	return reportsSection{TimeZone: d.TimeZone, FCRDays: d.FCRDays}
}

// reportsConfig builds the reports' configuration from `reports:`, `queues:` and `agents:`.
func (fc fileConfig) reportsConfig() cti.ReportsConfig {
	c := cti.DefaultReportsConfig()
	c.TimeZone, c.FCRDays = fc.Reports.TimeZone, fc.Reports.FCRDays
	for _, q := range fc.Queues {
		formula := q.SLFormula
		if formula == "" { // the same default as the wallboard's
			formula = fc.Wallboard.SLFormula
		}
		rq := cti.ReportQueue{Queue: q.ID, SLThreshold: q.ServiceLevel, ShortAbandon: q.ShortAbandon, Formula: formula}
		for _, m := range q.Members {
			name, _, _ := strings.Cut(m, ":")
			rq.Members = append(rq.Members, name)
		}
		c.Queues = append(c.Queues, rq)
	}
	for _, a := range fc.Agents {
		c.Agents = append(c.Agents, a.ID)
	}
	return c
}

// recordings lists the queues' recording policies.
func (fc fileConfig) recordings() []cti.QueueRecording {
	var out []cti.QueueRecording
	for _, q := range fc.Queues {
		if q.Recording != "" || q.RecordingFormat != "" {
			out = append(out, cti.QueueRecording{Queue: q.ID, Policy: q.Recording, Format: q.RecordingFormat})
		}
	}
	return out
}

// reporting is what serve needs from the reports wiring.
type reporting struct {
	mount func(mux *http.ServeMux)  // the desktop API, timed by the HTTP latency histogram
	run   func(ctx context.Context) // the daily retention purge, until ctx ends
}

// wireReports registers the report routes, the queue, WebSocket and HTTP metrics, and
// prepares the retention job.
func wireReports(fc fileConfig, st *store.Store, api *desktop.Server, orch *cti.Orchestrator, reg prometheus.Registerer, log zerolog.Logger) (reporting, error) {
	rc := fc.reportsConfig()
	rep, err := cti.NewReports(cti.ReportsParams{Config: rc, Store: st, Log: log})
	if err != nil {
		return reporting{}, err
	}
	if err := rep.RegisterREST(api); err != nil {
		return reporting{}, fmt.Errorf("report routes: %w", err)
	}
	if err := orch.RegisterRecordingREST(api); err != nil {
		return reporting{}, fmt.Errorf("recording route: %w", err)
	}
	if err := cti.RegisterRecordingCommands(api); err != nil {
		return reporting{}, fmt.Errorf("recording commands: %w", err)
	}
	formulas := map[string]queue.SLFormula{}
	for _, q := range rc.Queues {
		for f := queue.SLAbandonsMet; f <= queue.SLShortAbandonsNeutral; f++ {
			if f.String() == q.Formula {
				formulas[q.Queue] = f
			}
		}
	}
	httpm := cti.NewHTTPMetrics()
	surveys := cti.NewSurveyMetrics() // ctid_survey_*
	orch.SetSurveyMetrics(surveys)
	if err := registerAll(reg, surveys,
		cti.NewDialerCollector(cti.DialerCollectorParams{Stats: orch.LiveCampaignStats, Log: log}), // ctid_dialer_*
		cti.NewQueueCollector(cti.QueueCollectorParams{Stats: orch.LiveQueueStats, Formulas: formulas, Log: log}),
		httpm,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ctid_websocket_sessions", Help: "Open desktop WebSockets."},
			func() float64 { return float64(api.Hub().Sessions()) }),
	); err != nil {
		return reporting{}, err
	}
	loc, err := time.LoadLocation(rc.TimeZone)
	if err != nil {
		return reporting{}, fmt.Errorf("reports.time_zone: %w", err)
	}
	job, err := cti.NewRetentionJob(cti.RetentionParams{Purge: st.Purge, RunAt: fc.Store.Retention.RunAt, Location: loc, Log: log})
	if err != nil {
		return reporting{}, err
	}
	return reporting{
		mount: func(mux *http.ServeMux) { mux.Handle("/api/v1/", httpm.Wrap(api)) },
		run: func(ctx context.Context) {
			if err := job.Run(ctx); err != nil {
				log.Error().Err(err).Msg("retention job stopped")
			}
		},
	}, nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}
