// Command leggen is the load generator of BenchmarkGatewayLegsSplit, in its own
// process so that the benchmark's CPU figure is the gateway's alone: N pion "browser"
// peers (PCMU, DTLS-SRTP) and one fake-Asterisk UDP socket, 50 pps each way per leg,
// every payload stamped with its send time; both directions are received here, so
// latency needs no clock shared with the gateway.
//
// Protocol: JSON lines on stdin (from the gateway) and stdout (to it):
//
//	in  {"op":"start","n":N}
//	out {"op":"ast","addr":"127.0.0.1:p"}           the fake Asterisk's address
//	out {"op":"offer","i":i,"sdp":"..."}            one per peer
//	out {"op":"cand","i":i,"cand":{...}}            trickled client candidates
//	in  {"op":"answer","i":i,"sdp":"..."}           the session's answer
//	in  {"op":"cand","i":i,"cand":{...}}            the session's candidates
//	in  {"op":"leg","i":i,"addr":"127.0.0.1:p"}     the peer's call leg
//	out {"op":"ready"}                              every peer connected, every leg known
//	in  {"op":"go","frames":F,"warm":W}             send F frames, measure after W
//	out {"op":"result",...}                         counts and latency quantiles
//
// EOF on stdin ends it.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

type msg struct {
	Op     string                   `json:"op"`
	I      int                      `json:"i,omitempty"`
	N      int                      `json:"n,omitempty"`
	SDP    string                   `json:"sdp,omitempty"`
	Cand   *webrtc.ICECandidateInit `json:"cand,omitempty"`
	Addr   string                   `json:"addr,omitempty"`
	Frames int                      `json:"frames,omitempty"`
	Warm   int                      `json:"warm,omitempty"`
	Result *result                  `json:"result,omitempty"`
}

type result struct {
	SentAst, SentMic, RecvAgent, RecvAst uint64
	ToAgentP50, ToAgentP99               float64 // ms
	ToAstP50, ToAstP99                   float64
	WallS                                float64
}

// hist: 10 µs buckets up to 200 ms, lock-free.
type hist struct{ b [20000]atomic.Uint64 }

func (h *hist) add(d time.Duration) {
	i := min(max(int(d/(10*time.Microsecond)), 0), len(h.b)-1)
	h.b[i].Add(1)
}

func (h *hist) q(q float64) float64 {
	var total uint64
	for i := range h.b {
		total += h.b[i].Load()
	}
	if total == 0 {
		return -1 // nothing measured (JSON has no NaN)
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range h.b {
		seen += h.b[i].Load()
		if seen >= want {
			return float64(i+1) * 0.01
		}
	}
	return 200
}

type peer struct {
	pc      *webrtc.PeerConnection
	mic     *webrtc.TrackLocalStaticRTP
	mu      sync.Mutex
	ready   bool // answer applied
	pending []webrtc.ICECandidateInit
	leg     atomic.Pointer[netip.AddrPort]
	up      chan struct{}
}

type gen struct {
	outMu sync.Mutex
	out   *json.Encoder
	api   *webrtc.API
	epoch time.Time
	warm  atomic.Int64 // ns since epoch after which latencies count

	toAgent, toAst     hist
	recvAgent, recvAst atomic.Uint64
	sentAst, sentMic   atomic.Uint64
}

func (g *gen) send(m msg) {
	g.outMu.Lock()
	defer g.outMu.Unlock()
	if err := g.out.Encode(m); err != nil {
		fmt.Fprintln(os.Stderr, "leggen: write:", err)
		os.Exit(1)
	}
}

func stamp(p []byte, epoch time.Time) { binary.BigEndian.PutUint64(p, uint64(time.Since(epoch))) }

func (g *gen) observe(p []byte, h *hist, n *atomic.Uint64) {
	if len(p) < 8 {
		return
	}
	sent := time.Duration(binary.BigEndian.Uint64(p))
	if int64(sent) >= g.warm.Load() {
		h.add(time.Since(g.epoch) - sent)
	}
	n.Add(1)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "leggen:", err)
		os.Exit(1)
	}
}

