package softphone

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// testConfig is DefaultConfig restricted to loopback with a test port range.
func testConfig(portMin, portMax uint16) Config {
	cfg := DefaultConfig()
	cfg.MediaPortMin, cfg.MediaPortMax = portMin, portMax
	cfg.ICE.Interfaces = []string{"lo"}
	return cfg
}

func newTestGateway(t testing.TB, cfg Config) *Gateway {
	t.Helper()
	g, err := NewGateway(cfg, zerolog.Nop())
	if err != nil {
		t.Fatalf("NewGateway: %v", err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("gateway close: %v", err)
		}
	})
	return g
}

// candidateSink plays the console's signalling: it applies the session's answers
// (OnAnswer) and candidates (OnCandidate) to the client in the order the session
// delivers them, as the desktop WebSocket would.
type candidateSink struct {
	mu       sync.Mutex
	pc       *webrtc.PeerConnection
	ready    bool
	pending  []webrtc.ICECandidateInit
	done     bool
	answered chan error
	// lossy: answers are applied but no candidate reaches the client (a broken
	// signalling path for TestICENeverCompletes)
	lossy bool
}

func (k *candidateSink) answer(sdp string) {
	k.mu.Lock()
	err := k.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
	if err == nil && !k.lossy {
		k.ready = true
		for _, c := range k.pending {
			if aerr := k.pc.AddICECandidate(c); aerr != nil && err == nil {
				err = aerr
			}
		}
		k.pending = nil
	}
	ch := k.answered
	k.mu.Unlock()
	if ch != nil {
		ch <- err
	}
}

func (k *candidateSink) add(c *webrtc.ICECandidateInit) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c == nil {
		k.done = true
		return
	}
	if !k.ready {
		k.pending = append(k.pending, *c)
		return
	}
	if err := k.pc.AddICECandidate(*c); err != nil {
		k.pending = append(k.pending, *c) // retried on the next flush
	}
}

// harness is one session plus a pion "browser".
type harness struct {
	t      testing.TB
	g      *Gateway
	s      *Session
	cl     *client
	sink   *candidateSink
	states chan State
	dtmf   chan DTMF
}

func newHarness(t testing.TB, g *Gateway) *harness {
	t.Helper()
	h := &harness{t: t, g: g, sink: &candidateSink{answered: make(chan error, 8)}, states: make(chan State, 64), dtmf: make(chan DTMF, 64)}
	s, err := g.NewSession(SessionParams{
		Agent:       "alice",
		OnAnswer:    h.sink.answer,
		OnCandidate: h.sink.add,
		OnState: func(st State) {
			select {
			case h.states <- st:
			default:
			}
		},
		OnDTMF: func(d DTMF) {
			select {
			case h.dtmf <- d:
			default:
			}
		},
	})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	h.s = s
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("session close: %v", err)
		}
	})
	h.cl = newClient(t)
	h.sink.pc = h.cl.pc
	h.cl.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.AddCandidate(ctx, c.ToJSON()); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("session AddCandidate: %v", err)
		}
	})
	return h
}

// negotiate runs one offer/answer round (restart: an ICE restart offer).
func (h *harness) negotiate(restart bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offer, err := h.cl.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		h.t.Fatalf("client CreateOffer: %v", err)
	}
	if err := h.cl.pc.SetLocalDescription(offer); err != nil {
		h.t.Fatalf("client SetLocalDescription: %v", err)
	}
	if _, err := h.s.Offer(ctx, offer.SDP); err != nil {
		h.t.Fatalf("session Offer: %v", err)
	}
	select { // the answer is applied by OnAnswer, before the new candidates
	case err := <-h.sink.answered:
		if err != nil {
			h.t.Fatalf("client applying the answer: %v", err)
		}
	case <-ctx.Done():
		h.t.Fatal("OnAnswer never called")
	}
}

func (h *harness) waitState(want State) {
	h.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case st := <-h.states:
			if st == want {
				return
			}
		case <-timeout:
			h.t.Fatalf("timed out waiting for state %s (now %s)", want, h.s.State())
		}
	}
}

// connect negotiates and waits until both ends are connected.
func (h *harness) connect() {
	h.t.Helper()
	h.negotiate(false)
	h.waitState(StateConnected)
	h.cl.waitConnected(h.t)
}

// client is a pion peer playing the browser: PCMU + telephone-event, a raw
// microphone track, received packets on recv.
type client struct {
	pc        *webrtc.PeerConnection
	mic       *rawTrack
	recv      chan *rtp.Packet
	connected chan struct{}
	// lastSR is the last RTCP sender report received from the gateway.
	lastSR atomic.Pointer[rtcp.SenderReport]
}

