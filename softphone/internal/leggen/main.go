// Command leggen is the load generator of BenchmarkGatewayLegsSplit, in its own
// process so that the benchmark's CPU figure is the gateway's alone: N pion "browser"
// peers (PCMU, DTLS-SRTP) and one fake-Asterisk UDP socket, 50 pps each way per leg.
// It is built to cost as little CPU as possible, so that gateway and generator fit
// one small machine:
//
//   - every peer's ICE runs over ONE UDP socket read with recvmmsg: a pion UDP mux
//     when the gateway has a port per agent; when the gateway has its own mux
//     (per_peer), one socket bound to 0.0.0.0 on which each peer has its own
//     loopback address (127.1.x.y; IP_PKTINFO picks the source of each packet and
//     tells the destination), handed to the peer's pion mux through a virtual
//     PacketConn — two muxes facing each other need distinct addresses;
//   - the agents' RTP from the gateway is taken off that socket before pion sees it
//     (the RTP header is in clear in SRTP: SSRC and sequence number identify the
//     packet), so it is never decrypted;
//   - the microphones are real SRTP encrypted here with each peer's own SRTP
//     context (keys from pion's DTLS key log and the handshake seen on the socket,
//     softphone/internal/dtlskeys) and leave in one sendmmsg per 1 ms slot (per
//     peer on the per_peer socket; through pion otherwise);
//   - the fake Asterisk is one socket bound to 0.0.0.0, each leg's channel on its own
//     address 127.2.x.y (as Asterisk gives each ExternalMedia channel its own
//     port), read with recvmmsg, written with one sendmmsg per 1 ms slot;
//   - no goroutine per peer on the media path, no allocation per packet.
//
// Latency, both directions, two ways: end to end (send time to the moment this
// process handles the packet, generator scheduling included) and gateway-added
// (send time to the kernel's receive timestamp, SO_TIMESTAMPNS, on the receiving
// socket: the generator's own scheduling lag on receive is not counted). Send time is
// taken just before the slot's packets are written (for the microphones, before
// they are encrypted), so "added" still includes the generator's own send path
// (a few µs per packet, more when it is descheduled mid-slot).
//
// Protocol: JSON lines on stdin (from the gateway) and stdout (to it):
//
//	in  {"op":"start","n":N,"per_peer":bool}
//	out {"op":"ast","addr":"127.2.0.0:p"}           the fake Asterisk: leg i's channel is 127.2.(i+1 as 2 bytes):p
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
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ctid/ctid/softphone/internal/dtlskeys"
	"github.com/ctid/ctid/softphone/internal/udpbatch"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
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
	// PerPeer gives every peer its own ICE socket (needed when the gateway's ICE
	// is on one UDP mux socket too: two muxes facing each other cannot tell the
	// peers apart, they demultiplex by address).
	PerPeer bool    `json:"per_peer,omitempty"`
	Result  *result `json:"result,omitempty"`
}

