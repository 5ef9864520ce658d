//go:build !(linux && (amd64 || arm64))

package udpbatch

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

func enableTimestamps(*net.UDPConn) error {
	return errors.New("udpbatch: kernel receive timestamps need linux")
}

func rxTime([]byte) (time.Time, bool) { return time.Time{}, false }

func enableDst(*net.UDPConn) error {
	return errors.New("udpbatch: destination addresses need linux/amd64 or arm64")
}

func rxDst([]byte) (netip.Addr, bool) { return netip.Addr{}, false }
