// Package udpbatch wraps a UDP socket so that many packets cross the kernel in one
// system call: reads are recvmmsg batches (served one packet at a time to a single
// reader, e.g. pion's ICE UDP mux), writes from any number of goroutines are
// group-committed into sendmmsg batches (the first writer sends what the others
// queued while it was in the kernel; no timer, so an idle socket adds no delay).
// Optionally the kernel's receive timestamp (SO_TIMESTAMPNS) of each packet is
// available, and an Intercept hook may consume packets before the reader sees them.
package udpbatch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("udpbatch: closed")

// Params configures a Conn.
type Params struct {
	// Conn is the socket; the Conn owns it from now on.
	Conn *net.UDPConn
	// Batch is the most packets per system call (default 64).
	Batch int
	// Timestamps asks the kernel for each packet's receive time (SO_TIMESTAMPNS).
	Timestamps bool
	// Intercept, when set, sees every received packet first (with its kernel receive
	// time when Timestamps is set, else the time the batch was read); returning true
	// consumes it. It runs on the reader's goroutine and must not keep b.
	Intercept func(b []byte, from netip.AddrPort, rx time.Time) bool
	// Dst asks the kernel for each packet's destination address (IP_PKTINFO, IPv4;
	// for a socket bound to 0.0.0.0 serving many local addresses, see DrainDst and
	// WriteFromToAddrPort).
	Dst bool
	// BatchStart and BatchEnd, when set, bracket the handling of each received
	// batch by the reader (ReadFrom*, Drain*): BatchStart after a recvmmsg returned,
	// BatchEnd once its packets were all handed out, before the reader blocks again
	// (e.g. Hold and Flush another socket, so the replies of a batch leave in one
	// sendmmsg).
	BatchStart, BatchEnd func()
	// OnWrite, when set, sees every packet written, before it is queued, on the
	// writer's goroutine; it must not keep b.
	OnWrite func(b []byte, to netip.AddrPort)
}

// Conn is a batching net.PacketConn (and pion's ice.AddrPortReaderWriter).
// ReadFrom* must be called from one goroutine at a time; writes may come from any.
type Conn struct {
	c   *net.UDPConn
	pc  *ipv4.PacketConn
	p   Params
	tsc bool
	dst bool

	// reader side (one reader): the last batch
	rbufs  [][]byte
	roob   [][]byte
	rlen   []int            // datagram sizes
	roobn  []int            // control data sizes
	raddr  []netip.AddrPort // sources
	rn, ri int
	rtime  time.Time
	rx     rxState // platform batch state
	tx     txState // platform send state (the flusher's)

	// writer side: group commit
	wmu      sync.Mutex
	wq       []ipv4.Message // queued, Buffers[0] points into wbufs
	wfree    [][][]byte     // free one-buffer containers (element 0 at full capacity)
	flushing bool
	held     bool // Hold: writes only queue until Flush
	addrs    map[netip.AddrPort]*net.UDPAddr
	srcOOB   map[netip.Addr][]byte // IP_PKTINFO control messages by source address
	wsend    []ipv4.Message        // the batch being sent (owned by the flusher)

	// Counters.
	Syscalls     atomic.Uint64 // recvmmsg + sendmmsg calls
	Packets      atomic.Uint64 // packets read + written
	WriteErrors  atomic.Uint64 // queued packets a sendmmsg failed to send
	Intercepted  atomic.Uint64 // packets consumed by Intercept
	MaxQueued    atomic.Uint64 // the most packets ever queued at once (Hold, or behind a sendmmsg)
	closed       atomic.Bool
	lastWriteErr atomic.Pointer[error]
}