type result struct {
	SentAst, SentMic, RecvAgent, RecvAst uint64
	ToAgentP50, ToAgentP99               float64 // ms, end to end
	ToAstP50, ToAstP99                   float64
	// gateway-added: send to the kernel receive timestamp
	ToAgentAddP50, ToAgentAddP99 float64
	ToAstAddP50, ToAstAddP99     float64
	WallS                        float64
	// generator CPU over the traffic window, % of one core
	GenCPU float64
	// system calls per packet on the generator's two sockets
	GenSyscallsPerPkt float64
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

// ring is the send times of the last 1024 sequence numbers (20 s) of each leg (ns
// since the epoch; 0 = not sent). It was 64 (1.3 s): a leg whose first relayed
// packet the reader handled more than 1.3 s after the sender's newest frame was
// anchored on no frame (then on the newest), and every later packet of that leg
// was timed against another frame's send time — a likely cause of runs that
// reported "> 200 ms" to-agent medians while the gateway's own kernel
// timestamps (CTID_BENCH_RESIDENCE) said 0.5 ms.
const ring = 1024

type peer struct {
	pc      *webrtc.PeerConnection
	mic     *webrtc.TrackLocalStaticRTP
	mu      sync.Mutex
	ready   bool // answer applied
	pending []webrtc.ICECandidateInit
	ssrc    uint32 // the gateway's SSRC for this peer (from the answer)
	leg     atomic.Pointer[netip.AddrPort]
	up      chan struct{}

	// to-agent direction, touched by the mux reader only (after the send side
	// published the send time)
	offKnown bool
	seqOff   uint16
}

type gen struct {
	outMu sync.Mutex
	out   *json.Encoder
	api   *webrtc.API
	epoch time.Time
	warm  atomic.Int64 // ns since epoch after which latencies count

	ast, mux *udpbatch.Conn
	se       webrtc.SettingEngine
	me       *webrtc.MediaEngine
	// PerPeer: every peer has its own address (127.1.x.y) on ONE socket bound to
	// 0.0.0.0 (IP_PKTINFO picks each packet's source and tells its destination),
	// so the peers' traffic is batched like the rest
	peerSock  *udpbatch.Conn
	peerConns []*vconn
	keys      *dtlskeys.Tracker // handshakes keyed by the peer's own address
	muxes     []*ice.UDPMuxDefault
	peers     []*peer
	bySSRC    atomic.Pointer[map[uint32]int]

	astSent []atomic.Int64 // peer*ring + seq%ring: send time to the agent
	micSent []atomic.Int64 // same, microphone
	lastSeq []atomic.Uint32

	toAgent, toAst, toAgentAdd, toAstAdd hist
	recvAgent, recvAst                   atomic.Uint64
	sentAst, sentMic                     atomic.Uint64
}

func (g *gen) send(m msg) {
	g.outMu.Lock()
	defer g.outMu.Unlock()
	if err := g.out.Encode(m); err != nil {
		fmt.Fprintln(os.Stderr, "leggen: write:", err)
		os.Exit(1)
	}
}

// since is t in ns since the epoch, on the wall clock: the kernel's receive
// timestamps (SO_TIMESTAMPNS) are wall-clock times, and subtracting one from a
// time.Now() stamp measured on the monotonic clock would add the drift between
// the two clocks since the epoch (NTP slewing) to every "added" latency.
func (g *gen) since(t time.Time) int64 { return int64(t.Round(0).Sub(g.epoch.Round(0))) }

func stamp(p []byte, ns int64) { binary.BigEndian.PutUint64(p, uint64(ns)) }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "leggen:", err)
		os.Exit(1)
	}
}

