package softphone

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/ctid/ctid/softphone/internal/dtlskeys"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// fastPath takes the agents' microphone SRTP off the shared ICE socket (ice_udp_mux)
// before pion sees it, decrypts it with a per-session srtp.Context and relays it to
// the call's leg on the socket reader's goroutine. pion's own path for the same
// packets is ICE mux → DTLS/SRTP demux → SRTP session → track: three goroutine
// hand-offs, three buffer copies and the locks of each, per packet; the fast path is
// one map lookup and one decryption.
//
// The keys come from dtlskeys (pion's public key log writer plus the handshake seen
// on the socket). A session joins once pion delivered its microphone track (so
// OnTrack and the negotiated payload types are known: the first packets always take
// pion's path); it leaves when the track ends or the session closes, when a new
// DTLS handshake starts with its address, and on an SRTP authentication failure —
// the packet then goes to pion, which decides. Packets of other SSRCs, SRTCP, STUN
// and DTLS always go to pion.
type fastPath struct {
	g    *Gateway
	keys *dtlskeys.Tracker

	mu   sync.Mutex
	mics map[netip.AddrPort]*fastMic

	// owned by the ICE socket's reader goroutine (intercept)
	buf []byte
	hdr rtp.Header
	ls  *legSender
	rb  resBatch // with Gateway.res
	n   int      // microphone packets relayed in the current batch
}

// batchStart and batchEnd bracket a batch read from the ICE socket: the
// microphones of a batch leave the shared leg socket in sendmmsg batches (of at
// most flushEvery), and the residence is measured.
func (f *fastPath) batchStart() {
	if f.g.res != nil {
		f.rb.start()
	}
	f.n = 0
	if sh := f.g.shared; sh != nil {
		sh.conn.Hold()
	}
}

func (f *fastPath) batchEnd() {
	if sh := f.g.shared; sh != nil {
		sh.conn.Flush()
	}
	if f.g.res != nil {
		f.rb.end(&f.g.res.micQueued, &f.g.res.micTotal)
	}
}

type fastMic struct {
	s    *Session
	ssrc uint32
	ctx  *srtp.Context // used by the reader goroutine only
	mic  *micState
}

var errNoSelectedPair = errors.New("no selected ICE candidate pair")

func newFastPath(g *Gateway) *fastPath {
	return &fastPath{g: g, keys: dtlskeys.New(), mics: map[netip.AddrPort]*fastMic{}, buf: make([]byte, 1500), ls: newLegSender()}
}

// observeWrite sees every datagram the ICE socket sends (DTLS handshakes of this
// side).
func (f *fastPath) observeWrite(b []byte, to netip.AddrPort) {
	if len(b) > 0 && b[0] >= 20 && b[0] <= 63 { // DTLS (RFC 7983)
		if f.keys.Observe(b, to, true) {
			f.drop(to)
		}
	}
}

// intercept sees every datagram the ICE socket receives, on its reader goroutine;
// true means it was consumed.
func (f *fastPath) intercept(b []byte, from netip.AddrPort, rx time.Time) bool {
	if len(b) < 12 {
		return false
	}
	switch {
	case b[0] >= 20 && b[0] <= 63: // DTLS
		if f.keys.Observe(b, from, false) {
			f.drop(from)
		}
		return false
	case b[0] < 128 || b[0] > 191 || (b[1] >= 192 && b[1] <= 223): // not RTP: STUN, RTCP, ...
		return false
	}
	f.mu.Lock()
	m := f.mics[from]
	f.mu.Unlock()
	if m == nil || uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11]) != m.ssrc {
		return false
	}
	dec, err := m.ctx.DecryptRTP(f.buf, b, &f.hdr)
	if err != nil {
		if errors.Is(err, srtp.ErrFailedToVerifyAuthTag) {
			// wrong keys (or a new association): pion's path decides from now on
			m.s.log.Warn().Err(err).Stringer("remote", from).Msg("microphone fast path left: srtp authentication failed")
			f.drop(from)
			return false
		}
		f.g.counters.dropInvalid.Add(1) // a replayed packet, or malformed: pion would drop it too
		return true
	}
	f.g.counters.fromAgentFast.Add(1)
	hl := f.hdr.MarshalSize()
	if hl > len(dec) {
		f.g.counters.dropInvalid.Add(1)
		return true
	}
	m.s.onMicrophone(f.ls, m.mic, &f.hdr, dec, dec[hl:])
	if f.g.res != nil {
		f.rb.packet(rx)
	}
	if sh := f.g.shared; sh != nil {
		if f.n++; f.n%flushEvery == 0 {
			sh.conn.Flush()
			sh.conn.Hold()
		}
	}
	return true
}

