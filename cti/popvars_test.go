package cti_test

import (
	"path/filepath"
	"testing"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony/ariemu"
)

// The screen-pop carries the channel variables ari.conf's channelvars lists (from
// StasisStart, no ARI request of its own) next to the app arguments.
func TestScreenPopCarriesChannelVariables(t *testing.T) {
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	w := newWorldEmu(t, salesConfig("anna"), cti.DefaultConfig(), sc,
		ariemu.Config{ChannelVars: []string{"ACCOUNT", "SEGMENT", "NOT_SET", "ticket"}})
	w.ready(t, "anna")
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234567", Dialled: "800100200",
		Args:      []string{"inbound", "sales", "ticket=991"},
		Variables: map[string]string{"ACCOUNT": "A-17", "SEGMENT": "gold", "ticket": "from-dialplan", "UNLISTED": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	pop := w.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	chv, ok := pop["channel_vars"].(map[string]string)
	if !ok || len(chv) != 4 || chv["ACCOUNT"] != "A-17" || chv["SEGMENT"] != "gold" || chv["NOT_SET"] != "" || chv["ticket"] != "from-dialplan" {
		t.Fatalf("channel_vars %#v", pop["channel_vars"])
	}
	args, ok := pop["args"].(map[string]string)
	if !ok || len(args) != 1 || args["ticket"] != "991" {
		t.Fatalf("args %#v", pop["args"])
	}
	// variables: both, the app argument winning (what desktops read before).
	vars, ok := pop["variables"].(map[string]string)
	if !ok || len(vars) != 4 || vars["ticket"] != "991" || vars["ACCOUNT"] != "A-17" || vars["SEGMENT"] != "gold" {
		t.Fatalf("variables %#v", pop["variables"])
	}
	// No ARI request read them: the offer path only marked the call and started music.
	for _, r := range w.emu.Requests() {
		if r.Method == "GET" && (r.Path == "/channels/{channelId}/variable" || r.Path == "/channels/{channelId}/variables") {
			t.Fatalf("an ARI variable read on the offer path: %+v", r)
		}
	}
}