func listen() (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	if err := c.SetReadBuffer(8 << 20); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	if err := c.SetWriteBuffer(8 << 20); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func run() error {
	if err := ordinaryScheduling(); err != nil {
		return fmt.Errorf("scheduling policy: %w", err)
	}
	g := &gen{out: json.NewEncoder(os.Stdout), epoch: time.Now()}
	g.warm.Store(math.MaxInt64)
	// the fake Asterisk: one socket, each leg's channel on its own address
	// (127.2.x.y, as Asterisk gives each ExternalMedia channel its own port), so a
	// gateway with every leg on one socket can tell them apart
	astConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return err
	}
	if err := errors.Join(astConn.SetReadBuffer(8<<20), astConn.SetWriteBuffer(8<<20)); err != nil {
		return errors.Join(err, astConn.Close())
	}
	if g.ast, err = udpbatch.New(udpbatch.Params{Conn: astConn, Timestamps: true, Dst: true}); err != nil {
		return err
	}
	defer func() { _ = g.ast.Close() }()
	defer func() {
		for _, m := range g.muxes {
			_ = m.Close()
		}
	}()

	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0}, webrtc.RTPCodecTypeAudio); err != nil {
		return err
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// the microphones' SRTP keys, for encrypting without pion (see micSenders)
	g.keys = dtlskeys.New()
	se.SetDTLSKeyLogWriter(g.keys)
	g.se, g.me = se, me

	astDone := make(chan struct{})
	go func() {
		defer close(astDone)
		_ = g.ast.DrainDst(g.fromAsteriskSide) // ends when the socket is closed
	}()
	defer func() { _ = g.ast.Close(); <-astDone }()

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	legsKnown := 0
	ssrcs := map[uint32]int{}
	for in.Scan() {
		var m msg
		if err := json.Unmarshal(in.Bytes(), &m); err != nil {
			return fmt.Errorf("bad line: %w", err)
		}
		switch m.Op {
		case "start":
			if !m.PerPeer {
				mux, err := g.newMux()
				if err != nil {
					return err
				}
				g.mux = mux
				g.api = g.newAPI(len(g.muxes) - 1)
			} else {
				if err := g.openPeerSock(m.N); err != nil {
					return err
				}
				defer func() { _ = g.peerSock.Close() }()
			}
			g.send(msg{Op: "ast", Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, 0, 0}), uint16(g.ast.LocalAddr().(*net.UDPAddr).Port)).String()})
			g.peers = make([]*peer, m.N)
			g.astSent = make([]atomic.Int64, m.N*ring)
			g.micSent = make([]atomic.Int64, m.N*ring)
			g.lastSeq = make([]atomic.Uint32, m.N)
			for i := range g.peers {
				api := g.api
				if m.PerPeer {
					g.muxes = append(g.muxes, ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: g.peerConns[i]}))
					api = g.newAPI(len(g.muxes) - 1)
				}
				p, err := g.newPeer(api, i)
				if err != nil {
					return err
				}
				g.peers[i] = p
			}
		case "answer":
			p := g.peers[m.I]
			ssrc, err := answerSSRC(m.SDP)
			if err != nil {
				return fmt.Errorf("peer %d answer: %w", m.I, err)
			}
			p.ssrc = ssrc
			ssrcs[ssrc] = m.I
			cp := make(map[uint32]int, len(ssrcs))
			for k, v := range ssrcs {
				cp[k] = v
			}
			g.bySSRC.Store(&cp)
			p.mu.Lock()
			err = p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
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
			p := g.peers[m.I]
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
			g.peers[m.I].leg.Store(&a)
			if legsKnown++; legsKnown == len(g.peers) {
				go func() { // candidates may still be arriving: do not block the reader
					for _, p := range g.peers {
						<-p.up
					}
					g.send(msg{Op: "ready"})
				}()
			}
		case "go":
			g.send(msg{Op: "result", Result: g.traffic(m.Frames, m.Warm)})
		default:
			return fmt.Errorf("unknown op %q", m.Op)
		}
	}
	for _, p := range g.peers {
		_ = p.pc.Close() // exiting
	}
	return in.Err()
}

// answerSSRC is the SSRC the gateway announces for its audio track.
func answerSSRC(answer string) (uint32, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return 0, err
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key != "ssrc" {
				continue
			}
			f, _, _ := strings.Cut(a.Value, " ")
			v, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return 0, fmt.Errorf("a=ssrc:%s: %w", a.Value, err)
			}
			return uint32(v), nil
		}
	}
	return 0, errors.New("no a=ssrc in the answer's audio section")
}

// newMux opens an ICE socket (recvmmsg, kernel timestamps, the gateway's RTP taken
// off before pion) and a pion UDP mux on it.
func (g *gen) newMux() (*udpbatch.Conn, error) {
	uc, err := listen()
	if err != nil {
		return nil, err
	}
	c, err := udpbatch.New(udpbatch.Params{Conn: uc, Timestamps: true, Intercept: g.fromGateway})
	if err != nil {
		return nil, errors.Join(err, uc.Close())
	}
	g.muxes = append(g.muxes, ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: c}))
	return c, nil
}

