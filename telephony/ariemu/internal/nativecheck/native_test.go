package nativecheck_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/telephony/ariemu"
)

// The unmodified CyCoreSystems ari/v5 native client talks to the emulator as to
// Asterisk: it connects, receives StasisStart on its bus, and controls the channel
// and a bridge through its own REST calls.
func TestUnmodifiedAriV5NativeClient(t *testing.T) {
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"native": "pw"}, DialplanApp: "nat", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer func() {
		srv.CloseClientConnections()
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
	}()
	cl, err := native.Connect(&native.Options{
		Application:  "nat",
		URL:          srv.URL + "/ari",
		WebsocketURL: "ws" + srv.URL[len("http"):] + "/ari/events",
		Username:     "native",
		Password:     "pw",
	})
	if err != nil {
		t.Fatal(err)
	}
	// No cl.Close(): in ari/v5 v5.3.1 Close writes the connected flag that the
	// listener goroutine writes too (a data race), and the listener redials every
	// second until the process exits. ctid does not use this transport for these
	// reasons; this test only proves the emulator speaks to it.
	sub := cl.Bus().Subscribe(nil, ari.Events.StasisStart, ari.Events.ChannelStateChange, ari.Events.ChannelEnteredBridge)
	defer sub.Cancel()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "15550001", CallerName: "Alice", Dialled: "5551000"})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(typ string) ari.Event {
		t.Helper()
		for {
			select {
			case e := <-sub.Events():
				if e.GetType() == typ {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("no %s on the native client's bus", typ)
			}
		}
	}
	ss, ok := wait(ari.Events.StasisStart).(*ari.StasisStart)
	if !ok || ss.Channel.ID != id || len(ss.Args) != 2 || ss.Args[0] != "inbound" || ss.Channel.Caller.Number != "15550001" {
		t.Fatalf("StasisStart %+v", ss)
	}
	h := cl.Channel().Get(ari.NewKey(ari.ChannelKey, id))
	if err := h.Answer(); err != nil {
		t.Fatalf("native answer: %v", err)
	}
	if sc, ok := wait(ari.Events.ChannelStateChange).(*ari.ChannelStateChange); !ok || sc.Channel.State != "Up" {
		t.Fatalf("state change %+v", sc)
	}
	data, err := h.Data()
	if err != nil || data.State != "Up" || data.Caller.Name != "Alice" {
		t.Fatalf("native channel data %+v %v", data, err)
	}
	br, err := cl.Bridge().Create(ari.NewKey(ari.BridgeKey, "native-bridge"), "mixing", "native")
	if err != nil {
		t.Fatalf("native bridge create: %v", err)
	}
	if err := br.AddChannel(id); err != nil {
		t.Fatalf("native addChannel: %v", err)
	}
	if eb, ok := wait(ari.Events.ChannelEnteredBridge).(*ari.ChannelEnteredBridge); !ok || eb.Bridge.ID != "native-bridge" {
		t.Fatalf("entered bridge %+v", eb)
	}
	if err := h.Hangup(); err != nil {
		t.Fatalf("native hangup: %v", err)
	}
}
