package softphone

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// genMsg mirrors internal/leggen's protocol.
type genMsg struct {
	Op      string                   `json:"op"`
	I       int                      `json:"i,omitempty"`
	N       int                      `json:"n,omitempty"`
	SDP     string                   `json:"sdp,omitempty"`
	Cand    *webrtc.ICECandidateInit `json:"cand,omitempty"`
	Addr    string                   `json:"addr,omitempty"`
	Frames  int                      `json:"frames,omitempty"`
	Warm    int                      `json:"warm,omitempty"`
	PerPeer bool                     `json:"per_peer,omitempty"`
	Result  *struct {
		SentAst, SentMic, RecvAgent, RecvAst uint64
		ToAgentP50, ToAgentP99               float64
		ToAstP50, ToAstP99                   float64
		ToAgentAddP50, ToAgentAddP99         float64
		ToAstAddP50, ToAstAddP99             float64
		WallS                                float64
		GenCPU                               float64
		GenSyscallsPerPkt                    float64
	} `json:"result,omitempty"`
}

// BenchmarkGatewayLegsSplit is BenchmarkGatewayLegs with the load generator (the N
// pion "browsers" and the fake Asterisk) in its own process (internal/leggen, built
// by the benchmark): cpu_% is then the gateway's alone (getrusage of this process
// over the traffic window, 100 % = one core), and gw_us/pkt its CPU per relayed
// packet. Latency is measured in the generator (it sends and receives both ways).
// Same sizes, warm-up and CTID_BENCH_LEGS / CTID_BENCH_LEG_SECONDS as
// BenchmarkGatewayLegs. Latency is reported end to end (to_*_p50/p99: send to the
// generator handling the packet) and as the gateway adds it (to_*_added_*: send to
// the kernel receive timestamp on the generator's socket, so the generator's own
// scheduling lag is not counted); gen_cpu_% is the generator's CPU.
func BenchmarkGatewayLegsSplit(b *testing.B) {
	raiseFDLimit(b)
	bin := filepath.Join(b.TempDir(), "leggen")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ctid/ctid/softphone/internal/leggen").CombinedOutput(); err != nil {
		b.Fatalf("go build leggen: %v\n%s", err, out)
	}
	sizes := []int{100, 250, 500}
	if v := os.Getenv("CTID_BENCH_LEGS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 900 {
			b.Fatalf("CTID_BENCH_LEGS=%q: want 1..900", v)
		}
		sizes = []int{n}
	}
	for i, n := range sizes {
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			benchGatewayLegsSplit(b, bin, n, uint16(51000+i*1000))
		})
	}
}

