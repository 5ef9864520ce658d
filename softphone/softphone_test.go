package softphone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// eventually polls cond for up to 5 s (counters are bumped just after the packet
// leaves, so a receiver can see the packet first).
func eventually(t *testing.T, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkStream asserts PCMU, consecutive sequence numbers and 160-sample steps.
func checkStream(t *testing.T, pkts []*rtp.Packet) {
	t.Helper()
	for i, p := range pkts {
		if p.PayloadType != 0 {
			t.Fatalf("packet %d: payload type %d, want 0 (PCMU)", i, p.PayloadType)
		}
		if len(p.Payload) != 160 {
			t.Fatalf("packet %d: payload %d bytes, want 160", i, len(p.Payload))
		}
		if i == 0 {
			continue
		}
		prev := pkts[i-1]
		if p.SequenceNumber != prev.SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
		}
		if p.SSRC != prev.SSRC {
			t.Fatalf("packet %d: SSRC changed %d -> %d", i, prev.SSRC, p.SSRC)
		}
	}
}

func TestAudioFlowsBothWays(t *testing.T) {
	g := newTestGateway(t, testConfig(47100, 47199))
	h := newHarness(t, g)
	h.connect()

	leg, err := h.s.AttachCall(ctxT(t), "call-1")
	if err != nil {
		t.Fatalf("AttachCall: %v", err)
	}
	if !leg.LocalAddr.Addr().IsLoopback() || leg.LocalAddr.Port() < 47100 || leg.LocalAddr.Port() > 47199 {
		t.Fatalf("leg address %s outside 127.0.0.1:47100-47199", leg.LocalAddr)
	}

	// Asterisk -> browser: 50 pkt/s for one second.
	ast := newFakeAsterisk(t, 0xA5A5)
	start := time.Now()
	ast.send(t, leg.LocalAddr, 50, 1)
	got := h.cl.receive(t, 50, 5*time.Second)
	checkStream(t, got)
	for i := 1; i < len(got); i++ {
		if d := got[i].Timestamp - got[i-1].Timestamp; d != 160 {
			t.Fatalf("packet %d: timestamp step %d, want 160", i, d)
		}
	}
	t.Logf("50 packets relayed to the browser in %v", time.Since(start))

	// Browser microphone -> Asterisk (the latched source address).
	sendMic(t, h.cl, 50, 7)
	back := ast.receive(t, 50, 5*time.Second)
	for i, p := range back {
		if p.PayloadType != 0 || len(p.Payload) != 160 || p.SequenceNumber != uint16(7+i) {
			t.Fatalf("asterisk packet %d: pt %d len %d seq %d", i, p.PayloadType, len(p.Payload), p.SequenceNumber)
		}
	}

	eventually(t, func() bool {
		st := leg.Stats()
		return st.FromAsterisk == 50 && st.ToAgent == 50 && st.FromAgent == 50 && st.ToAsterisk == 50
	}, func() string { return fmt.Sprintf("leg stats %+v, want 50 each way", leg.Stats()) })
	st := leg.Stats()
	if st.Remote != ast.addr() {
		t.Fatalf("latched %s, want %s", st.Remote, ast.addr())
	}
	if st.DroppedForeign+st.DroppedInvalid+st.DroppedInactive+st.DroppedNoPeer != 0 {
		t.Fatalf("unexpected drops %+v", st)
	}
	eventually(t, func() bool { return g.Stats().ToAsterisk == 50 }, func() string { return fmt.Sprintf("%+v", g.Stats()) })
	gs := g.Stats()
	if gs.Sessions != 1 || gs.Legs != 1 || gs.PortsInUse != 1 || gs.ToAgent != 50 || gs.ToAsterisk != 50 {
		t.Fatalf("gateway stats %+v", gs)
	}

	final, err := h.s.DetachCall(ctxT(t), "call-1")
	if err != nil {
		t.Fatalf("DetachCall: %v", err)
	}
	if final.ToAsterisk != 50 {
		t.Fatalf("final stats %+v", final)
	}
	if gs := g.Stats(); gs.Legs != 0 || gs.PortsInUse != 0 {
		t.Fatalf("after detach: %+v", gs)
	}
	// Between calls the microphone goes nowhere and is counted.
	sendMic(t, h.cl, 5, 100)
	deadline := time.Now().Add(5 * time.Second)
	for h.s.MicrophonePacketsWithoutLeg() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("mic packets without leg: %d, want 5", h.s.MicrophonePacketsWithoutLeg())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSourceAddressFiltering(t *testing.T) {
	g := newTestGateway(t, testConfig(47200, 47299))
	h := newHarness(t, g)
	h.connect()
	leg, err := h.s.AttachCall(ctxT(t), "call-1")
	if err != nil {
		t.Fatalf("AttachCall: %v", err)
	}
	ast := newFakeAsterisk(t, 1)
	intruder := newFakeAsterisk(t, 2)

	ast.send(t, leg.LocalAddr, 5, 1)          // latches
	intruder.send(t, leg.LocalAddr, 10, 2)    // dropped
	ast.send(t, leg.LocalAddr, 5, 1)          // still relayed
	got := h.cl.receive(t, 10, 5*time.Second) // only Asterisk's
	for i, p := range got {
		if p.Payload[0] != 1 {
			t.Fatalf("packet %d came from the intruder", i)
		}
	}
	checkStream(t, got)
	st := leg.Stats()
	if st.DroppedForeign != 10 || st.FromAsterisk != 10 || st.Remote != ast.addr() {
		t.Fatalf("stats %+v, want 10 dropped from the intruder, 10 accepted", st)
	}
	// The microphone goes to the latched address only.
	sendMic(t, h.cl, 5, 1)
	ast.receive(t, 5, 5*time.Second)
	if err := intruder.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	if _, _, err := intruder.conn.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatal("intruder received microphone audio")
	}
	if g.Stats().DroppedForeign != 10 {
		t.Fatalf("gateway dropped_foreign %d, want 10", g.Stats().DroppedForeign)
	}
}

