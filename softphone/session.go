package softphone

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// maxPendingCandidates bounds the remote candidates buffered before the first offer.
const maxPendingCandidates = 64

// Session is one agent's long-lived peer connection: one outbound PCMU track that
// carries the active call's audio (nothing between calls), the agent's microphone
// track, and the ExternalMedia legs of the agent's calls. All methods are safe for
// concurrent use.
type Session struct {
	g     *Gateway
	p     SessionParams
	log   zerolog.Logger
	pc    *webrtc.PeerConnection
	track *outTrack

	mu          sync.Mutex // negotiation, legs, pending candidates, closed
	haveRemote  bool
	remoteUfrag string                    // ICE ufrag of the applied offer
	pending     []webrtc.ICECandidateInit // remote candidates for a description not applied yet
	legs        map[string]*mediaLeg
	closing     bool

	isClosed  atomic.Bool
	connected atomic.Bool
	active    atomic.Pointer[mediaLeg]

	// state machine
	stateMu sync.Mutex
	state   State

	// ordered callback delivery (states, answers, candidates, DTMF) on the session's own
	// goroutine, so callbacks never run under a lock or inside pion
	evMu     sync.Mutex
	evCond   *sync.Cond
	events   []func()
	evClosed bool
	evDone   chan struct{}
	// negotiating holds back local candidates during Offer so that OnAnswer comes
	// first (candidates of a new ICE generation are useless before its answer).
	negotiating bool
	held        []func()

	// outbound stream (under outMu): continuity rewriting, the fast path, and the
	// counters of the RTCP sender reports
	outMu    sync.Mutex
	rw       rewriter
	fastOut  *fastOut
	outReady *fastOut  // prepared, taken at the next packet it is safe to
	pionIdx  srtpIndex // the SRTP index of what pion's context sent
	outSent  uint64    // packets
	outBytes uint64    // payload octets
	outTS    uint32    // RTP timestamp of the last packet
	outWall  time.Time
	outPlain []byte
	outEnc   []byte

	micNoLeg atomic.Uint64

	srSlice int // which tick of the sender-report loop reports this session (set once, under Gateway.mu)

	wg sync.WaitGroup // remote track readers, RTCP reader (leg readers: mediaLeg.done)
}

// DTMF is one key press received from the browser as an RFC 4733 telephone-event.
type DTMF struct {
	// Digit is one of 0-9, *, #, A-D.
	Digit string
	// CallID is the call whose leg was active when the digit arrived ("" if none).
	CallID string
}

func newSession(g *Gateway, p SessionParams) (*Session, error) {
	pc, err := g.api.NewPeerConnection(g.iceConfig)
	if err != nil {
		return nil, fmt.Errorf("%w: new peer connection: %w", ErrInternal, err)
	}
	track := newOutTrack("audio", "ctid")
	sender, err := pc.AddTrack(track)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%w: add track: %w", ErrInternal, err), pc.Close())
	}
	s := &Session{
		g:      g,
		p:      p,
		log:    g.log.With().Str("component", "softphone").Str("agent", p.Agent).Logger(),
		pc:     pc,
		track:  track,
		legs:   make(map[string]*mediaLeg),
		state:  StateNew,
		evDone: make(chan struct{}),
	}
	s.evCond = sync.NewCond(&s.evMu)
	if g.fast != nil {
		s.outPlain, s.outEnc = make([]byte, 1500), make([]byte, 1500)
		pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) { s.followPair() })
	}
	go s.deliverLoop()
	pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) {
		// pion runs each handler in its own goroutine, so they may run out of order:
		// read the current state instead of trusting the argument.
		s.onPCState(pc.ConnectionState())
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if s.p.OnCandidate == nil {
			return
		}
		var init *webrtc.ICECandidateInit
		if c != nil {
			j := c.ToJSON()
			init = &j
		}
		// pion may call this synchronously inside SetLocalDescription (under mu).
		ev := func() {
			if !s.isClosed.Load() {
				s.p.OnCandidate(init)
			}
		}
		s.evMu.Lock()
		if s.negotiating {
			s.held = append(s.held, ev)
		} else if !s.evClosed {
			s.events = append(s.events, ev)
			s.evCond.Signal()
		}
		s.evMu.Unlock()
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		s.readMicrophone(t, r)
	})
	// Drain RTCP from the browser so the report interceptors see it.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	return s, nil
}