func run() error {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0}, webrtc.RTPCodecTypeAudio); err != nil {
		return err
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	g := &gen{out: json.NewEncoder(os.Stdout), api: webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)), epoch: time.Now()}
	g.warm.Store(math.MaxInt64)

	ast, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer func() { _ = ast.Close() }()
	if err := ast.SetReadBuffer(8 << 20); err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 1500)
		var p rtp.Packet
		for {
			k, _, err := ast.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if p.Unmarshal(buf[:k]) == nil {
				g.observe(p.Payload, &g.toAst, &g.recvAst)
			}
		}
	}()

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	var peers []*peer
	legsKnown := 0
	for in.Scan() {
		var m msg
		if err := json.Unmarshal(in.Bytes(), &m); err != nil {
			return fmt.Errorf("bad line: %w", err)
		}
		switch m.Op {
		case "start":
			g.send(msg{Op: "ast", Addr: ast.LocalAddr().String()})
			peers = make([]*peer, m.N)
			for i := range peers {
				p, err := g.newPeer(i)
				if err != nil {
					return err
				}
				peers[i] = p
			}
		case "answer":
			p := peers[m.I]
			p.mu.Lock()
			err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
			if err == nil {
				p.ready = true
				for _, c := range p.pending {
					err = errors.Join(err, p.pc.AddICECandidate(c))
				}
				p.pending = nil
			}
			p.mu.Unlock()
			if err != nil {
				return fmt.Errorf("peer %d answer: %w", m.I, err)
			}
		case "cand":
			p := peers[m.I]
			p.mu.Lock()
			var err error
			if p.ready {
				err = p.pc.AddICECandidate(*m.Cand)
			} else {
				p.pending = append(p.pending, *m.Cand)
			}
			p.mu.Unlock()
			if err != nil {
				return fmt.Errorf("peer %d candidate: %w", m.I, err)
			}
		case "leg":
			a, err := netip.ParseAddrPort(m.Addr)
			if err != nil {
				return err
			}
			peers[m.I].leg.Store(&a)
			if legsKnown++; legsKnown == len(peers) {
				go func() { // candidates may still be arriving: do not block the reader
					for _, p := range peers {
						<-p.up
					}
					g.send(msg{Op: "ready"})
				}()
			}
		case "go":
			g.send(msg{Op: "result", Result: g.traffic(ast, peers, m.Frames, m.Warm)})
		default:
			return fmt.Errorf("unknown op %q", m.Op)
		}
	}
	for _, p := range peers {
		_ = p.pc.Close() // exiting
	}
	return in.Err()
}

func (g *gen) newPeer(i int) (*peer, error) {
	pc, err := g.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	mic, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, "mic", "browser")
	if err != nil {
		return nil, err
	}
	if _, err := pc.AddTrack(mic); err != nil {
		return nil, err
	}
	p := &peer{pc: pc, mic: mic, up: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.up) })
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			ci := c.ToJSON()
			g.send(msg{Op: "cand", I: i, Cand: &ci})
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			g.observe(pkt.Payload, &g.toAgent, &g.recvAgent)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	g.send(msg{Op: "offer", I: i, SDP: offer.SDP})
	return p, nil
}

// traffic sends frames 20 ms frames on every leg both ways, leg i in slot i%20 of
// each frame (the microphone 10 ms later), then waits for stragglers.
func (g *gen) traffic(ast *net.UDPConn, peers []*peer, frames, warm int) *result {
	start := time.Now()
	g.warm.Store(int64(start.Sub(g.epoch) + time.Duration(warm)*20*time.Millisecond))
	var wg sync.WaitGroup
	wg.Go(func() {
		pkt := make([]byte, 12+160)
		pkt[0] = 0x80
		for slot := range frames * 20 {
			if d := time.Until(start.Add(time.Duration(slot) * time.Millisecond)); d > 0 {
				time.Sleep(d)
			}
			for i := slot % 20; i < len(peers); i += 20 {
				seq := uint16(slot / 20)
				binary.BigEndian.PutUint16(pkt[2:4], seq)
				binary.BigEndian.PutUint32(pkt[4:8], uint32(seq)*160)
				binary.BigEndian.PutUint32(pkt[8:12], uint32(1000+i))
				stamp(pkt[12:], g.epoch)
				if _, err := ast.WriteToUDPAddrPort(pkt, *peers[i].leg.Load()); err == nil {
					g.sentAst.Add(1)
				}
			}
		}
	})
	wg.Go(func() {
		payload := make([]byte, 160)
		for slot := range frames * 20 {
			if d := time.Until(start.Add(time.Duration(slot)*time.Millisecond + 10*time.Millisecond)); d > 0 {
				time.Sleep(d)
			}
			for i := slot % 20; i < len(peers); i += 20 {
				seq := uint16(slot / 20)
				stamp(payload, g.epoch)
				if err := peers[i].mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160}, Payload: payload}); err == nil {
					g.sentMic.Add(1)
				}
			}
		}
	})
	wg.Wait()
	wall := time.Since(start)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (g.recvAgent.Load() < g.sentAst.Load() || g.recvAst.Load() < g.sentMic.Load()) {
		time.Sleep(20 * time.Millisecond)
	}
	return &result{SentAst: g.sentAst.Load(), SentMic: g.sentMic.Load(), RecvAgent: g.recvAgent.Load(), RecvAst: g.recvAst.Load(),
		ToAgentP50: g.toAgent.q(0.5), ToAgentP99: g.toAgent.q(0.99), ToAstP50: g.toAst.q(0.5), ToAstP99: g.toAst.q(0.99),
		WallS: wall.Seconds()}
}