// New wraps p.Conn.
func New(p Params) (*Conn, error) {
	if p.Conn == nil {
		return nil, errors.New("udpbatch: nil conn")
	}
	if p.Batch <= 0 {
		p.Batch = 64
	}
	c := &Conn{c: p.Conn, pc: ipv4.NewPacketConn(p.Conn), p: p, addrs: map[netip.AddrPort]*net.UDPAddr{}}
	if p.Timestamps {
		if err := enableTimestamps(p.Conn); err != nil {
			return nil, err
		}
		c.tsc = true
	}
	if p.Dst {
		if err := enableDst(p.Conn); err != nil {
			return nil, err
		}
		c.dst = true
	}
	c.rbufs = make([][]byte, p.Batch)
	c.roob = make([][]byte, p.Batch)
	c.rlen = make([]int, p.Batch)
	c.roobn = make([]int, p.Batch)
	c.raddr = make([]netip.AddrPort, p.Batch)
	for i := range c.rbufs {
		c.rbufs[i] = make([]byte, 1500)
		if c.tsc || c.dst {
			c.roob[i] = make([]byte, 128)
		}
	}
	if err := c.initRecv(); err != nil {
		return nil, err
	}
	c.wsend = make([]ipv4.Message, 0, p.Batch)
	return c, nil
}

// fill reads the next batch (blocking until at least one packet).
func (c *Conn) fill() error {
	n, err := c.recvBatch()
	if err != nil {
		if c.closed.Load() {
			return net.ErrClosed
		}
		return err
	}
	c.Syscalls.Add(1)
	c.Packets.Add(uint64(n))
	c.rn, c.ri, c.rtime = n, 0, time.Now()
	if c.p.BatchStart != nil {
		c.p.BatchStart()
	}
	return nil
}

// endBatch runs BatchEnd once the current batch is consumed.
func (c *Conn) endBatch() {
	if c.p.BatchEnd != nil && c.rn > 0 {
		c.p.BatchEnd()
	}
	c.rn, c.ri = 0, 0
}

// rxAt is the receive time of packet i of the batch.
func (c *Conn) rxAt(i int) time.Time {
	if c.tsc {
		if t, ok := rxTime(c.roob[i][:c.roobn[i]]); ok {
			return t
		}
	}
	return c.rtime
}

// next returns the next received packet (not intercepted).
func (c *Conn) next() ([]byte, netip.AddrPort, error) {
	for {
		for c.ri < c.rn {
			i := c.ri
			c.ri++
			b, from := c.rbufs[i][:c.rlen[i]], c.raddr[i]
			if !from.IsValid() {
				continue
			}
			if c.p.Intercept != nil && c.p.Intercept(b, from, c.rxAt(i)) {
				c.Intercepted.Add(1)
				continue
			}
			return b, from, nil
		}
		c.endBatch()
		if err := c.fill(); err != nil {
			return nil, netip.AddrPort{}, err
		}
	}
}

// ReadFromAddrPort reads one packet.
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	p, from, err := c.next()
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return copy(b, p), from, nil
}

// ReadFrom reads one packet.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// Drain calls f for every packet until the socket is closed (a reader that needs
// no copy). Intercept does not apply.
func (c *Conn) Drain(f func(b []byte, from netip.AddrPort, rx time.Time)) error {
	for {
		for c.ri < c.rn {
			i := c.ri
			c.ri++
			if c.raddr[i].IsValid() {
				f(c.rbufs[i][:c.rlen[i]], c.raddr[i], c.rxAt(i))
			}
		}
		c.endBatch()
		if err := c.fill(); err != nil {
			return err
		}
	}
}

// DrainDst is Drain with each packet's destination address (Params.Dst; invalid
// when the kernel gave none).
func (c *Conn) DrainDst(f func(b []byte, from netip.AddrPort, dst netip.Addr, rx time.Time)) error {
	for {
		for c.ri < c.rn {
			i := c.ri
			c.ri++
			if c.raddr[i].IsValid() {
				d, _ := rxDst(c.roob[i][:c.roobn[i]])
				f(c.rbufs[i][:c.rlen[i]], c.raddr[i], d, c.rxAt(i))
			}
		}
		c.endBatch()
		if err := c.fill(); err != nil {
			return err
		}
	}
}

// WriteFromToAddrPort is WriteToAddrPort from the local IPv4 address src (the
// socket is bound to 0.0.0.0; IP_PKTINFO picks the source of each packet).
func (c *Conn) WriteFromToAddrPort(b []byte, src netip.Addr, to netip.AddrPort) (int, error) {
	return c.write(b, src, to)
}

// WriteToAddrPort queues b for to and sends the queue unless another writer is
// already sending (it will send b too). It never blocks on another writer's system
// call. Errors of a batch are counted (WriteErrors, LastWriteError); UDP gives no
// delivery guarantee anyway.
func (c *Conn) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return c.write(b, netip.Addr{}, to)
}