// State returns the current state.
func (s *Session) State() State {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.state
}

func (s *Session) onPCState(pcs webrtc.PeerConnectionState) {
	in, ok := inputFromPeerConnectionState(pcs)
	if !ok {
		s.log.Warn().Str("pc_state", pcs.String()).Msg("unknown peer connection state ignored")
		return
	}
	if s.isClosed.Load() && in != inputClosed {
		return
	}
	s.transition(in)
	if f := s.g.fast; f != nil && pcs == webrtc.PeerConnectionStateConnected {
		f.joinOut(s)
	}
}

// transition applies in and delivers the resulting state change to OnState, in
// order, without holding a lock while the callback runs (so a callback may call
// Close).
func (s *Session) transition(in input) {
	s.stateMu.Lock()
	next, err := apply(s.state, in)
	if err != nil {
		s.stateMu.Unlock()
		s.log.Warn().Err(err).Msg("state transition refused")
		return
	}
	if next == s.state {
		s.stateMu.Unlock()
		return
	}
	prev := s.state
	s.state = next
	s.connected.Store(next == StateConnected)
	s.log.Info().Stringer("from", prev).Stringer("to", next).Msg("peer connection state")
	if s.p.OnState != nil {
		s.enqueue(func() { s.p.OnState(next) }) // under stateMu: queued in transition order
	}
	s.stateMu.Unlock()
}

func (s *Session) enqueue(f func()) {
	s.evMu.Lock()
	if !s.evClosed {
		s.events = append(s.events, f)
		s.evCond.Signal()
	}
	s.evMu.Unlock()
}

// closeEvents lets deliverLoop finish what is queued (Closed last) and exit.
func (s *Session) closeEvents() {
	s.evMu.Lock()
	s.evClosed = true
	s.evCond.Signal()
	s.evMu.Unlock()
}

// deliverLoop runs the callbacks in order, holding no lock while one runs, so a
// callback may call any Session method, Close included. It exits after Close once
// the queue is empty.
func (s *Session) deliverLoop() {
	defer close(s.evDone)
	s.evMu.Lock()
	for {
		for len(s.events) == 0 && !s.evClosed {
			s.evCond.Wait()
		}
		if len(s.events) == 0 {
			s.evMu.Unlock()
			return
		}
		f := s.events[0]
		s.events[0] = nil
		s.events = s.events[1:]
		s.evMu.Unlock()
		f()
		s.evMu.Lock()
	}
}

// answerHasAudio reports whether an answer accepts an audio section (port not 0).
func answerHasAudio(answer string) bool {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return false
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			return true
		}
	}
	return false
}

// checkOffer rejects SDP that is malformed or has no usable audio before pion
// sees it, and returns the ICE ufrag of the audio section.
func checkOffer(offer string) (string, error) {
	if !strings.HasPrefix(strings.TrimSpace(offer), "v=") {
		return "", fmt.Errorf("%w: does not start with v=", ErrInvalidOffer)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOffer, err)
	}
	sessionUfrag, _ := d.Attribute("ice-ufrag")
	audio := false
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		audio = true
		ufrag, ok := m.Attribute("ice-ufrag")
		if !ok {
			ufrag = sessionUfrag
		}
		if slices.Contains(m.MediaName.Formats, strconv.Itoa(pcmuPayloadType)) {
			return ufrag, nil
		}
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			if _, codec, ok := strings.Cut(a.Value, " "); ok && strings.HasPrefix(strings.ToUpper(codec), "PCMU/8000") {
				return ufrag, nil
			}
		}
	}
	if !audio {
		return "", ErrNoAudio
	}
	return "", ErrNoCommonCodec
}