// join puts the session's microphone (SSRC ssrc) on the fast path; it returns the
// remote address to pass to leave, or an error when the fast path cannot be used
// (pion's path carries on).
func (f *fastPath) join(s *Session, ssrc uint32, mic *micState) (netip.AddrPort, error) {
	remote, err := s.selectedRemote()
	if err != nil {
		return netip.AddrPort{}, err
	}
	k, err := f.keys.Keys(remote)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ctx, err := k.Decrypter(srtp.SRTPReplayProtection(64)) // pion's default window
	if err != nil {
		return netip.AddrPort{}, err
	}
	f.mu.Lock()
	f.mics[remote] = &fastMic{s: s, ssrc: ssrc, ctx: ctx, mic: mic}
	f.mu.Unlock()
	return remote, nil
}

// leave takes the session's microphone off the fast path; forget (the session
// closes) also drops the association's keys.
func (f *fastPath) leave(s *Session, remote netip.AddrPort, forget bool) {
	f.mu.Lock()
	m := f.mics[remote]
	if m != nil && m.s == s {
		delete(f.mics, remote)
	}
	f.mu.Unlock()
	if forget && (m == nil || m.s == s) {
		f.keys.Forget(remote)
	}
}

func (f *fastPath) drop(remote netip.AddrPort) {
	f.mu.Lock()
	delete(f.mics, remote)
	f.mu.Unlock()
}

// fastOut is a session's outbound fast path: the agent's audio is encrypted with
// the session's own srtp.Context and queued straight on the shared ICE socket (the
// reactor sends a wake-up's packets in one sendmmsg), skipping pion's interceptor,
// SRTP session, DTLS/SRTP mux endpoint and ICE conn. Once taken it is never left
// (the SRTP index must only grow: going back to pion's context could reuse one);
// the remote address follows the selected ICE candidate pair.
type fastOut struct {
	ctx    *srtp.Context
	remote netip.AddrPort
}

// srtpIndex follows the SRTP packet index (rollover count << 16 | sequence
// number) that pion's sender context derives for the packets sent through it,
// with the same estimation (RFC 3550 A.1, as pion/srtp does it), so the fast path
// can take over a stream pion started with the same index.
type srtpIndex struct {
	ssrc    uint32
	started bool
	index   uint64
}

func (x *srtpIndex) add(ssrc uint32, seq uint16) {
	if !x.started || ssrc != x.ssrc {
		x.ssrc, x.started, x.index = ssrc, true, uint64(seq)
		return
	}
	const median, maxSeq = 1 << 15, 1 << 16
	s, last := int64(seq), int64(x.index&(maxSeq-1))
	diff := s - last
	if x.index > median {
		switch {
		case last < median && s-last > median:
			diff = s - last - maxSeq
		case last >= median && last-median > s:
			diff = s - last + maxSeq
		}
	}
	if diff > 0 {
		x.index += uint64(diff)
	}
}

// handoverSafe reports whether the fast path may take the stream over now: far
// from a sequence number wrap, so the next packets keep the rollover count.
func (x *srtpIndex) handoverSafe(ssrc uint32) bool {
	seq := x.index & 0xffff
	return x.started && x.ssrc == ssrc && seq >= 0x1000 && seq <= 0xf000
}

// selectedRemote is the remote address of the session's selected ICE candidate
// pair.
func (s *Session) selectedRemote() (netip.AddrPort, error) {
	pair, err := s.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("selected ICE candidate pair: %w", err)
	}
	if pair == nil || pair.Remote == nil {
		return netip.AddrPort{}, errNoSelectedPair
	}
	a, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("remote candidate address: %w", err)
	}
	return netip.AddrPortFrom(a.Unmap(), pair.Remote.Port), nil
}

// joinOut prepares the session's outbound fast path (the peer connection just
// connected; writeToAgent takes it at the next packet), or only follows a new
// remote address if it is on it already.
func (f *fastPath) joinOut(s *Session) {
	remote, err := s.selectedRemote()
	if err != nil {
		s.log.Debug().Err(err).Msg("outbound audio stays on pion's srtp path")
		return
	}
	s.outMu.Lock()
	if s.fastOut != nil || s.outReady != nil {
		if s.fastOut != nil {
			s.fastOut.remote = remote
		} else {
			s.outReady.remote = remote
		}
		s.outMu.Unlock()
		return
	}
	s.outMu.Unlock()
	k, err := f.keys.Keys(remote)
	if err != nil {
		s.log.Debug().Err(err).Msg("outbound audio stays on pion's srtp path")
		return
	}
	ctx, err := k.Encrypter()
	if err != nil {
		s.log.Warn().Err(err).Msg("outbound audio stays on pion's srtp path")
		return
	}
	s.outMu.Lock()
	if s.fastOut == nil && s.outReady == nil {
		s.outReady = &fastOut{ctx: ctx, remote: remote}
	}
	s.outMu.Unlock()
	s.log.Info().Stringer("remote", remote).Str("profile", k.Profile.String()).Msg("outbound srtp on the fast path")
}

// followPair moves the outbound fast path to a newly selected candidate pair.
func (s *Session) followPair() {
	remote, err := s.selectedRemote()
	if err != nil {
		return
	}
	s.outMu.Lock()
	if s.fastOut != nil {
		s.fastOut.remote = remote
	} else if s.outReady != nil {
		s.outReady.remote = remote
	}
	s.outMu.Unlock()
}
