package softphone

import (
	"sync/atomic"
	"time"
)

// residence measures, for benchmarks (Config.residence), how long relayed packets
// stay in the gateway, from the kernel's receive timestamp (SO_TIMESTAMPNS) on the
// socket they arrived on: "queued" is until the read batch holding them started
// being handled (time spent in the socket's receive queue: the reader was busy,
// descheduled or not yet woken), "total" until the system call that sent the
// relayed packet returned (queued + processing + waiting for the batch's
// sendmmsg). Only the shared sockets are measured: the agents' direction with
// MediaSharedAddr, the microphones' with the fast path (ice_udp_mux).
type residence struct {
	agentQueued, agentTotal resHist // Asterisk -> agent
	micQueued, micTotal     resHist // agent -> Asterisk
}

func (r *residence) reset() {
	for _, h := range []*resHist{&r.agentQueued, &r.agentTotal, &r.micQueued, &r.micTotal} {
		for i := range h.b {
			h.b[i].Store(0)
		}
	}
}

// resHist is a lock-free histogram: 10 µs buckets up to 200 ms.
type resHist struct{ b [20000]atomic.Uint64 }

func (h *resHist) add(d time.Duration) {
	h.b[min(max(int(d/(10*time.Microsecond)), 0), len(h.b)-1)].Add(1)
}

// quantile is the upper bound of the bucket holding quantile q (0 when empty).
func (h *resHist) quantile(q float64) time.Duration {
	var total uint64
	for i := range h.b {
		total += h.b[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := uint64(q*float64(total) + 0.5)
	var seen uint64
	for i := range h.b {
		if seen += h.b[i].Load(); seen >= max(want, 1) {
			return time.Duration(i+1) * 10 * time.Microsecond
		}
	}
	return 200 * time.Millisecond
}

// resBatch is one reader's batch being measured (owned by that reader).
type resBatch struct {
	at time.Time   // the batch's handling started
	rx []time.Time // kernel receive times of the packets relayed
}

func (r *resBatch) start() {
	r.at = time.Now()
	r.rx = r.rx[:0]
}

func (r *resBatch) packet(rx time.Time) { r.rx = append(r.rx, rx) }

// end records the batch's packets, sent by now.
func (r *resBatch) end(queued, total *resHist) {
	now := time.Now()
	for _, t := range r.rx {
		queued.add(r.at.Sub(t))
		total.add(now.Sub(t))
	}
	r.rx = r.rx[:0]
}