// candidateUfrag is the ICE generation a remote candidate belongs to: its
// usernameFragment, or the "ufrag" extension of the candidate line ("" if
// neither).
func candidateUfrag(c webrtc.ICECandidateInit) string {
	if c.UsernameFragment != nil && *c.UsernameFragment != "" {
		return *c.UsernameFragment
	}
	f := strings.Fields(c.Candidate)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "ufrag" {
			return f[i+1]
		}
	}
	return ""
}

// Offer applies the browser's offer (the first one, a renegotiation, or an ICE
// restart) and returns the answer SDP, which OnAnswer also receives, ordered before
// the local candidates gathered for it (trickled through OnCandidate; none is
// delivered while an Offer is in progress). Offers without audio fail with ErrNoAudio, without PCMU with
// ErrNoCommonCodec, malformed ones with ErrInvalidOffer; the session stays usable.
func (s *Session) Offer(ctx context.Context, offer string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("offer: %w", err)
	}
	ufrag, err := checkOffer(offer)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return "", ErrClosed
	}
	s.evMu.Lock()
	s.negotiating = true
	s.evMu.Unlock()
	answer, err := s.offerLocked(offer, ufrag)
	// Release the held candidates, after the answer when there is one.
	s.evMu.Lock()
	s.negotiating = false
	if !s.evClosed {
		if err == nil && s.p.OnAnswer != nil {
			s.events = append(s.events, func() {
				if !s.isClosed.Load() {
					s.p.OnAnswer(answer)
				}
			})
		}
		s.events = append(s.events, s.held...)
		s.evCond.Signal()
	}
	s.held = nil
	s.evMu.Unlock()
	return answer, err
}

func (s *Session) offerLocked(offer, ufrag string) (string, error) {
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOffer, err)
	}
	answer, err := s.pc.CreateAnswer(nil)
	if err == nil {
		err = s.pc.SetLocalDescription(answer)
	}
	if err != nil {
		if rbErr := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); rbErr != nil {
			s.log.Warn().Err(rbErr).Msg("rollback after failed answer")
		}
		return "", fmt.Errorf("%w: answer: %w", ErrInvalidOffer, err)
	}
	if !answerHasAudio(answer.SDP) {
		// pion rejected (port 0) or dropped every audio section it could not use:
		// the browser is not answered (it gets the error and offers again) rather
		// than left "connected" with no audio path. The peer connection is stable,
		// so the next offer renegotiates.
		return "", fmt.Errorf("%w: no audio section could be negotiated", ErrNoAudio)
	}
	s.haveRemote = true
	s.remoteUfrag = ufrag
	pending := s.pending
	s.pending = nil
	for _, c := range pending {
		if u := candidateUfrag(c); u != "" && u != ufrag {
			continue // an older generation's, or a generation that never came
		}
		if err := s.pc.AddICECandidate(c); err != nil {
			s.log.Warn().Err(err).Str("candidate", c.Candidate).Msg("buffered remote candidate rejected")
		}
	}
	s.log.Debug().Msg("answered offer")
	return answer.SDP, nil
}

// AddCandidate adds a remote candidate trickled by the browser. Candidates that
// arrive before the first offer, or whose usernameFragment (or "ufrag" extension)
// names an ICE generation whose restart offer has not arrived yet, are kept for
// that offer (at most 64). An empty candidate string means the
// browser finished gathering.
func (s *Session) AddCandidate(ctx context.Context, c webrtc.ICECandidateInit) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("add candidate: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosed
	}
	// Before the first offer, or for an ICE generation whose offer (an ICE
	// restart) has not been applied yet: keep it for that offer.
	if u := candidateUfrag(c); !s.haveRemote || (u != "" && u != s.remoteUfrag) {
		if len(s.pending) >= maxPendingCandidates {
			return fmt.Errorf("%w: more than %d candidates before the offer", ErrInvalidCandidate, maxPendingCandidates)
		}
		s.pending = append(s.pending, c)
		return nil
	}
	if err := s.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCandidate, err)
	}
	return nil
}

