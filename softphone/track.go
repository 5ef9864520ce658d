package softphone

import (
	"strings"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// outTrack is the agent's outbound PCMU track: a minimal webrtc.TrackLocal whose
// write path is one atomic load and the binding's writer (the interceptors, then
// SRTP) — no lock, no per-binding loop, no packet copy. One peer connection binds it
// (again after a renegotiation).
type outTrack struct {
	id, stream string
	b          atomic.Pointer[outBinding]
}

type outBinding struct {
	id   string
	ssrc uint32
	pt   uint8
	w    webrtc.TrackLocalWriter
}

var _ webrtc.TrackLocal = (*outTrack)(nil)

func newOutTrack(id, stream string) *outTrack { return &outTrack{id: id, stream: stream} }

// Bind picks PCMU among the negotiated codecs.
func (t *outTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypePCMU) {
			t.b.Store(&outBinding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()})
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind forgets the binding if it is still the current one.
func (t *outTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	if b := t.b.Load(); b != nil && b.id == ctx.ID() {
		t.b.CompareAndSwap(b, nil)
	}
	return nil
}

// ID is the track id.
func (t *outTrack) ID() string { return t.id }

// RID is empty (no simulcast).
func (t *outTrack) RID() string { return "" }

// StreamID is the media stream id.
func (t *outTrack) StreamID() string { return t.stream }

// Kind is audio.
func (t *outTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// writeRTP sends one packet (h's SSRC and payload type are set here). Without a
// binding (not negotiated yet) the packet is dropped silently, as pion's static
// track does.
func (t *outTrack) writeRTP(h *rtp.Header, payload []byte) error {
	b := t.b.Load()
	if b == nil {
		return nil
	}
	h.SSRC, h.PayloadType = b.ssrc, b.pt
	_, err := b.w.WriteRTP(h, payload)
	return err
}
