package udpbatch

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	return c
}

// Packets written by many goroutines at once all arrive, each once, with a kernel
// receive timestamp no earlier than its send; intercepted ones never reach the reader.
func TestBatchedWritesAndReads(t *testing.T) {
	const writers, each = 8, 200
	start := time.Now()
	var mu sync.Mutex
	intercepted := 0
	rx, err := New(Params{Conn: listen(t), Timestamps: true, Intercept: func(b []byte, _ netip.AddrPort, ts time.Time) bool {
		if b[0] != 1 {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if ts.Before(start) {
			t.Errorf("kernel timestamp %s before the send %s", ts, start)
		}
		intercepted++
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := New(Params{Conn: listen(t), Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	to := netip.MustParseAddrPort(rx.LocalAddr().String())
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			b := make([]byte, 20)
			for i := range each {
				b[0] = byte(i % 2) // odd packets are intercepted
				binary.BigEndian.PutUint32(b[4:8], uint32(w*each+i))
				if _, err := tx.WriteToAddrPort(b, to); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// A last packet: the socket is FIFO, so once it is read every other one was.
	sentinel := make([]byte, 20)
	binary.BigEndian.PutUint32(sentinel[4:8], writers*each)
	if _, err := tx.WriteToAddrPort(sentinel, to); err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	buf := make([]byte, 1500)
	if err := rx.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for !seen[writers*each] {
		n, from, err := rx.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(seen), err)
		}
		if from != netip.MustParseAddrPort(tx.LocalAddr().String()) || n != 20 || buf[0] != 0 {
			t.Fatalf("packet %x from %s", buf[:n], from)
		}
		id := binary.BigEndian.Uint32(buf[4:8])
		if seen[id] {
			t.Fatalf("packet %d twice", id)
		}
		seen[id] = true
	}
	if len(seen) != writers*each/2+1 {
		t.Fatalf("read %d packets, want %d", len(seen), writers*each/2+1)
	}
	mu.Lock()
	got := intercepted
	mu.Unlock()
	if got != writers*each/2 {
		t.Fatalf("intercepted %d, want %d", got, writers*each/2)
	}
	if tx.WriteErrors.Load() != 0 || tx.LastWriteError() != nil {
		t.Fatalf("write errors: %d (%v)", tx.WriteErrors.Load(), tx.LastWriteError())
	}
	if s := tx.Syscalls.Load(); s == 0 || s > writers*each+1 {
		t.Fatalf("%d send calls for %d packets", s, writers*each)
	}
	if err := rx.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rx.ReadFromAddrPort(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
}

// The relay's steady state allocates nothing: a held burst of writes, its
// sendmmsg, and the recvmmsg reads of it (the gateway's hot path runs on these).
func TestSteadyStateAllocatesNothing(t *testing.T) {
	rx, err := New(Params{Conn: listen(t), Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := New(Params{Conn: listen(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := errors.Join(rx.Close(), tx.Close()); err != nil {
			t.Error(err)
		}
	})
	if err := rx.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	to := netip.MustParseAddrPort(rx.LocalAddr().String())
	pkt, buf := make([]byte, 172), make([]byte, 1500)
	const burst = 8
	round := func() {
		tx.Hold()
		for range burst {
			if _, err := tx.WriteToAddrPort(pkt, to); err != nil {
				t.Fatal(err)
			}
		}
		tx.Flush()
		for range burst {
			if _, _, err := rx.ReadFromAddrPort(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	round() // the first burst fills the free lists
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("%.1f allocations per burst of %d packets, want 0", a, burst)
	}
}