// Close tears down the legs and the peer connection and waits for every goroutine
// the session started. It is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.isClosed.Store(true)
	legs := make([]*mediaLeg, 0, len(s.legs))
	for id, l := range s.legs {
		legs = append(legs, l)
		delete(s.legs, id)
	}
	s.active.Store(nil)
	s.mu.Unlock()

	var errs []error
	for _, l := range legs {
		if err := l.closeSocket(); err != nil {
			errs = append(errs, fmt.Errorf("%w: close leg %s: %w", ErrInternal, l.callID, err))
		}
	}
	if err := s.pc.Close(); err != nil {
		errs = append(errs, fmt.Errorf("%w: close peer connection: %w", ErrInternal, err))
	}
	for _, l := range legs {
		<-l.done
		s.g.releasePort(l.port)
	}
	s.wg.Wait()
	s.g.forget(s)
	s.transition(inputClosed)
	s.closeEvents()
	return errors.Join(errs...)
}

// telephoneEventPT finds the negotiated telephone-event payload type.
func telephoneEventPT(r *webrtc.RTPReceiver) (uint8, bool) {
	for _, c := range r.GetParameters().Codecs {
		if strings.EqualFold(c.MimeType, mimeTelephoneEvt) {
			return uint8(c.PayloadType), true
		}
	}
	return 0, false
}

// micState is a microphone track's receive state, shared by pion's path
// (readMicrophone) and the fast path (fastpath.go): a packet may take either.
type micState struct {
	dtmfPT   uint8
	haveDTMF bool

	mu        sync.Mutex
	lastEvtTS uint32
	sawEvt    bool
}

// readMicrophone forwards the browser's audio to the active leg and surfaces DTMF.
// With the shared ICE socket it hands the track to the fast path once the first
// packet came through pion. It returns when the track ends (renegotiation removed
// it, or Close).
func (s *Session) readMicrophone(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	if t.Kind() != webrtc.RTPCodecTypeAudio {
		s.log.Warn().Str("kind", t.Kind().String()).Msg("ignoring non-audio track")
		return
	}
	mic := &micState{}
	mic.dtmfPT, mic.haveDTMF = telephoneEventPT(r)
	s.log.Debug().Uint32("ssrc", uint32(t.SSRC())).Msg("microphone track started")
	if f := s.g.fast; f != nil {
		if remote, err := f.join(s, uint32(t.SSRC()), mic); err != nil {
			s.log.Debug().Err(err).Msg("microphone stays on pion's srtp path")
		} else {
			s.log.Info().Stringer("remote", remote).Msg("microphone srtp on the fast path")
			defer func() { f.leave(s, remote, s.isClosed.Load()) }()
		}
	}
	c := &s.g.counters
	buf := make([]byte, 1500)
	ls := newLegSender()
	var h rtp.Header
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			s.log.Debug().Err(err).Msg("microphone track ended")
			return
		}
		hl, err := h.Unmarshal(buf[:n])
		if err != nil {
			c.dropInvalid.Add(1)
			continue
		}
		s.onMicrophone(ls, mic, &h, buf[:n], buf[hl:n])
	}
}

// onMicrophone handles one decrypted microphone packet (pkt, its header h and
// payload): DTMF is surfaced, PCMU goes to the active leg.
func (s *Session) onMicrophone(ls *legSender, mic *micState, h *rtp.Header, pkt, payload []byte) {
	c := &s.g.counters
	if mic.haveDTMF && h.PayloadType == mic.dtmfPT {
		mic.mu.Lock()
		if mic.sawEvt && h.Timestamp == mic.lastEvtTS {
			mic.mu.Unlock()
			return // retransmission or continuation of the same key press
		}
		digit, ok := dtmfDigit(payload)
		if !ok {
			mic.mu.Unlock()
			c.dropInvalid.Add(1)
			return
		}
		mic.sawEvt, mic.lastEvtTS = true, h.Timestamp
		mic.mu.Unlock()
		c.dtmf.Add(1)
		d := DTMF{Digit: digit}
		if l := s.active.Load(); l != nil {
			d.CallID = l.callID
		}
		s.log.Debug().Str("digit", digit).Str("call_id", d.CallID).Msg("dtmf from browser")
		if s.p.OnDTMF != nil {
			// Via the callback goroutine: a slow callback must not stall the
			// microphone, and a callback may call Close (which waits for us).
			s.enqueue(func() {
				if !s.isClosed.Load() {
					s.p.OnDTMF(d)
				}
			})
		}
		return
	}
	if h.PayloadType != pcmuPayloadType {
		c.dropInvalid.Add(1)
		return
	}
	c.fromAgent.Add(1)
	l := s.active.Load()
	if l == nil {
		s.micNoLeg.Add(1)
		c.dropNotActive.Add(1)
		return
	}
	l.sendToAsterisk(ls, pkt)
}

