package softphone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctid/ctid/softphone/internal/udpbatch"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// PCMU and telephone-event as registered with the media engine. PCMU has the static
// payload type 0 (what Asterisk ExternalMedia sends with format=ulaw).
const (
	pcmuPayloadType  = 0
	pcmuClockRate    = 8000
	mimeTelephoneEvt = "audio/telephone-event"
)

// Gateway owns the WebRTC API (codecs, ICE settings) and the ExternalMedia UDP port
// range shared by every agent session.
type Gateway struct {
	cfg       Config
	log       zerolog.Logger
	api       *webrtc.API
	iceConfig webrtc.Configuration
	advertise netip.Addr
	bind      netip.Addr
	allowed   []netip.Prefix
	// iceMux is the shared ICE socket (ICEConfig.UDPMux), nil when every peer
	// connection has its own.
	iceMux  *ice.UDPMuxDefault
	iceConn *udpbatch.Conn
	// reactor reads every leg's socket from one goroutine (linux; nil elsewhere:
	// a reader goroutine per leg).
	reactor *reactor
	// fast is the microphone fast path on the shared ICE socket (nil without it).
	fast *fastPath
	// shared carries every leg on one socket (MediaSharedAddr; nil: a port per leg).
	shared *sharedLegs
	// res measures packets' time in the gateway (Config.residence; nil: off).
	res *residence

	portMu   sync.Mutex
	portNext uint16
	portUsed map[uint16]bool

	mu       sync.Mutex
	closed   bool
	sessions map[*Session]struct{}
	srNext   int // the sender-report slice of the next session

	counters gatewayCounters

	srStop, srDone chan struct{}
}

// senderReportInterval is how often each connected session sends an RTCP sender
// report (pion's report interceptor's default).
const senderReportInterval = time.Second

// senderReportSlices spreads the reports over the interval: each tick handles one
// slice of the sessions, so 500 sessions cost ~25 reports every 50 ms instead of a
// burst of 500 (several milliseconds of one core) once a second.
const senderReportSlices = 20

// senderReports sends every connected session's RTCP sender report once per
// interval, until Close.
func (g *Gateway) senderReports() {
	defer close(g.srDone)
	t := time.NewTicker(senderReportInterval / senderReportSlices)
	defer t.Stop()
	var all []*Session
	for tick := 0; ; tick = (tick + 1) % senderReportSlices {
		var now time.Time
		select {
		case <-g.srStop:
			return
		case now = <-t.C:
		}
		g.mu.Lock()
		all = all[:0]
		for s := range g.sessions {
			if s.srSlice == tick {
				all = append(all, s)
			}
		}
		g.mu.Unlock()
		if len(all) == 0 {
			continue
		}
		if g.iceConn != nil { // the reports leave in sendmmsg batches
			g.iceConn.Hold()
		}
		for _, s := range all {
			if !s.connected.Load() {
				continue
			}
			if sr := s.senderReport(now); sr != nil {
				if err := s.pc.WriteRTCP([]rtcp.Packet{sr}); err != nil {
					s.log.Debug().Err(err).Msg("rtcp sender report")
				}
			}
		}
		if g.iceConn != nil {
			g.iceConn.Flush()
		}
		clear(all)
	}
}

// gatewayCounters are monotonic totals over every leg and session, for metrics.
type gatewayCounters struct {
	fromAsterisk   atomic.Uint64
	toAgent        atomic.Uint64
	fromAgent      atomic.Uint64
	toAsterisk     atomic.Uint64
	fromAgentFast  atomic.Uint64
	toAgentFast    atomic.Uint64
	dropForeign    atomic.Uint64
	dropInvalid    atomic.Uint64
	dropNotActive  atomic.Uint64
	dropNoPeer     atomic.Uint64
	dtmf           atomic.Uint64
	legsAttached   atomic.Uint64
	portExhaustion atomic.Uint64
}