func benchGatewayLegsSplit(b *testing.B, bin string, n int, portBase uint16) {
	cfg := benchConfig(portBase, portBase+uint16(n)+50)
	if os.Getenv("CTID_BENCH_SHARED_LEGS") == "1" { // every leg on one socket (media_shared_addr)
		cfg.MediaSharedAddr = "127.0.0.1:0"
	}
	cfg.residence = os.Getenv("CTID_BENCH_RESIDENCE") == "1" // the packets' time in the gateway (kernel timestamps)
	g, err := NewGateway(cfg, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := g.Close(); err != nil {
			b.Error(err)
		}
	})
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var outMu sync.Mutex
	enc := json.NewEncoder(stdin)
	send := func(m genMsg) {
		outMu.Lock()
		defer outMu.Unlock()
		if err := enc.Encode(m); err != nil && !errors.Is(err, os.ErrClosed) {
			b.Logf("to generator: %v", err) // it exited; the wait below reports why
		}
	}
	b.Cleanup(func() {
		outMu.Lock()
		err := stdin.Close()
		outMu.Unlock()
		if err != nil {
			b.Error(err)
		}
		if err := cmd.Wait(); err != nil {
			b.Errorf("generator: %v", err)
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sessions := make([]*Session, n)
	for i := range n {
		sessions[i], err = g.NewSession(SessionParams{Agent: fmt.Sprintf("agent%04d", i),
			OnAnswer: func(sdp string) { send(genMsg{Op: "answer", I: i, SDP: sdp}) },
			OnCandidate: func(c *webrtc.ICECandidateInit) {
				if c != nil {
					send(genMsg{Op: "cand", I: i, Cand: c})
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
	}
	ready := make(chan struct{})
	results := make(chan genMsg, 1)
	astAddr := make(chan netip.AddrPort, 1)
	failed := make(chan error, 1)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	var workers sync.WaitGroup
	go func() { // the generator's messages; ends when it exits
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m genMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				fail(err)
				return
			}
			switch m.Op {
			case "ast":
				a, err := netip.ParseAddrPort(m.Addr)
				if err != nil {
					fail(err)
					return
				}
				astAddr <- a
			case "offer":
				workers.Go(func() {
					if _, err := sessions[m.I].Offer(ctx, m.SDP); err != nil {
						fail(fmt.Errorf("peer %d offer: %w", m.I, err))
					}
				})
			case "cand":
				if err := sessions[m.I].AddCandidate(ctx, *m.Cand); err != nil {
					fail(fmt.Errorf("peer %d candidate: %w", m.I, err))
				}
			case "ready":
				close(ready)
			case "result":
				results <- m
			}
		}
	}()
	setup := time.Now()
	// Two ICE muxes facing each other cannot tell the peers apart (both
	// demultiplex by address): with the gateway's mux the generator gives every
	// peer its own socket, as real browsers have.
	send(genMsg{Op: "start", N: n, PerPeer: cfg.ICE.UDPMux != ""})
	var ast netip.AddrPort
	select {
	case ast = <-astAddr:
	case err := <-failed:
		b.Fatal(err)
	case <-time.After(30 * time.Second):
		b.Fatal("generator never started")
	}
	// Attach each peer's leg once its session is connected.
	deadline := time.Now().Add(120 * time.Second)
	for i, s := range sessions {
		for s.State() != StateConnected {
			select {
			case err := <-failed:
				b.Fatal(err)
			default:
			}
			if time.Now().After(deadline) {
				b.Fatalf("peer %d never connected (%s)", i, s.State())
			}
			time.Sleep(5 * time.Millisecond)
		}
		callID := "call-" + strconv.Itoa(i)
		leg, err := s.AttachCall(ctx, callID)
		if err != nil {
			b.Fatal(err)
		}
		// leg i's fake ExternalMedia channel: 127.2.(i+1):port (see leggen)
		k := i + 1
		chAddr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, byte(k >> 8), byte(k)}), ast.Port())
		if err := s.SetRemote(callID, chAddr); err != nil {
			b.Fatal(err)
		}
		send(genMsg{Op: "leg", I: i, Addr: leg.LocalAddr.String()})
	}
	select {
	case <-ready:
	case err := <-failed:
		b.Fatal(err)
	case <-time.After(120 * time.Second):
		b.Fatal("generator never ready")
	}
	workers.Wait()
	b.Logf("N=%d: %d peer connections up and legs attached in %s", n, n, time.Since(setup).Round(time.Millisecond))

	frames := max(b.N, int(benchSeconds("CTID_BENCH_LEG_SECONDS", 3)/(20*time.Millisecond))) + 50
	if os.Getenv("CTID_BENCH_GC_OFF") == "1" { // diagnosis: no GC in the traffic window
		runtime.GC()
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	stopTrace := startTrace(b)
	writeAllocs(b, ".base")
	if g.iceConn != nil {
		b.Logf("ice socket: most queued during setup %d", g.iceConn.MaxQueued.Swap(0))
	}
	if g.shared != nil {
		b.Logf("shared leg socket: most queued during setup %d", g.shared.conn.MaxQueued.Swap(0))
	}
	ru0 := rusage(b)
	start := time.Now()
	b.ResetTimer()
	send(genMsg{Op: "go", Frames: frames, Warm: 50})
	if path := os.Getenv("CTID_BENCH_GOROUTINES"); path != "" { // what the gateway's goroutines wait on, mid-traffic
		dump := time.AfterFunc(2*time.Second, func() {
			f, err := os.Create(path)
			if err != nil {
				b.Error(err)
				return
			}
			if err := errors.Join(pprof.Lookup("goroutine").WriteTo(f, 1), f.Close()); err != nil {
				b.Error(err)
			}
		})
		defer dump.Stop()
	}
	if g.res != nil { // measure after the generator's warm-up, as it does
		warm := time.AfterFunc(50*20*time.Millisecond, g.res.reset)
		defer warm.Stop()
	}
	var res genMsg
	select {
	case res = <-results:
	case err := <-failed:
		b.Fatal(err)
	case <-time.After(time.Duration(frames)*20*time.Millisecond + 5*time.Minute):
		b.Fatal("no result from the generator")
	}
	b.StopTimer()
	ru1, wall := rusage(b), time.Since(start)
	stopTrace()
	runtime.ReadMemStats(&ms1)
	writeAllocs(b, "")
	r := res.Result
	if r == nil {
		b.Fatal("result without numbers")
	}
	cpu := ru1 - ru0
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "gw_cpu_%")
	if relayed := r.RecvAgent + r.RecvAst; relayed > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(relayed), "gw_us/pkt")
	}
	b.ReportMetric(float64(r.SentAst-min(r.SentAst, r.RecvAgent)), "lost_to_agent")
	b.ReportMetric(float64(r.SentMic-min(r.SentMic, r.RecvAst)), "lost_to_asterisk")
	b.ReportMetric(r.ToAgentP50, "to_agent_p50_ms")
	b.ReportMetric(r.ToAgentP99, "to_agent_p99_ms")
	b.ReportMetric(r.ToAstP50, "to_ast_p50_ms")
	b.ReportMetric(r.ToAstP99, "to_ast_p99_ms")
	b.ReportMetric(r.ToAgentAddP50, "to_agent_added_p50_ms")
	b.ReportMetric(r.ToAgentAddP99, "to_agent_added_p99_ms")
	b.ReportMetric(r.ToAstAddP50, "to_ast_added_p50_ms")
	b.ReportMetric(r.ToAstAddP99, "to_ast_added_p99_ms")
	b.ReportMetric(r.GenCPU, "gen_cpu_%")
	b.ReportMetric(float64(ms1.NumGC-ms0.NumGC), "gw_gcs")
	if rs := g.res; rs != nil {
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(rs.agentQueued.quantile(0.5)), "gw_agent_queued_p50_ms")
		b.ReportMetric(ms(rs.agentQueued.quantile(0.99)), "gw_agent_queued_p99_ms")
		b.ReportMetric(ms(rs.agentTotal.quantile(0.5)), "gw_agent_total_p50_ms")
		b.ReportMetric(ms(rs.agentTotal.quantile(0.99)), "gw_agent_total_p99_ms")
		b.ReportMetric(ms(rs.micQueued.quantile(0.5)), "gw_mic_queued_p50_ms")
		b.ReportMetric(ms(rs.micQueued.quantile(0.99)), "gw_mic_queued_p99_ms")
		b.ReportMetric(ms(rs.micTotal.quantile(0.5)), "gw_mic_total_p50_ms")
		b.ReportMetric(ms(rs.micTotal.quantile(0.99)), "gw_mic_total_p99_ms")
	}
	if relayed := r.RecvAgent + r.RecvAst; relayed > 0 {
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(relayed), "gw_allocs/pkt")
	}
	b.ReportMetric(float64(r.SentAst+r.SentMic)/r.WallS, "pkts/s")
	if g.iceConn != nil {
		b.Logf("ice socket: most queued %d", g.iceConn.MaxQueued.Load())
	}
	if g.shared != nil {
		b.Logf("shared leg socket: most queued %d", g.shared.conn.MaxQueued.Load())
	}
	b.Logf("N=%d generator wall %.2fs (%d frames asked), gateway cpu %s over %s; sent %d/%d received %d/%d; generator %.2f syscalls/pkt; gateway %+v",
		n, r.WallS, frames, cpu.Round(time.Millisecond), wall.Round(time.Millisecond), r.SentAst, r.SentMic, r.RecvAgent, r.RecvAst, r.GenSyscallsPerPkt, g.Stats())
}

// startTrace writes a runtime/trace of the gateway process over the traffic window
// to $CTID_BENCH_TRACE (scheduler latency, GC, netpoll); the returned func stops it.
func startTrace(b *testing.B) func() {
	path := os.Getenv("CTID_BENCH_TRACE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := trace.Start(f); err != nil {
		b.Fatal(errors.Join(err, f.Close()))
	}
	return func() {
		trace.Stop()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// writeAllocs writes the allocation profile to $CTID_BENCH_ALLOCPROFILE+suffix (the
// traffic window's allocations: go tool pprof -base file.base file; set
// -test.memprofilerate for more samples).
func writeAllocs(b *testing.B, suffix string) {
	path := os.Getenv("CTID_BENCH_ALLOCPROFILE")
	if path == "" {
		return
	}
	runtime.GC() // the profile is as of the last completed GC
	f, err := os.Create(path + suffix)
	if err != nil {
		b.Fatal(err)
	}
	if err := errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close()); err != nil {
		b.Fatal(err)
	}
}