func TestAllowedSourcesRejectsLatch(t *testing.T) {
	cfg := testConfig(47300, 47309)
	cfg.MediaAllowedSources = []string{"10.1.2.3/32"}
	g := newTestGateway(t, cfg)
	s, err := g.NewSession(SessionParams{Agent: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	leg, err := s.AttachCall(ctxT(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	ast := newFakeAsterisk(t, 1)
	ast.send(t, leg.LocalAddr, 3, 1)
	deadline := time.Now().Add(5 * time.Second)
	for leg.Stats().DroppedForeign < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want 3 foreign drops", leg.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if leg.Stats().Remote.IsValid() {
		t.Fatal("latched onto a source outside media_allowed_sources")
	}
}

func TestOfferRejections(t *testing.T) {
	g := newTestGateway(t, testConfig(47310, 47319))
	s, err := g.NewSession(SessionParams{Agent: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	// A data-channel-only offer from a real pion peer.
	dcPeer, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := dcPeer.Close(); err != nil {
			t.Error(err)
		}
	}()
	if _, err := dcPeer.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	dataOnly := `v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=mid:0
a=sctp-port:5000
`
	videoOnly := `v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
t=0 0
m=video 9 UDP/TLS/RTP/SAVPF 96
c=IN IP4 0.0.0.0
a=mid:0
a=rtpmap:96 VP8/90000
`
	opusOnly := `v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
t=0 0
m=audio 9 UDP/TLS/RTP/SAVPF 111
c=IN IP4 0.0.0.0
a=mid:0
a=rtpmap:111 opus/48000/2
`
	rejectedAudio := `v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
t=0 0
m=audio 0 UDP/TLS/RTP/SAVPF 0
c=IN IP4 0.0.0.0
a=mid:0
`
	for _, tc := range []struct {
		name, sdp string
		want      error
	}{
		{"data channel only", dataOnly, ErrNoAudio},
		{"video only", videoOnly, ErrNoAudio},
		{"audio port 0", rejectedAudio, ErrNoAudio},
		{"opus only", opusOnly, ErrNoCommonCodec},
		{"garbage", "this is not SDP", ErrInvalidOffer},
		{"empty", "", ErrInvalidOffer},
	} {
		_, err := s.Offer(ctxT(t), strings.ReplaceAll(tc.sdp, "\n", "\r\n"))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	// The pion-generated data-channel offer too.
	offer, err := dcPeer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Offer(ctxT(t), offer.SDP); !errors.Is(err, ErrNoAudio) {
		t.Fatalf("pion data-channel offer: %v, want ErrNoAudio", err)
	}
	// The session is still usable: a proper offer is answered.
	h := &harness{t: t, g: g, s: s, cl: newClient(t), sink: &candidateSink{}, states: make(chan State, 1)}
	h.sink.pc = h.cl.pc
	offer, err = h.cl.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cl.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := s.Offer(ctxT(t), offer.SDP)
	if err != nil {
		t.Fatalf("valid offer after rejections: %v", err)
	}
	if !strings.Contains(answer, "m=audio") || !strings.Contains(answer, "PCMU/8000") {
		t.Fatalf("answer lacks PCMU audio:\n%s", answer)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Offer(ctxT(t), offer.SDP); !errors.Is(err, ErrClosed) {
		t.Fatalf("offer after close: %v", err)
	}
}

// freePort finds a UDP port nobody holds right now.
func freePort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParseAddrPort(c.LocalAddr().String()).Port()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPortRangeExhaustion(t *testing.T) {
	p := freePort(t)
	g := newTestGateway(t, testConfig(p, p))
	s, err := g.NewSession(SessionParams{Agent: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	leg, err := s.AttachCall(ctxT(t), "a")
	if err != nil {
		t.Fatalf("first attach: %v", err)
	}
	if leg.LocalAddr.Port() != p {
		t.Fatalf("port %d, want %d", leg.LocalAddr.Port(), p)
	}
	if _, err := s.AttachCall(ctxT(t), "a"); !errors.Is(err, ErrCallAttached) {
		t.Fatalf("duplicate attach: %v", err)
	}
	if _, err := s.AttachCall(ctxT(t), "b"); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("second attach: %v, want ErrPortsExhausted", err)
	}
	if g.Stats().PortExhaustions != 1 {
		t.Fatalf("exhaustions %d", g.Stats().PortExhaustions)
	}
	if _, err := s.DetachCall(ctxT(t), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DetachCall(ctxT(t), "a"); !errors.Is(err, ErrNoSuchCall) {
		t.Fatalf("second detach: %v", err)
	}
	if _, err := s.AttachCall(ctxT(t), "b"); err != nil {
		t.Fatalf("attach after release: %v", err)
	}
	if _, err := s.DetachCall(ctxT(t), "b"); err != nil {
		t.Fatal(err)
	}

	// A port held by another process is skipped; with none left the error says why.
	hold, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(p)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := hold.Close(); err != nil {
			t.Error(err)
		}
	}()
	_, err = s.AttachCall(ctxT(t), "c")
	if !errors.Is(err, ErrPortsExhausted) || !strings.Contains(err.Error(), "bind") {
		t.Fatalf("attach with port held elsewhere: %v", err)
	}
}

// Also over ice_udp_mux, where the first packet takes pion's path and the rest
// the fast path (one key press straddles both).
func TestDTMFFromBrowser(t *testing.T) {
	t.Run("socket per agent", func(t *testing.T) { testDTMFFromBrowser(t, testConfig(47320, 47329)) })
	t.Run("ice_udp_mux", func(t *testing.T) {
		cfg := testConfig(47320, 47329)
		cfg.ICE.UDPMux = "127.0.0.1:0"
		testDTMFFromBrowser(t, cfg)
	})
}

func testDTMFFromBrowser(t *testing.T, cfg Config) {
	g := newTestGateway(t, cfg)
	h := newHarness(t, g)
	h.connect()
	if _, err := h.s.AttachCall(ctxT(t), "call-9"); err != nil {
		t.Fatal(err)
	}
	// Key "5": start, continuation, three end packets (same timestamp); then "#".
	evt := func(e byte, end bool, dur uint16) []byte {
		b := []byte{e, 10, byte(dur >> 8), byte(dur)}
		if end {
			b[1] |= 0x80
		}
		return b
	}
	writes := []struct {
		seq uint16
		ts  uint32
		p   []byte
	}{
		{1, 8000, evt(5, false, 160)}, {2, 8000, evt(5, false, 320)},
		{3, 8000, evt(5, true, 480)}, {4, 8000, evt(5, true, 480)}, {5, 8000, evt(5, true, 480)},
		{6, 16000, evt(11, false, 160)}, {7, 16000, evt(11, true, 320)},
		{8, 24000, evt(12, true, 320)},
	}
	for _, w := range writes {
		if err := h.cl.mic.write(126, w.seq, w.ts, w.seq == 1, w.p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var digits []string
	timeout := time.After(5 * time.Second)
	for len(digits) < 3 {
		select {
		case d := <-h.dtmf:
			if d.CallID != "call-9" {
				t.Fatalf("dtmf call id %q", d.CallID)
			}
			digits = append(digits, d.Digit)
		case <-timeout:
			t.Fatalf("got digits %v, want [5 # A]", digits)
		}
	}
	select {
	case d := <-h.dtmf:
		t.Fatalf("extra digit %+v (retransmissions must not repeat a key)", d)
	case <-time.After(200 * time.Millisecond):
	}
	if strings.Join(digits, "") != "5#A" {
		t.Fatalf("digits %v, want 5 # A", digits)
	}
	if g.Stats().DTMF != 3 {
		t.Fatalf("dtmf counter %d", g.Stats().DTMF)
	}
}

// Also over ice_udp_mux, where both directions are on the fast paths (the
// outbound one follows the newly selected candidate pair).
func TestICERestartKeepsAudio(t *testing.T) {
	t.Run("socket per agent", func(t *testing.T) { testICERestartKeepsAudio(t, testConfig(47330, 47339)) })
	t.Run("ice_udp_mux", func(t *testing.T) {
		cfg := testConfig(47330, 47339)
		cfg.ICE.UDPMux = "127.0.0.1:0"
		testICERestartKeepsAudio(t, cfg)
	})
}

func testICERestartKeepsAudio(t *testing.T, cfg Config) {
	g := newTestGateway(t, cfg)
	h := newHarness(t, g)
	h.connect()
	leg, err := h.s.AttachCall(ctxT(t), "call-1")
	if err != nil {
		t.Fatal(err)
	}
	ast := newFakeAsterisk(t, 77)
	ast.send(t, leg.LocalAddr, 10, 1)
	before := h.cl.receive(t, 10, 5*time.Second)

	h.negotiate(true) // ICE restart offer from the browser
	if h.s.State() == StateClosed {
		t.Fatal("session closed by ICE restart")
	}
	// Audio keeps flowing on the same stream (seq continues).
	deadline := time.Now().Add(10 * time.Second)
	var after []*rtp.Packet
	for len(after) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no audio after ICE restart")
		}
		ast.send(t, leg.LocalAddr, 5, 2)
		select {
		case p := <-h.cl.recv:
			after = append(after, p)
		case <-time.After(300 * time.Millisecond):
		}
	}
	if d := after[0].SequenceNumber - before[len(before)-1].SequenceNumber; d == 0 || d > 0x8000 {
		t.Fatalf("sequence went backwards across the restart: %d -> %d", before[len(before)-1].SequenceNumber, after[0].SequenceNumber)
	}
	if after[0].SSRC != before[0].SSRC {
		t.Fatal("SSRC changed across the restart")
	}
	sendMic(t, h.cl, 3, 1)
	ast.receive(t, 3, 5*time.Second)
}

// TestContinuityAcrossCalls: two calls in a row (different Asterisk SSRCs and
// sequence spaces) reach the browser as one continuous stream.
func TestContinuityAcrossCalls(t *testing.T) {
	g := newTestGateway(t, testConfig(47340, 47349))
	h := newHarness(t, g)
	h.connect()

	var all []*rtp.Packet
	for i, ssrc := range []uint32{111, 222} {
		callID := []string{"first", "second"}[i]
		leg, err := h.s.AttachCall(ctxT(t), callID)
		if err != nil {
			t.Fatal(err)
		}
		ast := newFakeAsterisk(t, ssrc)
		ast.seq, ast.ts = uint16(60000*i+17), uint32(i)*999999
		ast.send(t, leg.LocalAddr, 10, byte(i))
		all = append(all, h.cl.receive(t, 10, 5*time.Second)...)
		if _, err := h.s.DetachCall(ctxT(t), callID); err != nil {
			t.Fatal(err)
		}
	}
	checkStream(t, all)
	if !all[10].Marker {
		t.Fatal("first packet of the second call lacks the marker bit")
	}
	if d := all[10].Timestamp - all[9].Timestamp; d < 160 || d > 8000*10 {
		t.Fatalf("timestamp step %d across calls, want wall-clock based (>=160)", d)
	}
}

// TestActivateSwitchesLeg: with two legs (consultation), only the active one is heard
// and receives the microphone.
func TestActivateSwitchesLeg(t *testing.T) {
	g := newTestGateway(t, testConfig(47350, 47359))
	h := newHarness(t, g)
	h.connect()
	held, err := h.s.AttachCall(ctxT(t), "held")
	if err != nil {
		t.Fatal(err)
	}
	astHeld := newFakeAsterisk(t, 1)
	astHeld.send(t, held.LocalAddr, 1, 1)
	h.cl.receive(t, 1, 5*time.Second)
	consult, err := h.s.AttachCall(ctxT(t), "consult")
	if err != nil {
		t.Fatal(err)
	}
	astConsult := newFakeAsterisk(t, 2)
	astHeld.send(t, held.LocalAddr, 3, 1)
	astConsult.send(t, consult.LocalAddr, 3, 2)
	for i, p := range h.cl.receive(t, 3, 5*time.Second) {
		if p.Payload[0] != 2 {
			t.Fatalf("packet %d from the held call while consulting", i)
		}
	}
	eventually(t, func() bool { return held.Stats().DroppedInactive == 3 },
		func() string { return fmt.Sprintf("held leg %+v, want 3 inactive drops", held.Stats()) })
	if err := h.s.Activate("held"); err != nil {
		t.Fatal(err)
	}
	sendMic(t, h.cl, 2, 1)
	astHeld.receive(t, 2, 5*time.Second)
	if legs := h.s.Legs(); len(legs) != 2 || legs[0].CallID != "held" {
		t.Fatalf("legs %v, want the active (held) first", legs)
	}
	// Mute withholds the microphone from Asterisk.
	if err := h.s.SetMuted("held", true); err != nil {
		t.Fatal(err)
	}
	sendMic(t, h.cl, 3, 10)
	deadline := time.Now().Add(5 * time.Second)
	for held.Stats().DroppedMuted < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("held leg %+v, want 3 muted drops", held.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.s.SetMuted("held", false); err != nil {
		t.Fatal(err)
	}
	sendMic(t, h.cl, 1, 20)
	if p := astHeld.receive(t, 1, 5*time.Second); p[0].SequenceNumber != 20 {
		t.Fatalf("after unmute got seq %d, want 20 (muted packets must not arrive)", p[0].SequenceNumber)
	}
	// Hold: no active leg; nothing flows either way.
	if err := h.s.Activate(""); err != nil {
		t.Fatal(err)
	}
	before := h.s.MicrophonePacketsWithoutLeg()
	sendMic(t, h.cl, 2, 30)
	eventually(t, func() bool { return h.s.MicrophonePacketsWithoutLeg() == before+2 },
		func() string { return "microphone not withheld during hold" })
	astHeld.send(t, held.LocalAddr, 2, 1)
	eventually(t, func() bool { return held.Stats().DroppedInactive == 5 },
		func() string { return fmt.Sprintf("held leg %+v, want 5 inactive drops", held.Stats()) })
	if err := h.s.SetMuted("nope", true); !errors.Is(err, ErrNoSuchCall) {
		t.Fatalf("mute unknown: %v", err)
	}
	if err := h.s.Activate("nope"); !errors.Is(err, ErrNoSuchCall) {
		t.Fatalf("activate unknown: %v", err)
	}
}

// goroutines returns the stacks of all goroutines, keyed by their "goroutine N" header.
func goroutines() map[string]string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, " [")
		out[head] = g
	}
	return out
}

// TestCloseStopsAllGoroutines: goleak-style, every goroutine started during the test
// that runs pion or softphone code must be gone after Gateway.Close.
func TestCloseStopsAllGoroutines(t *testing.T) {
	for _, mux := range []string{"", "127.0.0.1:0"} { // a socket per agent; the shared ICE socket
		t.Run("ice_udp_mux="+mux, func(t *testing.T) { closeStopsAllGoroutines(t, mux) })
	}
}

func closeStopsAllGoroutines(t *testing.T, mux string) {
	before := goroutines()
	func() {
		cfg := testConfig(47360, 47369)
		cfg.ICE.UDPMux = mux
		g, err := NewGateway(cfg, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, g) // its cleanups are idempotent closes

		h.connect()
		if _, err := h.s.AttachCall(ctxT(t), "x"); err != nil {
			t.Fatal(err)
		}
		leg, err := h.s.AttachCall(ctxT(t), "y") // the active leg
		if err != nil {
			t.Fatal(err)
		}
		ast := newFakeAsterisk(t, 5)
		ast.send(t, leg.LocalAddr, 5, 1)
		h.cl.receive(t, 5, 5*time.Second)
		sendMic(t, h.cl, 5, 1)
		ast.receive(t, 5, 5*time.Second)
		if err := ast.conn.Close(); err != nil {
			t.Fatal(err)
		}
		if err := g.Close(); err != nil { // closes the session
			t.Fatal(err)
		}
		if h.s.State() != StateClosed {
			t.Fatalf("state %s after close", h.s.State())
		}
		if _, err := h.s.AttachCall(ctxT(t), "z"); !errors.Is(err, ErrClosed) {
			t.Fatalf("attach after close: %v", err)
		}
		if _, err := g.NewSession(SessionParams{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("new session after gateway close: %v", err)
		}
		if gs := g.Stats(); gs.Sessions != 0 || gs.PortsInUse != 0 {
			t.Fatalf("after close: %+v", gs)
		}
		if err := h.cl.pc.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var leaked []string
		for head, stack := range goroutines() {
			if _, old := before[head]; old {
				continue
			}
			if strings.Contains(stack, "github.com/pion/") || strings.Contains(stack, "ctid/softphone.") {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetricsCollector(t *testing.T) {
	g := newTestGateway(t, testConfig(47370, 47379))
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(g)); err != nil {
		t.Fatal(err)
	}
	s, err := g.NewSession(SessionParams{Agent: "erin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachCall(ctxT(t), "c1"); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	series := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			series++
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			got[mf.GetName()] += v
		}
	}
	if series != 15 {
		t.Fatalf("%d series, want 15", series)
	}
	if got["ctid_softphone_legs"] != 1 || got["ctid_softphone_media_ports"] != 10 ||
		got["ctid_softphone_media_ports_in_use"] != 1 || got["ctid_softphone_legs_attached_total"] != 1 {
		t.Fatalf("metrics %v", got)
	}
}

func TestCandidatesBeforeOfferAreBuffered(t *testing.T) {
	g := newTestGateway(t, testConfig(47380, 47389))
	s, err := g.NewSession(SessionParams{Agent: "frank"})
	if err != nil {
		t.Fatal(err)
	}
	c := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"}
	for range maxPendingCandidates {
		if err := s.AddCandidate(ctxT(t), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddCandidate(ctxT(t), c); !errors.Is(err, ErrInvalidCandidate) {
		t.Fatalf("candidate %d: %v, want ErrInvalidCandidate", maxPendingCandidates+1, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.AddCandidate(ctx, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

// TestReconnectTakesOverCall: the agent reloads the console (new peer connection)
// during a call; the new session takes the live leg over, same port, and audio
// flows both ways again while the old session is closed.
func TestReconnectTakesOverCall(t *testing.T) {
	g := newTestGateway(t, testConfig(47390, 47399))
	old := newHarness(t, g)
	old.connect()
	leg, err := old.s.AttachCall(ctxT(t), "call-1")
	if err != nil {
		t.Fatal(err)
	}
	ast := newFakeAsterisk(t, 3)
	ast.send(t, leg.LocalAddr, 5, 1)
	old.cl.receive(t, 5, 5*time.Second)

	fresh := newHarness(t, g)
	fresh.connect()
	moved, err := fresh.s.TakeCall(ctxT(t), old.s, "call-1")
	if err != nil {
		t.Fatalf("TakeCall: %v", err)
	}
	if moved.LocalAddr != leg.LocalAddr {
		t.Fatalf("port changed: %s -> %s", leg.LocalAddr, moved.LocalAddr)
	}
	if _, ok := old.s.Leg("call-1"); ok {
		t.Fatal("old session still has the leg")
	}
	if err := old.s.Close(); err != nil {
		t.Fatal(err)
	}
	ast.send(t, leg.LocalAddr, 5, 2)
	for _, p := range fresh.cl.receive(t, 5, 5*time.Second) {
		if p.Payload[0] != 2 {
			t.Fatal("unexpected payload")
		}
	}
	sendMic(t, fresh.cl, 5, 1)
	ast.receive(t, 5, 5*time.Second)
	eventually(t, func() bool {
		st := moved.Stats()
		return st.FromAsterisk == 10 && st.ToAgent == 10 && st.ToAsterisk == 5
	}, func() string { return fmt.Sprintf("stats %+v", moved.Stats()) })
	if _, err := fresh.s.TakeCall(ctxT(t), old.s, "call-1"); !errors.Is(err, ErrNoSuchCall) {
		t.Fatalf("second take: %v", err)
	}
	if _, err := fresh.s.DetachCall(ctxT(t), "call-1"); err != nil {
		t.Fatal(err)
	}
	if g.Stats().PortsInUse != 0 {
		t.Fatal("port not released")
	}
}

// TestFirstAudioLatency measures call attach -> first Asterisk packet at the
// browser on an already connected session (the "accept -> first audio" path).
func TestFirstAudioLatency(t *testing.T) {
	g := newTestGateway(t, testConfig(47400, 47409))
	h := newHarness(t, g)
	h.connect()
	ast := newFakeAsterisk(t, 4)
	start := time.Now()
	leg, err := h.s.AttachCall(ctxT(t), "call-1")
	if err != nil {
		t.Fatal(err)
	}
	attached := time.Since(start)
	sent := time.Now()
	ast.send(t, leg.LocalAddr, 1, 1)
	h.cl.receive(t, 1, 5*time.Second)
	relay := time.Since(sent)
	t.Logf("attach %v, first packet Asterisk->browser %v", attached, relay)
	if relay > time.Second {
		t.Fatalf("first audio took %v", relay)
	}
}

// TestCallbacksMayReenter: callbacks run outside the session's locks, so they may
// call the session (here: Leg from OnCandidate, Close from OnState) without a
// deadlock, and states still arrive in order, Closed last.
func TestCallbacksMayReenter(t *testing.T) {
	g := newTestGateway(t, testConfig(47420, 47429))
	var s *Session
	ready := make(chan struct{})
	states := make(chan State, 16)
	sink := &candidateSink{answered: make(chan error, 8)}
	var err error
	s, err = g.NewSession(SessionParams{
		Agent:    "gina",
		OnAnswer: sink.answer,
		OnCandidate: func(c *webrtc.ICECandidateInit) {
			<-ready
			s.Leg("none") // takes the session lock
			sink.add(c)
		},
		OnState: func(st State) {
			<-ready
			states <- st
			if st == StateConnected {
				if err := s.Close(); err != nil {
					t.Errorf("close from callback: %v", err)
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	h := &harness{t: t, g: g, s: s, cl: newClient(t), sink: sink, states: states}
	sink.pc = h.cl.pc
	h.cl.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			if err := s.AddCandidate(context.Background(), c.ToJSON()); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("AddCandidate: %v", err)
			}
		}
	})
	h.negotiate(false)
	var seen []State
	timeout := time.After(15 * time.Second)
	for len(seen) == 0 || seen[len(seen)-1] != StateClosed {
		select {
		case st := <-states:
			seen = append(seen, st)
		case <-timeout:
			t.Fatalf("states so far %v", seen)
		}
	}
	if len(seen) < 2 || seen[len(seen)-2] != StateConnected {
		t.Fatalf("states %v, want ... connected, closed", seen)
	}
}

// TestICENeverCompletes: no candidates ever reach either side; the session reports
// Failed (so ctid can tell the agent and not offer calls to a desktop without an
// audio path) within the configured ICE failed timeout; an ICE restart with
// candidates then recovers the same session.
func TestICENeverCompletes(t *testing.T) {
	cfg := testConfig(47440, 47449)
	cfg.ICE.DisconnectedTimeout, cfg.ICE.FailedTimeout, cfg.ICE.KeepAliveInterval = 300*time.Millisecond, time.Second, 100*time.Millisecond
	g := newTestGateway(t, cfg)
	h := newHarness(t, g)
	h.sink.lossy = true                                   // the session's candidates are lost
	h.cl.pc.OnICECandidate(func(*webrtc.ICECandidate) {}) // and the browser's
	offer, err := h.cl.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cl.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := h.s.Offer(ctxT(t), offer.SDP); err != nil {
		t.Fatal(err)
	}
	if err := <-h.sink.answered; err != nil {
		t.Fatal(err)
	}
	timeout := time.After(20 * time.Second)
	for failed := false; !failed; {
		select {
		case st := <-h.states:
			if st == StateConnected {
				t.Fatal("connected without candidates")
			}
			failed = st == StateFailed
		case <-timeout:
			t.Fatalf("still %s after 20 s", h.s.State())
		}
	}
	t.Logf("failed after %v", time.Since(start))

	// Recovery: the browser restarts ICE, this time with working signalling.
	h.sink.mu.Lock()
	h.sink.pending, h.sink.lossy = nil, false // drop the old generation's candidates
	h.sink.mu.Unlock()
	h.cl.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			if err := h.s.AddCandidate(context.Background(), c.ToJSON()); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("AddCandidate: %v", err)
			}
		}
	})
	h.negotiate(true)
	h.waitState(StateConnected)
	leg, err := h.s.AttachCall(ctxT(t), "after-restart")
	if err != nil {
		t.Fatal(err)
	}
	ast := newFakeAsterisk(t, 8)
	ast.send(t, leg.LocalAddr, 3, 1)
	h.cl.receive(t, 3, 5*time.Second)
}

// TestAnswerPrecedesItsCandidates: every local candidate is delivered after the
// answer of its ICE generation (checked by ufrag), across an ICE restart; remote
// candidates of a generation whose offer has not been applied yet are kept for it.
func TestAnswerPrecedesItsCandidates(t *testing.T) {
	g := newTestGateway(t, testConfig(47450, 47459))
	type ev struct{ answer, cand string }
	evs := make(chan ev, 64)
	s, err := g.NewSession(SessionParams{
		Agent:    "ivy",
		OnAnswer: func(sdp string) { evs <- ev{answer: sdp} },
		OnCandidate: func(c *webrtc.ICECandidateInit) {
			if c != nil {
				evs <- ev{cand: c.Candidate}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t)
	var clientCands []webrtc.ICECandidateInit
	var mu sync.Mutex
	cl.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			mu.Lock()
			clientCands = append(clientCands, c.ToJSON())
			mu.Unlock()
		}
	})
	currentUfrag := ""
	for round, restart := range []bool{false, true} {
		offer, err := cl.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		// The browser's new-generation candidates arrive before its offer.
		eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(clientCands) > 0
		}, func() string { return "client gathered nothing" })
		mu.Lock()
		early := clientCands
		clientCands = nil
		mu.Unlock()
		for _, c := range early {
			if err := s.AddCandidate(ctxT(t), c); err != nil {
				t.Fatal(err)
			}
		}
		s.mu.Lock()
		pended := len(s.pending)
		s.mu.Unlock()
		if pended != len(early) {
			t.Fatalf("round %d: %d of %d early candidates kept for the coming offer", round, pended, len(early))
		}
		if _, err := s.Offer(ctxT(t), offer.SDP); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		pended = len(s.pending)
		s.mu.Unlock()
		if pended != 0 {
			t.Fatalf("round %d: %d candidates still pending after the offer", round, pended)
		}
		deadline := time.After(5 * time.Second)
		for gotCand := false; !gotCand; {
			select {
			case e := <-evs:
				if e.answer != "" {
					var d sdp.SessionDescription
					if err := d.UnmarshalString(e.answer); err != nil {
						t.Fatal(err)
					}
					u, ok := d.MediaDescriptions[0].Attribute("ice-ufrag")
					if !ok {
						if u, ok = d.Attribute("ice-ufrag"); !ok {
							t.Fatal("answer without ice-ufrag")
						}
					}
					currentUfrag = u
					if err := cl.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: e.answer}); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if u := candidateUfrag(webrtc.ICECandidateInit{Candidate: e.cand}); u != currentUfrag {
					t.Fatalf("round %d: candidate of ufrag %q delivered while the last answer had %q", round, u, currentUfrag)
				}
				gotCand = true
			case <-deadline:
				t.Fatalf("round %d: no candidate after the answer", round)
			}
		}
	}
	// Both sides reach connected with only early (pended) browser candidates.
	eventually(t, func() bool { return s.State() == StateConnected }, func() string { return "state " + s.State().String() })
}

func TestCandidateUfrag(t *testing.T) {
	u := "abcd"
	for _, tc := range []struct {
		c    webrtc.ICECandidateInit
		want string
	}{
		{webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host ufrag Wx3b network-id 1"}, "Wx3b"},
		{webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host ufrag Wx3b", UsernameFragment: &u}, "abcd"},
		{webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}, ""},
		{webrtc.ICECandidateInit{}, ""},
	} {
		if got := candidateUfrag(tc.c); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.c.Candidate, got, tc.want)
		}
	}
}

// TestSetRemoteBeforeAnyPacket: ctid latches the leg onto the address Asterisk
// reported (UNICASTRTP_LOCAL_*), so the microphone flows although Asterisk has sent
// nothing (whisper), and packets from elsewhere are dropped.
func TestSetRemoteBeforeAnyPacket(t *testing.T) {
	g := newTestGateway(t, testConfig(47460, 47469))
	h := newHarness(t, g)
	h.connect()
	leg, err := h.s.AttachCall(ctxT(t), "whisper")
	if err != nil {
		t.Fatal(err)
	}
	ast := newFakeAsterisk(t, 6)
	other := newFakeAsterisk(t, 7)
	if err := h.s.SetRemote("whisper", ast.addr()); err != nil {
		t.Fatal(err)
	}
	sendMic(t, h.cl, 5, 1)
	ast.receive(t, 5, 5*time.Second)
	other.send(t, leg.LocalAddr, 2, 9)
	ast.send(t, leg.LocalAddr, 2, 1)
	for _, p := range h.cl.receive(t, 2, 5*time.Second) {
		if p.Payload[0] != 1 {
			t.Fatal("packet from the wrong source relayed")
		}
	}
	eventually(t, func() bool { return leg.Stats().DroppedForeign == 2 },
		func() string { return fmt.Sprintf("%+v", leg.Stats()) })
	for _, bad := range []netip.AddrPort{{}, netip.MustParseAddrPort("0.0.0.0:5000"), netip.MustParseAddrPort("127.0.0.1:0")} {
		if err := h.s.SetRemote("whisper", bad); !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("SetRemote(%s) accepted", bad)
		}
	}
	if err := h.s.SetRemote("nope", ast.addr()); !errors.Is(err, ErrNoSuchCall) {
		t.Fatalf("unknown call: %v", err)
	}
}

// TestManySessionsConcurrently: several agents in calls at once, Asterisk legs
// sending simultaneously, while another session churns attach/detach on the shared
// port range (run with -race).
func TestManySessionsConcurrently(t *testing.T) {
	const agents = 6
	g := newTestGateway(t, testConfig(47500, 47599))
	hs := make([]*harness, agents)
	legs := make([]Leg, agents)
	asts := make([]*fakeAsterisk, agents)
	bursts := make([][][]byte, agents)
	for i := range agents {
		hs[i] = newHarness(t, g)
		hs[i].connect()
		leg, err := hs[i].s.AttachCall(ctxT(t), fmt.Sprintf("call-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		legs[i] = leg
		asts[i] = newFakeAsterisk(t, uint32(100+i))
		for range 50 {
			bursts[i] = append(bursts[i], asts[i].packet(t, byte(i)))
		}
	}
	churn, err := g.NewSession(SessionParams{Agent: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, agents+1)
	var wg sync.WaitGroup
	for i := range agents {
		wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for _, b := range bursts[i] {
				if _, err := asts[i].conn.WriteToUDPAddrPort(b, legs[i].LocalAddr); err != nil {
					errs <- err
					return
				}
				<-tick.C
			}
		})
	}
	wg.Go(func() {
		ctx := context.Background()
		for n := range 40 {
			id := fmt.Sprintf("churn-%d", n)
			if _, err := churn.AttachCall(ctx, id); err != nil {
				errs <- err
				return
			}
			if _, err := churn.DetachCall(ctx, id); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, h := range hs {
		for _, p := range h.cl.receive(t, 50, 5*time.Second) {
			if p.Payload[0] != byte(i) {
				t.Fatalf("agent %d heard agent %d's call", i, p.Payload[0])
			}
		}
	}
	eventually(t, func() bool { return g.Stats().ToAgent == agents*50 },
		func() string { return fmt.Sprintf("%+v", g.Stats()) })
	if st := g.Stats(); st.Legs != agents || st.LegsAttached != agents+40 || st.Sessions != agents+1 {
		t.Fatalf("gateway stats %+v", st)
	}
}