// NewGateway validates cfg and builds the WebRTC API: a media engine with PCMU and
// telephone-event only, RTCP sender reports, and ICE per cfg.ICE.
func NewGateway(cfg Config, log zerolog.Logger) (_ *Gateway, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bind, err := netip.ParseAddr(cfg.MediaBindIP)
	if err != nil {
		return nil, fmt.Errorf("%w: media_bind_ip: %w", ErrInvalidConfig, err)
	}
	advertise := bind
	if cfg.MediaAdvertiseIP != "" {
		if advertise, err = netip.ParseAddr(cfg.MediaAdvertiseIP); err != nil {
			return nil, fmt.Errorf("%w: media_advertise_ip: %w", ErrInvalidConfig, err)
		}
	}
	allowed := make([]netip.Prefix, 0, len(cfg.MediaAllowedSources))
	for _, p := range cfg.MediaAllowedSources {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("%w: media_allowed_sources: %w", ErrInvalidConfig, err)
		}
		allowed = append(allowed, pfx.Masked())
	}

	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: pcmuClockRate, Channels: 1},
		PayloadType:        pcmuPayloadType,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("%w: register PCMU: %w", ErrInternal, err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTelephoneEvt, ClockRate: pcmuClockRate, Channels: 1, SDPFmtpLine: "0-16"},
		PayloadType:        webrtc.PayloadType(cfg.DTMFPayloadType),
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("%w: register telephone-event: %w", ErrInternal, err)
	}
	// No interceptors: no NACK/TWCC (useless for PCMU), no receiver reports (their
	// interceptor parses every microphone packet's header into a fresh allocation,
	// the heaviest allocation of the relay; the browser's audio does not depend on
	// them). RTCP sender reports (the browser maps our RTP to wall clock with them)
	// come from the gateway's own loop (senderReports), which counts the packets of
	// both the fast path and pion's: pion's report interceptor would only see the
	// latter.
	reg := &interceptor.Registry{}

	se, err := settingEngine(cfg.ICE)
	if err != nil {
		return nil, err
	}
	se.LoggerFactory = pionLogs{log: log}
	// Every field the sockets' reader goroutines may touch is set before they start.
	g := &Gateway{
		cfg:       cfg,
		log:       log,
		advertise: advertise,
		bind:      bind,
		allowed:   allowed,
		portNext:  cfg.MediaPortMin,
		portUsed:  make(map[uint16]bool),
		sessions:  make(map[*Session]struct{}),
		srStop:    make(chan struct{}),
		srDone:    make(chan struct{}),
	}
	if cfg.residence {
		g.res = &residence{}
	}
	var shared *sharedLegs
	started := false
	if cfg.MediaSharedAddr != "" {
		if shared, err = newSharedLegs(g, cfg.MediaSharedAddr, advertise); err != nil {
			return nil, err
		}
		g.shared = shared
		defer func() { // a later failure: nobody else closes it
			if !started {
				err = errors.Join(err, shared.conn.Close())
			}
		}()
	}
	var iceMux *ice.UDPMuxDefault
	var iceConn *udpbatch.Conn
	if cfg.ICE.UDPMux != "" {
		ap, err := netip.ParseAddrPort(cfg.ICE.UDPMux)
		if err != nil {
			return nil, fmt.Errorf("%w: ice.udp_mux: %w", ErrInvalidConfig, err)
		}
		uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, fmt.Errorf("%w: ice.udp_mux %s: %w", ErrInvalidConfig, ap, err)
		}
		// every agent's audio shares this socket's queue: give it room for bursts
		// (clamped by net.core.rmem_max / wmem_max)
		if err := errors.Join(uc.SetReadBuffer(4<<20), uc.SetWriteBuffer(4<<20)); err != nil {
			return nil, errors.Join(fmt.Errorf("%w: ice.udp_mux buffers: %w", ErrInternal, err), uc.Close())
		}
		// The microphone fast path: the DTLS master secrets through pion's key log,
		// the handshakes and the SRTP seen on this socket.
		bp := udpbatch.Params{Conn: uc, Timestamps: g.res != nil}
		if shared != nil { // the microphones of a batch leave for Asterisk in one sendmmsg
			bp.BatchStart, bp.BatchEnd = shared.conn.Hold, shared.conn.Flush
		}
		if !cfg.ICE.NoSRTPFastPath {
			fp := newFastPath(g)
			g.fast = fp
			se.SetDTLSKeyLogWriter(fp.keys)
			bp.Intercept = fp.intercept
			bp.OnWrite = fp.observeWrite
			if g.res != nil || shared != nil {
				bp.BatchStart, bp.BatchEnd = fp.batchStart, fp.batchEnd
			}
		}
		iceConn, err = udpbatch.New(bp)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%w: ice.udp_mux: %w", ErrInternal, err), uc.Close())
		}
		iceMux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: iceConn, Logger: se.LoggerFactory.NewLogger("ice-mux")})
		se.SetICEUDPMux(iceMux)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))

	servers := make([]webrtc.ICEServer, 0, len(cfg.ICE.Servers))
	for _, s := range cfg.ICE.Servers {
		srv := webrtc.ICEServer{URLs: slices.Clone(s.URLs), Username: s.Username}
		if s.Credential != "" {
			srv.Credential = s.Credential
		}
		servers = append(servers, srv)
	}

	g.api = api
	g.iceConfig = webrtc.Configuration{ICEServers: servers, SDPSemantics: webrtc.SDPSemanticsUnifiedPlan}
	g.iceMux, g.iceConn = iceMux, iceConn
	if g.reactor, err = newReactor(g); err != nil {
		if iceMux != nil {
			err = errors.Join(err, iceMux.Close())
		}
		return nil, err
	}
	started = true
	if shared != nil {
		shared.start(iceConn)
	}
	go g.senderReports() // stops at Close
	return g, nil
}