func (c *Conn) write(b []byte, src netip.Addr, to netip.AddrPort) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(b) > 1500 {
		return 0, fmt.Errorf("udpbatch: packet of %d bytes", len(b))
	}
	if c.p.OnWrite != nil {
		c.p.OnWrite(b, to)
	}
	c.wmu.Lock()
	ua := c.addrs[to]
	if ua == nil {
		ua = net.UDPAddrFromAddrPort(to)
		if len(c.addrs) > 65536 {
			clear(c.addrs)
		}
		c.addrs[to] = ua
	}
	var bufs [][]byte
	if n := len(c.wfree); n > 0 {
		bufs, c.wfree = c.wfree[n-1], c.wfree[:n-1]
	} else {
		bufs = [][]byte{make([]byte, 1500)}
	}
	bufs[0] = bufs[0][:copy(bufs[0][:cap(bufs[0])], b)]
	var oob []byte
	if src.IsValid() {
		if oob = c.srcOOB[src]; oob == nil {
			if c.srcOOB == nil || len(c.srcOOB) > 65536 {
				c.srcOOB = map[netip.Addr][]byte{}
			}
			oob = (&ipv4.ControlMessage{Src: src.AsSlice()}).Marshal()
			c.srcOOB[src] = oob
		}
	}
	c.wq = append(c.wq, ipv4.Message{Buffers: bufs, Addr: ua, OOB: oob})
	if q := uint64(len(c.wq)); q > c.MaxQueued.Load() {
		c.MaxQueued.Store(q)
	}
	if c.flushing || c.held {
		c.wmu.Unlock()
		return len(b), nil
	}
	c.flushLocked()
	c.wmu.Unlock()
	return len(b), nil
}

// Hold makes writes queue without sending until Flush (a sender that writes a burst
// of packets from one goroutine batches them so).
func (c *Conn) Hold() {
	c.wmu.Lock()
	c.held = true
	c.wmu.Unlock()
}

// Flush ends a Hold and sends what is queued (unless another writer is sending:
// then that one sends it).
func (c *Conn) Flush() {
	c.wmu.Lock()
	c.held = false
	if !c.flushing {
		c.flushLocked()
	}
	c.wmu.Unlock()
}

// flushLocked sends the queue, dropping wmu during each system call; writers that
// come meanwhile only queue.
func (c *Conn) flushLocked() {
	c.flushing = true
	for len(c.wq) > 0 {
		k := min(len(c.wq), c.p.Batch)
		c.wsend = append(c.wsend[:0], c.wq[:k]...)
		c.wq = append(c.wq[:0], c.wq[k:]...)
		c.wmu.Unlock()
		c.sendAll(c.wsend)
		c.wmu.Lock()
		for i := range c.wsend {
			bufs := c.wsend[i].Buffers
			bufs[0] = bufs[0][:cap(bufs[0])]
			c.wfree = append(c.wfree, bufs)
			c.wsend[i] = ipv4.Message{}
		}
	}
	c.flushing = false
}

func (c *Conn) sendAll(ms []ipv4.Message) {
	for len(ms) > 0 {
		n, err := c.sendBatch(ms)
		c.Syscalls.Add(1)
		if n > 0 {
			c.Packets.Add(uint64(n))
			ms = ms[n:]
		}
		if err != nil {
			stored := err // only this copy escapes (err itself would, on every batch)
			c.lastWriteErr.Store(&stored)
			c.WriteErrors.Add(1)
			ms = ms[1:] // skip the packet the kernel refused
		} else if n == 0 {
			c.WriteErrors.Add(uint64(len(ms)))
			return
		}
	}
}

// WriteTo is WriteToAddrPort for a *net.UDPAddr.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("udpbatch: not a UDP address: %v", addr)
	}
	ap := ua.AddrPort()
	return c.WriteToAddrPort(b, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// LastWriteError is the last error a batch write returned (nil if none).
func (c *Conn) LastWriteError() error {
	if p := c.lastWriteErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Close closes the socket; a blocked reader returns net.ErrClosed.
func (c *Conn) Close() error {
	c.closed.Store(true)
	return c.c.Close()
}

// LocalAddr is the socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.c.LocalAddr() }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.c.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.c.SetWriteDeadline(t) }
