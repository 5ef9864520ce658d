package desktop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// raiseFDLimit lifts RLIMIT_NOFILE so that want descriptors fit; it returns the
// limit in force.
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
// seconds. The desktops are a Go load client in its own process
// (internal/loadclient, built by the benchmark), so the memory measured here — Go
// heap + stacks and RSS after GC, growth from no socket to all sockets open, per
// session — is the server's alone. Each pop carries its publish time (wall clock,
// same host); the client measures publish → decoded at the desktop.
// One iteration is one pop (at least 500 are sent, so -benchtime=1x is one run).
func BenchmarkDesktopSockets(b *testing.B) {
	n := envInt("CTID_BENCH_DESKTOPS", 10000)
	popRate := envInt("CTID_BENCH_POP_RATE", 100)
	pops := max(b.N, popRate*envInt("CTID_BENCH_POP_SECONDS", 5))
	if lim := raiseFDLimit(b, uint64(n+1024)); lim < uint64(n+64) {
		n = int(lim - 64)
		b.Logf("fd limit %d: only %d desktops", lim, n)
	}

	bin := filepath.Join(b.TempDir(), "loadclient")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ctid/ctid/cti/desktop/internal/loadclient").CombinedOutput(); err != nil {
		b.Fatalf("go build loadclient: %v\n%s", err, out)
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
	goBefore, rssBefore := memNow()

	cl := exec.Command(bin)
	cl.Stderr = os.Stderr
	stdin, err := cl.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cl.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cl.Start(); err != nil {
		b.Fatal(err)
	}
	lines := make(chan string, 4)
	go func() { // ends when the client exits (its stdout closes)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	stopClient := func() {
		if err := stdin.Close(); err != nil {
			b.Error(err)
		}
		for range lines { // drain until the client exits
		}
		if err := cl.Wait(); err != nil {
			b.Errorf("load client: %v", err)
		}
	}
	next := func(prefix string, timeout time.Duration) string {
		select {
		case l, ok := <-lines:
			if !ok || !strings.HasPrefix(l, prefix) {
				stopClient()
				b.Fatalf("load client said %q (open: %v), want %s", l, ok, prefix)
			}
			return strings.TrimPrefix(l, prefix)
		case <-time.After(timeout):
			stopClient()
			b.Fatalf("load client: no %s within %s", prefix, timeout)
		}
		return ""
	}
	conf, err := json.Marshal(map[string]any{"url": "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/v1/ws", "tokens": toks})
	if err != nil {
		b.Fatal(err)
	}
	setup := time.Now()
	if _, err := stdin.Write(append(conf, '\n')); err != nil {
		b.Fatal(err)
	}
	next("READY ", 5*time.Minute)
	b.Logf("%d desktops connected in %s", n, time.Since(setup).Round(time.Millisecond))
	goAfter, rssAfter := memNow()
	if path := os.Getenv("CTID_BENCH_HEAPPROFILE"); path != "" { // what the server holds per session
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
			"sent_unix_ns": time.Now().UnixNano(),
		})
	}
	if _, err := fmt.Fprintf(stdin, "EXPECT %d\n", pops); err != nil {
		b.Fatal(err)
	}
	var res struct {
		Received int64   `json:"received"`
		LatUS    []int64 `json:"lat_us"`
	}
	if err := json.Unmarshal([]byte(next("RESULT ", 2*time.Minute)), &res); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	wall := time.Since(start)
	stopClient()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		b.Error(err)
	}

	slices.Sort(res.LatUS)
	q := func(f float64) float64 {
		if len(res.LatUS) == 0 {
			return 0
		}
		return float64(res.LatUS[min(len(res.LatUS)-1, int(f*float64(len(res.LatUS))))]) / 1000
	}
	b.ReportMetric(q(0.50), "pop_p50_ms")
	b.ReportMetric(q(0.99), "pop_p99_ms")
	b.ReportMetric(float64(int64(pops)-res.Received), "lost_pops")
	b.ReportMetric(float64(goAfter-min(goAfter, goBefore))/float64(n)/1024, "go_KB/session")
	b.ReportMetric(float64(rssAfter-min(rssAfter, rssBefore))/float64(n)/1024, "rss_KB/session")
	b.ReportMetric(float64(n), "desktops")
	b.Logf("%d pops at %d/s over %s to %d desktops; server go heap+stacks %d→%d MB, RSS %d→%d MB",
		pops, popRate, wall.Round(time.Millisecond), n, goBefore>>20, goAfter>>20, rssBefore>>20, rssAfter>>20)
}
