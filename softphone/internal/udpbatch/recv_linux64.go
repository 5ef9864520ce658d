//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"
)

// rxState is recvmmsg's headers, I/O vectors and address buffers, reused for every
// batch: a read allocates nothing (x/net's ReadBatch allocates each source address).
type rxState struct {
	rc  syscall.RawConn
	hs  []mmsghdr
	iov []syscall.Iovec
	sa  []syscall.RawSockaddrInet6
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
	return nil
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
		if c.tsc {
			h.Control = &c.roob[i][0]
			h.SetControllen(len(c.roob[i]))
		}
		x.hs[i].n = 0
	}
	var n int
	var serr error
	err := x.rc.Read(func(fd uintptr) bool {
		r, _, e := syscall.Syscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&x.hs[0])), uintptr(len(x.hs)), syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			n = int(r)
			return true
		case syscall.EAGAIN:
			return false // wait for the netpoller
		case syscall.EINTR:
			return false
		default:
			serr = e
			return true
		}
	})
	if err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("udpbatch: recvmmsg: %w", serr)
	}
	for i := range n {
		c.rlen[i] = int(x.hs[i].n)
		c.roobn[i] = int(x.hs[i].hdr.Controllen)
		c.raddr[i] = sockaddr(&x.sa[i])
	}
	return n, nil
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
