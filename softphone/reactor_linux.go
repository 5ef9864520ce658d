package softphone

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/pion/rtp"
)

// reactor reads every leg's socket from ONE goroutine: an epoll set (level
// triggered) holds the legs' sockets and is itself waited on through Go's netpoller
// (no thread blocked). Each wake-up reads one packet from every ready socket with
// recvfrom (no allocation), relays them, and — with the shared ICE socket — sends
// all the agents' SRTP of that wake-up in one sendmmsg. This replaces a goroutine,
// a netpoll wake-up and a scheduler switch per packet.
type reactor struct {
	g    *Gateway
	ep   *os.File // the epoll fd, pollable by the runtime
	epfd int

	// mu is held while a wake-up is handled; remove takes it, so once remove returns
	// the loop no longer touches that leg (its socket may then be closed).
	mu   sync.Mutex
	legs map[int32]*mediaLeg
	done chan struct{}
}

func newReactor(g *Gateway) (*reactor, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%w: epoll: %w", ErrInternal, err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		return nil, errors.Join(fmt.Errorf("%w: epoll: %w", ErrInternal, err), syscall.Close(epfd))
	}
	r := &reactor{g: g, ep: os.NewFile(uintptr(epfd), "legs-epoll"), epfd: epfd, legs: map[int32]*mediaLeg{}, done: make(chan struct{})}
	go r.loop() // stops when close() closes the epoll file
	return r, nil
}

// add starts reading l's socket.
func (r *reactor) add(l *mediaLeg) error {
	rc, err := l.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("%w: leg socket: %w", ErrInternal, err)
	}
	var fd int32 = -1
	if err := rc.Control(func(f uintptr) { fd = int32(f) }); err != nil || fd < 0 {
		return fmt.Errorf("%w: leg socket fd: %w", ErrInternal, err)
	}
	l.fd = fd
	r.mu.Lock()
	r.legs[fd] = l
	r.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: fd}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		r.mu.Lock()
		delete(r.legs, fd)
		r.mu.Unlock()
		return fmt.Errorf("%w: epoll add: %w", ErrInternal, err)
	}
	return nil
}

// remove stops reading l's socket; on return the loop no longer uses it.
func (r *reactor) remove(l *mediaLeg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(l)
}

func (r *reactor) removeLocked(l *mediaLeg) {
	if r.legs[l.fd] != l {
		return
	}
	delete(r.legs, l.fd)
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, int(l.fd), nil); err != nil {
		r.g.log.Warn().Err(err).Str("call_id", l.callID).Msg("epoll del")
	}
}

// close stops the loop and waits for it (every leg must be removed first).
func (r *reactor) close() error {
	err := r.ep.Close()
	<-r.done
	return err
}

func (r *reactor) loop() {
	defer close(r.done)
	rc, err := r.ep.SyscallConn()
	if err != nil {
		r.g.log.Error().Err(err).Msg("legs reactor: no raw conn; legs are not read")
		return
	}
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n := 0
		var werr error
		err := rc.Read(func(fd uintptr) bool {
			n, werr = epollWait(int(fd), events)
			return werr != nil || n > 0
		})
		if err != nil {
			return // the epoll file was closed (Gateway.Close)
		}
		if werr != nil {
			r.g.log.Error().Err(werr).Msg("legs reactor: epoll_wait failed; legs are not read")
			return
		}
		r.mu.Lock()
		hold := r.g.iceConn
		if hold != nil {
			hold.Hold()
		}
		handled := 0
		for _, ev := range events[:n] {
			l := r.legs[ev.Fd]
			if l == nil {
				continue
			}
			k, src, err := recvFrom(int(ev.Fd), buf)
			if err != nil {
				if err != syscall.EAGAIN && err != syscall.EINTR {
					// as a leg's reader goroutine would: the leg stops (a level
					// triggered error must not spin the loop)
					l.owner.Load().log.Warn().Err(err).Str("call_id", l.callID).Msg("call leg read failed; leg stops")
					r.removeLocked(l)
				}
				continue
			}
			l.handle(buf[:k], src, &pkt)
			if handled++; handled%flushEvery == 0 && hold != nil {
				hold.Flush()
				hold.Hold()
			}
		}
		if hold != nil {
			hold.Flush()
		}
		r.mu.Unlock()
	}
}

// recvFrom reads one datagram without blocking and without allocating.
func recvFrom(fd int, b []byte) (int, netip.AddrPort, error) {
	var sa syscall.RawSockaddrInet6 // large enough for either family
	salen := uint32(unsafe.Sizeof(sa))
	// non-blocking: a raw call, no entersyscall (see legSender)
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
	if e != 0 {
		return 0, netip.AddrPort{}, e
	}
	var ap netip.AddrPort
	switch sa.Family {
	case syscall.AF_INET:
		s4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&sa))
		p := (*[2]byte)(unsafe.Pointer(&s4.Port))
		ap = netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case syscall.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		ap = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return int(n), ap, nil
}

// epollWait polls without blocking (timeout 0), raw like recvFrom.
func epollWait(epfd int, events []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	switch e {
	case 0:
		return int(n), nil
	case syscall.EINTR:
		return 0, nil
	}
	return 0, e
}

// legSender sends microphone packets from legs' sockets to Asterisk: sendto
// through the socket's RawConn (which keeps the descriptor alive against a
// concurrent DetachCall), without allocating and as a raw system call. The
// sockets are non-blocking, so the call cannot block; going through entersyscall
// instead would wake the runtime's sysmon thread each time the process comes back
// from idle (every 20 ms frame slot), which on a small VM cost more than the
// relay itself. One per goroutine.
type legSender struct {
	b     []byte
	sa    syscall.RawSockaddrInet6
	salen uint32
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func newLegSender() *legSender {
	ls := &legSender{}
	ls.fn = ls.sendFD
	return ls
}

func (ls *legSender) sendFD(fd uintptr) bool {
	_, _, ls.errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&ls.b[0])), uintptr(len(ls.b)),
		syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&ls.sa)), uintptr(ls.salen))
	return true // EAGAIN (a full socket buffer): the packet is dropped, as UDP may
}

func (ls *legSender) send(l *mediaLeg, b []byte, dst netip.AddrPort) error {
	if len(b) == 0 {
		return nil
	}
	port := (*[2]byte)(unsafe.Pointer(&ls.sa.Port))
	if a := dst.Addr(); a.Is4() {
		s4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&ls.sa))
		*s4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
		p := (*[2]byte)(unsafe.Pointer(&s4.Port))
		p[0], p[1] = byte(dst.Port()>>8), byte(dst.Port())
		ls.salen = uint32(unsafe.Sizeof(*s4))
	} else {
		ls.sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		port[0], port[1] = byte(dst.Port()>>8), byte(dst.Port())
		ls.salen = uint32(unsafe.Sizeof(ls.sa))
	}
	ls.b = b
	err := l.rc.Write(ls.fn)
	ls.b = nil
	if err != nil {
		return err
	}
	if ls.errno != 0 {
		return ls.errno
	}
	return nil
}
