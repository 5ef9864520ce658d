package cti

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// SurveyMetrics are the post-call survey's Prometheus metrics:
// ctid_survey_offered_total{queue} (surveys started), ctid_survey_completed_total
// {queue,kind} (questions answered), ctid_survey_skipped_total{queue,kind} (questions
// left unanswered after the retry) and the histogram ctid_survey_score{queue,kind}
// with one bucket per score, from which NPS (promoters: score > 8, detractors:
// score <= 6) and CSAT (score > 3) follow in PromQL. Register it on the /metrics
// registry and hand it to Orchestrator.SetSurveyMetrics.
type SurveyMetrics struct {
	offered, completed, skipped *prometheus.CounterVec
	score                       *prometheus.HistogramVec
}

// NewSurveyMetrics builds the survey metrics.
func NewSurveyMetrics() *SurveyMetrics {
	return &SurveyMetrics{
		offered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ctid_survey_offered_total",
			Help: "Post-call surveys started (the agent hung up first on a queue with a survey)."}, []string{"queue"}),
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ctid_survey_completed_total",
			Help: "Survey questions answered, by kind (nps, csat)."}, []string{"queue", "kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ctid_survey_skipped_total",
			Help: "Survey questions skipped: no or an invalid answer twice, by kind."}, []string{"queue", "kind"}),
		score: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ctid_survey_score",
			Help:    "Survey answers by score (NPS 0-10, CSAT 1-5), by kind.",
			Buckets: []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}, []string{"queue", "kind"}),
	}
}

// Describe implements prometheus.Collector.
func (m *SurveyMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.offered.Describe(ch)
	m.completed.Describe(ch)
	m.skipped.Describe(ch)
	m.score.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *SurveyMetrics) Collect(ch chan<- prometheus.Metric) {
	m.offered.Collect(ch)
	m.completed.Collect(ch)
	m.skipped.Collect(ch)
	m.score.Collect(ch)
}

// The methods are safe on a nil *SurveyMetrics (no metrics kept).

func (m *SurveyMetrics) surveyOffered(queue string) {
	if m != nil {
		m.offered.WithLabelValues(queue).Inc()
	}
}

func (m *SurveyMetrics) surveyAnswered(queue, kind string, score int) {
	if m != nil {
		m.completed.WithLabelValues(queue, kind).Inc()
		m.score.WithLabelValues(queue, kind).Observe(float64(score))
	}
}

func (m *SurveyMetrics) surveySkipped(queue, kind string) {
	if m != nil {
		m.skipped.WithLabelValues(queue, kind).Inc()
	}
}

// SetSurveyMetrics has the post-call surveys counted in m (nil: none). Safe at any time.
func (o *Orchestrator) SetSurveyMetrics(m *SurveyMetrics) { o.surveyMetrics.Store(m) }

// LiveCampaignStats are the progress of every campaign the orchestrator runs (or ran
// since it started), for the dialer metrics.
func (o *Orchestrator) LiveCampaignStats(ctx context.Context) ([]CampaignStats, error) {
	var out []CampaignStats
	for _, c := range o.camps.all() {
		var st CampaignStats
		err := c.ask(ctx, campStatsReq{out: &st})
		switch {
		case errors.Is(err, errCampaignGone):
			st = c.finalStats()
		case err != nil:
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// DialerCollectorParams configure a DialerCollector.
type DialerCollectorParams struct {
	// Stats reads the campaigns' live progress (Orchestrator.LiveCampaignStats).
	Stats func(ctx context.Context) ([]CampaignStats, error)
	// Timeout bounds one scrape's read of the campaigns (default 2 s).
	Timeout time.Duration
	Log     zerolog.Logger
}

// DialerCollector exposes the outbound dialer per campaign: ctid_dialer_lines_in_use
// (ringing + answered waiting for an agent + talking), ctid_dialer_lines_ringing,
// ctid_dialer_lines_waiting, ctid_dialer_abandon_rate_ratio (abandons / live answers
// over the campaign's rolling abandon window, the cap's own measure),
// ctid_dialer_dials_total, ctid_dialer_connects_total, ctid_dialer_abandons_total
// (since the campaign's runner started) and ctid_dialer_stats_up.
type DialerCollector struct {
	p                                         DialerCollectorParams
	inUse, ringing, waiting, rate             *prometheus.Desc
	dials, connects, abandons, scrapeOK, info *prometheus.Desc
}

// NewDialerCollector builds the collector; register it on the /metrics registry.
func NewDialerCollector(p DialerCollectorParams) *DialerCollector {
	if p.Timeout <= 0 {
		p.Timeout = 2 * time.Second
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("ctid_dialer_"+name, help, append([]string{"campaign"}, labels...), nil)
	}
	return &DialerCollector{p: p,
		inUse:    d("lines_in_use", "Campaign lines in use now: ringing, answered waiting for an agent, talking."),
		ringing:  d("lines_ringing", "Campaign lines ringing now."),
		waiting:  d("lines_waiting", "Answered campaign lines waiting for an agent now (the safe-harbour clock runs)."),
		rate:     d("abandon_rate_ratio", "Abandons / live answers over the campaign's rolling abandon window (0..1)."),
		dials:    d("dials_total", "Lines dialled since the campaign's runner started."),
		connects: d("connects_total", "Live answers connected to an agent since the campaign's runner started."),
		abandons: d("abandons_total", "Live answers abandoned (safe-harbour rule) since the campaign's runner started."),
		info:     d("campaign_info", "1 per campaign, with its mode and state.", "mode", "state"),
		scrapeOK: prometheus.NewDesc("ctid_dialer_stats_up", "1 if every campaign answered the last scrape in time.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *DialerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.inUse, c.ringing, c.waiting, c.rate, c.dials, c.connects, c.abandons, c.info, c.scrapeOK} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *DialerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.p.Timeout)
	defer cancel()
	stats, err := c.p.Stats(ctx)
	if err != nil {
		c.p.Log.Warn().Err(err).Msg("dialer metrics: a campaign did not answer")
		ch <- prometheus.MustNewConstMetric(c.scrapeOK, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeOK, prometheus.GaugeValue, 1)
	for _, st := range stats {
		id := st.Campaign
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(st.LinesInUse), id)
		ch <- prometheus.MustNewConstMetric(c.ringing, prometheus.GaugeValue, float64(st.Ringing), id)
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(st.Waiting), id)
		ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, st.AbandonRate, id)
		ch <- prometheus.MustNewConstMetric(c.dials, prometheus.CounterValue, float64(st.Dials), id)
		ch <- prometheus.MustNewConstMetric(c.connects, prometheus.CounterValue, float64(st.Connects), id)
		ch <- prometheus.MustNewConstMetric(c.abandons, prometheus.CounterValue, float64(st.Abandons), id)
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, id, st.Mode, st.State)
	}
}
