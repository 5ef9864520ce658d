//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// One socket bound to 0.0.0.0 speaks from several loopback addresses: each packet
// leaves from the source asked (IP_PKTINFO), and replies sent to those addresses
// are read with their destination; the batch hooks bracket every batch.
func TestSourceAndDestinationAddresses(t *testing.T) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	var starts, ends atomic.Int32
	multi, err := New(Params{Conn: uc, Dst: true, BatchStart: func() { starts.Add(1) }, BatchEnd: func() { ends.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(uc.LocalAddr().(*net.UDPAddr).Port)
	peer := listen(t)
	t.Cleanup(func() {
		if err := errors.Join(multi.Close(), peer.Close()); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Error(err)
		}
	})
	peerAddr := netip.MustParseAddrPort(peer.LocalAddr().String())
	srcs := []netip.Addr{netip.MustParseAddr("127.1.0.5"), netip.MustParseAddr("127.1.0.6"), netip.MustParseAddr("127.1.1.7")}

	// out: the peer sees each packet from the source asked
	multi.Hold()
	for i, src := range srcs {
		if _, err := multi.WriteFromToAddrPort([]byte{byte(i)}, src, peerAddr); err != nil {
			t.Fatal(err)
		}
	}
	multi.Flush()
	if err := peer.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for range srcs {
		n, from, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || int(buf[0]) >= len(srcs) || from != netip.AddrPortFrom(srcs[buf[0]], port) {
			t.Fatalf("packet %v from %s, want from %s:%d", buf[:n], from, srcs[buf[0]%byte(len(srcs))], port)
		}
	}

	// in: replies to each address are read with that destination
	got := make(chan netip.Addr, len(srcs))
	done := make(chan error, 1)
	go func() {
		done <- multi.DrainDst(func(b []byte, from netip.AddrPort, dst netip.Addr, _ time.Time) {
			if from != peerAddr || len(b) != 1 {
				t.Errorf("reply %v from %s", b, from)
			}
			got <- dst
		})
	}()
	for _, src := range srcs {
		if _, err := peer.WriteToUDPAddrPort([]byte{1}, netip.AddrPortFrom(src, port)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[netip.Addr]bool{}
	for range srcs {
		select {
		case d := <-got:
			seen[d] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("replies seen at %v", seen)
		}
	}
	for _, src := range srcs {
		if !seen[src] {
			t.Fatalf("no reply read with destination %s (seen %v)", src, seen)
		}
	}
	if err := multi.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("drain ended with %v", err)
	}
	if s, e := starts.Load(), ends.Load(); s == 0 || e != s {
		t.Fatalf("%d batch starts, %d batch ends", s, e)
	}
}
