package desktop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// idleHandler is an orchestrator stand-in that does nothing (the benchmark
// measures the socket layer: hub, sessions, frames).
type idleHandler struct{}

func (idleHandler) HandleCommand(context.Context, Principal, Command) (Result, error) {
	return Result{}, nil
}
func (idleHandler) Snapshot(_ context.Context, p Principal) (map[string]any, error) {
	return map[string]any{"agent": map[string]any{"username": p.User, "state": "not_ready"}}, nil
}
func (idleHandler) SessionOpened(Principal)         {}
func (idleHandler) SessionClosed(Principal, string) {}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return def
}

// raiseFDLimit lifts RLIMIT_NOFILE so that want descriptors fit (both ends of every
// socket live in this process); it returns the limit in force.
func raiseFDLimit(b *testing.B, want uint64) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.Fatalf("getrlimit: %v", err)
	}
	if rl.Cur >= want {
		return rl.Cur
	}
	up := syscall.Rlimit{Cur: want, Max: max(want, rl.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
		return want
	}
	rl.Cur = rl.Max // not privileged: the hard limit is the most we get
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.Fatalf("setrlimit: %v", err)
	}
	return rl.Cur
}

// memNow is the Go heap in use plus goroutine stacks after a GC, and the RSS.
func memNow() (goBytes, rss uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goBytes = ms.HeapInuse + ms.StackInuse
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
						rss = kb << 10
					}
				}
			}
		}
	}
	return goBytes, rss
}