func (g *gen) newAPI(mux int) *webrtc.API {
	se := g.se
	se.SetICEUDPMux(g.muxes[mux])
	// no interceptors: pion's defaults (stats, reports) cost a quarter of a
	// microphone write and a browser's CPU is not what is measured
	return webrtc.NewAPI(webrtc.WithMediaEngine(g.me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
}

func (g *gen) newPeer(api *webrtc.API, i int) (*peer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
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

// fromGateway sees every packet arriving on the peers' shared ICE socket first:
// SRTP (the agents' audio) is counted and timed here from its clear header and
// consumed; STUN, DTLS and RTCP go on to pion.
func (g *gen) fromGateway(b []byte, _ netip.AddrPort, rx time.Time) bool {
	if len(b) < 12 || b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223) {
		return false // not RTP (RFC 7983 demux; RTCP types 192-223)
	}
	m := g.bySSRC.Load()
	if m == nil {
		return true
	}
	i, ok := (*m)[binary.BigEndian.Uint32(b[8:12])]
	if !ok {
		return true
	}
	p := g.peers[i]
	seq := binary.BigEndian.Uint16(b[2:4])
	if !p.offKnown {
		// The gateway rewrites sequence numbers with a constant offset per leg; the
		// first packet is the newest one sent before its kernel receive time (legs
		// send every 20 ms, far more than the gateway's latency; the receive
		// timestamp, not the time this reader got to it, so a stall of the
		// generator at the start does not shift every later measurement).
		last := uint16(g.lastSeq[i].Load())
		at := g.since(rx)
		found := false
		for d := range uint16(ring) {
			if t := g.astSent[i*ring+int(last-d)%ring].Load(); t > 0 && t <= at {
				p.seqOff, found = seq-(last-d), true
				break
			}
		}
		if !found { // not anchored (yet): counted, not timed
			g.recvAgent.Add(1)
			return true
		}
		p.offKnown = true
	}
	in := seq - p.seqOff
	sent := g.astSent[i*ring+int(in)%ring].Load()
	g.recvAgent.Add(1)
	if sent >= g.warm.Load() && sent > 0 {
		g.toAgent.add(time.Duration(g.since(time.Now()) - sent))
		g.toAgentAdd.add(time.Duration(g.since(rx) - sent))
	}
	return true
}

// fromAsteriskSide handles the microphones' RTP relayed by the gateway.
func (g *gen) fromAsteriskSide(b []byte, from netip.AddrPort, dst netip.Addr, rx time.Time) {
	var h rtp.Header
	off, err := h.Unmarshal(b)
	if err != nil || len(b) < off+8 {
		return
	}
	a := dst.As4()
	i := int(a[2])<<8 | int(a[3]) - 1 // leg i's channel is 127.2.(i+1)
	if !from.Addr().IsLoopback() || a[0] != 127 || a[1] != 2 || i < 0 || i >= len(g.peers) {
		return
	}
	g.recvAst.Add(1)
	stamped := int64(binary.BigEndian.Uint64(b[off : off+8]))
	sent := g.micSent[i*ring+int(h.SequenceNumber)%ring].Load()
	if stamped >= g.warm.Load() && sent > 0 {
		g.toAst.add(time.Duration(g.since(time.Now()) - stamped))
		g.toAstAdd.add(time.Duration(g.since(rx) - sent))
	}
}

// traffic sends frames 20 ms frames on every leg both ways, leg i in slot i%20 of
// each frame (the microphone 10 ms later), then waits for stragglers.
func (g *gen) traffic(frames, warm int) *result {
	if path := os.Getenv("CTID_LEGGEN_CPUPROFILE"); path != "" { // the generator's own profile
		if f, err := os.Create(path); err == nil {
			if err := pprof.StartCPUProfile(f); err == nil {
				defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
			}
		}
	}
	start := time.Now()
	g.warm.Store(g.since(start) + int64(time.Duration(warm)*20*time.Millisecond))
	sys0 := g.syscalls()
	cpu0 := cpuTime()
	n := len(g.peers)
	legs := make([]netip.AddrPort, n)
	for i, p := range g.peers {
		legs[i] = *p.leg.Load()
	}
	var wg sync.WaitGroup
	wg.Go(func() { // fake Asterisk -> agents: one sendmmsg per 1 ms slot
		pkt := make([]byte, 12+160)
		pkt[0] = 0x80
		for slot := range frames * 20 {
			if d := time.Until(start.Add(time.Duration(slot) * time.Millisecond)); d > 0 {
				time.Sleep(d)
			}
			seq := uint16(slot / 20)
			now := g.since(time.Now())
			g.ast.Hold()
			for i := slot % 20; i < n; i += 20 {
				binary.BigEndian.PutUint16(pkt[2:4], seq)
				binary.BigEndian.PutUint32(pkt[4:8], uint32(seq)*160)
				binary.BigEndian.PutUint32(pkt[8:12], uint32(1000+i))
				stamp(pkt[12:], now)
				g.astSent[i*ring+int(seq)%ring].Store(now)
				g.lastSeq[i].Store(uint32(seq))
				if _, err := g.ast.WriteFromToAddrPort(pkt, astAddr(i), legs[i]); err == nil {
					g.sentAst.Add(1)
				}
			}
			g.ast.Flush()
		}
	})
	mics := g.micSenders()
	wg.Go(func() { // microphones -> gateway: one sendmmsg per slot
		payload := make([]byte, 160)
		plain, enc := make([]byte, 1500), make([]byte, 1500)
		var pkt rtp.Packet
		pkt.Version = 2
		for slot := range frames * 20 {
			if d := time.Until(start.Add(time.Duration(slot)*time.Millisecond + 10*time.Millisecond)); d > 0 {
				time.Sleep(d)
			}
			seq := uint16(slot / 20)
			now := g.since(time.Now())
			stamp(payload, now)
			out := g.mux
			if out == nil {
				out = g.peerSock
			}
			out.Hold()
			for i := slot % 20; i < n; i += 20 {
				// before the write: a concurrent flush (a STUN or RTCP write) may
				// send the packet before Flush below
				g.micSent[i*ring+int(seq)%ring].Store(now)
				pkt.SequenceNumber, pkt.Timestamp, pkt.Payload = seq, uint32(seq)*160, payload
				if m := mics[i]; m != nil { // real SRTP, encrypted here
					pkt.SSRC, pkt.PayloadType = m.ssrc, 0
					n, err := pkt.MarshalTo(plain)
					if err != nil {
						continue
					}
					b, err := m.ctx.EncryptRTP(enc, plain[:n], nil)
					if err != nil {
						continue
					}
					if _, err := g.peerSock.WriteFromToAddrPort(b, m.from, m.to); err == nil {
						g.sentMic.Add(1)
					}
				} else if err := g.peers[i].mic.WriteRTP(&pkt); err == nil {
					g.sentMic.Add(1)
				}
			}
			out.Flush()
		}
	})
	wg.Wait()
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (g.recvAgent.Load() < g.sentAst.Load() || g.recvAst.Load() < g.sentMic.Load()) {
		time.Sleep(20 * time.Millisecond)
	}
	sys := g.syscalls() - sys0
	pkts := g.sentAst.Load() + g.sentMic.Load() + g.recvAgent.Load() + g.recvAst.Load()
	return &result{SentAst: g.sentAst.Load(), SentMic: g.sentMic.Load(), RecvAgent: g.recvAgent.Load(), RecvAst: g.recvAst.Load(),
		ToAgentP50: g.toAgent.q(0.5), ToAgentP99: g.toAgent.q(0.99), ToAstP50: g.toAst.q(0.5), ToAstP99: g.toAst.q(0.99),
		ToAgentAddP50: g.toAgentAdd.q(0.5), ToAgentAddP99: g.toAgentAdd.q(0.99), ToAstAddP50: g.toAstAdd.q(0.5), ToAstAddP99: g.toAstAdd.q(0.99),
		WallS: wall.Seconds(), GenCPU: 100 * cpu.Seconds() / wall.Seconds(), GenSyscallsPerPkt: float64(sys) / float64(max(pkts, 1))}
}

func (g *gen) syscalls() uint64 {
	n := g.ast.Syscalls.Load()
	if g.mux != nil {
		n += g.mux.Syscalls.Load()
	}
	if g.peerSock != nil {
		n += g.peerSock.Syscalls.Load()
	}
	return n
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// openPeerSock opens the peers' shared socket (0.0.0.0, a free port), a virtual
// connection per peer on its own loopback address, and the reader that takes the
// gateway's SRTP off (fromGateway) and hands the rest (STUN, DTLS, RTCP) to the
// peer the packet was addressed to.
func (g *gen) openPeerSock(n int) error {
	if n > 65000 {
		return fmt.Errorf("%d peers: at most 65000", n)
	}
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return err
	}
	if err := errors.Join(uc.SetReadBuffer(8<<20), uc.SetWriteBuffer(8<<20)); err != nil {
		return errors.Join(err, uc.Close())
	}
	c, err := udpbatch.New(udpbatch.Params{Conn: uc, Timestamps: true, Dst: true})
	if err != nil {
		return errors.Join(err, uc.Close())
	}
	g.peerSock = c
	port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
	g.peerConns = make([]*vconn, n)
	for i := range n {
		k := i + 1
		g.peerConns[i] = &vconn{keys: g.keys, s: c, local: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(k >> 8), byte(k)}), port),
			in: make(chan vpkt, 64), done: make(chan struct{})}
	}
	go func() { // ends when the socket is closed
		_ = c.DrainDst(func(b []byte, from netip.AddrPort, dst netip.Addr, rx time.Time) {
			if !from.Addr().IsLoopback() || g.fromGateway(b, from, rx) {
				return
			}
			a := dst.As4()
			k := int(a[2])<<8 | int(a[3])
			if a[0] != 127 || a[1] != 1 || k < 1 || k > n {
				return
			}
			if b[0] >= 20 && b[0] <= 63 { // DTLS: the handshake, for the keys
				g.keys.Observe(b, g.peerConns[k-1].local, false)
			}
			select {
			case g.peerConns[k-1].in <- vpkt{b: append([]byte(nil), b...), from: from}:
			default: // the peer's ICE reader is behind: dropped, as a full socket would
			}
		})
		for _, v := range g.peerConns {
			v.close()
		}
	}()
	return nil
}

