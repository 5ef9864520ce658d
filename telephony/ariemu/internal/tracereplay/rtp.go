package tracereplay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// rtpPacket is what the peer keeps of one received packet.
type rtpPacket struct {
	at     time.Time
	seq    uint16
	ts     uint32
	ssrc   uint32
	pt     uint8
	marker bool
	size   int // payload bytes
	from   *net.UDPAddr
}

// rtpPeer is one UDP socket standing in for the recording client's RTP peer of an
// ExternalMedia leg: it counts what arrives and can send PCMU back.
type rtpPeer struct {
	label string
	conn  *net.UDPConn
	done  chan struct{}

	mu      sync.Mutex
	packets []rtpPacket
	cursor  int
	lastSum time.Time
	readErr error
}

var errShortRTP = errors.New("tracereplay: short RTP packet")

func newRTPPeer(label string, start time.Time) (*rtpPeer, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("tracereplay: rtp peer %s: %w", label, err)
	}
	p := &rtpPeer{label: label, conn: conn, done: make(chan struct{}), lastSum: start}
	go p.read()
	return p, nil
}

func (p *rtpPeer) port() int {
	a, ok := p.conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		return 0
	}
	return a.Port
}

func (p *rtpPeer) read() {
	defer close(p.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.mu.Lock()
				p.readErr = err
				p.mu.Unlock()
			}
			return
		}
		pk, perr := parseRTP(buf[:n])
		if perr != nil {
			continue
		}
		pk.at = time.Now()
		pk.from = from
		p.mu.Lock()
		p.packets = append(p.packets, pk)
		p.mu.Unlock()
	}
}

func parseRTP(b []byte) (rtpPacket, error) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpPacket{}, errShortRTP
	}
	cc := int(b[0] & 0x0f)
	hdr := 12 + 4*cc
	if b[0]&0x10 != 0 {
		if len(b) < hdr+4 {
			return rtpPacket{}, errShortRTP
		}
		hdr += 4 + 4*int(binary.BigEndian.Uint16(b[hdr+2:]))
	}
	if len(b) < hdr {
		return rtpPacket{}, errShortRTP
	}
	size := len(b) - hdr
	if b[0]&0x20 != 0 && size > 0 {
		size -= int(b[len(b)-1])
	}
	return rtpPacket{
		marker: b[1]&0x80 != 0,
		pt:     b[1] & 0x7f,
		seq:    binary.BigEndian.Uint16(b[2:]),
		ts:     binary.BigEndian.Uint32(b[4:]),
		ssrc:   binary.BigEndian.Uint32(b[8:]),
		size:   size,
	}, nil
}

// waitFirst waits until at least one packet arrived after the cursor.
func (p *rtpPeer) waitFirst(ctx context.Context, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		p.mu.Lock()
		n := len(p.packets) - p.cursor
		p.mu.Unlock()
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-tick.C:
		}
	}
}

// summary summarises, in the recording's rtp line format, the packets received
// since the previous summary; with window > 0 only those of the last window (the
// recording client counted over a window that started after its request, e.g. "RTP
// after hangup"), older ones are dropped.
func (p *rtpPeer) summary(now time.Time, window time.Duration) Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	pk := p.packets[p.cursor:]
	if window > 0 && p.cursor > 0 && inFlightAtCut(p.packets[p.cursor-1], pk, p.lastSum) {
		pk = nil
	}
	p.cursor = len(p.packets)
	from := p.lastSum
	if window > 0 && now.Add(-window).After(from) {
		from = now.Add(-window)
		for len(pk) > 0 && pk[0].at.Before(from) {
			pk = pk[1:]
		}
	}
	l := Line{Kind: KindRTP, Dir: "in", Label: p.label, WindowMs: now.Sub(from).Milliseconds()}
	p.lastSum = now
	summarize(&l, pk)
	return l
}

// packetInterval is the spacing of the 20 ms PCMU packets the emulator sends.
const packetInterval = 20 * time.Millisecond

