package cti_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/queue/dialer"
)

// scrape serves reg's /metrics through cti.Server and parses the text.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv, err := cti.NewServer(cti.ServerParams{Config: cti.DefaultServerConfig(), Log: zerolog.Nop(), Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(web.Close)
	resp, err := http.Get(web.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// A caller surveyed after the agent hung up answers NPS 10, then CSAT 7 (invalid,
// asked again) and nothing: the survey metrics count one survey, one NPS answer of
// 10 in the score histogram, one skipped CSAT question.
func TestSurveyMetricsScrape(t *testing.T) {
	w := newWorldCfg(t, salesConfig("anna"), surveyConfig())
	m := cti.NewSurveyMetrics()
	w.orch.SetSurveyMetrics(m)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, cti.NewDialerCollector(cti.DialerCollectorParams{Stats: w.orch.LiveCampaignStats, Log: zerolog.Nop()}))
	w.ready(t, "anna")
	w.desk.wait(t, "anna", "agent.state", func(e map[string]any) bool { return e["state"] == queue.Ready.String() })

	c1 := talkThenAgentHangsUp(t, w, "anna")
	if err := w.emu.SendDTMF(c1, "10"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the NPS answer", func() bool { q, _ := w.surveyReport(t); return q.NPSAnswers == 1 })
	if err := w.emu.SendDTMF(c1, "7"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ctid to hang up the caller", func() bool { _, ok := w.emu.Channel(c1); return !ok })

	fams := scrape(t, reg)
	sales := map[string]string{"queue": "sales"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ctid_survey_offered_total", sales, 1},
		{"ctid_survey_completed_total", map[string]string{"queue": "sales", "kind": "nps"}, 1},
		{"ctid_survey_skipped_total", map[string]string{"queue": "sales", "kind": "csat"}, 1},
		{"ctid_survey_score", map[string]string{"queue": "sales", "kind": "nps"}, 1}, // sample count
		{"ctid_dialer_stats_up", nil, 1},                                             // no campaign runs: no per-campaign series
	} {
		got, ok := metricValue(t, fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := metricValue(t, fams, "ctid_survey_completed_total", map[string]string{"queue": "sales", "kind": "csat"}); ok {
		t.Error("a CSAT answer counted")
	}
	if _, ok := fams["ctid_dialer_lines_in_use"]; ok {
		t.Error("dialer series without a campaign")
	}
	// The histogram: the 10 is above le=8 (a promoter) and within le=10; sum 10.
	h := fams["ctid_survey_score"].GetMetric()[0].GetHistogram()
	if fams["ctid_survey_score"].GetType() != dto.MetricType_HISTOGRAM || h.GetSampleSum() != 10 {
		t.Fatalf("score histogram %v", h)
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 10 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

func TestDialerMetricsScrape(t *testing.T) {
	stats := []cti.CampaignStats{{Campaign: "winter", Mode: "predictive", State: "running", Dials: 120, Connects: 40,
		Abandons: 1, AbandonRate: 1.0 / 41, LinesInUse: 9, Ringing: 6, Waiting: 1}}
	var fail error
	reg := prometheus.NewRegistry()
	reg.MustRegister(cti.NewDialerCollector(cti.DialerCollectorParams{Log: zerolog.Nop(),
		Stats: func(context.Context) ([]cti.CampaignStats, error) { return stats, fail }}))
	fams := scrape(t, reg)
	w := map[string]string{"campaign": "winter"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ctid_dialer_stats_up", nil, 1},
		{"ctid_dialer_lines_in_use", w, 9},
		{"ctid_dialer_lines_ringing", w, 6},
		{"ctid_dialer_lines_waiting", w, 1},
		{"ctid_dialer_abandon_rate_ratio", w, 1.0 / 41},
		{"ctid_dialer_dials_total", w, 120},
		{"ctid_dialer_connects_total", w, 40},
		{"ctid_dialer_abandons_total", w, 1},
		{"ctid_dialer_campaign_info", map[string]string{"campaign": "winter", "mode": "predictive", "state": "running"}, 1},
	} {
		got, ok := metricValue(t, fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if fams["ctid_dialer_dials_total"].GetType() != dto.MetricType_COUNTER || fams["ctid_dialer_lines_in_use"].GetType() != dto.MetricType_GAUGE {
		t.Error("metric types")
	}
	// A campaign that does not answer: the scrape says so and carries no stale series.
	fail = errors.New("campaign busy")
	fams = scrape(t, reg)
	if v, ok := metricValue(t, fams, "ctid_dialer_stats_up", nil); !ok || v != 0 {
		t.Errorf("stats_up %v %v", v, ok)
	}
	if _, ok := fams["ctid_dialer_lines_in_use"]; ok {
		t.Error("series after a failed read")
	}
}

// The dialer collector reads the orchestrator's campaigns: one added, not started.
func TestDialerMetricsOfLiveCampaigns(t *testing.T) {
	w := newCampWorld(t, "c1", "anna")
	w.addCampaign(t, cti.CampaignConfig{Name: "Quiet", Endpoint: "PJSIP/{number}@trunk",
		Dialer: dialer.Config{ID: "quiet", Mode: dialer.Predictive}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(cti.NewDialerCollector(cti.DialerCollectorParams{Stats: w.orch.LiveCampaignStats, Log: zerolog.Nop()}))
	fams := scrape(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ctid_dialer_stats_up", nil, 1},
		{"ctid_dialer_lines_in_use", map[string]string{"campaign": "quiet"}, 0},
		{"ctid_dialer_abandon_rate_ratio", map[string]string{"campaign": "quiet"}, 0},
		{"ctid_dialer_campaign_info", map[string]string{"campaign": "quiet", "mode": "predictive", "state": "draft"}, 1},
	} {
		got, ok := metricValue(t, fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}
