package cti

import (
	"errors"
	"testing"
)

// The campaign mark survives any contact id or number (escaped), and a missing or
// garbled mark is errNoCampaignMark (the call is then ended, not taken over).
func TestCampaignMarkRoundTrip(t *testing.T) {
	m := campMark{campaign: "autumn", contact: "c;1&x=2", number: "+442079460150", owner: "host-12-ab", manual: true}
	got, err := parseCampMark(m.String())
	if err != nil || got != m {
		t.Fatalf("round trip %+v %v, want %+v", got, err, m)
	}
	m.manual, m.owner = false, ""
	if got, err := parseCampMark(m.String()); err != nil || got != m {
		t.Fatalf("round trip %+v %v, want %+v", got, err, m)
	}
	for _, bad := range []string{"", "c=autumn", "c=autumn&k=1", "%zz", "autumn;c1;+4420"} {
		if _, err := parseCampMark(bad); !errors.Is(err, errNoCampaignMark) {
			t.Errorf("mark %q: %v, want errNoCampaignMark", bad, err)
		}
	}
}
