//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// rxState is recvmmsg's headers, I/O vectors and address buffers, reused for every
// batch: a read allocates nothing (x/net's ReadBatch allocates each source address).
type rxState struct {
	rc  syscall.RawConn
	hs  []mmsghdr
	iov []syscall.Iovec
	sa  []syscall.RawSockaddrInet6
	fn  func(fd uintptr) bool // recvmmsgFD, bound once (a closure per batch allocates)
	n   int
	err error
}

type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

func (c *Conn) initRecv() error {
	rc, err := c.c.SyscallConn()
	if err != nil {
		return fmt.Errorf("udpbatch: %w", err)
	}
	n := len(c.rbufs)
	c.rx = rxState{rc: rc, hs: make([]mmsghdr, n), iov: make([]syscall.Iovec, n), sa: make([]syscall.RawSockaddrInet6, n)}
	c.rx.fn = c.recvmmsgFD
	c.tx = txState{rc: rc, hs: make([]mmsghdr, n), iov: make([]syscall.Iovec, n), sa: make([]syscall.RawSockaddrInet6, n)}
	c.tx.fn = c.sendmmsgFD
	return nil
}

// txState is sendmmsg's headers, I/O vectors and addresses (the flusher's).
type txState struct {
	rc   syscall.RawConn
	hs   []mmsghdr
	iov  []syscall.Iovec
	sa   []syscall.RawSockaddrInet6
	fn   func(fd uintptr) bool
	k, n int // messages asked, sent
	err  error
}

// sendBatch sends ms (at most Batch) with one sendmmsg, allocation-free and
// without entersyscall (the socket is non-blocking; a full buffer waits for the
// netpoller as x/net does).
func (c *Conn) sendBatch(ms []ipv4.Message) (int, error) {
	x := &c.tx
	for i := range ms {
		m := &ms[i]
		h := &x.hs[i].hdr
		*h = syscall.Msghdr{}
		b := m.Buffers[0]
		if len(b) > 0 {
			x.iov[i].Base = &b[0]
		} else {
			x.iov[i].Base = nil
		}
		x.iov[i].SetLen(len(b))
		h.Iov, h.Iovlen = &x.iov[i], 1
		ua, _ := m.Addr.(*net.UDPAddr)
		if ua == nil {
			return 0, fmt.Errorf("udpbatch: not a UDP address: %v", m.Addr)
		}
		h.Name, h.Namelen = (*byte)(unsafe.Pointer(&x.sa[i])), putSockaddr(&x.sa[i], ua)
		if len(m.OOB) > 0 {
			h.Control = &m.OOB[0]
			h.SetControllen(len(m.OOB))
		}
		x.hs[i].n = 0
	}
	x.k, x.n, x.err = len(ms), 0, nil
	if err := x.rc.Write(x.fn); err != nil {
		return 0, err
	}
	return x.n, x.err
}

func (c *Conn) sendmmsgFD(fd uintptr) bool {
	x := &c.tx
	r, _, e := syscall.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&x.hs[0])), uintptr(x.k), syscall.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0:
		x.n = int(r)
		return true
	case syscall.EAGAIN, syscall.EINTR:
		return false
	default:
		x.err = fmt.Errorf("udpbatch: sendmmsg: %w", e)
		return true
	}
}

// putSockaddr encodes ua (IPv4 or IPv6) and returns the length to pass.
func putSockaddr(sa *syscall.RawSockaddrInet6, ua *net.UDPAddr) uint32 {
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	if ip4 := ua.IP.To4(); ip4 != nil {
		s4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		*s4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET}
		p := (*[2]byte)(unsafe.Pointer(&s4.Port))
		p[0], p[1] = byte(ua.Port>>8), byte(ua.Port)
		copy(s4.Addr[:], ip4)
		return uint32(unsafe.Sizeof(*s4))
	}
	*sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6}
	port[0], port[1] = byte(ua.Port>>8), byte(ua.Port)
	copy(sa.Addr[:], ua.IP.To16())
	return uint32(unsafe.Sizeof(*sa))
}

func (c *Conn) recvBatch() (int, error) {
	x := &c.rx
	for i := range x.hs {
		h := &x.hs[i].hdr
		*h = syscall.Msghdr{}
		x.iov[i].Base = &c.rbufs[i][0]
		x.iov[i].SetLen(len(c.rbufs[i]))
		h.Iov, h.Iovlen = &x.iov[i], 1
		h.Name, h.Namelen = (*byte)(unsafe.Pointer(&x.sa[i])), uint32(unsafe.Sizeof(x.sa[i]))
		if c.tsc || c.dst {
			h.Control = &c.roob[i][0]
			h.SetControllen(len(c.roob[i]))
		}
		x.hs[i].n = 0
	}
	x.n, x.err = 0, nil
	if err := x.rc.Read(x.fn); err != nil {
		return 0, err
	}
	if x.err != nil {
		return 0, fmt.Errorf("udpbatch: recvmmsg: %w", x.err)
	}
	n := x.n
	for i := range n {
		c.rlen[i] = int(x.hs[i].n)
		c.roobn[i] = int(x.hs[i].hdr.Controllen)
		c.raddr[i] = sockaddr(&x.sa[i])
	}
	return n, nil
}

// recvmmsgFD reads a batch: raw, non-blocking (MSG_DONTWAIT) — entersyscall would
// wake the runtime's sysmon thread each time the process comes back from idle.
func (c *Conn) recvmmsgFD(fd uintptr) bool {
	x := &c.rx
	r, _, e := syscall.RawSyscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&x.hs[0])), uintptr(len(x.hs)), syscall.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0:
		x.n = int(r)
		return true
	case syscall.EAGAIN, syscall.EINTR:
		return false // wait for the netpoller
	default:
		x.err = e
		return true
	}
}

// sockaddr decodes an AF_INET or AF_INET6 address (invalid for anything else).
func sockaddr(sa *syscall.RawSockaddrInet6) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := uint16(p[0])<<8 | uint16(p[1])
	switch sa.Family {
	case syscall.AF_INET:
		s4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), port)
	case syscall.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}
