package softphone

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// srtpIndex derives the same rollover count as pion's sender context over
// sequence numbers that wrap, jump and come out of order.
func TestSRTPIndexFollowsPion(t *testing.T) {
	key, salt := make([]byte, 16), make([]byte, 12)
	ctx, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	const ssrc = 0x1234
	rng := rand.New(rand.NewPCG(1, 2))
	var x srtpIndex
	seq := uint16(0xff00)
	buf := make([]byte, 1500)
	for i := range 300000 {
		switch r := rng.IntN(100); {
		case r < 90:
			seq++
		case r < 95:
			seq -= uint16(rng.IntN(5)) // late packet
		default:
			seq += uint16(rng.IntN(300)) // loss
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq}, Payload: make([]byte, 20)}
		plain, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctx.EncryptRTP(buf, plain, nil); err != nil {
			t.Fatal(err)
		}
		x.add(ssrc, seq)
		roc, _ := ctx.ROC(ssrc)
		if uint32(x.index>>16) != roc {
			t.Fatalf("packet %d seq %d: rollover count %d, pion's %d", i, seq, x.index>>16, roc)
		}
	}
}

// A stream pion's context started is handed over to the fast path mid-stream
// (the connected callback came after the first packets): the browser decrypts
// every packet, in order, and the fast path carries the rest.
func TestOutboundHandoverFromPion(t *testing.T) {
	cfg := testConfig(47800, 47899)
	cfg.ICE.UDPMux = "127.0.0.1:0"
	g := newTestGateway(t, cfg)
	h := newHarness(t, g)
	h.connect()
	var ready *fastOut
	deadline := time.Now().Add(5 * time.Second)
	for ready == nil && time.Now().Before(deadline) {
		h.s.outMu.Lock()
		ready, h.s.outReady = h.s.outReady, nil // as if the connected callback had not run yet
		// a stream far from a sequence number wrap (the start is random otherwise)
		h.s.rw = rewriter{started: true, lastSeq: 0x7000, lastWall: time.Now()}
		h.s.outMu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	if ready == nil {
		t.Fatal("the outbound fast path was never prepared")
	}
	leg, err := h.s.AttachCall(ctxT(t), "call-1")
	if err != nil {
		t.Fatal(err)
	}
	ast := newFakeAsterisk(t, 0x4242)
	ast.send(t, leg.LocalAddr, 10, 1)
	first := h.cl.receive(t, 10, 10*time.Second)
	h.s.outMu.Lock()
	h.s.outReady = ready
	h.s.outMu.Unlock()
	ast.send(t, leg.LocalAddr, 10, 2)
	second := h.cl.receive(t, 10, 10*time.Second)
	checkStream(t, append(first, second...))
	if gs := g.Stats(); gs.ToAgentFast != 10 || gs.ToAgent != 20 {
		t.Fatalf("fast path carried %d of %d (want 10 of 20)", gs.ToAgentFast, gs.ToAgent)
	}
}

// A microphone packet that fails SRTP authentication on the fast path (here: the
// fast path's keys are made wrong) is handed to pion, which decrypts it with its
// own keys; the session stays on pion's path and no packet is lost or garbled.
func TestMicrophoneFallsBackToPionOnAuthFailure(t *testing.T) {
	cfg := testConfig(47600, 47699)
	cfg.ICE.UDPMux = "127.0.0.1:0"
	g := newTestGateway(t, cfg)
	h := newHarness(t, g)
	h.connect()
	leg, err := h.s.AttachCall(ctxT(t), "call-1")
	if err != nil {
		t.Fatal(err)
	}
	ast := newFakeAsterisk(t, 0x5151)
	if err := h.s.SetRemote("call-1", ast.addr()); err != nil {
		t.Fatal(err)
	}
	sendMic(t, h.cl, 10, 1)
	ast.receive(t, 10, 10*time.Second)
	eventually(t, func() bool { return g.Stats().FromAgentFast > 0 }, func() string { return fmt.Sprintf("%+v", g.Stats()) })

	// wrong keys for this session's fast path
	bad, err := srtp.CreateContext(make([]byte, 16), make([]byte, 12), srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	g.fast.mu.Lock()
	n := 0
	for k, m := range g.fast.mics {
		if m.s == h.s {
			g.fast.mics[k] = &fastMic{s: m.s, ssrc: m.ssrc, ctx: bad, mic: m.mic}
			n++
		}
	}
	g.fast.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d fast-path entries for the session, want 1", n)
	}
	fast := g.Stats().FromAgentFast
	sendMic(t, h.cl, 10, 11)
	back := ast.receive(t, 10, 10*time.Second)
	for j, p := range back {
		if p.SequenceNumber != uint16(11+j) || len(p.Payload) != 160 {
			t.Fatalf("asterisk packet %d: seq %d len %d", j, p.SequenceNumber, len(p.Payload))
		}
	}
	if gs := g.Stats(); gs.FromAgentFast != fast || gs.DroppedInvalid != 0 {
		t.Fatalf("after the failure the fast path carried %d more; stats %+v", gs.FromAgentFast-fast, gs)
	}
	if st := leg.Stats(); st.ToAsterisk != 20 {
		t.Fatalf("leg %+v", st)
	}
}
