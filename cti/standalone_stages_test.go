package cti_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony"
)

// Stage timing for BenchmarkStandaloneEmulatorThroughput (CTID_BENCH_STAGES=1): where
// an offer's time goes, call by call. The ARI client and the store are wrapped (only
// in this mode: the forwarding of events adds one goroutine hop, measured as its own
// stage) and every step of an inbound call's way to call.offered is stamped:
//
//	inject   the injector's POST /_emu/calls starts (the latency's t0)
//	recv     ctid's events reader has decoded the StasisStart (Event.Received)
//	fwd      the wrapper hands it to the orchestrator (after the adapter's queue)
//	hist0/1  the screen-pop's contact-history read starts / ends (store)
//	ans0/1   the caller's Answer request starts / is answered (ARI)
//	offer    call.offered reaches the bot
//	injret   the injection request returned (the emulator sent StasisStart before)
type stageBook struct {
	mu    sync.Mutex
	calls map[string]*stages
	num   map[string]string // caller number → channel id (from the StasisStart)
	types map[string]int    // events received, by type
}

type stages struct {
	inject, injret, recv, fwd, hist0, hist1, ans0, ans1, offer time.Time
}

func newStageBook() *stageBook {
	return &stageBook{calls: map[string]*stages{}, num: map[string]string{}, types: map[string]int{}}
}

func (sb *stageBook) stamp(id string, f func(s *stages)) {
	if sb == nil || id == "" {
		return
	}
	sb.mu.Lock()
	s := sb.calls[id]
	if s == nil {
		s = &stages{}
		sb.calls[id] = s
	}
	f(s)
	sb.mu.Unlock()
}

// stagedARI is the ARI client with the StasisStart and Answer stamped.
type stagedARI struct {
	*telephony.Client
	book *stageBook
	out  chan telephony.Event
}

func newStagedARI(cli *telephony.Client, book *stageBook) *stagedARI {
	return &stagedARI{Client: cli, book: book, out: make(chan telephony.Event, 1)}
}