// inFlightAtCut reports whether pk, the packets of a new window, are only what was
// already on its way when the previous window was cut at cut: at most one packet
// interval's worth, arriving within that interval, continuing prev's stream without
// a gap. It applies to timed windows only: a "first packet arrived" summary (window 0)
// waited for exactly that packet. The recording client cut its windows at an instant too; a packet sent a
// moment before a hangup and read a moment after the cut is the previous window's
// audio, not audio after the hangup (the snoop trace's "RTP stops" window).
func inFlightAtCut(prev rtpPacket, pk []rtpPacket, cut time.Time) bool {
	if len(pk) != 1 {
		return false
	}
	f := pk[0]
	return f.ssrc == prev.ssrc && f.seq == prev.seq+1 && f.at.Sub(cut) < packetInterval
}

func summarize(l *Line, pk []rtpPacket) {
	l.Packets = len(pk)
	if len(pk) == 0 {
		return
	}
	f := pk[0]
	l.FirstSeq, l.PayloadType, l.PayloadBytes, l.SSRC = int(f.seq), int(f.pt), f.size, f.ssrc
	if f.from != nil {
		l.Peer = f.from.String()
	}
	var gapSum time.Duration
	for i, x := range pk {
		if x.marker {
			l.Markers++
		}
		if x.ssrc != f.ssrc {
			l.SSRCChanges++
		}
		if x.size != f.size {
			l.OtherSizes++
		}
		if x.pt != f.pt {
			l.OtherPayloadTypes++
		}
		if i > 0 {
			if x.seq != pk[i-1].seq+1 {
				l.SeqGaps++
			}
			l.TSStep = int(x.ts - pk[i-1].ts)
			gapSum += x.at.Sub(pk[i-1].at)
		}
	}
	if len(pk) > 1 {
		l.AvgInterarrivalMs = float64(gapSum.Microseconds()) / 1000 / float64(len(pk)-1)
	}
}

// lastSource is the address the latest packet came from (nil if none).
func (p *rtpPeer) lastSource() *net.UDPAddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.packets) == 0 {
		return nil
	}
	return p.packets[len(p.packets)-1].from
}

// send sends n PCMU packets (20 ms, 160 bytes) to the address the RTP came from,
// with the marker bit on the first packet when marker is set, as the recording
// client did, and returns the summary of what was sent.
func (p *rtpPeer) send(ctx context.Context, n int, marker bool) Line {
	l := Line{Kind: KindRTP, Dir: "out", Label: p.label}
	to := p.lastSource()
	start := time.Now()
	if to == nil {
		return l
	}
	const ssrc = 0x0a1b2c3d
	var sent []rtpPacket
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	buf := make([]byte, 12+160)
	for i := 0; i < n; i++ {
		seq := uint16(1000 + i)
		ts := uint32(160 * i)
		buf[0] = 0x80
		buf[1] = 0
		if marker && i == 0 {
			buf[1] = 0x80
		}
		binary.BigEndian.PutUint16(buf[2:], seq)
		binary.BigEndian.PutUint32(buf[4:], ts)
		binary.BigEndian.PutUint32(buf[8:], ssrc)
		for j := 12; j < len(buf); j++ {
			buf[j] = 0xff // µ-law silence
		}
		if _, err := p.conn.WriteToUDP(buf, to); err != nil {
			break
		}
		sent = append(sent, rtpPacket{at: time.Now(), seq: seq, ts: ts, ssrc: ssrc, marker: marker && i == 0, size: 160, from: to})
		if i == n-1 {
			break
		}
		select {
		case <-ctx.Done():
			i = n
		case <-tick.C:
		}
	}
	summarize(&l, sent)
	l.WindowMs = time.Since(start).Milliseconds()
	return l
}

func (p *rtpPeer) close() error {
	err := p.conn.Close()
	<-p.done
	return err
}
