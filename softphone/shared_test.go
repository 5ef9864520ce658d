package softphone

import (
	"fmt"
	"testing"
	"time"
)

// With media_shared_addr every leg is on one socket: Asterisk's packets are told
// apart by the source ctid gave with SetRemote, audio flows both ways for each
// agent to its own call (with and without the shared ICE socket), and a packet
// from an address no leg has is dropped as foreign.
func TestSharedMediaSocket(t *testing.T) {
	for _, mux := range []bool{false, true} {
		t.Run(fmt.Sprintf("ice_udp_mux=%v", mux), func(t *testing.T) {
			cfg := testConfig(47700, 47799)
			cfg.MediaSharedAddr = "127.0.0.1:0"
			if mux {
				cfg.ICE.UDPMux = "127.0.0.1:0"
			}
			g := newTestGateway(t, cfg)
			const agents = 2
			var shared Leg
			for i := range agents {
				h := newHarness(t, g)
				h.connect()
				callID := fmt.Sprintf("call-%d", i)
				leg, err := h.s.AttachCall(ctxT(t), callID)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					shared = leg
				} else if leg.LocalAddr != shared.LocalAddr {
					t.Fatalf("leg %d on %s, leg 0 on %s: want one shared socket", i, leg.LocalAddr, shared.LocalAddr)
				}
				ast := newFakeAsterisk(t, uint32(0x2000+i))
				if err := h.s.SetRemote(callID, ast.addr()); err != nil {
					t.Fatal(err)
				}
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
				// an address no leg was given
				stranger := newFakeAsterisk(t, 0x3000)
				stranger.send(t, leg.LocalAddr, 3, 9)
				eventually(t, func() bool { return g.Stats().DroppedForeign == uint64(3*(i+1)) },
					func() string { return fmt.Sprintf("gateway %+v", g.Stats()) })
				if st, err := h.s.DetachCall(ctxT(t), callID); err != nil || st.ToAgent != 20 {
					t.Fatalf("detach: %+v %v", st, err)
				}
			}
			if gs := g.Stats(); gs.ToAgent != 20*agents || gs.ToAsterisk != 20*agents || gs.PortsInUse != 0 {
				t.Fatalf("gateway stats %+v", gs)
			}
		})
	}
}
