package telephony

import (
	"testing"
	"time"
)

// FuzzDecodeEvent feeds arbitrary frames to the event decoder: it must never panic,
// a frame it accepts must carry a typed event, and the fast path must agree with the
// reference decoder.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"StasisStart","timestamp":"2026-11-22T13:03:41.049+0000","args":["inbound"],"channel":{"id":"1.1","creationtime":"2026-11-22T13:03:41.049+0000"},"application":"ctid"}`,
		`{"type":"ChannelDtmfReceived","digit":"1","duration_ms":100,"channel":{"id":"1.1"}}`,
		`{"type":"ChannelTransfer"}`,
		`{"type":"Dial","peer":{"id":"1"},"dialstatus":"BUSY"}`,
		`{}`, `[]`, `null`, `{"type":1}`, `{"TYPE":"StasisEnd","type":"Dial"}`, `{"typ\u0065":"Dial"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, _, err := decodeEvent(data, time.Unix(0, 0))
		if err == nil && ev.ARI == nil {
			t.Fatalf("accepted %q without a typed event", data)
		}
		sameDecode(t, data)
	})
}
