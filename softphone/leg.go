package softphone

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"
)

// Leg is one call's ExternalMedia leg on an agent's session.
type Leg struct {
	CallID string
	// LocalAddr is where Asterisk must send the call's RTP: pass LocalAddr.String()
	// as external_host to POST /channels/externalMedia (format=ulaw).
	LocalAddr netip.AddrPort

	m *mediaLeg
}

// Stats returns the leg's counters (zero for a zero Leg).
func (l Leg) Stats() LegStats {
	if l.m == nil {
		return LegStats{}
	}
	return l.m.stats()
}

// LegStats are a leg's packet counters (monotonic) and the latched Asterisk address.
type LegStats struct {
	// Remote is the Asterisk address the leg latched onto (invalid before the first
	// packet).
	Remote          netip.AddrPort
	FromAsterisk    uint64 // RTP packets accepted from Asterisk
	ToAgent         uint64 // written to the agent's track
	FromAgent       uint64 // microphone packets read while this leg was active
	ToAsterisk      uint64 // microphone packets sent to Asterisk
	DroppedForeign  uint64 // packets from another source than the latched one
	DroppedInvalid  uint64 // not RTP, or not PCMU
	DroppedInactive uint64 // Asterisk packets while another leg was active
	DroppedNoPeer   uint64 // agent not connected, or microphone audio before Asterisk's first packet
	DroppedMuted    uint64 // microphone packets withheld while the leg was muted
	Muted           bool
}

type mediaLeg struct {
	g      *Gateway
	owner  atomic.Pointer[Session] // changes when TakeCall moves the leg
	callID string
	port   uint16
	conn   *net.UDPConn
	rc     syscall.RawConn // conn's, for legSender
	local  netip.AddrPort
	remote atomic.Pointer[netip.AddrPort]
	muted  atomic.Bool
	done   chan struct{}
	// fd is the socket's descriptor while the gateway's reactor reads it (linux);
	// doneOnce closes done then (no reader goroutine does).
	fd       int32
	doneOnce sync.Once

	fromAsterisk, toAgent, fromAgent, toAsterisk                  atomic.Uint64
	dropForeign, dropInvalid, dropInactive, dropNoPeer, dropMuted atomic.Uint64
}

func (l *mediaLeg) stats() LegStats {
	st := LegStats{
		FromAsterisk:    l.fromAsterisk.Load(),
		ToAgent:         l.toAgent.Load(),
		FromAgent:       l.fromAgent.Load(),
		ToAsterisk:      l.toAsterisk.Load(),
		DroppedForeign:  l.dropForeign.Load(),
		DroppedInvalid:  l.dropInvalid.Load(),
		DroppedInactive: l.dropInactive.Load(),
		DroppedNoPeer:   l.dropNoPeer.Load(),
		DroppedMuted:    l.dropMuted.Load(),
		Muted:           l.muted.Load(),
	}
	if r := l.remote.Load(); r != nil {
		st.Remote = *r
	}
	return st
}

// AttachCall allocates a UDP port for the call's ExternalMedia leg and makes it the
// active leg: its RTP goes to the agent's track and the microphone goes to it. The
// previously active leg (a call on hold during a consultation) stays attached but
// muted both ways until Activate or DetachCall.
func (s *Session) AttachCall(ctx context.Context, callID string) (Leg, error) {
	if err := ctx.Err(); err != nil {
		return Leg{}, fmt.Errorf("attach call: %w", err)
	}
	if callID == "" {
		return Leg{}, fmt.Errorf("%w: empty call id", ErrNoSuchCall)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return Leg{}, ErrClosed
	}
	if _, ok := s.legs[callID]; ok {
		return Leg{}, fmt.Errorf("%w: %s", ErrCallAttached, callID)
	}
	if sh := s.g.shared; sh != nil { // every leg on the shared socket: no port, no reader
		l := &mediaLeg{g: s.g, callID: callID, local: sh.local, done: make(chan struct{})}
		l.owner.Store(s)
		s.legs[callID] = l
		s.active.Store(l)
		s.g.counters.legsAttached.Add(1)
		s.log.Info().Str("call_id", callID).Stringer("local", l.local).Msg("call leg attached (shared socket)")
		return Leg{CallID: callID, LocalAddr: l.local, m: l}, nil
	}
	conn, port, err := s.g.listenMedia(ctx)
	if err != nil {
		return Leg{}, err
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		s.g.releasePort(port)
		return Leg{}, errors.Join(fmt.Errorf("%w: leg socket: %w", ErrInternal, err), conn.Close())
	}
	l := &mediaLeg{
		g:      s.g,
		callID: callID,
		port:   port,
		conn:   conn,
		rc:     rc,
		local:  netip.AddrPortFrom(s.g.advertise, port),
		done:   make(chan struct{}),
	}
	l.owner.Store(s)
	if s.g.reactor != nil {
		if err := s.g.reactor.add(l); err != nil {
			s.g.releasePort(port)
			return Leg{}, errors.Join(err, conn.Close())
		}
	} else {
		go l.run() // stops when conn is closed (DetachCall, Close); Close waits on l.done
	}
	s.legs[callID] = l
	s.active.Store(l)
	s.g.counters.legsAttached.Add(1)
	s.log.Info().Str("call_id", callID).Stringer("local", l.local).Msg("call leg attached")
	return Leg{CallID: callID, LocalAddr: l.local, m: l}, nil
}

