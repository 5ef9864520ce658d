//go:build !linux

package softphone

import "net/netip"

// reactor is linux only (epoll); elsewhere every leg has its own reader goroutine.
type reactor struct{}

func newReactor(*Gateway) (*reactor, error) { return nil, nil }
func (r *reactor) add(*mediaLeg) error      { return nil }
func (r *reactor) remove(*mediaLeg)         {}
func (r *reactor) close() error             { return nil }

// legSender sends microphone packets to Asterisk (see the linux one).
type legSender struct{}

func newLegSender() *legSender { return &legSender{} }

func (*legSender) send(l *mediaLeg, b []byte, dst netip.AddrPort) error {
	_, err := l.conn.WriteToUDPAddrPort(b, dst)
	return err
}