// forward runs until ctx ends.
func (s *stagedARI) forward(ctx context.Context) {
	in := s.Client.Events()
	for {
		select {
		case ev := <-in:
			s.book.mu.Lock()
			s.book.types[ev.Type]++
			s.book.mu.Unlock()
			if ev.Type == "StasisStart" {
				if st, ok := ev.ARI.(*ari.StasisStart); ok {
					id, recv := st.Channel.ID, ev.Received
					s.book.mu.Lock()
					s.book.num[st.Channel.Caller.Number] = id
					s.book.mu.Unlock()
					s.book.stamp(id, func(c *stages) { c.recv, c.fwd = recv, time.Now() })
				}
			}
			select {
			case s.out <- ev:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (s *stagedARI) Events() <-chan telephony.Event { return s.out }

func (s *stagedARI) Answer(ctx context.Context, id string) error {
	s.book.stamp(id, func(c *stages) { c.ans0 = time.Now() })
	err := s.Client.Answer(ctx, id)
	s.book.stamp(id, func(c *stages) { c.ans1 = time.Now() })
	return err
}

// stagedStore stamps the contact-history read (the only read on the offer path).
type stagedStore struct {
	*store.Store
	book *stageBook
}

func (s *stagedStore) InteractionsByNumber(ctx context.Context, number string, limit int) ([]store.Interaction, error) {
	s.book.mu.Lock()
	id := s.book.num[number]
	s.book.mu.Unlock()
	s.book.stamp(id, func(c *stages) { c.hist0 = time.Now() })
	l, err := s.Store.InteractionsByNumber(ctx, number, limit)
	s.book.stamp(id, func(c *stages) { c.hist1 = time.Now() })
	return l, err
}

var _ cti.Records = (*stagedStore)(nil)

// report prints each stage's p50/p90/p99/max over the calls with every stamp and
// the slowest calls in full, plus the benchmark process's scheduling and GC figures.
func (sb *stageBook) report(b *testing.B, m0 []metrics.Sample) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	type row struct {
		id string
		s  *stages
	}
	var rows []row
	for id, s := range sb.calls {
		if s.inject.IsZero() || s.offer.IsZero() || s.recv.IsZero() || s.ans1.IsZero() {
			continue
		}
		rows = append(rows, row{id, s})
	}
	if len(rows) == 0 {
		b.Logf("stages: no complete call")
		return
	}
	histOf := func(s *stages, f func(*stages) (time.Time, time.Time)) time.Duration {
		a, z := f(s)
		if a.IsZero() || z.IsZero() {
			return 0
		}
		return z.Sub(a)
	}
	type stage struct {
		name string
		f    func(*stages) (time.Time, time.Time)
	}
	list := []stage{
		{"inject→recv", func(s *stages) (time.Time, time.Time) { return s.inject, s.recv }},
		{"recv→fwd", func(s *stages) (time.Time, time.Time) { return s.recv, s.fwd }},
		{"fwd→ans0", func(s *stages) (time.Time, time.Time) { return s.fwd, s.ans0 }},
		{"ans0→ans1", func(s *stages) (time.Time, time.Time) { return s.ans0, s.ans1 }},
		{"hist0→hist1", func(s *stages) (time.Time, time.Time) { return s.hist0, s.hist1 }},
		{"max(ans1,hist1)→offer", func(s *stages) (time.Time, time.Time) {
			t := s.ans1
			if s.hist1.After(t) {
				t = s.hist1
			}
			return t, s.offer
		}},
		{"recv→offer (ctid)", func(s *stages) (time.Time, time.Time) { return s.recv, s.offer }},
		{"inject→injret", func(s *stages) (time.Time, time.Time) { return s.inject, s.injret }},
		{"total inject→offer", func(s *stages) (time.Time, time.Time) { return s.inject, s.offer }},
	}
	var sb2 strings.Builder
	fmt.Fprintf(&sb2, "events received by type: %v\n", sb.types)
	fmt.Fprintf(&sb2, "stages over %d calls (ms): p50 / p90 / p99 / max\n", len(rows))
	for _, st := range list {
		ds := make([]time.Duration, 0, len(rows))
		for _, r := range rows {
			ds = append(ds, histOf(r.s, st.f))
		}
		slices.Sort(ds)
		q := func(f float64) float64 {
			return float64(ds[min(len(ds)-1, int(f*float64(len(ds))))].Microseconds()) / 1000
		}
		fmt.Fprintf(&sb2, "  %-24s %7.2f %7.2f %7.2f %7.2f\n", st.name, q(0.5), q(0.9), q(0.99), q(1))
	}
	slices.SortFunc(rows, func(x, y row) int { return cmp.Compare(y.s.offer.Sub(y.s.inject), x.s.offer.Sub(x.s.inject)) })
	fmt.Fprintf(&sb2, "slowest calls (ms from inject): recv fwd hist0 hist1 ans0 ans1 offer injret\n")
	ms := func(t0, t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(t.Sub(t0).Microseconds())/1000)
	}
	for _, r := range rows[:min(len(rows), max(25, len(rows)/50))] {
		s := r.s
		fmt.Fprintf(&sb2, "  %s @%s: %s %s %s %s %s %s %s %s\n", r.id[:min(8, len(r.id))], s.inject.Format("15:04:05.000"),
			ms(s.inject, s.recv), ms(s.inject, s.fwd), ms(s.inject, s.hist0), ms(s.inject, s.hist1),
			ms(s.inject, s.ans0), ms(s.inject, s.ans1), ms(s.inject, s.offer), ms(s.inject, s.injret))
	}
	if m0 != nil {
		m1 := schedSamples()
		metrics.Read(m1)
		for i := range m1 {
			switch m1[i].Value.Kind() {
			case metrics.KindUint64:
				fmt.Fprintf(&sb2, "%s (during the run): %d (%d per call)\n", m1[i].Name, m1[i].Value.Uint64()-m0[i].Value.Uint64(),
					(m1[i].Value.Uint64()-m0[i].Value.Uint64())/uint64(len(sb.calls)))
				continue
			case metrics.KindFloat64:
				fmt.Fprintf(&sb2, "%s (during the run): %.3f\n", m1[i].Name, m1[i].Value.Float64()-m0[i].Value.Float64())
				continue
			case metrics.KindFloat64Histogram:
			default:
				continue
			}
			h0, h1 := m0[i].Value.Float64Histogram(), m1[i].Value.Float64Histogram()
			fmt.Fprintf(&sb2, "%s (during the run): %s\n", m1[i].Name, histDelta(h0, h1))
		}
	}
	fmt.Fprint(os.Stderr, sb2.String()) // b.Log truncates a benchmark's output to 10 lines
}

func schedSamples() []metrics.Sample {
	return []metrics.Sample{{Name: "/sched/latencies:seconds"}, {Name: "/sched/pauses/total/gc:seconds"}, {Name: "/sched/pauses/stopping/gc:seconds"},
		{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/assist:cpu-seconds"}, {Name: "/cpu/classes/user:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"}}
}

// histDelta summarises h1−h0: count, p50, p99, p99.9, max bucket, and how many
// above 1, 5 and 10 ms.
func histDelta(h0, h1 *metrics.Float64Histogram) string {
	d := make([]uint64, len(h1.Counts))
	var n uint64
	for i := range d {
		d[i] = h1.Counts[i] - h0.Counts[i]
		n += d[i]
	}
	if n == 0 {
		return "none"
	}
	q := func(f float64) float64 {
		want := uint64(f * float64(n))
		var s uint64
		for i, c := range d {
			s += c
			if s > want {
				return h1.Buckets[i+1] * 1000
			}
		}
		return h1.Buckets[len(h1.Buckets)-1] * 1000
	}
	above := func(sec float64) uint64 {
		var s uint64
		for i, c := range d {
			if h1.Buckets[i] >= sec {
				s += c
			}
		}
		return s
	}
	maxB := 0.0
	for i, c := range d {
		if c > 0 {
			maxB = h1.Buckets[i+1] * 1000
		}
	}
	return fmt.Sprintf("n=%d p50<%.3f p99<%.3f p99.9<%.3f max<%.3f ms; ≥1ms %d, ≥5ms %d, ≥10ms %d",
		n, q(0.5), q(0.99), q(0.999), maxB, above(0.001), above(0.005), above(0.010))
}

// timeWaits counts the TCP connections to port in TIME_WAIT on this side (closed by
// this process's clients: ctid's ARI requests, the injector), from /proc/net/tcp.
func timeWaits(port int) int {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return -1
	}
	want := fmt.Sprintf(":%04X", port)
	n := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[3] == "06" && strings.HasSuffix(f[2], want) {
			n++
		}
	}
	return n
}

func stagesOn() bool { return os.Getenv("CTID_BENCH_STAGES") != "" }