// Activate makes an attached leg the active one (e.g. back from a consultation).
// Activate("") leaves no leg active: nothing reaches the agent and the microphone
// reaches no call (e.g. while the call is on hold), the legs stay attached.
func (s *Session) Activate(callID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosed
	}
	if callID == "" {
		s.active.Store(nil)
		return nil
	}
	l, ok := s.legs[callID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoSuchCall, callID)
	}
	s.active.Store(l)
	return nil
}

// SetRemote latches a leg onto Asterisk's RTP address before any packet arrives:
// pass the ExternalMedia channel's UNICASTRTP_LOCAL_ADDRESS:UNICASTRTP_LOCAL_PORT
// (its channelvars). Asterisk sends nothing while nobody in the bridge produces
// audio (a whisper-only snoop, a silent bridge), so without this the agent's
// microphone would have nowhere to go until the first packet. Packets from any
// other address are dropped and counted from then on.
func (s *Session) SetRemote(callID string, addr netip.AddrPort) error {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !addr.IsValid() || addr.Addr().IsUnspecified() || addr.Port() == 0 {
		return fmt.Errorf("%w: remote %s: must be a specific address and port", ErrInvalidAddress, addr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.legs[callID]
	if !ok {
		if s.closing {
			return ErrClosed
		}
		return fmt.Errorf("%w: %s", ErrNoSuchCall, callID)
	}
	prev := l.remote.Swap(&addr)
	if sh := s.g.shared; sh != nil {
		sh.bind(l, prev, addr)
	}
	if prev != nil && *prev != addr {
		s.log.Warn().Str("call_id", callID).Stringer("was", *prev).Stringer("now", addr).Msg("call leg re-latched by ctid")
	}
	return nil
}

// SetMuted withholds (or again forwards) the agent's microphone on a call's leg;
// Asterisk then receives no RTP from the agent. Audio to the agent is unaffected.
func (s *Session) SetMuted(callID string, muted bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.legs[callID]
	if !ok {
		if s.closing {
			return ErrClosed
		}
		return fmt.Errorf("%w: %s", ErrNoSuchCall, callID)
	}
	l.muted.Store(muted)
	return nil
}

// Legs returns the attached legs, the active one first.
func (s *Session) Legs() []Leg {
	s.mu.Lock()
	defer s.mu.Unlock()
	active := s.active.Load()
	out := make([]Leg, 0, len(s.legs))
	for id, l := range s.legs {
		leg := Leg{CallID: id, LocalAddr: l.local, m: l}
		if l == active {
			out = append([]Leg{leg}, out...)
		} else {
			out = append(out, leg)
		}
	}
	return out
}

// Leg returns an attached leg.
func (s *Session) Leg(callID string) (Leg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.legs[callID]
	if !ok {
		return Leg{}, false
	}
	return Leg{CallID: callID, LocalAddr: l.local, m: l}, true
}

// TakeCall moves a live leg from another session of the same gateway (the agent
// reconnected: new tab, new peer connection) to s, keeping its UDP port so the
// ExternalMedia channel in Asterisk carries on. The leg becomes s's active leg.
func (s *Session) TakeCall(ctx context.Context, from *Session, callID string) (Leg, error) {
	if err := ctx.Err(); err != nil {
		return Leg{}, fmt.Errorf("take call: %w", err)
	}
	if from == s || from == nil || from.g != s.g {
		return Leg{}, fmt.Errorf("%w: %s: take from the same or a foreign session", ErrNoSuchCall, callID)
	}
	from.mu.Lock()
	l, ok := from.legs[callID]
	if ok {
		delete(from.legs, callID)
		from.active.CompareAndSwap(l, nil)
	}
	from.mu.Unlock()
	if !ok {
		return Leg{}, fmt.Errorf("%w: %s", ErrNoSuchCall, callID)
	}
	s.mu.Lock()
	_, dup := s.legs[callID]
	if s.closing || dup {
		s.mu.Unlock()
		l.shutdown()
		if dup {
			return Leg{}, fmt.Errorf("%w: %s", ErrCallAttached, callID)
		}
		return Leg{}, ErrClosed
	}
	l.owner.Store(s)
	s.legs[callID] = l
	s.active.Store(l)
	s.mu.Unlock()
	s.log.Info().Str("call_id", callID).Str("from_agent", from.p.Agent).Stringer("local", l.local).Msg("call leg taken over")
	return Leg{CallID: callID, LocalAddr: l.local, m: l}, nil
}

// closeSocket stops reading the leg (the reactor forgets it first: its descriptor
// may be reused once closed) and closes the socket.
func (l *mediaLeg) closeSocket() error {
	if l.conn == nil { // on the shared socket
		l.g.shared.unbind(l)
		l.doneOnce.Do(func() { close(l.done) })
		return nil
	}
	if r := l.g.reactor; r != nil {
		r.remove(l)
		err := l.conn.Close()
		l.doneOnce.Do(func() { close(l.done) })
		return err
	}
	return l.conn.Close()
}

// shutdown closes the socket, waits for the reader and frees the port.
func (l *mediaLeg) shutdown() {
	if err := l.closeSocket(); err != nil {
		l.g.log.Warn().Err(err).Str("call_id", l.callID).Msg("close call leg")
	}
	<-l.done
	l.g.releasePort(l.port)
}

// DetachCall closes the call's leg, waits for its reader to stop and frees the
// port. If it was the active leg, no leg is active afterwards.
func (s *Session) DetachCall(ctx context.Context, callID string) (LegStats, error) {
	s.mu.Lock()
	l, ok := s.legs[callID]
	if !ok {
		closed := s.closing
		s.mu.Unlock()
		if closed {
			return LegStats{}, ErrClosed
		}
		return LegStats{}, fmt.Errorf("%w: %s", ErrNoSuchCall, callID)
	}
	delete(s.legs, callID)
	s.active.CompareAndSwap(l, nil)
	s.mu.Unlock()

	err := l.closeSocket()
	s.g.releasePort(l.port)
	select {
	case <-l.done:
	case <-ctx.Done():
		return l.stats(), fmt.Errorf("detach call %s: %w", callID, ctx.Err())
	}
	st := l.stats()
	s.log.Info().Str("call_id", callID).Uint64("from_asterisk", st.FromAsterisk).Uint64("to_asterisk", st.ToAsterisk).
		Uint64("dropped_foreign", st.DroppedForeign).Msg("call leg detached")
	if err != nil {
		return st, fmt.Errorf("%w: close leg %s: %w", ErrInternal, callID, err)
	}
	return st, nil
}

// run reads Asterisk's RTP from the leg's socket until the socket is closed (when
// the gateway has no reactor).
func (l *mediaLeg) run() {
	defer close(l.done)
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, src, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.owner.Load().log.Warn().Err(err).Str("call_id", l.callID).Msg("call leg read failed; leg stops")
			}
			return
		}
		l.handle(buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), &pkt)
	}
}

