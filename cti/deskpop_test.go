package cti_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/queue/dialer"
	"github.com/ctid/ctid/softphone"
	"github.com/ctid/ctid/telephony/ariemu"
)

// dispositionCodes returns the codes, labels and callback flags of a pop's
// "dispositions" field.
func dispositionCodes(t *testing.T, pop map[string]any) (codes, labels []string, callback map[string]bool) {
	t.Helper()
	pop = viaJSON(t, pop)
	list, ok := pop["dispositions"].([]any)
	if !ok {
		t.Fatalf("no dispositions in %v", pop)
	}
	callback = map[string]bool{}
	for _, x := range list {
		d, ok := x.(map[string]any)
		if !ok {
			t.Fatalf("disposition %v", x)
		}
		code, _ := d["code"].(string)
		label, _ := d["label"].(string)
		codes, labels = append(codes, code), append(labels, label)
		cb, _ := d["callback"].(bool)
		callback[code] = cb
	}
	return codes, labels, callback
}

// viaJSON returns e as a desktop would decode it (in-process events keep Go types).
func viaJSON(t *testing.T, e map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// An inbound call's screen-pop lists its queue's dispositions (queues[].dispositions),
// the ones the wrap-up form offers.
func TestScreenPopListsTheQueueDispositions(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.Desks = []cti.QueueDesk{{Queue: "sales", Dispositions: []cti.QueueDisposition{
		{Code: "resolved", Label: "Solved on the call", Final: true},
		{Code: "call_back", Label: "Call the customer back", Callback: true},
		{Code: "escalated"},
	}}}
	st := newStackCfg(t, nil, cc)
	ctx := st.ctx
	anna := openDesk(t, ctx, st.web, login(t, st.web, "anna", "secret-anna"))
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("agent.ready: %v", r)
	}
	anna.event("agent.state", func(e map[string]any) bool { return e["state"] == "ready" })
	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48221234567", Dialled: "800", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	pop := anna.event("call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	codes, labels, cb := dispositionCodes(t, pop)
	if len(codes) != 3 || codes[0] != "resolved" || codes[1] != "call_back" || codes[2] != "escalated" ||
		labels[0] != "Solved on the call" || labels[2] != "escalated" || !cb["call_back"] || cb["resolved"] {
		t.Fatalf("dispositions %v %v %v", codes, labels, cb)
	}
}

func TestQueueDispositionsAreValidated(t *testing.T) {
	for _, list := range [][]cti.QueueDisposition{
		{{Code: ""}},
		{{Code: "Bad Code"}},
		{{Code: "ok"}, {Code: "ok"}},
	} {
		cc := cti.DefaultConfig()
		cc.Desks = []cti.QueueDesk{{Queue: "sales", Dispositions: list}}
		if err := cc.Validate(); !errors.Is(err, cti.ErrInvalidConfig) {
			t.Errorf("%+v: %v", list, err)
		}
	}
	cc := cti.DefaultConfig()
	cc.Desks = []cti.QueueDesk{{Queue: "sales", Dispositions: []cti.QueueDisposition{{Code: "resolved"}, {Code: "call-back", Callback: true}}}}
	if err := cc.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A preview campaign's card and the outbound screen-pop carry the campaign, the
// contact's fields, the skip limit and the campaign's dispositions with their labels.
func TestCampaignPreviewAndPopCarryDispositions(t *testing.T) {
	w := newCampWorld(t, "v2", "anna")
	w.contacts.Set("v2", []cti.CampaignContact{
		{ID: "a", Name: "Ada", Numbers: []string{"+442079461001"}, Zone: "Europe/London", Fields: map[string]string{"plan": "silver"}},
	})
	w.addCampaign(t, cti.CampaignConfig{Name: "Renewals", Endpoint: "Local/{digits}@callers", Tick: 50 * time.Millisecond,
		DispositionLabels: map[string]string{"renewed": "Renewed the plan"},
		Dialer: dialer.Config{ID: "v2", Mode: dialer.Preview, Dispositions: []dialer.Disposition{
			{Code: "renewed", Final: true, Sale: true}, {Code: "later", Callback: true}, {Code: "no"},
		}}})
	ctx := w.ctx
	if err := w.orch.CampaignStart(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	var preview map[string]any
	for deadline := time.Now().Add(10 * time.Second); preview == nil; {
		if err := w.orch.StepCampaign(ctx, "v2"); err != nil {
			t.Fatal(err)
		}
		w.desk.mu.Lock()
		for _, x := range w.desk.events["anna"] {
			if x["event"] == "campaign.preview" {
				preview = x
			}
		}
		w.desk.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no preview")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p := viaJSON(t, preview); p["campaign"] != "Renewals" || p["contact_name"] != "Ada" || p["max_skips"] != 2.0 {
		t.Fatalf("preview %v", preview)
	}
	check := func(what string, e map[string]any) {
		t.Helper()
		codes, labels, cb := dispositionCodes(t, e)
		if len(codes) != 3 || codes[0] != "renewed" || labels[0] != "Renewed the plan" || labels[1] != "later" || !cb["later"] || cb["no"] {
			t.Fatalf("%s dispositions %v %v %v", what, codes, labels, cb)
		}
	}
	check("preview", preview)
	id, _ := preview["call_id"].(string)
	if err := w.orch.Accept(ctx, "anna", id); err != nil {
		t.Fatalf("dial: %v", err)
	}
	pop := w.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == id })
	jp := viaJSON(t, pop)
	contact, _ := jp["contact"].(map[string]any)
	if jp["direction"] != "outbound" || jp["campaign"] != "Renewals" || contact["plan"] != "silver" {
		t.Fatalf("pop %v", pop)
	}
	check("pop", pop)
	w.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
	if err := w.orch.Hangup(ctx, "anna", id); err != nil {
		t.Fatal(err)
	}
	if err := w.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: id, Disposition: "renewed"}); err != nil {
		t.Fatal(err)
	}
}

