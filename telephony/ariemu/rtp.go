package ariemu

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// rtpLeg is the media of one ExternalMedia channel: a UDP socket on RTPHost, a
// sender (20 ms PCMU packets while something in the bridge produces audio) and a
// receiver that counts what comes back (facts 25-31).
type rtpLeg struct {
	conn   *net.UDPConn
	remote *net.UDPAddr
	port   int

	active   atomic.Bool  // something audible is bridged with the leg
	peers    atomic.Value // []*rtpLeg: other ExternalMedia legs in the same bridge
	lastRecv atomic.Int64 // unix nanos of the last packet received
	sent     atomic.Int64
	received atomic.Int64

	stop     chan struct{}
	stopOnce sync.Once
	sendMu   sync.Mutex // held while a packet is written, so that nothing is sent after close
}

func (l *rtpLeg) close() {
	l.stopOnce.Do(func() {
		l.sendMu.Lock()
		defer l.sendMu.Unlock()
		close(l.stop)
		_ = l.conn.Close() //nolint:errcheck // closing: the reader returns either way
	})
}

// openRTP opens an even port in 20000-20999 (or any free port) on host.
func (e *Emulator) openRTP(remote *net.UDPAddr) (*rtpLeg, error) {
	var conn *net.UDPConn
	var err error
	for i := 0; i < 50; i++ {
		e.rtpSeq++
		port := 20000 + (e.rtpSeq*2+int(e.epoch%500)*2)%1000
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(e.cfg.RTPHost), Port: port})
		if err == nil {
			break
		}
	}
	if conn == nil {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(e.cfg.RTPHost)})
		if err != nil {
			return nil, err
		}
	}
	ua, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		_ = conn.Close() //nolint:errcheck // giving up
		return nil, errors.New("ariemu: not a UDP address")
	}
	l := &rtpLeg{conn: conn, remote: remote, port: ua.Port, stop: make(chan struct{})}
	l.peers.Store([]*rtpLeg(nil))
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		l.receive()
	}()
	go func() {
		defer e.wg.Done()
		l.send()
	}()
	return l, nil
}

func (l *rtpLeg) receive() {
	buf := make([]byte, 2048)
	for {
		n, _, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			select {
			case <-l.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if n >= 12 && buf[0]>>6 == 2 {
			l.received.Add(1)
			l.lastRecv.Store(time.Now().UnixNano())
		}
	}
}

// audible reports whether the leg should send now.
func (l *rtpLeg) audible() bool {
	if l.active.Load() {
		return true
	}
	peers, ok := l.peers.Load().([]*rtpLeg)
	if !ok {
		return false
	}
	now := time.Now().UnixNano()
	for _, p := range peers {
		if now-p.lastRecv.Load() < int64(200*time.Millisecond) {
			return true
		}
	}
	return false
}

func (l *rtpLeg) send() {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) //nolint:errcheck // crypto/rand never fails
	ssrc := binary.BigEndian.Uint32(rnd[0:4])
	seq := binary.BigEndian.Uint16(rnd[4:6])
	ts := binary.BigEndian.Uint32(rnd[4:8])
	pkt := make([]byte, 12+160)
	phase := 0.0
	// A 10 ms ticker drives a 20 ms packet clock: packets due while the goroutine
	// was not scheduled are caught up, so the rate stays 50/s on a loaded machine
	// (up to a second of them: a race-enabled test run on a busy box can stall the
	// sender for a quarter of a second; only a longer gap restarts the clock).
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var next time.Time
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		if !l.audible() {
			next = time.Time{}
			continue
		}
		now := time.Now()
		if next.IsZero() || now.Sub(next) > time.Second {
			next = now
		}
		for !now.Before(next) {
			next = next.Add(20 * time.Millisecond)
			if !l.sendOne(pkt, &seq, &ts, ssrc, &phase) {
				return
			}
		}
	}
}