// handle relays one packet from Asterisk to the agent (or drops and counts it).
func (l *mediaLeg) handle(b []byte, src netip.AddrPort, pkt *rtp.Packet) {
	c := &l.g.counters
	s := l.owner.Load()
	latched := l.remote.Load()
	if latched != nil && *latched != src {
		l.dropForeign.Add(1)
		c.dropForeign.Add(1)
		return
	}
	if err := pkt.Unmarshal(b); err != nil || pkt.Version != 2 || pkt.PayloadType != pcmuPayloadType {
		l.dropInvalid.Add(1)
		c.dropInvalid.Add(1)
		return
	}
	if latched == nil {
		if !l.g.allowedSource(src) {
			l.dropForeign.Add(1)
			c.dropForeign.Add(1)
			return
		}
		latch := src // only this copy escapes (not src, on every packet)
		l.remote.Store(&latch)
		s.log.Info().Str("call_id", l.callID).Stringer("remote", latch).Msg("call leg latched onto Asterisk")
	}
	l.fromAsterisk.Add(1)
	c.fromAsterisk.Add(1)
	if s.active.Load() != l {
		l.dropInactive.Add(1)
		c.dropNotActive.Add(1)
		return
	}
	if !s.connected.Load() {
		l.dropNoPeer.Add(1)
		c.dropNoPeer.Add(1)
		return
	}
	if err := s.writeToAgent(l, pkt); err != nil {
		l.dropNoPeer.Add(1)
		c.dropNoPeer.Add(1)
		return
	}
	l.toAgent.Add(1)
	c.toAgent.Add(1)
}

