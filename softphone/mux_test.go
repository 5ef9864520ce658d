package softphone

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// With ice.udp_mux every agent's ICE, DTLS and SRTP crosses one UDP socket (read
// with recvmmsg, written with batched sendmmsg): audio still flows both ways for
// several agents at once, each to its own call.
func TestAudioOverICEUDPMux(t *testing.T) {
	cfg := testConfig(47900, 47999)
	cfg.ICE.UDPMux = "127.0.0.1:0"
	g := newTestGateway(t, cfg)
	if g.iceConn == nil {
		t.Fatal("no shared ICE socket")
	}
	muxAddr := netip.MustParseAddrPort(g.iceConn.LocalAddr().String())
	const agents = 3
	for i := range agents {
		h := newHarness(t, g)
		h.connect()
		// the browser's selected pair ends on the shared socket
		pair, err := h.cl.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("agent %d: no selected ICE pair: %v", i, err)
		}
		if pair.Remote.Port != muxAddr.Port() {
			t.Fatalf("agent %d: ICE pair remote %s:%d, want the mux %s", i, pair.Remote.Address, pair.Remote.Port, muxAddr)
		}
		callID := fmt.Sprintf("call-%d", i)
		leg, err := h.s.AttachCall(ctxT(t), callID)
		if err != nil {
			t.Fatal(err)
		}
		ast := newFakeAsterisk(t, uint32(0x1000+i))
		ast.send(t, leg.LocalAddr, 20, byte(i))
		checkStream(t, h.cl.receive(t, 20, 10*time.Second))
		sendMic(t, h.cl, 20, 1)
		back := ast.receive(t, 20, 10*time.Second)
		for j, p := range back {
			if p.SequenceNumber != uint16(1+j) || len(p.Payload) != 160 {
				t.Fatalf("agent %d: asterisk packet %d: seq %d len %d", i, j, p.SequenceNumber, len(p.Payload))
			}
		}
		eventually(t, func() bool {
			st := leg.Stats()
			return st.ToAgent == 20 && st.ToAsterisk == 20
		}, func() string { return fmt.Sprintf("agent %d: leg %+v", i, leg.Stats()) })
		// RTCP sender reports count what was sent, whichever path it took
		eventually(t, func() bool {
			sr := h.cl.lastSR.Load()
			return sr != nil && sr.PacketCount == 20 && sr.OctetCount == 20*160
		}, func() string { return fmt.Sprintf("agent %d: last sender report %+v", i, h.cl.lastSR.Load()) })
	}
	if g.iceConn.Packets.Load() == 0 || g.iceConn.Syscalls.Load() == 0 {
		t.Fatalf("the shared ICE socket carried nothing: %d packets, %d calls", g.iceConn.Packets.Load(), g.iceConn.Syscalls.Load())
	}
	gs := g.Stats()
	if gs.ToAgent != 20*agents || gs.ToAsterisk != 20*agents || gs.DroppedForeign+gs.DroppedInvalid != 0 {
		t.Fatalf("gateway stats %+v", gs)
	}
	t.Logf("fast path: %d of %d microphone packets, %d of %d to the agents", gs.FromAgentFast, gs.FromAgent, gs.ToAgentFast, gs.ToAgent)
	// legs attach after the sessions connected: (nearly) all of it; a packet
	// written before the connected callback prepared the fast path goes through
	// pion, which then hands the stream over
	if gs.ToAgentFast < gs.ToAgent-agents {
		t.Fatalf("fast path carried %d of %d packets to the agents", gs.ToAgentFast, gs.ToAgent)
	}
	// the microphones left pion's srtp path for the fast path after their first
	// packets (keys from the key log and the handshakes seen on the socket)
	if gs.FromAgentFast == 0 || gs.FromAgentFast > gs.FromAgent {
		t.Fatalf("fast path carried %d of %d microphone packets", gs.FromAgentFast, gs.FromAgent)
	}
}

func TestICEUDPMuxConfig(t *testing.T) {
	cfg := testConfig(47900, 47999)
	cfg.ICE.UDPMux = "not-an-address"
	if err := cfg.Validate(); err == nil {
		t.Fatal("an invalid ice.udp_mux was accepted")
	}
}