// BenchmarkDesktopSockets is the desktop load test (issue 8): CTID_BENCH_DESKTOPS
// (default 10,000) agent desktops hold a WebSocket to the real desktop server over
// loopback, then a burst of screen-pops (call.offered with a realistic payload:
// caller, contact, CRM fields, history, script) is published at 100 calls/s to
// agents spread over the population, for CTID_BENCH_POP_SECONDS (default 5)
// seconds. Each pop carries its publish time; the client measures publish →
// decoded at the desktop. Reported: pop p50/p99 (ms), lost pops, and memory per
// session: Go heap + stacks and RSS growth after GC divided by the number of
// sessions — both ends of each socket (server session AND the Go load client) are
// in this process, so the figure is an upper bound of the server's cost.
// One iteration is one pop (at least 500 are sent, so -benchtime=1x is one run).
func BenchmarkDesktopSockets(b *testing.B) {
	n := envInt("CTID_BENCH_DESKTOPS", 10000)
	popRate := envInt("CTID_BENCH_POP_RATE", 100)
	pops := max(b.N, popRate*envInt("CTID_BENCH_POP_SECONDS", 5))
	if lim := raiseFDLimit(b, uint64(2*n+1024)); lim < uint64(2*n+64) {
		n = int(lim-64) / 2
		b.Logf("fd limit %d: only %d desktops", lim, n)
	}

	cfg := DefaultConfig()
	cfg.Auth.BcryptCost = bcrypt.MinCost
	hash, err := bcrypt.GenerateFromPassword([]byte("load"), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(cfg, idleHandler{}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Routes(mux)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	// Users and tokens are made directly (bcrypt logins of 10,000 users would measure
	// bcrypt, not the sockets).
	toks := make([]string, n)
	for i := range n {
		u := fmt.Sprintf("agent%05d", i)
		if err := srv.AddUser(UserConfig{Username: u, Role: "agent", PasswordHash: string(hash)}); err != nil {
			b.Fatal(err)
		}
		if toks[i], _, err = srv.tokens.issue(u, srv.now(), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/v1/ws"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}

	goBefore, rssBefore := memNow()
	epoch := time.Now()
	var (
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, pops)
		received atomic.Int64
		readers  sync.WaitGroup
	)
	conns := make([]*websocket.Conn, n)
	reader := func(c *websocket.Conn) {
		defer readers.Done()
		var pop struct {
			SentNS int64 `json:"sent_ns"`
		}
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				return // closed at the end
			}
			if !bytes.Contains(data, []byte(`"call.offered"`)) {
				continue
			}
			if err := json.Unmarshal(data, &pop); err != nil {
				continue
			}
			d := time.Since(epoch) - time.Duration(pop.SentNS)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			received.Add(1)
		}
	}
	setup := time.Now()
	sem := make(chan struct{}, 32)
	var dialErr atomic.Pointer[error]
	var dials sync.WaitGroup
	for i := range n {
		if dialErr.Load() != nil {
			break
		}
		sem <- struct{}{}
		dials.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: hc,
				HTTPHeader: http.Header{"Authorization": {"Bearer " + toks[i]}}})
			if err != nil {
				err = fmt.Errorf("desktop %d: %w", i, err)
				dialErr.Store(&err)
				return
			}
			c.SetReadLimit(1 << 20)
			conns[i] = c
			readers.Add(1)
			go reader(c)
		})
	}
	dials.Wait()
	closeAll := func() {
		for _, c := range conns {
			if c != nil {
				if err := c.CloseNow(); err != nil && !errors.Is(err, net.ErrClosed) {
					b.Logf("close: %v", err)
				}
			}
		}
	}
	if p := dialErr.Load(); p != nil {
		closeAll()
		b.Fatal(*p)
	}
	b.Logf("%d desktops connected in %s", n, time.Since(setup).Round(time.Millisecond))
	goAfter, rssAfter := memNow()
	if path := os.Getenv("CTID_BENCH_HEAPPROFILE"); path != "" { // who holds the memory: server or client side
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

	crm := map[string]any{"customer_id": "C-0042117", "tier": "gold", "open_tickets": 2, "balance": "129.40 EUR",
		"account_manager": "Joanna Nowak", "last_order": "2026-11-28"}
	history := []map[string]any{
		{"at": "2026-11-30T10:02:11Z", "queue": "support", "agent": "agent00012", "disposition": "resolved", "notes": "router reset"},
		{"at": "2026-11-21T16:40:02Z", "queue": "sales", "agent": "agent00311", "disposition": "sale", "notes": "upgrade to fibre 600"},
		{"at": "2026-10-02T08:15:45Z", "queue": "support", "agent": "agent00012", "disposition": "callback", "notes": "line noise, technician booked"},
	}
	b.ResetTimer()
	start := time.Now()
	for k := range pops {
		if d := time.Until(start.Add(time.Duration(k) * time.Second / time.Duration(popRate))); d > 0 {
			time.Sleep(d)
		}
		agent := fmt.Sprintf("agent%05d", (k*7919)%n)
		srv.Publish(agent, "call.offered", map[string]any{
			"call_id": "1764650000." + strconv.Itoa(k), "direction": "inbound",
			"caller_number": "+48221234567", "caller_name": "Jan Kowalski", "dialled_number": "+48225550100",
			"queue": "support", "wait_ms": 12400, "priority": 5,
			"contact": map[string]any{"id": 4711, "name": "Jan Kowalski", "email": "jan@example.pl", "language": "pl"},
			"crm":     crm, "history": history, "script": "Thank you for calling. May I have your customer number?",
			"sent_ns": int64(time.Since(epoch)),
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for received.Load() < int64(pops) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	wall := time.Since(start)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		b.Error(err)
	}
	closeAll()
	readers.Wait()

	mu.Lock()
	slices.Sort(lat)
	q := func(f float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))]) / 1e6
	}
	b.ReportMetric(q(0.50), "pop_p50_ms")
	b.ReportMetric(q(0.99), "pop_p99_ms")
	b.ReportMetric(float64(int64(pops)-received.Load()), "lost_pops")
	b.ReportMetric(float64(goAfter-min(goAfter, goBefore))/float64(n)/1024, "go_KB/session")
	b.ReportMetric(float64(rssAfter-min(rssAfter, rssBefore))/float64(n)/1024, "rss_KB/session")
	b.ReportMetric(float64(n), "desktops")
	mu.Unlock()
	b.Logf("%d pops at %d/s over %s to %d desktops; go heap+stacks %d→%d MB, RSS %d→%d MB",
		pops, popRate, wall.Round(time.Millisecond), n, goBefore>>20, goAfter>>20, rssBefore>>20, rssAfter>>20)
}
