package cti_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/queue"
)

// metricValue finds the sample of family name whose labels include want.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestQueueMetricsScrape(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	eng, err := queue.NewEngine(queue.Config{
		Queues: []queue.QueueConfig{{ID: "sales", Strategy: queue.LongestIdle,
			Members: []queue.Member{{Agent: "anna", Tier: 1}, {Agent: "boris", Tier: 1}}}},
		Agents: []queue.AgentConfig{{ID: "anna"}, {ID: "boris"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ []queue.Decision, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	must(eng.AgentLogin(at(0), "anna"))
	must(eng.AgentReady(at(0), "anna"))
	must(eng.AgentLogin(at(0), "boris")) // stays not ready
	must(eng.CallArrived(at(0), queue.Call{ID: "c1", Queue: "sales"}))
	must(eng.OfferAccepted(at(5), "c1", "anna")) // answered after 5 s (within 20 s)
	must(eng.CallArrived(at(10), queue.Call{ID: "c2", Queue: "sales"}))
	must(eng.CallArrived(at(12), queue.Call{ID: "c3", Queue: "sales"}))
	must(eng.CallAbandoned(at(20), "c3")) // abandoned after 8 s (within 20 s, not short)
	now := at(40)

	reg := prometheus.NewRegistry()
	reg.MustRegister(cti.NewQueueCollector(cti.QueueCollectorParams{
		Stats: func(context.Context) ([]queue.QueueStats, error) {
			st, err := eng.QueueStats(now, "sales")
			return []queue.QueueStats{st}, err
		},
		Formulas: map[string]queue.SLFormula{"sales": queue.SLAbandonsAgainst},
		Log:      zerolog.Nop(),
	}))
	hm := cti.NewHTTPMetrics()
	reg.MustRegister(hm)
	var api http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusTeapot)
	})
	srv, err := cti.NewServer(cti.ServerParams{Config: cti.DefaultServerConfig(), Log: zerolog.Nop(), Gatherer: reg,
		Mount: func(mux *http.ServeMux) { mux.Handle("GET /api/v1/thing", hm.Wrap(api)) }})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(web.Close)
	for range 3 {
		resp, err := http.Get(web.URL + "/api/v1/thing")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
	}

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
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ctid_queue_stats_up", nil, 1},
		{"ctid_queue_calls_waiting", map[string]string{"queue": "sales"}, 1},              // c2
		{"ctid_queue_longest_wait_seconds", map[string]string{"queue": "sales"}, 30},      // c2 since 10 s
		{"ctid_queue_agents", map[string]string{"queue": "sales", "state": "talking"}, 1}, // anna
		{"ctid_queue_agents", map[string]string{"queue": "sales", "state": "not_ready"}, 1},
		{"ctid_queue_agents", map[string]string{"queue": "sales", "state": "ready"}, 0},
		{"ctid_queue_calls_offered_total", map[string]string{"queue": "sales"}, 3},
		{"ctid_queue_calls_answered_total", map[string]string{"queue": "sales"}, 1},
		{"ctid_queue_calls_abandoned_total", map[string]string{"queue": "sales"}, 1},
		// abandons-against: 1 answered within 20 s / (1 answered + 1 abandoned).
		{"ctid_queue_service_level_ratio", map[string]string{"queue": "sales", "formula": "abandons-against"}, 0.5},
		{"ctid_http_request_duration_seconds", map[string]string{"method": "GET", "route": "GET /api/v1/thing", "code": "418"}, 3},
	} {
		got, ok := metricValue(t, fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if fams["ctid_queue_calls_offered_total"].GetType() != dto.MetricType_COUNTER {
		t.Error("offered_total is not a counter")
	}
}

func TestQueueMetricsEngineDown(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(cti.NewQueueCollector(cti.QueueCollectorParams{
		Stats: func(ctx context.Context) ([]queue.QueueStats, error) { return nil, context.DeadlineExceeded },
		Log:   zerolog.Nop(),
	}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 || fams[0].GetName() != "ctid_queue_stats_up" || fams[0].GetMetric()[0].GetGauge().GetValue() != 0 {
		t.Fatalf("engine down: %v", fams)
	}
}
