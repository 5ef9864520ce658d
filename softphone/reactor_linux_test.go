package softphone

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// recvFrom (the reactor's allocation-free read) returns the datagram and its source
// address and port, for IPv4 and IPv6 (unless the machine has no IPv6 loopback),
// and EAGAIN when nothing is queued.
func TestReactorRecvFrom(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		local := "127.0.0.1:0"
		if network == "udp6" {
			local = "[::1]:0"
		}
		rx, err := net.ListenPacket(network, local)
		if err != nil {
			if network == "udp6" {
				t.Logf("no IPv6 loopback here (%v): IPv4 only", err)
				continue
			}
			t.Fatal(err)
		}
		defer func() { _ = rx.Close() }()
		tx, err := net.ListenPacket(network, local)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Close() }()
		rc, err := rx.(*net.UDPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var fd int
		if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		if _, _, err := recvFrom(fd, buf); !errors.Is(err, syscall.EAGAIN) {
			t.Fatalf("%s: empty socket: %v, want EAGAIN", network, err)
		}
		if _, err := tx.WriteTo([]byte("hello"), rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		want := netip.MustParseAddrPort(tx.LocalAddr().String())
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, from, err := recvFrom(fd, buf)
			if errors.Is(err, syscall.EAGAIN) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", network, err)
			}
			if string(buf[:n]) != "hello" || from != want {
				t.Fatalf("%s: got %q from %s, want hello from %s", network, buf[:n], from, want)
			}
			break
		}
	}
}
