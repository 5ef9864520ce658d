package store

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the writer's health on /metrics:
//
//	ctid_store_pending_records              records waiting in memory for the engine
//	ctid_store_write_failures_total         transactions that failed for an engine outage (retried)
//	ctid_store_records_committed_total      records saved
//	ctid_store_records_dropped_total{reason} records NOT saved: backlog_full (memory bound reached
//	                                        while the engine failed) or rejected (refused by the engine)
//	ctid_store_writable                     1 while writes succeed, 0 during an outage
func (s *Store) Collector() prometheus.Collector { return storeCollector{s} }

type storeCollector struct{ s *Store }

var (
	descPending   = prometheus.NewDesc("ctid_store_pending_records", "Records waiting in memory for the store engine.", nil, nil)
	descFailures  = prometheus.NewDesc("ctid_store_write_failures_total", "Store transactions that failed for an engine outage (the records are kept and retried).", nil, nil)
	descCommitted = prometheus.NewDesc("ctid_store_records_committed_total", "Records saved by the store.", nil, nil)
	descDropped   = prometheus.NewDesc("ctid_store_records_dropped_total", "Records NOT saved: backlog_full (the in-memory bound store.writer.max_pending was reached while the engine failed) or rejected (refused by the engine).", []string{"reason"}, nil)
	descWritable  = prometheus.NewDesc("ctid_store_writable", "1 while store writes succeed, 0 while the engine fails.", nil, nil)
)

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descFailures, descCommitted, descDropped, descWritable} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	writable := 1.0
	if st.LastError != "" {
		writable = 0
	}
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(st.FailedAttempts))
	ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.CounterValue, float64(st.Committed))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.BacklogFull), "backlog_full")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Rejected), "rejected")
	ch <- prometheus.MustNewConstMetric(descWritable, prometheus.GaugeValue, writable)
}
