package cti_test

import (
	"net"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/softphone"
	"github.com/ctid/ctid/telephony/ariemu"
	"github.com/rs/zerolog"
)

// A queue with offer_without_audio offers its calls to an agent whose console's
// audio is down: the agent may go Ready without a peer connection, and an agent
// whose ICE fails stays Ready and is offered the next call.
func TestQueueOfferWithoutAudio(t *testing.T) {
	cfg := softphone.DefaultConfig()
	cfg.ICE.DisconnectedTimeout, cfg.ICE.FailedTimeout, cfg.ICE.KeepAliveInterval = 300*time.Millisecond, time.Second, 100*time.Millisecond
	gw, err := softphone.NewGateway(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	st := newStack(t, gw)
	sales := salesConfig("anna", "boris").Queues[0]
	sales.OfferWithoutAudio = true
	if err := st.orch.UpsertQueueForTest(st.ctx, sales); err != nil {
		t.Fatal(err)
	}

	// boris never negotiated audio: Ready is allowed by the queue.
	boris := openDesk(t, st.ctx, st.web, login(t, st.web, "boris", "secret-anna"))
	if r := boris.do(st.ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready without audio in a lenient queue: %v", r)
	}
	boris.event("agent.state", func(e map[string]any) bool { return e["state"] == "ready" })
	if r := boris.do(st.ctx, "agent.not_ready", map[string]any{"reason": "break"}); r["ok"] != true {
		t.Fatalf("not ready: %v", r)
	}
	boris.event("agent.state", func(e map[string]any) bool { return e["state"] == "not_ready" })

	anna := openDesk(t, st.ctx, st.web, login(t, st.web, "anna", "secret-anna"))
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lossy := &lossyConn{PacketConn: udp}
	br := newMuxBrowser(t, lossy)
	negotiate(t, anna, br)
	if r := anna.do(st.ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready with audio: %v", r)
	}
	anna.event("agent.state", func(e map[string]any) bool { return e["state"] == "ready" })
	lossy.drop.Store(true) // ICE checks go unanswered
	anna.event("rtc.state", func(e map[string]any) bool { return e["state"] == "failed" })

	// anna stays Ready (not paused with no_audio): the queue's next call is hers.
	caller, err := st.emu.InjectCall(st.ctx, ariemu.CallSpec{CallerNumber: "48500600700", Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	anna.event("call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	anna.mu.Lock()
	for _, e := range anna.events {
		if e["event"] == "agent.state" && e["reason"] == cti.ReasonNoAudio {
			anna.mu.Unlock()
			t.Fatalf("agent paused although the queue offers without audio: %v", e)
		}
	}
	anna.mu.Unlock()
}