// dtmfDigit decodes the event of an RFC 4733 payload.
func dtmfDigit(payload []byte) (string, bool) {
	if len(payload) < 4 {
		return "", false
	}
	switch e := payload[0]; {
	case e <= 9:
		return string(rune('0' + e)), true
	case e == 10:
		return "*", true
	case e == 11:
		return "#", true
	case e >= 12 && e <= 15:
		return string(rune('A' + e - 12)), true
	default:
		return "", false
	}
}

// writeToAgent rewrites the packet for continuity and writes it to the agent's
// track: on the fast path encrypted here and queued on the shared ICE socket, else
// through pion.
func (s *Session) writeToAgent(l *mediaLeg, pkt *rtp.Packet) error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	now := time.Now()
	s.rw.rewrite(l, &pkt.Header, now)
	b := s.track.b.Load()
	if b == nil {
		return nil // not negotiated (yet, or any more): dropped, as pion's track does
	}
	if r := s.outReady; r != nil && s.fastOut == nil {
		if !s.pionIdx.started {
			s.fastOut, s.outReady = r, nil
		} else if s.pionIdx.handoverSafe(b.ssrc) {
			r.ctx.SetROC(b.ssrc, uint32(s.pionIdx.index>>16))
			s.fastOut, s.outReady = r, nil
		}
	}
	if fo := s.fastOut; fo != nil {
		pkt.SSRC, pkt.PayloadType = b.ssrc, b.pt
		n, err := pkt.MarshalTo(s.outPlain)
		if err != nil {
			return fmt.Errorf("%w: marshal rtp: %w", ErrInternal, err)
		}
		enc, err := fo.ctx.EncryptRTP(s.outEnc, s.outPlain[:n], &pkt.Header)
		if err != nil {
			return fmt.Errorf("%w: srtp: %w", ErrInternal, err)
		}
		if _, err := s.g.iceConn.WriteToAddrPort(enc, fo.remote); err != nil {
			return err
		}
		s.g.counters.toAgentFast.Add(1)
	} else {
		if err := s.track.writeRTP(&pkt.Header, pkt.Payload); err != nil {
			return err
		}
		s.pionIdx.add(pkt.SSRC, pkt.SequenceNumber)
	}
	s.outSent++
	s.outBytes += uint64(len(pkt.Payload))
	s.outTS, s.outWall = pkt.Timestamp, now
	return nil
}

// senderReport is the RTCP sender report of the outbound stream at now (nil
// before its first packet).
func (s *Session) senderReport(now time.Time) *rtcp.SenderReport {
	b := s.track.b.Load()
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if b == nil || s.outSent == 0 {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     s.outTS + uint32(now.Sub(s.outWall)*pcmuClockRate/time.Second),
		PacketCount: uint32(s.outSent),
		OctetCount:  uint32(s.outBytes),
	}
}

// ntpTime is t as a 64-bit NTP timestamp (seconds since 1900, 32.32 fixed point).
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2208988800
	ns := uint64(t.UnixNano())
	sec := ns/uint64(time.Second) + unixToNTP
	frac := (ns % uint64(time.Second)) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

func (s *Session) legCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.legs)
}

// MicrophonePacketsWithoutLeg counts microphone packets that arrived while no leg
// was active (between calls).
func (s *Session) MicrophonePacketsWithoutLeg() uint64 { return s.micNoLeg.Load() }
