package telephony_test

import (
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/telephony"
	"github.com/ctid/ctid/telephony/ariemu"
)

// With ctid's default filter no ChannelVarset arrives; SubscribeEvents adds the type
// at once and keeps it across a reconnect; the last UnsubscribeEvents removes it.
func TestSubscribeEventsWidensTheDefaultFilter(t *testing.T) {
	r := newRig(t)
	r.cfg.EventFilter = nil // ctid's default
	cli, err := telephony.New(r.cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cli.Close)
	r.cli = cli
	ctx := r.start(t)
	next(t, cli, 5*time.Second, kind(telephony.KindConnected))
	id, err := r.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "100", Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	next(t, cli, 5*time.Second, ariType("StasisStart"))

	// setVar sets name and waits for the DTMF sent after it (events are in order):
	// it reports whether a ChannelVarset for name came before.
	dtmf := 0
	setVar := func(name string) bool {
		t.Helper()
		if err := cli.SetVar(ctx, id, name, "x"); err != nil {
			t.Fatal(err)
		}
		if err := r.emu.SendDTMF(id, "1"); err != nil {
			t.Fatal(err)
		}
		dtmf++
		seen := false
		next(t, cli, 5*time.Second, func(ev telephony.Event) bool {
			if v, ok := ev.ARI.(*ari.ChannelVarset); ok && v.Variable == name {
				seen = true
			}
			return ev.Type == "ChannelDtmfReceived"
		})
		return seen
	}
	if setVar("A") {
		t.Fatal("ChannelVarset delivered with the default filter")
	}
	for range 2 { // counted: two subscribers
		if err := cli.SubscribeEvents(ctx, "ChannelVarset"); err != nil {
			t.Fatal(err)
		}
	}
	if !setVar("B") {
		t.Fatal("no ChannelVarset after SubscribeEvents")
	}
	if n := r.emu.DropEventSockets("ctid"); n != 1 {
		t.Fatalf("dropped %d sockets", n)
	}
	next(t, cli, 5*time.Second, kind(telephony.KindConnected))
	if !setVar("C") {
		t.Fatal("no ChannelVarset after a reconnect")
	}
	if err := cli.UnsubscribeEvents(ctx, "ChannelVarset"); err != nil {
		t.Fatal(err)
	}
	if !setVar("D") {
		t.Fatal("no ChannelVarset with one subscriber left")
	}
	if err := cli.UnsubscribeEvents(ctx, "ChannelVarset"); err != nil {
		t.Fatal(err)
	}
	if setVar("E") {
		t.Fatal("ChannelVarset delivered after the last UnsubscribeEvents")
	}
}
