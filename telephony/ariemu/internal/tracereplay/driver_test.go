package tracereplay

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

// playbackServer is a fake ARI that plays a recording back: the k-th request gets
// the recorded response and the events recorded after it, at the recorded offsets.
// Replaying a recording against it must reproduce that recording, which proves the
// driver (request order, id substitution, waits, WebSockets) independently of the
// emulator.
type playbackServer struct {
	t   *testing.T
	rec *Trace

	mu      sync.Mutex
	k       int
	conns   map[string]*websocket.Conn
	senders map[string]context.CancelFunc // channel id -> RTP sender
	wg      sync.WaitGroup
	ctx     context.Context
}

// startRTP sends PCMU to host every 20 ms until stopped, like an ExternalMedia leg.
func (s *playbackServer) startRTP(chanID, host string) {
	to, err := net.ResolveUDPAddr("udp4", host)
	if err != nil {
		s.t.Errorf("external_host %q: %v", host, err)
		return
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		s.t.Errorf("rtp socket: %v", err)
		return
	}
	ctx, stop := context.WithCancel(s.ctx)
	s.mu.Lock()
	s.senders[chanID] = stop
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			if err := conn.Close(); err != nil {
				s.t.Errorf("rtp close: %v", err)
			}
		}()
		// Packet n is due at start+n*20ms; after a scheduling stall the missed
		// packets go out at once, so the count per window stays exact on a busy
		// machine.
		start := time.Now()
		pkt := make([]byte, 12+160)
		for seq := 0; ; seq++ {
			pkt[0], pkt[1] = 0x80, 0
			binary.BigEndian.PutUint16(pkt[2:], uint16(seq))
			binary.BigEndian.PutUint32(pkt[4:], uint32(seq*160))
			binary.BigEndian.PutUint32(pkt[8:], 0x12345678)
			if _, err := conn.WriteToUDP(pkt, to); err != nil {
				return
			}
			sleepUntil(ctx, start.Add(time.Duration(seq+1)*20*time.Millisecond))
			if ctx.Err() != nil {
				return
			}
		}
	}()
}

