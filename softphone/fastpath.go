package softphone

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

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
}

type fastMic struct {
	s    *Session
	ssrc uint32
	ctx  *srtp.Context // used by the reader goroutine only
	mic  *micState
}

func newFastPath(g *Gateway) *fastPath {
	return &fastPath{g: g, keys: dtlskeys.New(), mics: map[netip.AddrPort]*fastMic{}, buf: make([]byte, 1500)}
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
func (f *fastPath) intercept(b []byte, from netip.AddrPort) bool {
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
	m.s.onMicrophone(m.mic, &f.hdr, dec, dec[hl:])
	return true
}

// join puts the session's microphone (SSRC ssrc) on the fast path; it returns the
// remote address to pass to leave, or an error when the fast path cannot be used
// (pion's path carries on).
func (f *fastPath) join(s *Session, ssrc uint32, mic *micState) (netip.AddrPort, error) {
	pair, err := s.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil {
		return netip.AddrPort{}, fmt.Errorf("no selected ICE candidate pair: %w", err)
	}
	a, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("remote candidate address: %w", err)
	}
	remote := netip.AddrPortFrom(a.Unmap(), pair.Remote.Port)
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
