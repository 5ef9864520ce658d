package softphone

import (
	"errors"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// maxFuzzOffer bounds the inputs to the size the desktop WebSocket accepts for a
// whole rtc.offer frame; larger offers never reach the gateway.
const maxFuzzOffer = 64 << 10

// FuzzOffer feeds arbitrary SDP through the gateway's offer path: the pre-check
// (checkOffer), then, for offers it lets through, a fresh session's Offer (pion's
// SetRemoteDescription, CreateAnswer, SetLocalDescription, rollback on failure).
// It never panics; every refusal wraps ErrInvalidOffer, ErrNoAudio or
// ErrNoCommonCodec; an accepted offer gets an answer that parses and has audio.
// Seeds: testdata/fuzz/FuzzOffer plus a Chromium-style and a pion offer.
func FuzzOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Add(strings.ReplaceAll(chromeOffer, "\n", "\r\n"))
	cl := newClient(f)
	if o, err := cl.pc.CreateOffer(nil); err == nil {
		f.Add(o.SDP)
	} else {
		f.Fatalf("pion offer: %v", err)
	}
	g := newTestGateway(f, testConfig(47600, 47609))
	f.Fuzz(func(t *testing.T, offer string) {
		if len(offer) > maxFuzzOffer {
			return
		}
		if _, err := checkOffer(offer); err != nil {
			checkOfferError(t, err)
			return
		}
		s, err := g.NewSession(SessionParams{Agent: "fuzz"})
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		defer func() {
			if err := s.Close(); err != nil {
				t.Errorf("session close: %v", err)
			}
		}()
		answer, err := s.Offer(t.Context(), offer)
		if err != nil {
			checkOfferError(t, err)
			return
		}
		var d sdp.SessionDescription
		if err := d.UnmarshalString(answer); err != nil {
			t.Fatalf("answer does not parse: %v\n%s", err, answer)
		}
		if !strings.Contains(answer, "m=audio") {
			t.Fatalf("answer without audio:\n%s", answer)
		}
	})
}

func checkOfferError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidOffer) && !errors.Is(err, ErrNoAudio) && !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("offer refused with %v, not one of the offer sentinels", err)
	}
}
