package cti_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

func agentRow(e map[string]any, agent string) map[string]any {
	rows, _ := e["agents"].([]any)
	for _, r := range rows {
		if m, ok := r.(map[string]any); ok && m["agent"] == agent {
			return m
		}
	}
	return nil
}

// The wallboard pushes queue.stats and the agent grid to supervisors as calls move,
// and GET /api/v1/wallboard gives the same numbers with the interval history.
func TestWallboardPushesQueueStatsAndAgentGrid(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.Wallboard.Every = 100 * time.Millisecond
	cc.Wallboard.Queues = []cti.WallboardQueue{{Queue: "sales", Formula: queue.SLAbandonsAgainst, Threshold: 15 * time.Second}}
	st := newStackCfg(t, nil, cc)
	ctx, web := st.ctx, st.web
	samTok := login(t, web, "sam", "secret-anna")
	sam := openDesk(t, ctx, web, samTok)
	annaTok := login(t, web, "anna", "secret-anna")
	anna := openDesk(t, ctx, web, annaTok)
	if r := anna.do(ctx, "agent.ready", nil); r["ok"] != true {
		t.Fatalf("ready: %v", r)
	}
	sam.event("wallboard.agents", func(e map[string]any) bool {
		a := agentRow(e, "anna")
		return a != nil && a["state"] == "ready" && a["since"] != nil
	})

	// Call 1: answered by anna.
	c1, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48221000001", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	anna.event("call.offered", nil)
	if r := anna.do(ctx, "call.accept", map[string]any{"call_id": c1}); r["ok"] != true {
		t.Fatalf("accept: %v", r)
	}
	anna.event("call.connected", nil)
	sam.event("wallboard.agents", func(e map[string]any) bool {
		a := agentRow(e, "anna")
		return a != nil && a["state"] == "talking" && a["call_id"] == c1 && a["call_queue"] == "sales"
	})
	if r := anna.do(ctx, "call.hangup", map[string]any{"call_id": c1}); r["ok"] != true {
		t.Fatalf("hangup: %v", r)
	}
	anna.event("wrapup.started", nil)

	// Call 2 waits (anna is wrapping up) and is abandoned.
	c2, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "48221000002", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	sam.event("queue.stats", func(e map[string]any) bool {
		return e["queue"] == "sales" && e["waiting"] == float64(1) && e["offered"] == float64(2)
	})
	if err := st.emu.Hangup(c2, 16); err != nil {
		t.Fatal(err)
	}
	stats := sam.event("queue.stats", func(e map[string]any) bool {
		return e["queue"] == "sales" && e["waiting"] == float64(0) && e["abandoned"] == float64(1)
	})
	byState, _ := stats["agents_by_state"].(map[string]any)
	all, _ := stats["service_levels"].(map[string]any)
	// abandons-against: answered within 15 s / (answered + abandoned) = 1/2. The
	// abandon was short (< 5 s): short-abandons-neutral leaves it out: (1+1-1)/(2-1).
	if stats["offered"] != float64(2) || stats["answered"] != float64(1) || stats["service_level"] != 0.5 ||
		stats["sl_formula"] != "abandons-against" || stats["sl_threshold_seconds"] != float64(15) ||
		all["short-abandons-neutral"] != float64(1) || stats["abandon_rate"] != float64(0) ||
		byState["wrap_up"] != float64(1) || byState["logged_out"] != float64(1) || stats["at"] == nil {
		t.Fatalf("queue.stats %v", stats)
	}
	if asa, _ := stats["asa_seconds"].(float64); asa <= 0 || asa > 10 {
		t.Fatalf("ASA %v", stats["asa_seconds"])
	}
	if occ, _ := stats["occupancy"].(float64); occ <= 0 || occ > 1 {
		t.Fatalf("occupancy %v", stats["occupancy"])
	}

	// REST first paint: supervisors only; the same numbers plus the history.
	if code, _ := getJSON(t, web+"/api/v1/wallboard", annaTok); code != http.StatusForbidden {
		t.Fatalf("agent reading the wallboard: %d", code)
	}
	code, wb := getJSON(t, web+"/api/v1/wallboard", samTok)
	queues, _ := wb["queues"].([]any)
	if code != 200 || len(queues) != 1 || wb["interval_seconds"] != float64(900) {
		t.Fatalf("wallboard %d %v", code, wb)
	}
	sales, _ := queues[0].(map[string]any)
	if sales["queue"] != "sales" || sales["offered"] != float64(2) || sales["service_level"] != 0.5 || sales["sl_formula"] != "abandons-against" {
		t.Fatalf("sales %v", sales)
	}
	// The history may straddle a 15-minute boundary: sum its intervals.
	hist, _ := sales["history"].([]any)
	var offered, answered, abandoned float64
	for _, h := range hist {
		iv, _ := h.(map[string]any)
		o, _ := iv["offered"].(float64)
		a, _ := iv["answered"].(float64)
		b, _ := iv["abandoned"].(float64)
		offered, answered, abandoned = offered+o, answered+a, abandoned+b
	}
	if len(hist) == 0 || len(hist) > 2 || offered != 2 || answered != 1 || abandoned != 1 {
		t.Fatalf("history %v", hist)
	}
	if last, _ := hist[len(hist)-1].(map[string]any); len(hist) == 1 && last["service_level"] != 0.5 {
		t.Fatalf("interval SL %v", last)
	}
	if a := agentRow(wb, "anna"); a == nil || a["state"] != "wrap_up" {
		t.Fatalf("agent grid %v", wb["agents"])
	}
	if a := agentRow(wb, "boris"); a == nil || a["state"] != "logged_out" {
		t.Fatalf("agent grid %v", wb["agents"])
	}
	// Agents get no wallboard pushes.
	anna.mu.Lock()
	defer anna.mu.Unlock()
	for _, e := range anna.events {
		if e["event"] == "queue.stats" || e["event"] == "wallboard.agents" {
			t.Fatalf("agent got %v", e)
		}
	}
}
