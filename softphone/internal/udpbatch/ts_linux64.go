//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"
)

func enableTimestamps(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("udpbatch: timestamps: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return fmt.Errorf("udpbatch: timestamps: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("udpbatch: SO_TIMESTAMPNS: %w", serr)
	}
	return nil
}

// rxTime finds the SCM_TIMESTAMPNS control message (struct timespec) in oob
// without allocating.
func rxTime(oob []byte) (time.Time, bool) {
	const hdr = int(unsafe.Sizeof(syscall.Cmsghdr{}))
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return time.Time{}, false
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && l >= hdr+16 {
			d := oob[hdr:]
			sec := int64(binary.NativeEndian.Uint64(d[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(d[8:16]))
			return time.Unix(sec, nsec), true
		}
		oob = oob[(l+7)&^7:]
	}
	return time.Time{}, false
}

func enableDst(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("udpbatch: pktinfo: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
	}); err != nil {
		return fmt.Errorf("udpbatch: pktinfo: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("udpbatch: IP_PKTINFO: %w", serr)
	}
	return nil
}

// rxDst finds the IP_PKTINFO control message (struct in_pktinfo: ifindex,
// spec_dst, addr) in oob and returns its header destination address.
func rxDst(oob []byte) (netip.Addr, bool) {
	const hdr = int(unsafe.Sizeof(syscall.Cmsghdr{}))
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return netip.Addr{}, false
		}
		if h.Level == syscall.IPPROTO_IP && h.Type == syscall.IP_PKTINFO && l >= hdr+12 {
			return netip.AddrFrom4([4]byte(oob[hdr+8 : hdr+12])), true
		}
		oob = oob[(l+7)&^7:]
	}
	return netip.Addr{}, false
}
