package softphone

import (
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
