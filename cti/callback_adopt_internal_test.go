package cti

import (
	"errors"
	"testing"
	"time"
)

func TestCallbackMark(t *testing.T) {
	at := time.Unix(0, 1764684000123456789)
	for _, m := range []cbMark{
		{queue: "sales", number: "5550000", arrived: at},
		{queue: "q&x=1", number: "+44 20;7", arrived: at},
		{queue: "sales", number: "5550000"}, // arrival unknown
	} {
		got, err := parseCbMark(m.String())
		if err != nil || got.queue != m.queue || got.number != m.number || !got.arrived.Equal(m.arrived) {
			t.Errorf("round trip of %+v: %+v, %v", m, got, err)
		}
	}
	for _, bad := range []string{"", "q=sales", "n=5550000", "q=sales&n=1&t=x", "q=sales&n=1&t=-5", "%zz"} {
		if _, err := parseCbMark(bad); !errors.Is(err, errNoCallbackMark) {
			t.Errorf("parseCbMark(%q): %v, want errNoCallbackMark", bad, err)
		}
	}
	for id, want := range map[string]int{"c1-cb-1": 1, "c1-cb-12": 12, "c1": 0, "c1-cb-x": 0, "a-cb-b-cb-3": 3} {
		if got := callbackNumber(id); got != want {
			t.Errorf("callbackNumber(%q) = %d, want %d", id, got, want)
		}
	}
}
