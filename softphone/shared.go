package softphone

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ctid/ctid/softphone/internal/udpbatch"
	"github.com/pion/rtp"
)

// sharedLegs is the ExternalMedia side on ONE UDP socket (Config.MediaSharedAddr):
// every leg's LocalAddr is that socket, and Asterisk's packets are told apart by
// their source address, which ctid sets with SetRemote (the ExternalMedia channel's
// UNICASTRTP_LOCAL_ADDRESS/PORT) before audio flows. The socket is read with
// recvmmsg and written with sendmmsg: a batch of the Asterisk side costs one system
// call each way instead of a recvfrom and a sendto per packet and leg, and the
// agents' SRTP of a batch leaves the ICE socket in one sendmmsg. Packets from an
// address no leg was given are dropped and counted as foreign.
type sharedLegs struct {
	g     *Gateway
	conn  *udpbatch.Conn
	local netip.AddrPort // advertised

	// mu is held while a batch is handled; unbind takes it, so once unbind returns
	// the reader no longer uses that leg.
	mu   sync.Mutex
	legs map[netip.AddrPort]*mediaLeg
	done chan struct{}
	pkt  rtp.Packet
	ice  *udpbatch.Conn // the shared ICE socket, nil without one (set before run)
	rb   resBatch       // with Gateway.res
	n    int            // packets handled in the current batch
}

// flushEvery bounds how long a relayed packet waits for its batch's sendmmsg: a
// reader that handled that many packets of a batch sends them before going on.
// Without it the first packet of a full batch (64 read at once after a stall)
// waited for the other 63 to be handled (~0.6 ms); with it ~0.15 ms, for one
// more sendmmsg per 16 packets.
const flushEvery = 16

// newSharedLegs opens the socket; start starts reading it.
func newSharedLegs(g *Gateway, addr string, advertise netip.Addr) (*sharedLegs, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: media_shared_addr: %w", ErrInvalidConfig, err)
	}
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("%w: media_shared_addr %s: %w", ErrInvalidConfig, ap, err)
	}
	if err := errors.Join(uc.SetReadBuffer(4<<20), uc.SetWriteBuffer(4<<20)); err != nil {
		return nil, errors.Join(fmt.Errorf("%w: media_shared_addr buffers: %w", ErrInternal, err), uc.Close())
	}
	sl := &sharedLegs{g: g, legs: map[netip.AddrPort]*mediaLeg{}, done: make(chan struct{})}
	port := uint16(uc.LocalAddr().(*net.UDPAddr).Port)
	sl.local = netip.AddrPortFrom(advertise, port)
	if sl.conn, err = udpbatch.New(udpbatch.Params{Conn: uc, BatchStart: sl.batchStart, BatchEnd: sl.batchEnd, Timestamps: g.res != nil}); err != nil {
		return nil, errors.Join(fmt.Errorf("%w: media_shared_addr: %w", ErrInternal, err), uc.Close())
	}
	return sl, nil
}

// start reads the socket until close; ice is the shared ICE socket (may be nil).
func (sl *sharedLegs) start(ice *udpbatch.Conn) {
	sl.ice = ice
	go sl.run() // stops when close() closes the socket
}

// batchStart and batchEnd bracket a received batch: the legs stay put, and the
// agents' SRTP of the batch leaves the ICE socket in one sendmmsg.
func (sl *sharedLegs) batchStart() {
	if sl.g.res != nil {
		sl.rb.start()
	}
	sl.n = 0
	sl.mu.Lock()
	if sl.ice != nil {
		sl.ice.Hold()
	}
}

func (sl *sharedLegs) batchEnd() {
	if sl.ice != nil {
		sl.ice.Flush()
	}
	sl.mu.Unlock()
	if sl.g.res != nil {
		sl.rb.end(&sl.g.res.agentQueued, &sl.g.res.agentTotal)
	}
}

func (sl *sharedLegs) run() {
	defer close(sl.done)
	err := sl.conn.Drain(func(b []byte, from netip.AddrPort, rx time.Time) {
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		l := sl.legs[from]
		if l == nil {
			sl.g.counters.dropForeign.Add(1)
			return
		}
		l.handle(b, from, &sl.pkt)
		if sl.g.res != nil {
			sl.rb.packet(rx)
		}
		if sl.n++; sl.n%flushEvery == 0 && sl.ice != nil {
			sl.ice.Flush()
			sl.ice.Hold()
		}
	})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		sl.g.log.Error().Err(err).Msg("shared media socket read failed; legs are not read")
	}
}

// bind routes Asterisk's packets from addr to l (replacing l's previous address).
func (sl *sharedLegs) bind(l *mediaLeg, prev *netip.AddrPort, addr netip.AddrPort) {
	sl.mu.Lock()
	if prev != nil && sl.legs[*prev] == l {
		delete(sl.legs, *prev)
	}
	sl.legs[addr] = l
	sl.mu.Unlock()
}

// unbind stops routing to l; on return the reader no longer uses it.
func (sl *sharedLegs) unbind(l *mediaLeg) {
	sl.mu.Lock()
	if r := l.remote.Load(); r != nil && sl.legs[*r] == l {
		delete(sl.legs, *r)
	}
	sl.mu.Unlock()
}

// send queues a microphone packet for Asterisk (sent at the end of the ICE socket's
// batch, or at once when no batch is being handled).
func (sl *sharedLegs) send(b []byte, dst netip.AddrPort) error {
	_, err := sl.conn.WriteToAddrPort(b, dst)
	return err
}

func (sl *sharedLegs) close() error {
	err := sl.conn.Close()
	<-sl.done
	return err
}
