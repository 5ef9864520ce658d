//go:build !(linux && (amd64 || arm64))

package udpbatch

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// rxState is x/net's batch messages (portable; allocates each source address).
type rxState struct{ ms []ipv4.Message }

func (c *Conn) initRecv() error {
	c.rx.ms = make([]ipv4.Message, len(c.rbufs))
	for i := range c.rx.ms {
		c.rx.ms[i].Buffers = [][]byte{c.rbufs[i]}
		c.rx.ms[i].OOB = c.roob[i]
	}
	return nil
}

func (c *Conn) recvBatch() (int, error) {
	n, err := c.pc.ReadBatch(c.rx.ms, 0)
	if err != nil {
		return 0, err
	}
	for i := range n {
		m := &c.rx.ms[i]
		c.rlen[i], c.roobn[i] = m.N, m.NN
		if ua, ok := m.Addr.(*net.UDPAddr); ok {
			ap := ua.AddrPort()
			c.raddr[i] = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		} else {
			c.raddr[i] = netip.AddrPort{}
		}
	}
	return n, nil
}

// txState is unused here (x/net's WriteBatch).
type txState struct{}

func (c *Conn) sendBatch(ms []ipv4.Message) (int, error) { return c.pc.WriteBatch(ms, 0) }
