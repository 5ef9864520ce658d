package cti

import "testing"

func TestOfferFingerprint(t *testing.T) {
	sdp := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n" +
		"a=fingerprint:sha-256 6b:8B:F0:65\r\na=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\n"
	if got := offerFingerprint(sdp); got != "SHA-256 6B:8B:F0:65" {
		t.Fatalf("fingerprint %q", got)
	}
	if got := offerFingerprint("v=0\nm=audio 9 RTP/AVP 0\n"); got != "" {
		t.Fatalf("no fingerprint: %q", got)
	}
}
