package telephony_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/telephony"
	"github.com/ctid/ctid/telephony/aridoc"
	"github.com/ctid/ctid/telephony/ariemu"
)

type rig struct {
	emu *ariemu.Emulator
	srv *httptest.Server
	cli *telephony.Client
	cfg telephony.Config
}

// adapterTestEvents is the allow-list these adapter tests subscribe to: every type
// the adapter decodes, not only the ones ctid's flows consume.
var adapterTestEvents = []string{
	"StasisStart", "StasisEnd",
	"ChannelCreated", "ChannelDestroyed", "ChannelStateChange", "ChannelHangupRequest",
	"ChannelDtmfReceived", "ChannelVarset", "ChannelCallerId", "ChannelConnectedLine",
	"ChannelDialplan", "ChannelEnteredBridge", "ChannelLeftBridge", "ChannelHold",
	"ChannelUnhold", "ChannelTalkingStarted", "ChannelTalkingFinished",
	"BridgeCreated", "BridgeDestroyed", "BridgeMerged",
	"BridgeBlindTransfer", "BridgeAttendedTransfer",
	"Dial",
	"PlaybackStarted", "PlaybackContinuing", "PlaybackFinished",
	"RecordingStarted", "RecordingFinished", "RecordingFailed",
}

func newRig(t *testing.T) *rig {
	t.Helper()
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"ctid": "pw"}, DialplanApp: "ctid", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	cfg := telephony.DefaultConfig()
	cfg.URL = srv.URL + "/ari"
	cfg.Username, cfg.Password = "ctid", "pw"
	cfg.ReconnectMin, cfg.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.EventFilter = adapterTestEvents // wider than ctid's default: bridge events are checked here
	cli, err := telephony.New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cli.Close()
		srv.CloseClientConnections()
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Errorf("emulator close: %v", err)
		}
	})
	return &rig{emu: emu, srv: srv, cli: cli, cfg: cfg}
}

// start runs the client until the test ends.
func (r *rig) start(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.cli.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	})
	return ctx
}

// next waits for the next event matching keep.
func next(t *testing.T, c *telephony.Client, timeout time.Duration, keep func(telephony.Event) bool) telephony.Event {
	t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		select {
		case ev := <-c.Events():
			if keep(ev) {
				return ev
			}
		case <-tm.C:
			t.Fatalf("timed out after %v waiting for an event", timeout)
			return telephony.Event{}
		}
	}
}

func kind(k telephony.EventKind) func(telephony.Event) bool {
	return func(e telephony.Event) bool { return e.Kind == k }
}

func ariType(typ string) func(telephony.Event) bool {
	return func(e telephony.Event) bool { return e.Kind == telephony.KindARI && e.Type == typ }
}