// sendOne writes one packet; false once the leg is closed.
func (l *rtpLeg) sendOne(pkt []byte, seq *uint16, ts *uint32, ssrc uint32, phase *float64) bool {
	pkt[0] = 0x80
	pkt[1] = 0 // PT 0 PCMU, no marker
	binary.BigEndian.PutUint16(pkt[2:], *seq)
	binary.BigEndian.PutUint32(pkt[4:], *ts)
	binary.BigEndian.PutUint32(pkt[8:], ssrc)
	for i := 0; i < 160; i++ {
		pkt[12+i] = linearToULaw(int16(3000 * math.Sin(*phase)))
		*phase += 2 * math.Pi * 425 / 8000
	}
	*phase = math.Mod(*phase, 2*math.Pi)
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	select {
	case <-l.stop:
		return false
	default:
	}
	if _, err := l.conn.WriteToUDP(pkt, l.remote); err == nil {
		l.sent.Add(1)
	}
	*seq++
	*ts += 160
	return true
}

// linearToULaw is G.711 µ-law encoding.
func linearToULaw(s int16) byte {
	const bias, clip = 0x84, 32635
	sign := byte(0)
	v := int(s)
	if v < 0 {
		v, sign = -v, 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^(sign | byte(exp<<4) | byte(mant))
}

func (e *Emulator) stopMedia(ch *channel) {
	if ch.rtp != nil {
		ch.rtp.close()
	}
}

// audibleChannel reports whether ch produces audio towards its bridge.
func (e *Emulator) audibleChannel(ch *channel, depth int) bool {
	if ch == nil || ch.gone || depth > 3 {
		return false
	}
	if ch.moh {
		return true
	}
	for _, pb := range e.playbacks {
		if pb.state == "playing" && (pb.channel == ch || (ch.kind == kindHelper && pb.bridge != nil && pb.bridge == ch.bridge)) {
			return true
		}
	}
	switch ch.kind {
	case kindInbound:
		return ch.state == "Up" && audibleBehaviours[ch.behaviour]
	case kindOriginated:
		return ch.answered && audibleBehaviours[ch.behaviour]
	case kindSnoop:
		if ch.spy == "none" || ch.snoopOf == nil {
			return false
		}
		t := ch.snoopOf
		if e.audibleChannel(t, depth+1) {
			return true
		}
		if t.bridge != nil {
			for _, m := range t.bridge.members {
				if m != t && m.kind != kindSnoop && e.audibleChannel(m, depth+1) {
					return true
				}
			}
		}
	}
	return false
}

// refreshMedia recomputes which ExternalMedia legs send (caller holds e.mu).
func (e *Emulator) refreshMedia() {
	for _, ch := range e.media.list { // the live ExternalMedia channels, not every channel
		if ch.rtp == nil || ch.gone {
			continue
		}
		active := false
		var peers []*rtpLeg
		for _, pb := range e.playbacks {
			if pb.state == "playing" && pb.channel == ch {
				active = true
			}
		}
		if b := ch.bridge; b != nil {
			if b.moh {
				active = true
			}
			for _, m := range b.members {
				if m == ch {
					continue
				}
				if m.rtp != nil {
					peers = append(peers, m.rtp)
				} else if e.audibleChannel(m, 0) {
					active = true
				}
			}
		}
		ch.rtp.active.Store(active)
		if old, _ := ch.rtp.peers.Load().([]*rtpLeg); !slices.Equal(old, peers) {
			ch.rtp.peers.Store(peers) // only on a change: each Store boxes the slice
		}
	}
}

var ulawFormats = map[string]bool{"ulaw": true, "alaw": true, "slin16": true, "slin": true, "g722": true, "gsm": true, "opus": true}

// hExternalMedia is POST /channels/externalMedia (facts 25-31).
func (e *Emulator) hExternalMedia(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	host, format, appName := q.get("external_host"), q.get("format"), q.get("app")
	if host == "" {
		return fail(400, "external_host is required for all but websocket server connections")
	}
	if format == "" {
		return fail(400, "format cannot be empty")
	}
	if appName == "" {
		return fail(400, "app cannot be empty")
	}
	if !ulawFormats[format] {
		return fail(500, "An internal error prevented this request from being handled")
	}
	if enc := q.get("encapsulation"); enc != "" && enc != "rtp" {
		return fail(501, "encapsulation not supported")
	}
	if tr := q.get("transport"); tr != "" && tr != "udp" {
		return fail(501, "transport not supported")
	}
	if res, ok := e.checkIDs(q); !ok {
		return res
	}
	remote, err := net.ResolveUDPAddr("udp4", host)
	if err != nil {
		return fail(400, "external_host must be host:port")
	}
	leg, err := e.openRTP(remote)
	if err != nil {
		return fail(500, "An internal error prevented this request from being handled")
	}
	e.rtpSeq++
	ch := e.newChannel(q.get("channelId"), fmt.Sprintf("UnicastRTP/%s-0x7fa27%07x", host, 0x11000+e.rtpSeq*0x1b0), kindExternal)
	ch.rtp = leg
	e.rtpLegs[ch.id] = leg
	e.media.add(ch)
	ch.app, ch.subscribed = appName, true
	ch.dp = dialplan{Context: "default", Exten: "s", Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
	ch.vars["UNICASTRTP_LOCAL_ADDRESS"] = e.cfg.RTPHost
	ch.vars["UNICASTRTP_LOCAL_PORT"] = strconv.Itoa(leg.port)
	ch.dialstring = host + "/c(" + format + ")"
	resp := ch.json()
	resp.Channelvars = map[string]string{"UNICASTRTP_LOCAL_PORT": ch.vars["UNICASTRTP_LOCAL_PORT"], "UNICASTRTP_LOCAL_ADDRESS": e.cfg.RTPHost}
	// StasisStart comes well after the HTTP response: an immediate addChannel is a
	// 422 (fact 27) and hurries the answer along (see hBridgeAdd).
	ch.addTimer(e.after(30*time.Millisecond, func() { e.emDial(ch) }))
	ch.addTimer(e.after(60*time.Millisecond, func() { e.emEnterStasis(ch) }))
	return ok200(resp)
}

// emDial: the ExternalMedia channel is dialled and answered.
func (e *Emulator) emDial(ch *channel) {
	if ch.gone || ch.emDialed {
		return
	}
	ch.emDialed = true
	e.dialEvent(ch.app, ch, "", ch.dialstring)
	e.stateChange(ch, "Up")
}

// emEnterStasis: the answered ExternalMedia channel enters Stasis (args []).
func (e *Emulator) emEnterStasis(ch *channel) {
	if ch.gone || ch.inStasis {
		return
	}
	e.emDial(ch)
	e.dialEvent(ch.app, ch, "ANSWER", ch.dialstring)
	ch.dp = dialplan{Context: "default", Exten: "s", Priority: 1, AppName: "Stasis", AppData: ch.app}
	e.varset(ch, "STASISSTATUS", "")
	if !e.appActive(ch.app) {
		e.hangupRequest(ch, 16, false)
		e.destroyed(ch, 16)
		e.removeChannel(ch)
		return
	}
	e.stasisStart(ch, []string{})
}

// keptRTPStats is how many ended ExternalMedia legs keep their RTPStats.
const keptRTPStats = 10000

// forgetRTPLater notes that ExternalMedia channel id is gone: its RTPStats stay
// readable until keptRTPStats later legs have ended too, so a long run does not
// grow without bound.
func (e *Emulator) forgetRTPLater(id string) {
	if len(e.rtpEnded) < keptRTPStats {
		e.rtpEnded = append(e.rtpEnded, id)
		return
	}
	delete(e.rtpLegs, e.rtpEnded[e.rtpEndNext]) // full: the oldest is forgotten
	e.rtpEnded[e.rtpEndNext] = id
	e.rtpEndNext = (e.rtpEndNext + 1) % keptRTPStats
}

// RTPStats returns the RTP packets sent to and received from the ExternalMedia
// peer of channelID (0, 0 for an unknown channel).
func (e *Emulator) RTPStats(channelID string) (sent, received int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.rtpLegs[channelID]
	if l == nil {
		return 0, 0
	}
	return int(l.sent.Load()), int(l.received.Load())
}

// mediaSet is the live channels with an RTP leg, as a slice (refreshMedia walks it
// after most changes: a slice walks several times faster than a map) with each
// channel's place in it for removal. Caller holds e.mu.
type mediaSet struct {
	list []*channel
	at   map[*channel]int
}

func (m *mediaSet) add(ch *channel) {
	if _, ok := m.at[ch]; ok {
		return
	}
	if m.at == nil {
		m.at = map[*channel]int{}
	}
	m.at[ch] = len(m.list)
	m.list = append(m.list, ch)
}

func (m *mediaSet) remove(ch *channel) {
	i, ok := m.at[ch]
	if !ok {
		return
	}
	last := len(m.list) - 1
	m.list[i] = m.list[last]
	m.at[m.list[i]] = i
	m.list[last] = nil
	m.list = m.list[:last]
	delete(m.at, ch)
}