func parseNetworkType(s string) (webrtc.NetworkType, error) {
	switch s {
	case "udp4":
		return webrtc.NetworkTypeUDP4, nil
	case "udp6":
		return webrtc.NetworkTypeUDP6, nil
	case "tcp4":
		return webrtc.NetworkTypeTCP4, nil
	case "tcp6":
		return webrtc.NetworkTypeTCP6, nil
	default:
		return 0, fmt.Errorf("%w: unknown network type %q", ErrInvalidConfig, s)
	}
}

func settingEngine(c ICEConfig) (webrtc.SettingEngine, error) {
	se := webrtc.SettingEngine{}
	types := make([]webrtc.NetworkType, 0, len(c.NetworkTypes))
	for _, n := range c.NetworkTypes {
		t, err := parseNetworkType(n)
		if err != nil {
			return se, err
		}
		types = append(types, t)
	}
	se.SetNetworkTypes(types)
	se.SetIncludeLoopbackCandidate(c.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(c.Interfaces) > 0 {
		allow := slices.Clone(c.Interfaces)
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(allow, name) })
	}
	if len(c.NAT1To1IPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        slices.Clone(c.NAT1To1IPs),
			AsCandidateType: webrtc.ICECandidateTypeHost,
		}); err != nil {
			return se, fmt.Errorf("%w: nat_1to1_ips: %w", ErrInvalidConfig, err)
		}
	}
	if c.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(c.UDPPortMin, c.UDPPortMax); err != nil {
			return se, fmt.Errorf("%w: ice udp port range: %w", ErrInvalidConfig, err)
		}
	}
	se.SetICETimeouts(c.DisconnectedTimeout, c.FailedTimeout, c.KeepAliveInterval)
	return se, nil
}

// allowedSource reports whether a leg may latch onto src.
func (g *Gateway) allowedSource(src netip.AddrPort) bool {
	if len(g.allowed) == 0 {
		return true
	}
	a := src.Addr().Unmap()
	for _, p := range g.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// listenMedia binds a UDP socket on the next free port of the media range, round
// robin so a just-released port is not reused at once (late packets of the previous
// call would be latched).
func (g *Gateway) listenMedia(ctx context.Context) (*net.UDPConn, uint16, error) {
	g.portMu.Lock()
	defer g.portMu.Unlock()
	size := int(g.cfg.MediaPortMax) - int(g.cfg.MediaPortMin) + 1
	var lastErr error
	for range size {
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("allocate media port: %w", err)
		}
		port := g.portNext
		if g.portNext == g.cfg.MediaPortMax {
			g.portNext = g.cfg.MediaPortMin
		} else {
			g.portNext++
		}
		if g.portUsed[port] {
			continue
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(g.bind, port)))
		if err != nil {
			lastErr = err // taken by another process
			continue
		}
		g.portUsed[port] = true
		return conn, port, nil
	}
	g.counters.portExhaustion.Add(1)
	if lastErr != nil {
		return nil, 0, fmt.Errorf("%w (%d-%d, last bind error: %w)", ErrPortsExhausted, g.cfg.MediaPortMin, g.cfg.MediaPortMax, lastErr)
	}
	return nil, 0, fmt.Errorf("%w (%d-%d)", ErrPortsExhausted, g.cfg.MediaPortMin, g.cfg.MediaPortMax)
}

func (g *Gateway) releasePort(port uint16) {
	if port == 0 { // a leg on the shared socket
		return
	}
	g.portMu.Lock()
	delete(g.portUsed, port)
	g.portMu.Unlock()
}

// SessionParams configures one agent's peer connection. Callbacks may be nil. They
// run one at a time, in order, on the session's own goroutine and never under a
// session lock, so they may call any Session method (Close included); a slow
// callback delays the ones after it, never the media. OnState(StateClosed) is the
// last call and may come just after Close returns.
type SessionParams struct {
	// Agent names the agent (or supervisor) for logs.
	Agent string
	// OnAnswer receives the answer of each successful Offer (also returned by
	// Offer), ordered before the local candidates gathered for it: publishing
	// rtc.answer from here keeps the browser from seeing a candidate of a new ICE
	// generation before its answer.
	OnAnswer func(sdp string)
	// OnCandidate receives each local ICE candidate to trickle to the browser
	// (rtc.candidate); nil means gathering is complete.
	OnCandidate func(c *webrtc.ICECandidateInit)
	// OnState receives every state change, in order. Failed means ICE gave up: the
	// browser must restart ICE (a new offer) or reconnect.
	OnState func(s State)
	// OnDTMF receives each DTMF digit the browser sends (RFC 4733), once per key
	// press.
	OnDTMF func(d DTMF)
}

