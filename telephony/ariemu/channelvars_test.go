package ariemu

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// Config.ChannelVars is ari.conf's channelvars: every channel object in events
// carries those variables (functions too), an unset one as "", and variables a
// simulated caller's dialplan set before Stasis() are in its StasisStart.
func TestChannelVarsOnEveryChannelObject(t *testing.T) {
	emu, err := New(Config{Users: map[string]string{testUser: testPass}, Logger: zerolog.Nop(),
		ChannelVars: []string{"ACCOUNT", "CALLERID(num)", "NOT_SET"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(func() {
		cancel()
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	h := &harness{t: t, emu: emu, srv: srv, ctx: ctx}
	c := h.connect(testApp)
	caller, err := emu.InjectCall(ctx, CallSpec{CallerNumber: "15550001", Behaviour: "talk",
		Variables: map[string]string{"ACCOUNT": "A-17", "OTHER": "not listed"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.next("StasisStart", caller, 5*time.Second)
	vars, ok := ev.Channel["channelvars"].(map[string]any)
	if !ok || len(vars) != 3 || vars["ACCOUNT"] != "A-17" || vars["CALLERID(num)"] != "15550001" || vars["NOT_SET"] != "" {
		t.Fatalf("StasisStart channelvars %v", ev.Channel["channelvars"])
	}
	// Later events and GET /channels/{id} carry the current values.
	h.must(204, "POST", "/channels/"+caller+"/variable", url.Values{"variable": {"NOT_SET"}, "value": {"now set"}}, nil)
	set := c.next("ChannelVarset", caller, 5*time.Second)
	if vars, ok := set.Channel["channelvars"].(map[string]any); !ok || vars["NOT_SET"] != "now set" {
		t.Fatalf("ChannelVarset channelvars %v", set.Channel["channelvars"])
	}
	var got struct {
		State       string            `json:"state"`
		Channelvars map[string]string `json:"channelvars"`
	}
	h.must(200, "GET", "/channels/"+caller, nil, &got)
	if got.Channelvars["ACCOUNT"] != "A-17" || got.Channelvars["NOT_SET"] != "now set" {
		t.Fatalf("GET channel channelvars %v", got.Channelvars)
	}
	// Indicating ringing leaves an inbound channel in state Ring, with no event.
	h.must(204, "POST", "/channels/"+caller+"/ring", nil, nil)
	h.must(200, "GET", "/channels/"+caller, nil, &got)
	if got.State != "Ring" {
		t.Fatalf("state after ring %q, want Ring", got.State)
	}
}

func TestChannelVarsConfigValidated(t *testing.T) {
	for _, bad := range [][]string{{""}, {"A,B"}, {"A B"}} {
		if _, err := New(Config{ChannelVars: bad}); !errors.Is(err, ErrConfig) {
			t.Errorf("ChannelVars %q: err %v, want ErrConfig", bad, err)
		}
	}
}