// rtc.config gives the browser the STUN/TURN servers of the softphone config; an
// agent without an audio path is refused Ready.
func TestRTCConfigGivesTheICEServers(t *testing.T) {
	cfg := softphone.DefaultConfig()
	cfg.ICE.Servers = []softphone.ICEServer{
		{URLs: []string{"stun:127.0.0.1:3478"}},
		{URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: "agent", Credential: "s3cret"},
	}
	gw, err := softphone.NewGateway(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	st := newStack(t, gw)
	anna := openDesk(t, st.ctx, st.web, login(t, st.web, "anna", "secret-anna"))
	r := anna.do(st.ctx, "rtc.config", nil)
	servers, _ := r["ice_servers"].([]any)
	if r["ok"] != true || r["enabled"] != true || len(servers) != 2 {
		t.Fatalf("rtc.config: %v", r)
	}
	turn, _ := servers[1].(map[string]any)
	urls, _ := turn["urls"].([]any)
	if len(urls) != 1 || urls[0] != "turn:127.0.0.1:3478?transport=udp" || turn["username"] != "agent" || turn["credential"] != "s3cret" {
		t.Fatalf("turn server %v", turn)
	}
	if stun, _ := servers[0].(map[string]any); stun["username"] != nil {
		t.Fatalf("stun server %v", stun)
	}

	// A browser-softphone agent whose console never negotiated audio cannot go Ready
	// (a call offered there could never be heard).
	if r := anna.do(st.ctx, "agent.ready", nil); errCode(r) != "invalid_state" {
		t.Fatalf("ready without an audio path: %v", r)
	}

	// Without browser audio: enabled false, no servers.
	plain := newStack(t, nil)
	boris := openDesk(t, plain.ctx, plain.web, login(t, plain.web, "boris", "secret-anna"))
	if r := boris.do(plain.ctx, "rtc.config", nil); r["ok"] != true || r["enabled"] != false {
		t.Fatalf("rtc.config without a gateway: %v", r)
	}
}

// negotiate connects the test browser's peer connection to ctid over the desktop
// WebSocket (rtc.offer, rtc.answer, trickled candidates).
func negotiate(t *testing.T, d *deskClient, br *browser) {
	t.Helper()
	ctx := context.Background()
	offer, err := br.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(br.pc)
	if err := br.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if r := d.do(ctx, "rtc.offer", map[string]any{"sdp": br.pc.LocalDescription().SDP}); r["ok"] != true {
		t.Fatalf("rtc.offer: %v", r)
	}
	ans := d.event("rtc.answer", nil)
	sdp, _ := ans["sdp"].(string)
	if err := br.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
	added := 0
	for deadline := time.Now().Add(15 * time.Second); br.pc.ConnectionState() != webrtc.PeerConnectionStateConnected; {
		if time.Now().After(deadline) {
			t.Fatalf("browser never connected (%s)", br.pc.ConnectionState())
		}
		d.mu.Lock()
		var cands []any
		n := 0
		for _, e := range d.events {
			if e["event"] == "rtc.candidate" {
				if n >= added {
					cands = append(cands, e["candidate"])
				}
				n++
			}
		}
		d.mu.Unlock()
		for _, c := range cands {
			added++
			if c == nil {
				continue
			}
			raw, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var ci webrtc.ICECandidateInit
			if err := json.Unmarshal(raw, &ci); err != nil {
				t.Fatal(err)
			}
			if err := br.pc.AddICECandidate(ci); err != nil {
				t.Fatalf("add candidate %s: %v", raw, err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A ready agent whose console's ICE fails is set not ready (no_audio): no call is
// offered to a desktop that could not hear it.
func TestReadyAgentWhoseAudioFailsIsPaused(t *testing.T) {
	cfg := softphone.DefaultConfig()
	cfg.ICE.DisconnectedTimeout, cfg.ICE.FailedTimeout, cfg.ICE.KeepAliveInterval = 300*time.Millisecond, time.Second, 100*time.Millisecond
	gw, err := softphone.NewGateway(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	st := newStack(t, gw)
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
	lossy.drop.Store(true) // the browser's network goes away: ICE checks go unanswered
	anna.event("rtc.state", func(e map[string]any) bool { return e["state"] == "failed" })
	anna.event("agent.state", func(e map[string]any) bool {
		return e["state"] == "not_ready" && e["reason"] == cti.ReasonNoAudio
	})
	if r := anna.do(st.ctx, "agent.ready", nil); errCode(r) != "invalid_state" {
		t.Fatalf("ready after ICE failed: %v", r)
	}
}

// lossyConn drops every packet both ways once drop is set (a network that went away
// without a goodbye).
type lossyConn struct {
	net.PacketConn
	drop atomic.Bool
}

func (c *lossyConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.drop.Load() {
			return n, addr, err
		}
	}
}

func (c *lossyConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.drop.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// newMuxBrowser is a test browser whose ICE runs over conn only.
func newMuxBrowser(t *testing.T, conn net.PacketConn) *browser {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	mux := webrtc.NewICEUDPMux(nil, conn)
	se.SetICEUDPMux(mux)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = pc.Close()
		_ = mux.Close()
	})
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	return &browser{pc: pc}
}
