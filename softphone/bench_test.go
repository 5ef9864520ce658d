package softphone

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkRelayAsteriskToBrowser: one packet from the fake Asterisk through the
// leg, the rewrite, SRTP and loopback to the pion "browser" (which decrypts it), in
// bursts of 50 so no socket buffer overflows. go test -bench Relay -benchmem ./softphone/
func BenchmarkRelayAsteriskToBrowser(b *testing.B) {
	g, err := NewGateway(testConfig(47430, 47439), zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := g.Close(); err != nil {
			b.Error(err)
		}
	})
	h := newHarness(b, g)
	h.connect()
	leg, err := h.s.AttachCall(b.Context(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	ast := newFakeAsterisk(b, 9)
	pkts := make([][]byte, 50)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(50, b.N-done)
		for i := range n {
			pkts[i] = ast.packet(b, 1)
		}
		for i := range n {
			if _, err := ast.conn.WriteToUDPAddrPort(pkts[i], leg.LocalAddr); err != nil {
				b.Fatal(err)
			}
		}
		h.cl.receive(b, n, 5*time.Second)
		done += n
	}
	b.StopTimer()
	if st := leg.Stats(); st.DroppedNoPeer+st.DroppedInvalid != 0 {
		b.Fatalf("drops %+v", st)
	}
}