// NewSession creates the agent's long-lived peer connection with one outbound PCMU
// track. Negotiation starts with Session.Offer.
func (g *Gateway) NewSession(p SessionParams) (*Session, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	s, err := newSession(g, p)
	if err != nil {
		return nil, err
	}
	s.srSlice = g.srNext
	g.srNext = (g.srNext + 1) % senderReportSlices
	g.sessions[s] = struct{}{}
	return s, nil
}

func (g *Gateway) forget(s *Session) {
	g.mu.Lock()
	delete(g.sessions, s)
	g.mu.Unlock()
}

// Close closes every session and refuses new ones.
func (g *Gateway) Close() error {
	g.mu.Lock()
	alreadyClosed := g.closed
	g.closed = true
	all := make([]*Session, 0, len(g.sessions))
	for s := range g.sessions {
		all = append(all, s)
	}
	g.mu.Unlock()
	var errs []error
	for _, s := range all {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if !alreadyClosed {
		close(g.srStop)
	}
	<-g.srDone
	if g.reactor != nil {
		if err := g.reactor.close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, fmt.Errorf("%w: close legs reactor: %w", ErrInternal, err))
		}
	}
	if g.shared != nil && !alreadyClosed {
		if err := g.shared.close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("%w: close shared media socket: %w", ErrInternal, err))
		}
	}
	if g.iceMux != nil {
		if err := g.iceMux.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%w: close ice udp mux: %w", ErrInternal, err))
		}
	}
	return errors.Join(errs...)
}

// GatewayStats are monotonic totals (Prometheus counters) and current gauges.
type GatewayStats struct {
	Sessions        int    // open sessions (gauge)
	Legs            int    // attached legs (gauge)
	PortsInUse      int    // media ports bound (gauge)
	PortsTotal      int    // size of the media port range
	LegsAttached    uint64 // legs ever attached
	PortExhaustions uint64 // AttachCall failures for lack of a port
	FromAsterisk    uint64 // RTP packets accepted from Asterisk
	ToAgent         uint64 // RTP packets written to agents' tracks
	FromAgent       uint64 // RTP audio packets read from agents' microphones
	ToAsterisk      uint64 // RTP packets sent to Asterisk
	FromAgentFast   uint64 // microphone packets that took the fast path (ice_udp_mux), of FromAgent + DTMF
	ToAgentFast     uint64 // packets to agents encrypted and sent by the fast path (ice_udp_mux), of ToAgent
	DroppedForeign  uint64 // packets on a leg from an unexpected source address
	DroppedInvalid  uint64 // packets that are not RTP or not PCMU
	DroppedInactive uint64 // packets for/from a leg that is not the active one, or no leg
	DroppedNoPeer   uint64 // packets with nowhere to go (agent not connected, Asterisk not latched)
	DTMF            uint64 // DTMF digits received from browsers
}

// Stats returns the gateway totals.
func (g *Gateway) Stats() GatewayStats {
	g.mu.Lock()
	sessions := make([]*Session, 0, len(g.sessions))
	for s := range g.sessions {
		sessions = append(sessions, s)
	}
	g.mu.Unlock()
	legs := 0
	for _, s := range sessions {
		legs += s.legCount()
	}
	g.portMu.Lock()
	inUse := len(g.portUsed)
	g.portMu.Unlock()
	c := &g.counters
	return GatewayStats{
		Sessions:        len(sessions),
		Legs:            legs,
		PortsInUse:      inUse,
		PortsTotal:      int(g.cfg.MediaPortMax) - int(g.cfg.MediaPortMin) + 1,
		LegsAttached:    c.legsAttached.Load(),
		PortExhaustions: c.portExhaustion.Load(),
		FromAsterisk:    c.fromAsterisk.Load(),
		ToAgent:         c.toAgent.Load(),
		FromAgent:       c.fromAgent.Load(),
		ToAsterisk:      c.toAsterisk.Load(),
		FromAgentFast:   c.fromAgentFast.Load(),
		ToAgentFast:     c.toAgentFast.Load(),
		DroppedForeign:  c.dropForeign.Load(),
		DroppedInvalid:  c.dropInvalid.Load(),
		DroppedInactive: c.dropNotActive.Load(),
		DroppedNoPeer:   c.dropNoPeer.Load(),
		DTMF:            c.dtmf.Load(),
	}
}