type vpkt struct {
	b    []byte
	from netip.AddrPort
}

// vconn is one peer's view of the shared socket: a net.PacketConn for its pion
// UDP mux.
type vconn struct {
	keys  *dtlskeys.Tracker
	s     *udpbatch.Conn
	local netip.AddrPort
	in    chan vpkt
	once  sync.Once
	done  chan struct{}
}

func (v *vconn) close() { v.once.Do(func() { close(v.done) }) }

func (v *vconn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-v.in:
		return copy(b, p.b), net.UDPAddrFromAddrPort(p.from), nil
	case <-v.done:
		return 0, nil, net.ErrClosed
	}
}

func (v *vconn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("not a UDP address: %v", addr)
	}
	ap := ua.AddrPort()
	if len(b) > 0 && b[0] >= 20 && b[0] <= 63 && v.keys != nil { // DTLS
		v.keys.Observe(b, v.local, true)
	}
	return v.s.WriteFromToAddrPort(b, v.local.Addr(), netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

func (v *vconn) Close() error                     { v.close(); return nil }
func (v *vconn) LocalAddr() net.Addr              { return net.UDPAddrFromAddrPort(v.local) }
func (v *vconn) SetDeadline(time.Time) error      { return nil }
func (v *vconn) SetReadDeadline(time.Time) error  { return nil }
func (v *vconn) SetWriteDeadline(time.Time) error { return nil }

// micSender encrypts one peer's microphone with its own SRTP context (the keys
// from pion's key log and the handshake seen on the shared socket: the same SRTP
// a browser sends) and writes it from the peer's address, skipping pion's write
// path (track, interceptors, SRTP session, ICE) which cost a third of the
// generator's CPU.
type micSender struct {
	ctx  *srtp.Context
	ssrc uint32
	from netip.Addr
	to   netip.AddrPort
}

// micSenders prepares a micSender per peer on the shared socket (nil: that peer
// writes through pion).
func (g *gen) micSenders() []*micSender {
	out := make([]*micSender, len(g.peers))
	if g.peerSock == nil {
		return out
	}
	fast := 0
	for i, p := range g.peers {
		v := g.peerConns[i]
		k, err := g.keys.Keys(v.local)
		if err != nil {
			continue
		}
		ctx, err := k.Encrypter()
		if err != nil {
			continue
		}
		pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil || pair.Remote == nil {
			continue
		}
		a, err := netip.ParseAddr(pair.Remote.Address)
		if err != nil {
			continue
		}
		senders := p.pc.GetSenders()
		if len(senders) == 0 || len(senders[0].GetParameters().Encodings) == 0 {
			continue
		}
		out[i] = &micSender{ctx: ctx, ssrc: uint32(senders[0].GetParameters().Encodings[0].SSRC), from: v.local.Addr(),
			to: netip.AddrPortFrom(a.Unmap(), pair.Remote.Port)}
		fast++
	}
	fmt.Fprintf(os.Stderr, "leggen: %d of %d microphones encrypted without pion\n", fast, len(g.peers))
	return out
}

// astAddr is leg i's fake ExternalMedia channel address (the port is the fake
// Asterisk socket's; the benchmark gives the gateway the same).
func astAddr(i int) netip.Addr {
	k := i + 1
	return netip.AddrFrom4([4]byte{127, 2, byte(k >> 8), byte(k)})
}
