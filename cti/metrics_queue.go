package cti

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/queue"
)

// LiveQueueStats are every queue's live KPIs, read inside the engine loop.
func (o *Orchestrator) LiveQueueStats(ctx context.Context) ([]queue.QueueStats, error) {
	now := o.now()
	var out []queue.QueueStats
	_, err := o.loop.Do(ctx, func(e *queue.Engine) ([]queue.Decision, error) {
		for _, id := range e.Queues() {
			st, err := e.QueueStats(now, id)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
		return nil, nil
	})
	return out, err
}

// QueueCollectorParams configure a QueueCollector.
type QueueCollectorParams struct {
	// Stats reads the live queue KPIs (Orchestrator.LiveQueueStats).
	Stats func(ctx context.Context) ([]queue.QueueStats, error)
	// Formulas is each queue's service level formula (default abandons-met).
	Formulas map[string]queue.SLFormula
	// Timeout bounds one scrape's read of the engine (default 2 s).
	Timeout time.Duration
	Log     zerolog.Logger
}

// QueueCollector exposes per-queue live KPIs as Prometheus metrics:
// ctid_queue_calls_waiting, ctid_queue_longest_wait_seconds, ctid_queue_agents{state},
// ctid_queue_calls_{offered,answered,abandoned}_total (inbound calls only),
// ctid_queue_consults_{offered,answered}_total (agents' attended transfers into the
// queue) and
// ctid_queue_service_level_ratio{formula} (absent while there is nothing to measure).
type QueueCollector struct {
	p                                      QueueCollectorParams
	waiting, longest, agents, sl, scrapeOK *prometheus.Desc
	offered, answered, abandoned           *prometheus.Desc
	consults, consultsAnswered             *prometheus.Desc
}

// NewQueueCollector builds the collector; register it on the /metrics registry.
func NewQueueCollector(p QueueCollectorParams) *QueueCollector {
	if p.Timeout <= 0 {
		p.Timeout = 2 * time.Second
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("ctid_queue_"+name, help, append([]string{"queue"}, labels...), nil)
	}
	return &QueueCollector{
		p:                p,
		waiting:          d("calls_waiting", "Calls waiting in the queue now."),
		longest:          d("longest_wait_seconds", "Wait of the longest-waiting call now."),
		agents:           d("agents", "Queue members by agent state.", "state"),
		sl:               d("service_level_ratio", "Service level since start (0..1) under the queue's formula.", "formula"),
		offered:          d("calls_offered_total", "Calls that entered the queue."),
		answered:         d("calls_answered_total", "Calls answered by an agent."),
		abandoned:        d("calls_abandoned_total", "Calls whose caller hung up while waiting."),
		consults:         d("consults_offered_total", "Agents' consultations (attended transfers) routed through the queue; not in calls_offered_total."),
		consultsAnswered: d("consults_answered_total", "Consultations through the queue answered by an agent."),
		scrapeOK:         prometheus.NewDesc("ctid_queue_stats_up", "1 if the engine answered the last scrape in time.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.waiting, c.longest, c.agents, c.sl, c.offered, c.answered, c.abandoned,
		c.consults, c.consultsAnswered, c.scrapeOK} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.p.Timeout)
	defer cancel()
	stats, err := c.p.Stats(ctx)
	if err != nil {
		c.p.Log.Warn().Err(err).Msg("queue metrics: engine did not answer")
		ch <- prometheus.MustNewConstMetric(c.scrapeOK, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeOK, prometheus.GaugeValue, 1)
	for _, st := range stats {
		q := string(st.Queue)
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(st.Waiting), q)
		ch <- prometheus.MustNewConstMetric(c.longest, prometheus.GaugeValue, st.LongestWait.Seconds(), q)
		for s := queue.LoggedOut; s <= queue.WrapUp; s++ {
			ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, float64(st.AgentsByState[s]), q, s.String())
		}
		ch <- prometheus.MustNewConstMetric(c.offered, prometheus.CounterValue, float64(st.Entered), q)
		ch <- prometheus.MustNewConstMetric(c.answered, prometheus.CounterValue, float64(st.Counts.Answered), q)
		ch <- prometheus.MustNewConstMetric(c.abandoned, prometheus.CounterValue, float64(st.Counts.Abandoned), q)
		ch <- prometheus.MustNewConstMetric(c.consults, prometheus.CounterValue, float64(st.Consults), q)
		ch <- prometheus.MustNewConstMetric(c.consultsAnswered, prometheus.CounterValue, float64(st.ConsultsAnswered), q)
		f, ok := c.p.Formulas[q]
		if !ok {
			f = queue.SLAbandonsMet
		}
		if v := st.ServiceLevel[f]; v >= 0 {
			ch <- prometheus.MustNewConstMetric(c.sl, prometheus.GaugeValue, v, q, f.String())
		}
	}
}

// HTTPMetrics is the HTTP latency histogram ctid_http_request_duration_seconds
// {method, route, code}; route is the matched route pattern (bounded cardinality).
type HTTPMetrics struct {
	h *prometheus.HistogramVec
}

// NewHTTPMetrics builds the histogram; register it (it is a prometheus.Collector).
func NewHTTPMetrics() *HTTPMetrics {
	return &HTTPMetrics{h: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ctid_http_request_duration_seconds",
		Help:    "HTTP request latency by route (WebSocket sessions excluded).",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route", "code"})}
}

// Describe implements prometheus.Collector.
func (m *HTTPMetrics) Describe(ch chan<- *prometheus.Desc) { m.h.Describe(ch) }

// Collect implements prometheus.Collector.
func (m *HTTPMetrics) Collect(ch chan<- prometheus.Metric) { m.h.Collect(ch) }

// statusRecorder remembers the status code; Unwrap keeps Hijack and Flush reachable.
type statusRecorder struct {
	http.ResponseWriter
	code     int
	hijacked bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter {
	// Whoever unwraps to hijack takes the connection: a WebSocket, not a request.
	s.hijacked = true
	return s.ResponseWriter
}

// Wrap times every request h serves. The route label is the pattern of the ServeMux
// that matched the request (it sets Request.Pattern), or "unmatched".
func (m *HTTPMetrics) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.hijacked && rec.code == 0 {
			return
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		m.h.WithLabelValues(r.Method, route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}
