package softphone

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// BenchmarkGatewayLegs is the softphone load test (issue 5): N agents, each a pion
// client peer connection (the "browser") connected to its own gateway session, each
// session with one attached call leg; one fake Asterisk socket sends 50 pps of PCMU
// to every leg and receives every leg's microphone, every client sends 50 pps of
// microphone audio. Sends are spread over the 20 ms frame (each leg has its phase),
// as independent calls would be. Every payload carries the send time, so the
// receiver measures the latency the gateway adds (plus loopback and the client's
// SRTP). Reported: cpu_% (getrusage of the whole process — gateway AND load
// generator — over the wall time of the traffic window, 100 % = one core),
// lost packets each way, latency p50/p99 each way.
//
// One iteration is one 20 ms frame on every leg; at least CTID_BENCH_LEG_SECONDS
// (default 3) seconds of traffic are sent, so -benchtime=1x is one short run.
// CTID_BENCH_LEGS=N runs one size only. Target: N=500 with p99 < 2 ms and no loss (docs/BENCHMARKS.md).
func BenchmarkGatewayLegs(b *testing.B) {
	raiseFDLimit(b)
	sizes := []int{100, 250, 500}
	if v := os.Getenv("CTID_BENCH_LEGS"); v != "" { // e.g. CTID_BENCH_LEGS=20 for a quick look
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 900 {
			b.Fatalf("CTID_BENCH_LEGS=%q: want 1..900", v)
		}
		sizes = []int{n}
	}
	for i, n := range sizes {
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			base := uint16(48000 + i*1000) // media ports, disjoint from the tests' ranges
			benchGatewayLegs(b, n, base)
		})
	}
}

// raiseFDLimit lifts the soft open-file limit to the hard one: N=500 holds ~1,500
// sockets (an ICE socket per peer on both sides, one per leg).
func raiseFDLimit(b *testing.B) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.Fatalf("getrlimit: %v", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			b.Fatalf("setrlimit: %v", err)
		}
	}
}

func benchSeconds(name string, def float64) time.Duration {
	if v := os.Getenv(name); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			return time.Duration(f * float64(time.Second))
		}
	}
	return time.Duration(def * float64(time.Second))
}

// latHist is a lock-free latency histogram: 10 µs buckets up to 200 ms.
type latHist struct {
	buckets [20000]atomic.Uint64
	count   atomic.Uint64
}

func (h *latHist) add(d time.Duration) {
	i := int(d / (10 * time.Microsecond))
	if i < 0 {
		i = 0
	}
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
}

// quantile returns the upper edge of the bucket holding quantile q, in ms.
func (h *latHist) quantile(q float64) float64 {
	total := h.count.Load()
	if total == 0 {
		return math.NaN()
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= want {
			return float64(i+1) * 0.01
		}
	}
	return float64(len(h.buckets)) * 0.01
}

// stamp payload layout: [0:8] send time (ns since the run's epoch), [8:12] leg.
func stamp(p []byte, epoch time.Time, leg int) {
	binary.BigEndian.PutUint64(p[0:8], uint64(time.Since(epoch)))
	binary.BigEndian.PutUint32(p[8:12], uint32(leg))
}

// unstamp returns the packet's latency and whether it was sent after the warm-up
// (the first second of traffic: ICE consent, DTLS/SRTP contexts and the clients'
// OnTrack start on each peer's first packets).
func unstamp(p []byte, epoch time.Time, warm time.Duration) (time.Duration, bool, bool) {
	if len(p) < 12 {
		return 0, false, false
	}
	sent := time.Duration(binary.BigEndian.Uint64(p[0:8]))
	return time.Since(epoch) - sent, sent >= warm, true
}

type loadPeer struct {
	s   *Session
	cl  *client
	leg Leg
	// sink applies the session's answer and candidates to the client.
	sink *candidateSink
}

