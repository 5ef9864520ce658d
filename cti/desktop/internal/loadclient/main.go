// Command loadclient is the desktop load generator used by BenchmarkDesktopSockets:
// it runs in its own process so that the benchmark measures the desktop server's
// memory alone, and both ends of 10,000 sockets do not share one fd limit.
//
// Protocol on stdin/stdout (one line each):
//
//	in:  {"url":"ws://127.0.0.1:port/api/v1/ws","tokens":["...",...]}
//	out: READY <n>                      every socket is open and its snapshot read
//	in:  EXPECT <k>                     k call.offered frames will be published
//	out: RESULT {"received":k,"lat_us":[...]}   after k pops or 60 s
//
// Each call.offered frame carries "sent_unix_ns" (the publisher's wall clock; same
// host), so latency is publish → decoded here. On EOF of stdin it closes the sockets
// and exits.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

type config struct {
	URL    string   `json:"url"`
	Tokens []string `json:"tokens"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadclient:", err)
		os.Exit(1)
	}
}

func run() error {
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var cfg config
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu       sync.Mutex
		lat      []int64
		received atomic.Int64
		wg       sync.WaitGroup
	)
	reader := func(c *websocket.Conn) {
		defer wg.Done()
		var pop struct {
			Sent int64 `json:"sent_unix_ns"`
		}
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if !bytes.Contains(data, []byte(`"call.offered"`)) {
				continue
			}
			if json.Unmarshal(data, &pop) != nil {
				continue
			}
			d := time.Now().UnixNano() - pop.Sent
			mu.Lock()
			lat = append(lat, d/1000)
			mu.Unlock()
			received.Add(1)
		}
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	conns := make([]*websocket.Conn, len(cfg.Tokens))
	errs := make(chan error, len(cfg.Tokens))
	sem := make(chan struct{}, 32)
	var dials sync.WaitGroup
	for i, tok := range cfg.Tokens {
		sem <- struct{}{}
		dials.Go(func() {
			defer func() { <-sem }()
			dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
			defer dcancel()
			c, _, err := websocket.Dial(dctx, cfg.URL, &websocket.DialOptions{HTTPClient: hc,
				HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
			if err != nil {
				errs <- fmt.Errorf("desktop %d: %w", i, err)
				return
			}
			c.SetReadLimit(1 << 20)
			conns[i] = c
			wg.Add(1)
			go reader(c)
		})
	}
	dials.Wait()
	closeAll := func() {
		cancel()
		for _, c := range conns {
			if c != nil {
				_ = c.CloseNow() // best effort: the process exits next
			}
		}
		wg.Wait()
	}
	defer closeAll()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Printf("READY %d\n", len(conns))
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return nil // stdin closed: done
		}
		k, ok := strings.CutPrefix(strings.TrimSpace(line), "EXPECT ")
		if !ok {
			return fmt.Errorf("unexpected command %q", line)
		}
		want, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return fmt.Errorf("EXPECT: %w", err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for received.Load() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		out := slices.Clone(lat)
		lat = lat[:0]
		mu.Unlock()
		got := received.Swap(0)
		b, err := json.Marshal(map[string]any{"received": got, "lat_us": out})
		if err != nil {
			return err
		}
		fmt.Printf("RESULT %s\n", b)
	}
}