func (s *playbackServer) stopRTP(chanID string) {
	s.mu.Lock()
	stop := s.senders[chanID]
	delete(s.senders, chanID)
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (s *playbackServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	k := s.k
	s.k++
	s.mu.Unlock()
	_, reqs, _ := index(s.rec.Lines)
	if k >= len(reqs) {
		http.Error(w, "unexpected request", http.StatusTeapot)
		return
	}
	ri := reqs[k]
	rl := s.rec.Lines[ri]
	if got := strings.TrimPrefix(req.URL.Path, "/ari"); got != rl.RawPath && !strings.Contains(rl.RawPath, "trace-") {
		s.t.Errorf("request %d: path %s, recorded %s", k, got, rl.RawPath)
	}
	arrived := time.Now()
	if req.Method == http.MethodDelete && strings.HasPrefix(rl.Path, "/channels/{channelId}") && rl.Path == "/channels/{channelId}" {
		s.stopRTP(strings.TrimPrefix(rl.RawPath, "/channels/"))
	}
	end := len(s.rec.Lines)
	if k+1 < len(reqs) {
		end = reqs[k+1]
	}
	i := ri + 1
	// events recorded before the response, then the response.
	for ; i < end; i++ {
		l := s.rec.Lines[i]
		sleepUntil(s.ctx, arrived.Add(time.Duration(l.TMs-rl.TMs)*time.Millisecond))
		if l.Kind == KindEvent {
			s.emit(l.Event)
			continue
		}
		if l.Kind == KindResponse {
			if l.Status == http.StatusSwitchingProtocols {
				c, err := websocket.Accept(w, req, nil)
				if err != nil {
					s.t.Errorf("accept: %v", err)
					return
				}
				c.CloseRead(s.ctx) // handles the client's close frame
				s.mu.Lock()
				s.conns[req.URL.Query().Get("app")] = c
				s.mu.Unlock()
			} else {
				if l.ContentType != "" {
					w.Header().Set("Content-Type", l.ContentType)
				}
				w.WriteHeader(l.Status)
				var body []byte
				switch {
				case l.BodyBytes != nil:
					body = make([]byte, *l.BodyBytes)
				case strings.HasPrefix(l.ContentType, "text/"):
					var str string
					if err := json.Unmarshal(l.Body, &str); err == nil {
						body = []byte(str)
					}
				case string(l.Body) != "null" && len(l.Body) > 0:
					body = l.Body
				}
				if _, err := w.Write(body); err != nil {
					s.t.Errorf("write: %v", err)
				}
				if rl.Path == "/channels/externalMedia" && l.Status == http.StatusOK {
					var ch struct {
						ID string `json:"id"`
					}
					if err := json.Unmarshal(l.Body, &ch); err != nil {
						s.t.Errorf("externalMedia body: %v", err)
					}
					s.startRTP(ch.ID, req.URL.Query().Get("external_host"))
				}
			}
			i++
			break
		}
	}
	// the rest of the segment, after the response.
	s.wg.Add(1)
	go func(from int) {
		defer s.wg.Done()
		for j := from; j < end; j++ {
			l := s.rec.Lines[j]
			if l.Kind != KindEvent {
				continue
			}
			sleepUntil(s.ctx, arrived.Add(time.Duration(l.TMs-rl.TMs)*time.Millisecond))
			s.emit(l.Event)
		}
	}(i)
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

func (s *playbackServer) emit(ev json.RawMessage) {
	var h struct {
		App string `json:"application"`
	}
	if err := json.Unmarshal(ev, &h); err != nil {
		s.t.Errorf("event: %v", err)
		return
	}
	s.mu.Lock()
	c := s.conns[h.App]
	s.mu.Unlock()
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, ev); err != nil {
		s.t.Logf("emit: %v", err)
	}
}

func TestDriverReproducesAPlayedBackRecording(t *testing.T) {
	dir, err := DefaultDir()
	if err != nil {
		t.Fatalf("the recordings are required: %v", err)
	}
	scenarios := []string{"inbound-basic", "errors", "app-lifecycle", "external-media"}
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	reports := make([]*Report, len(scenarios))
	errs := make([]error, len(scenarios))
	recs := make([]*Trace, len(scenarios))
	gots := make([]*Trace, len(scenarios))
	var wg sync.WaitGroup
	// The scenarios run concurrently (not t.Parallel, which -parallel may serialise).
	for i, sc := range scenarios {
		rec, err := ParseFile(filepath.Join(dir, sc+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = rec
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, stopServer := context.WithCancel(ctx)
			defer stopServer()
			ps := &playbackServer{t: t, rec: rec, conns: map[string]*websocket.Conn{}, senders: map[string]context.CancelFunc{}, ctx: sctx}
			srv := httptest.NewServer(ps)
			defer srv.Close()
			drv, err := New(Config{BaseURL: srv.URL + "/ari", User: "ceo", Password: "pw", Logger: zerolog.Nop()})
			if err != nil {
				errs[i] = err
				return
			}
			got, err := drv.Run(ctx, rec)
			stopServer()
			ps.wg.Wait()
			if err != nil {
				errs[i] = err
				return
			}
			gots[i] = got
			reports[i] = Compare(rec, got)
		}()
	}
	wg.Wait()
	// every goroutine of the runs (WebSocket readers, RTP peers, HTTP) has stopped
	for deadline := time.Now().Add(3 * time.Second); runtime.NumGoroutine() > baseline; {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left after the runs (baseline %d):\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, sc := range scenarios {
		if errs[i] != nil {
			t.Errorf("%s: %v", sc, errs[i])
			continue
		}
		rep := reports[i]
		if len(rep.Mismatches) != 0 {
			t.Errorf("%s", rep)
		}
		if rep.Passed < len(recs[i].Lines)/3 {
			t.Errorf("%s: only %d comparisons passed", sc, rep.Passed)
		}
		t.Logf("%s: %d passed", sc, rep.Passed)
		roles := 0
		for _, l := range gots[i].Lines {
			if l.Kind == KindNote && len(l.IDs) > 0 {
				roles++
			}
		}
		if roles == 0 {
			t.Errorf("%s: the replay named no roles", sc)
		}
		if sc == "external-media" {
			n := 0
			for _, l := range gots[i].Lines {
				if l.Kind == KindRTP {
					n++
				}
			}
			if n != 9 {
				t.Errorf("external-media: %d RTP windows replayed, want 9", n)
			}
		}
	}
}

func TestDriverConfig(t *testing.T) {
	for _, c := range []Config{{}, {BaseURL: "ftp://x", User: "u"}, {BaseURL: "http://127.0.0.1:1/ari"}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestSummaryDropsAPacketInFlightAtTheCut: one packet continuing the stream and read
// within a packet interval of the cut is the previous window's; a later one, or one
// after a gap, is audio in the new window.
func TestSummaryDropsAPacketInFlightAtTheCut(t *testing.T) {
	cut := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	prev := rtpPacket{at: cut.Add(-5 * time.Millisecond), seq: 100, ssrc: 7, size: 160}
	for _, tc := range []struct {
		name string
		next rtpPacket
		want int
	}{
		{"in flight", rtpPacket{at: cut.Add(3 * time.Millisecond), seq: 101, ssrc: 7, size: 160}, 0},
		{"a packet interval later", rtpPacket{at: cut.Add(25 * time.Millisecond), seq: 101, ssrc: 7, size: 160}, 1},
		{"after a gap", rtpPacket{at: cut.Add(3 * time.Millisecond), seq: 103, ssrc: 7, size: 160}, 1},
		{"another stream", rtpPacket{at: cut.Add(3 * time.Millisecond), seq: 101, ssrc: 8, size: 160}, 1},
	} {
		p := &rtpPeer{label: "listen", packets: []rtpPacket{prev, tc.next}, cursor: 1, lastSum: cut}
		if got := p.summary(cut.Add(3*time.Second), 3*time.Second).Packets; got != tc.want {
			t.Errorf("%s: %d packets, want %d", tc.name, got, tc.want)
		}
	}
	two := &rtpPeer{label: "listen", cursor: 1, lastSum: cut, packets: []rtpPacket{prev,
		{at: cut.Add(3 * time.Millisecond), seq: 101, ssrc: 7, size: 160},
		{at: cut.Add(23 * time.Millisecond), seq: 102, ssrc: 7, size: 160}}}
	if got := two.summary(cut.Add(time.Second), time.Second).Packets; got != 2 {
		t.Errorf("continuing audio: %d packets, want 2", got)
	}
}

// TestSummaryKeepsTheAwaitedFirstPacket: a "first packet arrived" summary (window 0)
// counts the packet it waited for, however soon after the cut it came.
func TestSummaryKeepsTheAwaitedFirstPacket(t *testing.T) {
	cut := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	p := &rtpPeer{label: "em1", cursor: 1, lastSum: cut, packets: []rtpPacket{
		{at: cut.Add(-5 * time.Millisecond), seq: 100, ssrc: 7, size: 160},
		{at: cut.Add(3 * time.Millisecond), seq: 101, ssrc: 7, size: 160}}}
	if got := p.summary(cut.Add(4*time.Millisecond), 0).Packets; got != 1 {
		t.Errorf("%d packets, want the awaited 1", got)
	}
}