func TestTwentyCallersBridgeReconnectResync(t *testing.T) {
	r := newRig(t)
	ctx := r.start(t)
	first := next(t, r.cli, 5*time.Second, kind(telephony.KindConnected))
	if first.Resync.Reconnect || len(first.Resync.Channels) != 0 {
		t.Fatalf("first connect resync %+v", first.Resync)
	}

	ids := map[string]bool{}
	for i := range 20 {
		id, err := r.emu.InjectCall(ctx, ariemu.CallSpec{
			CallerNumber: fmt.Sprintf("4822100%04d", i), CallerName: "Caller", Dialled: "support",
			Args: []string{"inbound", "support", fmt.Sprintf("priority=%d", i%10+1)},
		})
		if err != nil {
			t.Fatalf("inject %d: %v", i, err)
		}
		ids[id] = true
	}
	seen := map[string][]string{}
	for len(seen) < 20 {
		ev := next(t, r.cli, 5*time.Second, ariType("StasisStart"))
		ss, ok := ev.ARI.(*ari.StasisStart)
		if !ok {
			t.Fatalf("StasisStart decoded as %T", ev.ARI)
		}
		if !ids[ss.Channel.ID] {
			t.Fatalf("StasisStart for unknown channel %s", ss.Channel.ID)
		}
		seen[ss.Channel.ID] = ss.Args
	}
	for id, args := range seen {
		if len(args) != 3 || args[0] != "inbound" || args[1] != "support" || !strings.HasPrefix(args[2], "priority=") {
			t.Fatalf("channel %s args %v", id, args)
		}
	}

	var two []string
	for id := range seen {
		two = append(two, id)
		if len(two) == 2 {
			break
		}
	}
	for _, id := range two {
		if err := r.cli.Answer(ctx, id); err != nil {
			t.Fatalf("answer %s: %v", id, err)
		}
	}
	br, err := r.cli.CreateBridge(ctx, "", "mixing", "call-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cli.AddChannel(ctx, br.ID, two...); err != nil {
		t.Fatal(err)
	}
	entered := map[string]bool{}
	for len(entered) < 2 {
		ev := next(t, r.cli, 5*time.Second, ariType("ChannelEnteredBridge"))
		e, ok := ev.ARI.(*ari.ChannelEnteredBridge)
		if !ok || e.Bridge.ID != br.ID {
			t.Fatalf("entered %+v", ev.ARI)
		}
		entered[e.Channel.ID] = true
	}
	if !sameMembers(bridgeMembers(r.emu, br.ID), two) {
		t.Fatalf("emulator bridge members %v, want %v", bridgeMembers(r.emu, br.ID), two)
	}

	// Kill the events WebSocket: the adapter notices, reconnects and resyncs.
	if n := r.emu.DropEventSockets("ctid"); n != 1 {
		t.Fatalf("dropped %d sockets", n)
	}
	next(t, r.cli, 5*time.Second, kind(telephony.KindDisconnected))
	ev := next(t, r.cli, 5*time.Second, kind(telephony.KindConnected))
	if !ev.Resync.Reconnect {
		t.Fatal("second connect not marked as reconnect")
	}
	got := map[string]ari.ChannelData{}
	for _, ch := range ev.Resync.Channels {
		got[ch.ID] = ch
	}
	for id := range seen {
		ch, ok := got[id]
		if !ok {
			t.Fatalf("resync lacks channel %s (has %d)", id, len(got))
		}
		want := "Ring"
		if id == two[0] || id == two[1] {
			want = "Up"
		}
		if ch.State != want {
			t.Fatalf("channel %s state %s, want %s", id, ch.State, want)
		}
	}
	if len(ev.Resync.Bridges) != 1 || ev.Resync.Bridges[0].ID != br.ID || !sameMembers(ev.Resync.Bridges[0].ChannelIDs, two) {
		t.Fatalf("resync bridges %+v", ev.Resync.Bridges)
	}
	if s := r.cli.Stats(); s.Reconnects != 1 || !s.Connected {
		t.Fatalf("stats %+v", s)
	}
	// Events flow again on the new connection.
	if err := r.cli.Hangup(ctx, two[0], "normal"); err != nil {
		t.Fatal(err)
	}
	end := next(t, r.cli, 5*time.Second, ariType("StasisEnd"))
	if se, ok := end.ARI.(*ari.StasisEnd); !ok || se.Channel.ID != two[0] {
		t.Fatalf("StasisEnd %+v", end.ARI)
	}
}

