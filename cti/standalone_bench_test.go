package cti_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

// standaloneEmu is `ctid emulator` running as a child process.
type standaloneEmu struct {
	url  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	http *http.Client
}

// startStandaloneEmulator builds ctid and runs `ctid emulator` in its own process
// (so the emulator does not share the Go scheduler and GC with ctid).
func startStandaloneEmulator(b *testing.B) *standaloneEmu {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "ctid")
	build := exec.Command("go", "build", "-o", bin, "github.com/ctid/ctid/cmd/ctid")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build ctid: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		b.Fatal(err)
	}
	e := &standaloneEmu{url: "http://" + addr, http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	args := []string{"emulator", "--listen", addr, "--user", "ctid", "--password", "pw", "--app", "ctid", "--log-level", "warn"}
	if p := os.Getenv("CTID_BENCH_EMU_CPUPROFILE"); p != "" { // the emulator's CPU profile, written when it stops
		args = append(args, "--cpuprofile", p)
	}
	e.cmd = exec.Command(bin, args...)
	e.cmd.Stdout, e.cmd.Stderr = io.Discard, os.Stderr
	if err := e.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := e.cmd.Process.Signal(os.Interrupt); err != nil {
			b.Errorf("stop emulator: %v", err)
		}
		if err := e.cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				b.Errorf("emulator: %v", err)
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ids []string
		if err := e.get("/_emu/channels", &ids); err == nil {
			return e
		} else if time.Now().After(deadline) {
			b.Fatalf("standalone emulator never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cpu is the emulator process's user + system CPU time so far (/proc/<pid>/stat).
func (e *standaloneEmu) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) start after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: /proc stat without ')'", errBadStat)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: %d fields", errBadStat, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64) // utime, field 14 of the full line
	st, err2 := strconv.ParseUint(f[12], 10, 64) // stime, field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

var errBadStat = errors.New("unexpected /proc/<pid>/stat")

// selfCPU is this process's user + system CPU time.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (e *standaloneEmu) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth("ctid", "pw")
	req.Header.Set("Content-Type", "application/json")
	res, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (e *standaloneEmu) get(path string, out any) error { return e.do(http.MethodGet, path, nil, out) }

// inject places a caller into Stasis(ctid,inbound,<queue>) and returns its channel.
func (e *standaloneEmu) inject(number, q string) (string, error) {
	var out struct {
		ChannelID string `json:"channel_id"`
	}
	err := e.do(http.MethodPost, "/_emu/calls", map[string]any{"caller_number": number, "dialled": "1",
		"args": []string{"inbound", q}, "behaviour": "silence"}, &out)
	return out.ChannelID, err
}

// ctidOn runs ctid's call path (ARI adapter, orchestrator, ACD, SQLite store) in this
// process against the emulator at url, with n the desktop notifier.
type ctidOn struct {
	stages *stageBook // CTID_BENCH_STAGES: per-call stage stamps (standalone_stages_test.go)
	orch   *cti.Orchestrator
	store  *store.Store
	ctx    context.Context
	media  *udpMedia
}

func startCtid(b *testing.B, url string, qc queue.Config, n cti.Notifier) *ctidOn {
	b.Helper()
	tc := telephony.DefaultConfig()
	tc.URL, tc.Username, tc.Password = url+"/ari", "ctid", "pw"
	cli, err := telephony.New(tc, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	eng, err := queue.NewEngine(qc)
	if err != nil {
		b.Fatal(err)
	}
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(b.TempDir(), "ctid.db")
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	c := &ctidOn{store: st, media: &udpMedia{socks: map[string]net.PacketConn{}, got: map[string]int{}}}
	var (
		tel  cti.Telephony = cli
		recs cti.Records   = st
		fwd  *stagedARI
	)
	if stagesOn() {
		c.stages = newStageBook()
		fwd = newStagedARI(cli, c.stages)
		tel, recs = fwd, &stagedStore{Store: st, book: c.stages}
	}
	c.orch, err = cti.New(cti.Params{Config: cti.DefaultConfig(), Log: testLog(b), ARI: tel, Engine: eng, Media: c.media, Notify: n, Records: recs})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.ctx = ctx
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := cli.Run(ctx); err != nil {
			b.Errorf("ari: %v", err)
		}
	})
	if fwd != nil {
		wg.Go(func() { fwd.forward(ctx) })
	}
	wg.Go(func() {
		if err := c.orch.Run(ctx); err != nil {
			b.Errorf("orchestrator: %v", err)
		}
	})
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := c.media.closeAll(); err != nil {
			b.Errorf("detach: %v", err)
		}
		cli.Close()
		if err := st.Close(); err != nil {
			b.Errorf("store: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !cli.Ready() {
		if time.Now().After(deadline) {
			b.Fatal("ARI adapter never ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// loadBots are bot desktops: accept every offer at once, optionally hold and
// transfer, hang up after talk, finish wrap-up at once. They time each call's
// offer and count completions; every action runs on the bots' own goroutines
// (tracked, stopped with ctx).
type loadBots struct {
	ctid     atomic.Pointer[ctidOn] // set once ctid runs; events before that are ignored
	talk     time.Duration
	holdPct  int // % of calls held for 200 ms mid-call
	xferPct  int // % of calls blind-transferred to the "support" queue
	mu       sync.Mutex
	lat      *latencyBook
	xfered   map[string]bool
	done     int
	holds    int
	xfers    int
	errs     int
	firstErr error
	wg       sync.WaitGroup
}

func (lb *loadBots) fail(err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	lb.mu.Lock()
	lb.errs++
	if lb.firstErr == nil {
		lb.firstErr = err
	}
	lb.mu.Unlock()
}

func (lb *loadBots) Publish(user, event string, f map[string]any) {
	id, ok := f["call_id"].(string)
	if !ok {
		return
	}
	c := lb.ctid.Load()
	if c == nil {
		return
	}
	ctx := c.ctx
	switch event {
	case "call.offered":
		now := time.Now()
		lb.lat.offered(id, now)
		c.stages.stamp(id, func(s *stages) {
			if s.offer.IsZero() {
				s.offer = now
			}
		})
		lb.wg.Go(func() { lb.fail(c.orch.Accept(ctx, user, id)) })
	case "call.connected":
		lb.mu.Lock()
		transfer := !lb.xfered[id] && rand.IntN(100) < lb.xferPct
		if transfer {
			lb.xfered[id] = true
		}
		lb.mu.Unlock()
		hold := rand.IntN(100) < lb.holdPct
		lb.wg.Go(func() {
			if hold {
				lb.mu.Lock()
				lb.holds++
				lb.mu.Unlock()
				lb.fail(c.orch.Hold(ctx, user, id))
				if !sleepCtx(ctx, 200*time.Millisecond) {
					return
				}
				lb.fail(c.orch.Unhold(ctx, user, id))
			}
			if !sleepCtx(ctx, lb.talk) {
				return
			}
			if transfer {
				lb.mu.Lock()
				lb.xfers++
				lb.mu.Unlock()
				lb.fail(c.orch.TransferToQueue(ctx, user, id, "support"))
				return
			}
			lb.fail(c.orch.Hangup(ctx, user, id))
		})
	case "wrapup.started":
		lb.wg.Go(func() { lb.fail(c.orch.WrapUpDone(ctx, user, cti.WrapUpResult{CallID: id})) })
	case "call.ended":
		lb.mu.Lock()
		lb.done++
		delete(lb.xfered, id)
		lb.mu.Unlock()
		lb.lat.ended(id)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type loadRun struct {
	rate, agents    int
	window          time.Duration
	holdPct, xferPc int
}

type loadResult struct {
	injected, completed, offered int
	window                       time.Duration
	lat                          *latencyBook // StasisStart (injection) → call.offered
	channels, bridges            int          // left in the emulator at the end
	open                         int          // interactions not closed
	botErrs, holds, xfers        int
	firstErr                     error
	heap0, heapMid, heap1        uint64        // live heap (HeapAlloc after GC) at start, half-way, end
	inuse1                       uint64        // HeapInuse at the end (live objects plus partly used spans)
	ctidCPU, emuCPU              time.Duration // during injection and until every call ended
	gor0, gor1                   int
}

// liveMem returns the live heap after a GC (HeapAlloc), HeapInuse and the
// goroutine count.
func liveMem() (alloc, inuse uint64, goroutines int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.HeapInuse, runtime.NumGoroutine()
}

// latencyBook times each call from its injection to its first call.offered in
// a fixed histogram, and forgets the call when it ends, so the benchmark's own
// bookkeeping does not grow with the number of calls (a soak measures ctid's
// memory, not the benchmark's). The injection reply and the offer race: the
// second to arrive records the latency.
type latencyBook struct {
	mu       sync.Mutex
	injected map[string]time.Time // injection time, call not offered yet
	offers   map[string]time.Time // first offer, injection reply not back yet
	seen     map[string]bool      // offered at least once, not ended yet
	n        int                  // calls offered
	hist     [latBuckets]uint32
}

// Buckets: 10 µs up to 100 ms, then 1 ms up to 10 s (the last one is "more").
const latBuckets = 10000 + 9900

func newLatencyBook() *latencyBook {
	return &latencyBook{injected: map[string]time.Time{}, offers: map[string]time.Time{}, seen: map[string]bool{}}
}

func latBucket(d time.Duration) int {
	if d < 100*time.Millisecond {
		return int(max(0, d) / (10 * time.Microsecond))
	}
	return min(latBuckets-1, 10000+int((d-100*time.Millisecond)/time.Millisecond))
}

func latValue(i int) time.Duration {
	if i < 10000 {
		return time.Duration(i) * 10 * time.Microsecond
	}
	return 100*time.Millisecond + time.Duration(i-10000)*time.Millisecond
}

func (lb *latencyBook) record(d time.Duration) { lb.hist[latBucket(d)]++ }

func (lb *latencyBook) inject(id string, t0 time.Time) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if t1, ok := lb.offers[id]; ok {
		delete(lb.offers, id)
		lb.record(t1.Sub(t0))
		return
	}
	lb.injected[id] = t0
}

func (lb *latencyBook) offered(id string, t1 time.Time) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.seen[id] {
		return // a transferred or re-queued call is offered again: its first offer counts
	}
	lb.seen[id] = true
	lb.n++
	if t0, ok := lb.injected[id]; ok {
		delete(lb.injected, id)
		lb.record(t1.Sub(t0))
		return
	}
	lb.offers[id] = t1
}

func (lb *latencyBook) ended(id string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	delete(lb.seen, id)
	delete(lb.injected, id)
}

// quantile returns the offer latency at fraction f of the recorded calls, in ms.
func (lb *latencyBook) quantile(f float64) float64 {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var total uint64
	for _, c := range lb.hist {
		total += uint64(c)
	}
	if total == 0 {
		return 0
	}
	want := uint64(f * float64(total))
	var sum uint64
	for i, c := range lb.hist {
		sum += uint64(c)
		if sum > want {
			return float64(latValue(i).Microseconds()) / 1000
		}
	}
	return float64(latValue(latBuckets-1).Microseconds()) / 1000
}

// runLoad drives rate calls/s for window through ctid against a standalone
// emulator, waits for every call to end, and checks what is left behind.
func runLoad(b *testing.B, r loadRun) loadResult {
	if os.Getenv("CTID_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 4096 // fine enough to see what each call leaves behind
	}
	emu := startStandaloneEmulator(b)
	agents := make([]string, r.agents)
	for i := range agents {
		agents[i] = fmt.Sprintf("bot%03d", i)
	}
	qc := salesConfig(agents...)
	qc.Queues[0].WrapUp = 0
	support := queue.QueueConfig{ID: "support"}
	for _, a := range agents {
		support.Members = append(support.Members, queue.Member{Agent: queue.AgentID(a), Tier: 1})
	}
	qc.Queues = append(qc.Queues, support)
	bots := &loadBots{talk: time.Second, holdPct: r.holdPct, xferPct: r.xferPc, lat: newLatencyBook(), xfered: map[string]bool{}}
	b.Cleanup(bots.wg.Wait) // registered first, so it runs after ctid's cleanup cancelled ctx
	c := startCtid(b, emu.url, qc, bots)
	bots.ctid.Store(c)
	for _, a := range agents {
		if err := c.orch.AgentLogin(c.ctx, a); err != nil {
			b.Fatal(err)
		}
		if err := c.orch.AgentReady(c.ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	var res loadResult
	res.heap0, _, res.gor0 = liveMem()
	res.lat = bots.lat
	var imu sync.Mutex
	var injErr error
	midTaken := false
	var iwg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var sched0 []metrics.Sample
	if c.stages != nil {
		sched0 = schedSamples()
		metrics.Read(sched0)
	}
	if p := os.Getenv("CTID_BENCH_TRACE"); p != "" { // runtime/trace of the injection window
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := trace.Start(f); err != nil {
			b.Fatal(err)
		}
		defer func() {
			trace.Stop()
			if err := f.Close(); err != nil {
				b.Error(err)
			}
		}()
	}
	cpu0, emuCPU0 := selfCPU(b), mustCPU(b, emu)
	start := time.Now()
	n := 0
	for time.Since(start) < r.window {
		if !midTaken && time.Since(start) >= r.window/2 {
			midTaken = true
			res.heapMid, _, _ = liveMem()
		}
		next := start.Add(time.Duration(n) * time.Second / time.Duration(r.rate))
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		number := strconv.Itoa(9000000 + n)
		sem <- struct{}{}
		iwg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			id, err := emu.inject(number, "sales")
			if err != nil {
				imu.Lock()
				injErr = err
				imu.Unlock()
				return
			}
			bots.lat.inject(id, t0)
			if c.stages != nil {
				ret := time.Now()
				c.stages.stamp(id, func(s *stages) { s.inject, s.injret = t0, ret })
			}
		})
		n++
	}
	iwg.Wait()
	res.window = time.Since(start)
	if injErr != nil {
		b.Fatalf("inject: %v", injErr)
	}
	res.injected = n
	if c.stages != nil {
		defer c.stages.report(b, sched0)
		port, err := strconv.Atoi(emu.url[strings.LastIndexByte(emu.url, ':')+1:])
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			fmt.Fprintf(os.Stderr, "connections to the emulator closed by this side (TIME_WAIT): %d\n", timeWaits(port))
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		bots.mu.Lock()
		done := bots.done
		bots.mu.Unlock()
		if done >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.ctidCPU, res.emuCPU = selfCPU(b)-cpu0, mustCPU(b, emu)-emuCPU0
	// Let the last hang-ups reach the emulator, then count what is left there.
	deadline = time.Now().Add(10 * time.Second)
	for {
		var ch []string
		var br []json.RawMessage
		if err := emu.get("/_emu/channels", &ch); err != nil {
			b.Fatal(err)
		}
		if err := emu.get("/_emu/bridges", &br); err != nil {
			b.Fatal(err)
		}
		res.channels, res.bridges = len(ch), len(br)
		if len(ch)+len(br) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.store.Sync(c.ctx); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		ix, err := c.store.InteractionsByNumber(c.ctx, strconv.Itoa(9000000+i), 5)
		if err != nil {
			b.Fatal(err)
		}
		if len(ix) == 0 {
			res.open++ // never recorded counts as not closed
		}
		for _, x := range ix {
			if x.Ended.IsZero() {
				res.open++
			}
		}
	}
	if os.Getenv("CTID_BENCH_REQUESTS") != "" { // the ARI requests ctid made (the emulator keeps the newest 10,000)
		var reqs []json.RawMessage
		if err := emu.get("/_emu/requests", &reqs); err != nil {
			b.Fatal(err)
		}
		for _, r := range reqs {
			fmt.Fprintf(os.Stderr, "request %s\n", r)
		}
	}
	emu.http.CloseIdleConnections() // the injector's keep-alive connections are not ctid's
	res.heap1, res.inuse1, res.gor1 = liveMem()
	if path := os.Getenv("CTID_BENCH_HEAPPROFILE"); path != "" { // what the heap holds at the end
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Error(err)
		}
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
	if os.Getenv("CTID_BENCH_GOROUTINES") != "" { // what is still running, grouped
		if err := pprof.Lookup("goroutine").WriteTo(os.Stderr, 1); err != nil {
			b.Error(err)
		}
	}
	bots.mu.Lock()
	res.completed, res.botErrs, res.firstErr = bots.done, bots.errs, bots.firstErr
	res.holds, res.xfers = bots.holds, bots.xfers
	bots.mu.Unlock()
	bots.lat.mu.Lock()
	res.offered = bots.lat.n
	bots.lat.mu.Unlock()
	return res
}

func mustCPU(b *testing.B, e *standaloneEmu) time.Duration {
	d, err := e.cpu()
	if err != nil {
		b.Fatalf("emulator cpu: %v", err)
	}
	return d
}

func (res loadResult) report(b *testing.B) {
	q := res.lat.quantile
	b.ReportMetric(float64(res.completed)/res.window.Seconds(), "calls/s")
	b.ReportMetric(float64(res.injected), "injected")
	b.ReportMetric(float64(res.completed), "completed")
	b.ReportMetric(q(0.50), "offer-p50-ms")
	b.ReportMetric(q(0.99), "offer-p99-ms")
	b.ReportMetric(float64(res.channels), "left-channels")
	b.ReportMetric(float64(res.bridges), "left-bridges")
	b.ReportMetric(float64(res.open), "open-interactions")
	if res.injected > 0 {
		// CPU per call: ctid's side (this process: ARI adapter, orchestrator, engine,
		// store — plus the bots and the injector, which are small) and the emulator's.
		b.ReportMetric(float64(res.ctidCPU.Microseconds())/1000/float64(res.injected), "ctid-cpu-ms/call")
		b.ReportMetric(float64(res.emuCPU.Microseconds())/1000/float64(res.injected), "emu-cpu-ms/call")
	}
	b.Logf("injected %d over %s, offered %d, ended %d, held %d, transferred %d; live heap %d→%d→%d KB (start, half-way, end; HeapInuse at the end %d KB), goroutines %d→%d; bot command errors %d (first: %v)",
		res.injected, res.window.Round(time.Millisecond), res.offered, res.completed, res.holds, res.xfers, res.heap0>>10, res.heapMid>>10, res.heap1>>10,
		res.inuse1>>10, res.gor0, res.gor1, res.botErrs, res.firstErr)
}

func envSeconds(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			return time.Duration(f * float64(time.Second))
		}
	}
	return def
}

// BenchmarkStandaloneEmulatorThroughput (issue 4): `ctid emulator` runs as a
// separate process; ctid's call path runs here with 300 bot agents that accept at
// once and hang up after 1 s. Offered load for CTID_BENCH_CALL_SECONDS (default 5) s
// at 200 and 300 calls/s: completed calls/s, offer latency from the injection
// request (POST /_emu/calls, which returns after StasisStart is sent) to
// call.offered at the bot desktops, and what is left in the emulator. Target: ≥ 200
// calls/s with offer p99 < 20 ms. CTID_BENCH_RATES (e.g. "100,200") sets other rates.
func BenchmarkStandaloneEmulatorThroughput(b *testing.B) {
	window := envSeconds("CTID_BENCH_CALL_SECONDS", 5*time.Second)
	rates := []int{200, 300}
	if v := os.Getenv("CTID_BENCH_RATES"); v != "" { // e.g. "100,200": other offered rates
		rates = rates[:0]
		for f := range strings.SplitSeq(v, ",") {
			r, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || r < 1 {
				b.Fatalf("CTID_BENCH_RATES=%q: want calls/s numbers separated by commas", v)
			}
			rates = append(rates, r)
		}
	}
	for _, rate := range rates {
		b.Run(fmt.Sprintf("offered=%d/s", rate), func(b *testing.B) {
			res := runLoad(b, loadRun{rate: rate, agents: 300, window: window})
			res.report(b)
		})
	}
}

// BenchmarkSoak (issue 8) is the compressed soak: 50 calls/s for CTID_SOAK_SECONDS
// (default 20; the run is 1800) through ctid and a standalone emulator with
// 300 bot agents, 10 % of calls held for 200 ms and 10 % blind-transferred to a
// second queue. Reported: the live heap (HeapAlloc after GC) at the start, half-way
// and at the end — flat means end ≈ half-way — goroutines at start and end, channels
// and bridges left in the emulator, interactions left open — all must end at 0.
func BenchmarkSoak(b *testing.B) {
	window := envSeconds("CTID_SOAK_SECONDS", 20*time.Second)
	res := runLoad(b, loadRun{rate: 50, agents: 300, window: window, holdPct: 10, xferPc: 10})
	res.report(b)
	b.ReportMetric(float64(res.heap0)/(1<<20), "heap-start-MB")
	b.ReportMetric(float64(res.heapMid)/(1<<20), "heap-mid-MB")
	b.ReportMetric(float64(res.heap1)/(1<<20), "heap-end-MB")
	b.ReportMetric(float64(res.inuse1)/(1<<20), "heapinuse-end-MB")
	b.ReportMetric(float64(res.gor0), "goroutines-start")
	b.ReportMetric(float64(res.gor1), "goroutines-end")
}