func benchGatewayLegs(b *testing.B, n int, portBase uint16) {
	cfg := benchConfig(portBase, portBase+uint16(n)+50)
	g, err := NewGateway(cfg, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := g.Close(); err != nil {
			b.Error(err)
		}
	})
	ast, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := ast.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			b.Error(err)
		}
	})
	if err := ast.SetReadBuffer(8 << 20); err != nil {
		b.Fatal(err)
	}
	astAddr := netip.MustParseAddrPort(ast.LocalAddr().String())

	epoch := time.Now()
	var toAgent, toAst latHist
	var recvAgent, recvAst atomic.Uint64
	var warmAt atomic.Int64 // ns since epoch after which latencies count
	warmAt.Store(math.MaxInt64)

	peers := make([]*loadPeer, n)
	for i := range n {
		p := &loadPeer{sink: &candidateSink{answered: make(chan error, 4)}}
		p.s, err = g.NewSession(SessionParams{Agent: fmt.Sprintf("agent%04d", i), OnAnswer: p.sink.answer, OnCandidate: p.sink.add})
		if err != nil {
			b.Fatalf("session %d: %v", i, err)
		}
		p.cl = newClient(b)
		p.sink.pc = p.cl.pc
		s := p.s
		p.cl.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c == nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.AddCandidate(ctx, c.ToJSON()); err != nil && !errors.Is(err, ErrClosed) {
				b.Errorf("AddCandidate: %v", err)
			}
		})
		p.cl.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			buf := make([]byte, 1500)
			for {
				k, _, err := tr.Read(buf)
				if err != nil {
					return
				}
				off, ok := rtpPayloadOffset(buf[:k])
				if !ok {
					continue
				}
				if d, warm, ok := unstamp(buf[off:k], epoch, time.Duration(warmAt.Load())); ok {
					if warm {
						toAgent.add(d)
					}
					recvAgent.Add(1)
				}
			}
		})
		peers[i] = p
	}

	// Negotiate in parallel (bounded): offer, answer, wait for both ends connected.
	setup := time.Now()
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	var cwg sync.WaitGroup
	for i, p := range peers {
		sem <- struct{}{}
		cwg.Go(func() {
			defer func() { <-sem }()
			errs <- p.connect(b.Context(), i, astAddr)
		})
	}
	cwg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("N=%d: %d peer connections up and legs attached in %s", n, n, time.Since(setup).Round(time.Millisecond))

	// Asterisk side receive loop: the agents' microphones.
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		buf := make([]byte, 1500)
		for {
			k, _, err := ast.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed by Cleanup / below
			}
			off, ok := rtpPayloadOffset(buf[:k])
			if !ok {
				continue
			}
			if d, warm, ok := unstamp(buf[off:k], epoch, time.Duration(warmAt.Load())); ok {
				if warm {
					toAst.add(d)
				}
				recvAst.Add(1)
			}
		}
	}()

	frames := max(b.N, int(benchSeconds("CTID_BENCH_LEG_SECONDS", 3)/(20*time.Millisecond)))
	frames += 50 // the warm-up second
	var sentAst, sentMic atomic.Uint64
	var sendErr atomic.Pointer[error]
	ru0 := rusage(b)
	b.ResetTimer()
	start := time.Now()
	warmAt.Store(int64(start.Sub(epoch) + time.Second))
	var wg sync.WaitGroup
	// Asterisk → agent: one goroutine; leg i sends in slot i%20 of each 20 ms frame.
	wg.Go(func() {
		pkts := make([][]byte, n)
		seqs := make([]uint16, n)
		for i := range pkts {
			pkts[i] = make([]byte, 12+160)
			pkts[i][0], pkts[i][1] = 0x80, 0
			binary.BigEndian.PutUint32(pkts[i][8:12], uint32(1000+i))
		}
		for slot := range frames * 20 {
			waitUntil(start.Add(time.Duration(slot) * time.Millisecond))
			for i := slot % 20; i < n; i += 20 {
				p := pkts[i]
				seqs[i]++
				binary.BigEndian.PutUint16(p[2:4], seqs[i])
				binary.BigEndian.PutUint32(p[4:8], uint32(seqs[i])*160)
				stamp(p[12:], epoch, i)
				if _, err := ast.WriteToUDPAddrPort(p, peers[i].leg.LocalAddr); err != nil {
					sendErr.Store(&err)
					return
				}
				sentAst.Add(1)
			}
		}
	})
	// Agent → Asterisk: one goroutine writes every client's microphone, phase offset
	// by 10 ms from the other direction.
	wg.Go(func() {
		payload := make([]byte, 160)
		for slot := range frames * 20 {
			waitUntil(start.Add(time.Duration(slot)*time.Millisecond + 10*time.Millisecond))
			for i := slot % 20; i < n; i += 20 {
				seq := uint16(slot / 20)
				stamp(payload, epoch, i)
				if err := peers[i].cl.mic.write(0, seq, uint32(seq)*160, seq == 0, payload); err != nil {
					sendErr.Store(&err)
					return
				}
				sentMic.Add(1)
			}
		}
	})
	wg.Wait()
	wall := time.Since(start)
	ru1 := rusage(b)
	b.StopTimer()
	if p := sendErr.Load(); p != nil {
		b.Fatalf("send: %v", *p)
	}
	// Let the last packets land (generous; loss is what is still missing after).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (recvAgent.Load() < sentAst.Load() || recvAst.Load() < sentMic.Load()) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := ast.Close(); err != nil {
		b.Error(err)
	}
	<-recvDone

	cpu := ru1 - ru0
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu_%")
	b.ReportMetric(float64(sentAst.Load()-min(sentAst.Load(), recvAgent.Load())), "lost_to_agent")
	b.ReportMetric(float64(sentMic.Load()-min(sentMic.Load(), recvAst.Load())), "lost_to_asterisk")
	b.ReportMetric(toAgent.quantile(0.50), "to_agent_p50_ms")
	b.ReportMetric(toAgent.quantile(0.99), "to_agent_p99_ms")
	b.ReportMetric(toAst.quantile(0.50), "to_ast_p50_ms")
	b.ReportMetric(toAst.quantile(0.99), "to_ast_p99_ms")
	b.ReportMetric(float64(sentAst.Load()+sentMic.Load())/wall.Seconds(), "pkts/s")
	st := g.Stats()
	b.Logf("N=%d wall %s cpu %s; sent %d/%d received %d/%d; gateway %+v", n, wall.Round(time.Millisecond), cpu.Round(time.Millisecond),
		sentAst.Load(), sentMic.Load(), recvAgent.Load(), recvAst.Load(), st)
}