// loadSpec reads Asterisk's ARI description from ../shared/ari-api-docs.
func loadSpec(t *testing.T) *aridoc.Spec {
	t.Helper()
	dir, err := aridoc.DefaultDir()
	if err != nil {
		t.Fatalf("ARI API description: %v", err)
	}
	spec, err := aridoc.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func bridgeMembers(emu *ariemu.Emulator, id string) []string {
	for _, b := range emu.Bridges() {
		if b.ID == id {
			return b.Channels
		}
	}
	return nil
}

func sameMembers(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// Every event type Asterisk's API describes, including those ari/v5 cannot decode,
// reaches the adapter; it survives all of them and keeps working. None of them is
// malformed. A frame that is (garbage) ends the connection, and the reconnect's
// resync reports what Asterisk has.
func TestEveryDocumentedEventTypeIsSurvived(t *testing.T) {
	spec := loadSpec(t)
	r := newRig(t)
	ctx := r.start(t)
	next(t, r.cli, 5*time.Second, kind(telephony.KindConnected))

	types := spec.EventTypes()
	if len(types) < 40 {
		t.Fatalf("only %d event types in the description", len(types))
	}
	for _, typ := range types {
		raw := spec.SampleEvent(typ, "ctid", "52:54:00:12:34:56")
		if err := r.emu.EmitRaw("ctid", raw); err != nil {
			t.Fatalf("emit %s: %v", typ, err)
		}
	}
	id, err := r.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "100", Dialled: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	delivered := map[string]bool{}
	for {
		ev := next(t, r.cli, 5*time.Second, kind(telephony.KindARI))
		if ss, ok := ev.ARI.(*ari.StasisStart); ok && ss.Channel.ID == id {
			break
		}
		delivered[ev.Type] = true
	}
	s := r.cli.Stats()
	if s.Unknown == 0 || s.Malformed != 0 {
		t.Fatalf("stats %+v: unknown frames should be counted, and no documented event is malformed", s)
	}
	if s.Received+s.Unknown < uint64(len(types)) {
		t.Fatalf("frames accounted %d+%d < sent %d", s.Received, s.Unknown, len(types))
	}
	for _, typ := range []string{"ChannelTransfer", "ApplicationRegistered", "RESTResponse", "CallBroadcast"} {
		if delivered[typ] {
			t.Fatalf("%s should have been ignored", typ)
		}
	}
	if !r.cli.Ready() {
		t.Fatal("adapter not ready after the flood")
	}

	// Garbage: the first frame ends the connection; the resync lists the caller.
	for _, raw := range []string{`{"type":`, `{"no":"type"}`, `{"type":"StasisStart","channel":"not an object"}`} {
		if err := r.emu.EmitRaw("ctid", []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	next(t, r.cli, 5*time.Second, kind(telephony.KindDisconnected))
	ev := next(t, r.cli, 5*time.Second, kind(telephony.KindConnected))
	if ev.Resync == nil || !ev.Resync.Reconnect || !slices.ContainsFunc(ev.Resync.Channels, func(c ari.ChannelData) bool { return c.ID == id }) {
		t.Fatalf("resync after the malformed frame should list caller %s: %+v", id, ev.Resync)
	}
	if s := r.cli.Stats(); s.Malformed == 0 {
		t.Fatalf("stats %+v: the malformed frame should be counted", s)
	}
	id2, err := r.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "101", Dialled: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev := next(t, r.cli, 5*time.Second, kind(telephony.KindARI))
		if ss, ok := ev.ARI.(*ari.StasisStart); ok && ss.Channel.ID == id2 {
			break
		}
	}
}

// A burst of 20,000 events, sent as fast as the emulator can, to a consumer that
// starts late: every one arrives, in order.
func TestBurstOfTwentyThousandEventsLosesNone(t *testing.T) {
	r := newRig(t)
	r.start(t)
	next(t, r.cli, 5*time.Second, kind(telephony.KindConnected))
	const n = 20000
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			raw := fmt.Sprintf(`{"type":"ChannelVarset","timestamp":"2026-11-23T10:00:00.000+0000","variable":"SEQ","value":"%d","channel":{"id":"1.1","name":"PJSIP/x","state":"Up","protocol_id":"","caller":{"name":"","number":""},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"c","exten":"s","priority":1,"app_name":"Stasis","app_data":"ctid"},"creationtime":"2026-11-23T10:00:00.000+0000","language":"en"},"asterisk_id":"52:54:00:12:34:56","application":"ctid"}`, i)
			if err := r.emu.EmitRaw("ctid", []byte(raw)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	time.Sleep(300 * time.Millisecond) // the consumer is late
	for i := range n {
		ev := next(t, r.cli, 10*time.Second, kind(telephony.KindARI))
		v, ok := ev.ARI.(*ari.ChannelVarset)
		if !ok || v.Value != fmt.Sprint(i) {
			t.Fatalf("event %d: %T %+v", i, ev.ARI, ev.ARI)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if s := r.cli.Stats(); s.Received != n || s.Reconnects != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// ExternalMedia RTP from the emulator arrives at 50 packets/s with rising sequence
// numbers, and what ctid sends back is counted by the emulator.
func TestExternalMediaRTPBothWays(t *testing.T) {
	r := newRig(t)
	ctx := r.start(t)
	next(t, r.cli, 5*time.Second, kind(telephony.KindConnected))

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	caller, err := r.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "200", Dialled: "sales", Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	next(t, r.cli, 5*time.Second, ariType("StasisStart"))
	if err := r.cli.Answer(ctx, caller); err != nil {
		t.Fatal(err)
	}
	br, err := r.cli.CreateBridge(ctx, "", "mixing", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cli.AddChannel(ctx, br.ID, caller); err != nil {
		t.Fatal(err)
	}
	em, err := r.cli.ExternalMedia(ctx, telephony.ExternalMediaParams{ExternalHost: pc.LocalAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	// Bridging before its StasisStart is a 422 in Asterisk; wait for it.
	next(t, r.cli, 5*time.Second, func(e telephony.Event) bool {
		ss, ok := e.ARI.(*ari.StasisStart)
		return ok && ss.Channel.ID == em.ID
	})
	if err := r.cli.AddChannel(ctx, br.ID, em.ID); err != nil {
		t.Fatal(err)
	}

	buf := make([]byte, 1500)
	var first, last uint16
	var from net.Addr
	count := 0
	start := time.Now()
	if err := pc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for time.Since(start) < time.Second {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", count, err)
		}
		if n != 12+160 || buf[0]>>6 != 2 || buf[1]&0x7f != 0 || buf[1]&0x80 != 0 {
			t.Fatalf("packet %d: len %d header % x", count, n, buf[:2])
		}
		seq := uint16(buf[2])<<8 | uint16(buf[3])
		if count == 0 {
			first, from = seq, addr
		} else if seq != last+1 {
			t.Fatalf("sequence jumped %d -> %d", last, seq)
		}
		last = seq
		count++
	}
	elapsed := time.Since(start)
	rate := float64(count) / elapsed.Seconds()
	if rate < 40 || rate > 60 {
		t.Fatalf("%d packets in %v = %.1f/s, want ~50", count, elapsed, rate)
	}
	_ = first

	// Send 50 PCMU packets back to where the RTP came from.
	for i := range 50 {
		pkt := make([]byte, 12+160)
		pkt[0], pkt[1] = 0x80, 0
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		ts := uint32(i * 160)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		pkt[8], pkt[11] = 0x12, 0x34
		for j := 12; j < len(pkt); j++ {
			pkt[j] = 0xff
		}
		if _, err := pc.WriteTo(pkt, from); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, received := r.emu.RTPStats(em.ID)
		if received >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator counted %d packets back, want 50", received)
		}
		time.Sleep(10 * time.Millisecond)
	}
	sent, _ := r.emu.RTPStats(em.ID)
	if sent < count {
		t.Fatalf("emulator says it sent %d, we received %d", sent, count)
	}
}

// Every ARI request the adapter made in these tests is one Asterisk defines.
func TestAdapterRequestsMatchARIDescription(t *testing.T) {
	spec := loadSpec(t)
	r := newRig(t)
	ctx := r.start(t)
	next(t, r.cli, 5*time.Second, kind(telephony.KindConnected))
	id, err := r.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "300", Dialled: "q"})
	if err != nil {
		t.Fatal(err)
	}
	next(t, r.cli, 5*time.Second, ariType("StasisStart"))
	c := r.cli
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("ring", c.Ring(ctx, id))
	must("stop ring", c.StopRing(ctx, id))
	must("answer", c.Answer(ctx, id))
	hb, err := c.CreateBridge(ctx, "", "holding", "wait")
	must("holding bridge", err)
	must("add", c.AddChannel(ctx, hb.ID, id))
	must("bridge moh", c.StartBridgeMOH(ctx, hb.ID, "default"))
	must("stop bridge moh", c.StopBridgeMOH(ctx, hb.ID))
	must("remove", c.RemoveChannel(ctx, hb.ID, id))
	must("destroy", c.DestroyBridge(ctx, hb.ID))
	must("moh", c.StartMOH(ctx, id, "default"))
	must("stop moh", c.StopMOH(ctx, id))
	must("hold", c.Hold(ctx, id))
	must("unhold", c.Unhold(ctx, id))
	must("mute", c.Mute(ctx, id, "in"))
	must("unmute", c.Unmute(ctx, id, "in"))
	must("dtmf", c.SendDTMF(ctx, id, "12#"))
	must("setvar", c.SetVar(ctx, id, "CTID_CALL", "abc"))
	v, err := c.GetVar(ctx, id, "CTID_CALL")
	must("getvar", err)
	if v != "abc" {
		t.Fatalf("var %q", v)
	}
	pb, err := c.Play(ctx, telephony.PlayTarget{ChannelID: id}, "", "sound:beep")
	must("play", err)
	if err := c.StopPlayback(ctx, pb.ID); err != nil && !errors.Is(err, telephony.ErrNotFound) {
		t.Fatalf("stop playback: %v", err)
	}
	out, err := c.Originate(ctx, telephony.OriginateParams{Endpoint: "Local/5550000@callers", CallerID: `"ctid" <100>`,
		Timeout: 30, AppArgs: []string{"outbound", "5550000"}, Variables: map[string]string{"CTID_CAMPAIGN": "7"}})
	must("originate", err)
	sn, err := c.Snoop(ctx, id, telephony.SnoopParams{Spy: "both", AppArgs: []string{"snoop", "listen"}})
	must("snoop", err)
	mb, err := c.CreateBridge(ctx, "", "mixing", "rec")
	must("mixing", err)
	must("add2", c.AddChannel(ctx, mb.ID, id))
	_, err = c.Record(ctx, telephony.PlayTarget{BridgeID: mb.ID}, telephony.RecordParams{Name: "rec-1"})
	must("record", err)
	must("pause recording", c.PauseRecording(ctx, "rec-1", true))
	must("resume recording", c.PauseRecording(ctx, "rec-1", false))
	if err := c.PauseRecording(ctx, "no-such-recording", true); !errors.Is(err, telephony.ErrNotFound) {
		t.Fatalf("pause unknown recording: %v", err)
	}
	must("stop recording", c.StopRecording(ctx, "rec-1"))
	_, err = c.Modules(ctx)
	must("modules", err)
	_, err = c.Info(ctx)
	must("info", err)
	must("hangup snoop", c.Hangup(ctx, sn.ID, ""))
	must("hangup originate", c.HangupCause(ctx, out.ID, 17))
	must("hangup", c.Hangup(ctx, id, "normal"))
	if _, err := c.Channel(ctx, "no-such-channel"); !errors.Is(err, telephony.ErrNotFound) {
		t.Fatalf("unknown channel: %v", err)
	}

	reqs := r.emu.Requests()
	if len(reqs) < 30 {
		t.Fatalf("only %d requests recorded", len(reqs))
	}
	for _, rq := range reqs {
		var body map[string]any
		if len(rq.Body) > 0 {
			body = rq.Body
		}
		if probs := spec.CheckRequest(rq.Method, rq.Path, rq.Query, body); len(probs) > 0 {
			b, _ := json.Marshal(rq)
			t.Errorf("request %s not in Asterisk's ARI: %v", b, probs)
		}
	}
}
