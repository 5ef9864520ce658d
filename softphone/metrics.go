package softphone

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the gateway's Stats as Prometheus metrics. Register it with
// prometheus.Registerer.Register(softphone.NewCollector(gw)).
type Collector struct {
	g *Gateway

	sessions, legs, portsInUse, portsTotal *prometheus.Desc
	legsAttached, portExhaustions, dtmf    *prometheus.Desc
	packets, dropped                       *prometheus.Desc
}

// NewCollector returns a collector for g.
func NewCollector(g *Gateway) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("ctid_softphone_"+name, help, labels, nil)
	}
	return &Collector{
		g:               g,
		sessions:        d("sessions", "Open agent peer connections."),
		legs:            d("legs", "Attached ExternalMedia legs."),
		portsInUse:      d("media_ports_in_use", "Media UDP ports bound."),
		portsTotal:      d("media_ports", "Size of the media UDP port range."),
		legsAttached:    d("legs_attached_total", "ExternalMedia legs attached."),
		portExhaustions: d("media_port_exhaustions_total", "Attach failures because the media port range was exhausted."),
		dtmf:            d("dtmf_total", "DTMF digits received from browsers."),
		packets:         d("rtp_packets_total", "RTP packets relayed, by direction.", "direction"),
		dropped:         d("rtp_dropped_total", "RTP packets dropped, by reason.", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.legs, c.portsInUse, c.portsTotal,
		c.legsAttached, c.portExhaustions, c.dtmf, c.packets, c.dropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.g.Stats()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.sessions, st.Sessions)
	gauge(c.legs, st.Legs)
	gauge(c.portsInUse, st.PortsInUse)
	gauge(c.portsTotal, st.PortsTotal)
	counter(c.legsAttached, st.LegsAttached)
	counter(c.portExhaustions, st.PortExhaustions)
	counter(c.dtmf, st.DTMF)
	counter(c.packets, st.FromAsterisk, "from_asterisk")
	counter(c.packets, st.ToAgent, "to_agent")
	counter(c.packets, st.FromAgent, "from_agent")
	counter(c.packets, st.ToAsterisk, "to_asterisk")
	counter(c.dropped, st.DroppedForeign, "foreign_source")
	counter(c.dropped, st.DroppedInvalid, "invalid")
	counter(c.dropped, st.DroppedInactive, "inactive")
	counter(c.dropped, st.DroppedNoPeer, "no_peer")
}