func newClient(t testing.TB) *client {
	t.Helper()
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, Channels: 1, SDPFmtpLine: "0-16"}, PayloadType: 126},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatalf("client codec: %v", err)
		}
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.LoggerFactory = pionLogs{log: zerolog.Nop()}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatalf("client pc: %v", err)
	}
	c := &client{pc: pc, mic: &rawTrack{}, recv: make(chan *rtp.Packet, 4096), connected: make(chan struct{})}
	t.Cleanup(func() {
		if err := pc.Close(); err != nil {
			t.Errorf("client close: %v", err)
		}
	})
	if _, err := pc.AddTrack(c.mic); err != nil {
		t.Fatalf("client AddTrack: %v", err)
	}
	var once sync.Once
	pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) {
		if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(c.connected) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		go func() { // ends when the peer connection closes
			for {
				pkts, _, err := r.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok {
						c.lastSR.Store(sr)
					}
				}
			}
		}()
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case c.recv <- p:
			default:
			}
		}
	})
	return c
}

func (c *client) waitConnected(t testing.TB) {
	t.Helper()
	select {
	case <-c.connected:
	case <-time.After(15 * time.Second):
		t.Fatalf("client never connected (%s)", c.pc.ConnectionState())
	}
}

// receive collects n packets or fails after timeout.
func (c *client) receive(t testing.TB, n int, timeout time.Duration) []*rtp.Packet {
	t.Helper()
	out := make([]*rtp.Packet, 0, n)
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case p := <-c.recv:
			out = append(out, p)
		case <-deadline:
			t.Fatalf("browser received %d of %d packets", len(out), n)
		}
	}
	return out
}

// drain discards whatever the client has received so far.
func (c *client) drain() {
	for {
		select {
		case <-c.recv:
		default:
			return
		}
	}
}

// rawTrack is a TrackLocal that writes packets with any payload type (pion's
// TrackLocalStaticRTP forces the codec's), so the test can send telephone-event.
type rawTrack struct {
	mu   sync.Mutex
	ws   webrtc.TrackLocalWriter
	ssrc webrtc.SSRC
}

var errUnbound = errors.New("track not bound")

func (r *rawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ws, r.ssrc = ctx.WriteStream(), ctx.SSRC()
	for _, c := range ctx.CodecParameters() {
		if c.MimeType == webrtc.MimeTypePCMU {
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (r *rawTrack) Unbind(webrtc.TrackLocalContext) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ws = nil
	return nil
}

func (r *rawTrack) ID() string                { return "mic" }
func (r *rawTrack) RID() string               { return "" }
func (r *rawTrack) StreamID() string          { return "browser" }
func (r *rawTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

func (r *rawTrack) write(pt uint8, seq uint16, ts uint32, marker bool, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ws == nil {
		return errUnbound
	}
	_, err := r.ws.WriteRTP(&rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts,
		SSRC: uint32(r.ssrc), Marker: marker}, payload)
	return err
}

// fakeAsterisk is the ExternalMedia end: a UDP socket that sends 20 ms PCMU
// packets to a leg and receives what the gateway sends back.
type fakeAsterisk struct {
	conn *net.UDPConn
	ssrc uint32
	seq  uint16
	ts   uint32
}

func newFakeAsterisk(t testing.TB, ssrc uint32) *fakeAsterisk {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("fake asterisk listen: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("fake asterisk close: %v", err)
		}
	})
	return &fakeAsterisk{conn: conn, ssrc: ssrc, seq: 1000, ts: 50000}
}

func (a *fakeAsterisk) addr() netip.AddrPort {
	return netip.MustParseAddrPort(a.conn.LocalAddr().String())
}

// packet builds the next 160-byte PCMU packet; the first payload byte carries tag.
func (a *fakeAsterisk) packet(t testing.TB, tag byte) []byte {
	t.Helper()
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = 0xFF
	}
	payload[0] = tag
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: a.seq, Timestamp: a.ts, SSRC: a.ssrc}, Payload: payload}
	a.seq++
	a.ts += 160
	b, err := p.Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// send sends n packets at 50 pkt/s to dst.
func (a *fakeAsterisk) send(t testing.TB, dst netip.AddrPort, n int, tag byte) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := range n {
		if i > 0 {
			<-tick.C
		}
		if _, err := a.conn.WriteToUDPAddrPort(a.packet(t, tag), dst); err != nil {
			t.Fatalf("fake asterisk send: %v", err)
		}
	}
}

// receive reads RTP until n packets arrived or timeout; returns them.
func (a *fakeAsterisk) receive(t testing.TB, n int, timeout time.Duration) []rtp.Packet {
	t.Helper()
	out := make([]rtp.Packet, 0, n)
	if err := a.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatalf("deadline: %v", err)
	}
	buf := make([]byte, 1500)
	for len(out) < n {
		k, _, err := a.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("fake asterisk received %d of %d packets: %v", len(out), n, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:k]...)); err != nil {
			t.Fatalf("fake asterisk got non-RTP: %v", err)
		}
		out = append(out, p)
	}
	return out
}

// sendMic sends n 20 ms PCMU packets from the browser's microphone.
func sendMic(t testing.TB, cl *client, n int, seq0 uint16) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 160)
	for i := range n {
		if i > 0 {
			<-tick.C
		}
		if err := cl.mic.write(0, seq0+uint16(i), uint32(i)*160, i == 0, payload); err != nil {
			t.Fatalf("mic write: %v", err)
		}
	}
}
