package cti_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/softphone"
	"github.com/ctid/ctid/telephony/ariemu"
)

// browser is a pion peer playing the agent's browser: PCMU only, loopback ICE.
type browser struct {
	pc       *webrtc.PeerConnection
	mic      *webrtc.TrackLocalStaticRTP
	received atomic.Int64
	payload0 atomic.Bool // every received packet was PCMU
}

func newBrowser(t *testing.T) *browser {
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
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{pc: pc}
	b.payload0.Store(true)
	t.Cleanup(func() { _ = pc.Close() })
	b.mic, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "mic", "browser")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(b.mic); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if p.PayloadType != 0 {
				b.payload0.Store(false)
			}
			b.received.Add(1)
		}
	})
	return b
}

// The whole audio path: the agent's browser negotiates over the desktop WebSocket
// (rtc.offer / rtc.answer / rtc.candidate), goes Ready, accepts a call, and audio
// flows both ways between the emulated caller and the browser through the softphone
// gateway and an ExternalMedia leg.
func TestSoftphoneAudioBothWaysThroughTheDesktop(t *testing.T) {
	// The default gateway (a UDP port per agent and per leg, pion's media path), and
	// every agent's ICE and every leg on one socket each — the SRTP fast paths, and
	// legs told apart by the address ctid latches from the externalMedia response.
	shared := softphone.DefaultConfig()
	shared.ICE.UDPMux = "127.0.0.1:0"
	shared.MediaSharedAddr = "127.0.0.1:0"
	for _, tc := range []struct {
		name string
		cfg  softphone.Config
	}{{"default", softphone.DefaultConfig()}, {"one socket each", shared}} {
		t.Run(tc.name, func(t *testing.T) { softphoneAudioBothWays(t, tc.cfg) })
	}
}

func softphoneAudioBothWays(t *testing.T, cfg softphone.Config) {
	gw, err := softphone.NewGateway(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	st := newStack(t, gw)
	ctx := st.ctx
	anna := openDesk(t, ctx, st.web, login(t, st.web, "anna", "secret-anna"))
	br := newBrowser(t)

	offer, err := br.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(br.pc)
	if err := br.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if r := anna.do(ctx, "rtc.offer", map[string]any{"sdp": br.pc.LocalDescription().SDP}); r["ok"] != true {
		t.Fatalf("rtc.offer: %v", r)
	}
	ans := anna.event("rtc.answer", nil)
	if err := br.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans["sdp"].(string)}); err != nil {
		t.Fatal(err)
	}
	// Trickle the gateway's candidates until connected.
	added := 0
	deadline := time.Now().Add(15 * time.Second)
	for br.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("browser never connected (%s)", br.pc.ConnectionState())
		}
		anna.mu.Lock()
		var cands []any
		n := 0
		for _, e := range anna.events {
			if e["event"] == "rtc.candidate" {
				if n >= added {
					cands = append(cands, e["candidate"])
				}
				n++
			}
		}
		anna.mu.Unlock()
		for _, c := range cands {
			added++
			if c == nil {
				continue
			}
			raw, _ := json.Marshal(c)
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

	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready: %v", r)
	}
	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48221234567", Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	anna.event("call.offered", nil)
	accepted := time.Now()
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("accept: %v", r)
	}
	anna.event("call.connected", nil)

	// Caller → browser.
	for br.received.Load() < 25 {
		if time.Since(accepted) > 10*time.Second {
			t.Fatalf("browser received %d packets", br.received.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !br.payload0.Load() {
		t.Fatal("browser received a non-PCMU packet")
	}
	// Browser microphone → Asterisk.
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = 0xff
	}
	for i := range 50 {
		if err := br.mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 42}, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		_, back := st.emu.RTPStats(caller + "-agent")
		if back >= 25 {
			break
		}
		if time.Since(accepted) > 15*time.Second {
			t.Fatalf("emulator received %d packets from the browser", back)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := anna.do(ctx, "call.hangup", map[string]any{"call_id": caller}); r["ok"] != true {
		t.Fatalf("hangup: %v", r)
	}
	anna.event("call.ended", nil)
}