// sendToAsterisk forwards one microphone RTP packet, unchanged, to the latched
// Asterisk address.
func (l *mediaLeg) sendToAsterisk(ls *legSender, b []byte) {
	c := &l.g.counters
	l.fromAgent.Add(1)
	if l.muted.Load() {
		l.dropMuted.Add(1)
		return
	}
	dst := l.remote.Load()
	if dst == nil {
		l.dropNoPeer.Add(1)
		c.dropNoPeer.Add(1)
		return
	}
	var err error
	if l.conn == nil {
		err = l.g.shared.send(b, *dst)
	} else {
		err = ls.send(l, b, *dst)
	}
	if err != nil {
		l.dropNoPeer.Add(1)
		c.dropNoPeer.Add(1)
		return
	}
	l.toAsterisk.Add(1)
	c.toAsterisk.Add(1)
}

// rewriter keeps the agent's outbound stream continuous across calls: one sequence
// number space and a timestamp line that follows wall-clock time when the source
// (leg or Asterisk SSRC) changes. The browser sees one stream for the whole shift.
type rewriter struct {
	started  bool
	src      *mediaLeg
	srcSSRC  uint32
	seqOff   uint16
	tsOff    uint32
	lastSeq  uint16
	lastTS   uint32
	lastWall time.Time
}

// samplesPerFrame is the minimum timestamp step at a source switch (20 ms of PCMU).
const samplesPerFrame = 160

func (r *rewriter) rewrite(l *mediaLeg, h *rtp.Header, now time.Time) {
	if !r.started || l != r.src || h.SSRC != r.srcSSRC {
		var nextSeq uint16
		var nextTS uint32
		if r.started {
			nextSeq = r.lastSeq + 1
			step := uint32(samplesPerFrame)
			if el := now.Sub(r.lastWall); el > 0 {
				if ticks := uint64(el) * pcmuClockRate / uint64(time.Second); ticks > samplesPerFrame {
					step = uint32(ticks)
				}
			}
			nextTS = r.lastTS + step
		} else {
			nextSeq = uint16(rand.Uint32())
			nextTS = rand.Uint32()
		}
		r.seqOff = nextSeq - h.SequenceNumber
		r.tsOff = nextTS - h.Timestamp
		r.src, r.srcSSRC, r.started = l, h.SSRC, true
		r.lastSeq, r.lastTS, r.lastWall = nextSeq-1, nextTS, now
		h.Marker = true // start of a talk spurt for the browser's jitter buffer
	}
	h.SequenceNumber += r.seqOff
	h.Timestamp += r.tsOff
	if d := h.SequenceNumber - r.lastSeq; d != 0 && d < 0x8000 { // newer (mod 2^16)
		r.lastSeq, r.lastTS, r.lastWall = h.SequenceNumber, h.Timestamp, now
	}
}