func (p *loadPeer) connect(ctx context.Context, i int, ast netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	connected := make(chan struct{})
	var once sync.Once
	offer, err := p.cl.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("peer %d: client offer: %w", i, err)
	}
	if err := p.cl.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("peer %d: client local description: %w", i, err)
	}
	if _, err := p.s.Offer(ctx, offer.SDP); err != nil {
		return fmt.Errorf("peer %d: session offer: %w", i, err)
	}
	select {
	case err := <-p.sink.answered:
		if err != nil {
			return fmt.Errorf("peer %d: client answer: %w", i, err)
		}
	case <-ctx.Done():
		return fmt.Errorf("peer %d: no answer: %w", i, ctx.Err())
	}
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if p.s.State() == StateConnected {
				once.Do(func() { close(connected) })
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-connected:
	case <-ctx.Done():
		return fmt.Errorf("peer %d: session never connected (%s): %w", i, p.s.State(), ctx.Err())
	}
	select {
	case <-p.cl.connected:
	case <-ctx.Done():
		return fmt.Errorf("peer %d: client never connected (%s): %w", i, p.cl.pc.ConnectionState(), ctx.Err())
	}
	callID := "call-" + strconv.Itoa(i)
	if p.leg, err = p.s.AttachCall(ctx, callID); err != nil {
		return fmt.Errorf("peer %d: attach: %w", i, err)
	}
	if err := p.s.SetRemote(callID, ast); err != nil {
		return fmt.Errorf("peer %d: set remote: %w", i, err)
	}
	return nil
}

// waitUntil sleeps until t (no-op when late: the sender catches up).
func waitUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

// benchConfig is testConfig, with every agent's ICE on one UDP socket
// (ice.udp_mux) unless CTID_BENCH_ICE_MUX=0.
func benchConfig(portMin, portMax uint16) Config {
	cfg := testConfig(portMin, portMax)
	if os.Getenv("CTID_BENCH_ICE_MUX") != "0" {
		cfg.ICE.UDPMux = "127.0.0.1:0"
	}
	cfg.ICE.NoSRTPFastPath = os.Getenv("CTID_BENCH_FAST_PATH") == "0"

	return cfg
}

// rusage is the process's user + system CPU time.
func rusage(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rtpPayloadOffset finds the payload of an RTP packet (fixed header, CSRCs,
// extension).
func rtpPayloadOffset(b []byte) (int, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return 0, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return 0, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:off+4]))
	}
	if off > len(b) {
		return 0, false
	}
	return off, true
}
