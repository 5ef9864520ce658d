package softphone

import (
	"errors"
	"testing"
)

// TestOfferWithUnusableAudioProfileIsRefused: an offer whose only audio section uses
// that pion rejects (found by FuzzOffer: the answer carried the audio section with
// port 0, or none at all) used to be answered, leaving the agent "connected" with no
// audio path. It is refused with ErrNoAudio and the browser gets no answer.
func TestOfferWithUnusableAudioProfileIsRefused(t *testing.T) {
	g := newTestGateway(t, testConfig(47620, 47629))
	h := newHarness(t, g)
	bad := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 127.0.0.1\r\n" +
		"a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901234\r\n" +
		"a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n" +
		"a=setup:actpass\r\na=mid:0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
	answer, err := h.s.Offer(t.Context(), bad)
	if !errors.Is(err, ErrNoAudio) {
		t.Fatalf("offer answered %q, err %v; want ErrNoAudio", answer, err)
	}
	select {
	case err := <-h.sink.answered:
		t.Fatalf("the browser was answered (apply error %v)", err)
	default:
	}
	if st := h.s.State(); st == StateConnected {
		t.Fatalf("session %s after a refused offer", st)
	}
}
