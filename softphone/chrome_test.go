package softphone

import (
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// chromeOffer is the shape of Chromium's audio-only offer (getUserMedia audio,
// addTrack): many codecs, two telephone-event rates, header extensions.
const chromeOffer = `v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS 5f1c2ce2-6f0b-4c8a-9a34-3b0d1c7f9e11
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:Wx3b
a=ice-pwd:3k1rA0E9g8mHqvRrOQe0vTq1
a=ice-options:trickle
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:5f1c2ce2-6f0b-4c8a-9a34-3b0d1c7f9e11 0b3f7a52-2c35-4a77-8a0e-9d7f0c5a3e21
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:3735928559 cname:0Jm3zv8VqXn1cR7d
a=ssrc:3735928559 msid:5f1c2ce2-6f0b-4c8a-9a34-3b0d1c7f9e11 0b3f7a52-2c35-4a77-8a0e-9d7f0c5a3e21
`

// TestChromeOfferAnsweredWithPCMUOnly: the answer to a Chromium-style offer
// keeps only PCMU and telephone-event/8000 with the browser's payload type, is
// sendrecv, and carries no candidates (they are trickled).
func TestChromeOfferAnsweredWithPCMUOnly(t *testing.T) {
	g := newTestGateway(t, testConfig(47410, 47419))
	s, err := g.NewSession(SessionParams{Agent: "chrome"})
	if err != nil {
		t.Fatal(err)
	}
	answer, err := s.Offer(ctxT(t), strings.ReplaceAll(chromeOffer, "\n", "\r\n"))
	if err != nil {
		t.Fatalf("Offer: %v", err)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	if len(d.MediaDescriptions) != 1 {
		t.Fatalf("%d media sections", len(d.MediaDescriptions))
	}
	m := d.MediaDescriptions[0]
	if m.MediaName.Media != "audio" || strings.Join(m.MediaName.Formats, " ") != "0 126" {
		t.Fatalf("answer m-line %v %v, want audio with formats 0 126", m.MediaName.Media, m.MediaName.Formats)
	}
	if _, ok := m.Attribute("sendrecv"); !ok {
		t.Fatalf("answer is not sendrecv:\n%s", answer)
	}
	if strings.Contains(answer, "opus") || strings.Contains(answer, "a=candidate") {
		t.Fatalf("answer has opus or inline candidates:\n%s", answer)
	}
	if setup, _ := m.Attribute("setup"); setup != "active" && setup != "passive" {
		t.Fatalf("setup %q", setup)
	}
}
