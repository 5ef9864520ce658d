//go:build !(linux && (amd64 || arm64))

package udpbatch

import (
	"errors"
	"net"
	"time"
)

func enableTimestamps(*net.UDPConn) error {
	return errors.New("udpbatch: kernel receive timestamps need linux")
}

func rxTime([]byte) (time.Time, bool) { return time.Time{}, false }
