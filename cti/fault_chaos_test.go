package cti_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/telephony/ariemu"
)

// The ARI events socket carries damaged frames for a while — the emulator's chaos
// mode sends a junk frame (truncated, wrong types, not JSON, binary, deeply nested,
// one over the read limit) after every third event and replaces every fifth event
// by a damaged copy of it, which is then lost — while callers hang up, ringing
// offers are accepted and new callers arrive. The adapter drops the connection on
// each frame it cannot decode and the reconnect's resync reconciles the calls. When
// the chaos stops: the calls whose callers left are closed, accepted offers are
// connected, new callers wait, nothing was offered or connected twice; then every
// caller hangs up and no interaction stays open, nothing stays in the engine or the
// PBX.
func TestARIEventChaosLosesNoCall(t *testing.T) {
	const talking, ringing, queued = 4, 2, 4
	qc, agents := manyAgents(talking + ringing)
	w := newFaultWorld(t, qc, cti.DefaultConfig())
	tk, rg, qd, agentOf := w.callsUp(t, agents, talking, ringing, queued)
	reconnects := w.cli.Stats().Reconnects

	w.emu.SetEventChaos(ariemu.EventChaos{Seed: 7, Inject: 3, Corrupt: 5, Oversize: true})
	abandoner, hungUp := qd[0], tk[0]
	for _, id := range []string{abandoner, hungUp} {
		if err := w.emu.Hangup(id, 16); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range rg {
		if err := w.orch.Accept(w.ctx, agentOf[id], id); err != nil {
			t.Fatalf("accept %s during the chaos: %v", id, err)
		}
	}
	var late []string
	for i := range 2 {
		id, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: fmt.Sprintf("4833%06d", i), Dialled: "800",
			Args: []string{"inbound", "sales"}, Behaviour: "talk"})
		if err != nil {
			t.Fatal(err)
		}
		late = append(late, id)
	}
	// Calls at rest send few events; events about a channel no call owns keep
	// frames coming until the chaos has done all it can.
	filler := []byte(`{"type":"ChannelVarset","timestamp":"2026-12-02T10:00:00.000+0000","application":"ctid",` +
		`"asterisk_id":"52:54:00:12:34:56","variable":"X","value":"1","channel":{"id":"filler","name":"PJSIP/filler-00000001",` +
		`"state":"Up","protocol_id":"","caller":{"name":"","number":""},"connected":{"name":"","number":""},"accountcode":"",` +
		`"dialplan":{"context":"default","exten":"s","priority":1,"app_name":"","app_data":""},` +
		`"creationtime":"2026-12-02T10:00:00.000+0000","language":"en"}}`)
	waitUntil(t, 30*time.Second, "chaos to hit the socket", func() bool {
		if err := w.emu.EmitRaw("ctid", filler); err != nil && !errors.Is(err, ariemu.ErrNotFound) {
			t.Fatal(err)
		}
		inj, cor, over := w.emu.ChaosFrames()
		return inj >= 6 && cor >= 3 && over == 1 && w.cli.Stats().Reconnects >= reconnects+3
	})
	w.emu.ClearEventChaos()
	// One clean reconnect after the chaos, so that the last damaged frame's loss
	// is made up for whatever the timing was.
	settled := w.cli.Stats().Reconnects
	if n := w.emu.DropEventSockets("ctid"); n > 1 {
		t.Fatalf("dropped %d sockets", n)
	}
	waitUntil(t, 20*time.Second, "ARI reconnected after the chaos", func() bool {
		return w.cli.Stats().Reconnects > settled && w.cli.Ready()
	})
	if s := w.cli.Stats(); s.Malformed == 0 {
		t.Fatalf("adapter counted no malformed frame: %+v", s)
	}

	// The callers who left are closed.
	waitUntil(t, 20*time.Second, "the callers who left closed", func() bool {
		if err := w.store.Sync(w.ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{abandoner, hungUp} {
			ix, err := w.store.Interaction(w.ctx, id)
			if err != nil || ix.Ended.IsZero() {
				return false
			}
		}
		return true
	})
	if ix := w.interaction(t, abandoner); ix.Outcome != "abandoned" {
		t.Fatalf("caller who left while waiting: %+v", ix)
	}
	if ix := w.interaction(t, hungUp); ix.Outcome != "answered" {
		t.Fatalf("talking caller who hung up: %+v", ix)
	}
	// The offers accepted in the chaos are conversations: caller and agent leg in
	// one bridge.
	for _, id := range rg {
		w.desk.wait(t, agentOf[id], "call.connected", func(e map[string]any) bool { return e["call_id"] == id })
		waitUntil(t, 20*time.Second, "bridge of "+id, func() bool {
			for _, b := range w.emu.Bridges() {
				if contains(b.Channels, id) && contains(b.Channels, id+"-agent") && len(b.Channels) == 2 {
					return true
				}
			}
			return false
		})
	}
	// The late callers wait (every agent is busy), behind the earlier ones.
	waitUntil(t, 20*time.Second, "late callers queued", func() bool {
		order, _ := queuedOrder(w.snapshot(t))
		return slices.Equal(order, append(append([]string{}, qd[1:]...), late...))
	})
	for _, id := range append(append([]string{}, tk...), rg...) {
		if n := w.desk.countFor(agentOf[id], "call.offered", id); n != 1 {
			t.Fatalf("%s offered %d times", id, n)
		}
		if id == hungUp {
			continue
		}
		if n := w.desk.countFor(agentOf[id], "call.connected", id); n != 1 {
			t.Fatalf("%s connected %d times", id, n)
		}
	}

	// Everyone hangs up: nothing stays open anywhere.
	var all []string
	all = append(all, tk...)
	all = append(all, rg...)
	all = append(all, qd...)
	all = append(all, late...)
	for _, id := range all {
		if id == abandoner || id == hungUp {
			continue
		}
		if err := w.emu.Hangup(id, 16); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 20*time.Second, "every interaction closed", func() bool {
		if err := w.store.Sync(w.ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range all {
			ix, err := w.store.Interaction(w.ctx, id)
			if err != nil || ix.Ended.IsZero() {
				return false
			}
		}
		return true
	})
	waitUntil(t, 20*time.Second, "engine and PBX empty", func() bool {
		return len(w.snapshot(t).Calls) == 0 && len(w.emu.ChannelIDs()) == 0 && len(w.emu.Bridges()) == 0
	})
}
