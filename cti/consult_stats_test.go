package cti_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/queue"
)

// A consultation into a queue (anna's attended transfer to support, carl answers,
// the transfer completes, carl hangs up) is not a new inbound call of support: its
// offered / answered / abandoned, talk and handle figures stay 0 and the
// consultation is counted in Consults / ConsultsAnswered (the wallboard's
// consults / consults_answered). Sales counts its one call.
func TestConsultationIntoQueueIsNotAnInboundCallOfIt(t *testing.T) {
	w := newWorld(t, supportConfig())
	w.ready(t, "anna")
	caller, _ := connectedCall(t, w, "anna")
	w.ready(t, "carl")
	if err := w.orch.ConsultTo(w.ctx, "anna", caller, cti.ConsultTarget{Queue: "support"}); err != nil {
		t.Fatalf("consult queue: %v", err)
	}
	w.desk.wait(t, "anna", "call.consult", consultState("connected"))
	if err := w.orch.EndConsult(w.ctx, "anna", caller, cti.ConsultComplete); err != nil {
		t.Fatalf("complete: %v", err)
	}
	w.desk.wait(t, "carl", "call.connected", func(e map[string]any) bool { return e["transferred_from"] == "anna" })
	if err := w.orch.Hangup(w.ctx, "carl", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "carl", "wrapup.started", nil)
	if err := w.orch.WrapUpDone(w.ctx, "carl", cti.WrapUpResult{}); err != nil {
		t.Fatal(err)
	}
	stats, err := w.orch.LiveQueueStats(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	by := map[queue.QueueID]queue.QueueStats{}
	for _, s := range stats {
		by[s.Queue] = s
	}
	sup, sales := by["support"], by["sales"]
	if sup.Entered != 0 || sup.Counts.Answered != 0 || sup.Counts.Abandoned != 0 || sup.AHT != 0 || sup.ASA != 0 {
		t.Fatalf("support counted the consultation as an inbound call: %+v", sup)
	}
	if sup.Consults != 1 || sup.ConsultsAnswered != 1 {
		t.Fatalf("support consults %d answered %d, want 1 and 1", sup.Consults, sup.ConsultsAnswered)
	}
	if sales.Entered != 1 || sales.Counts.Answered != 1 || sales.Consults != 0 {
		t.Fatalf("sales %+v", sales)
	}
	f, err := w.orch.Wallboard(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range f.Queues {
		if l.Queue == "support" {
			found = true
			if l.Fields["offered"] != 0 || l.Fields["answered"] != 0 || l.Fields["consults"] != 1 || l.Fields["consults_answered"] != 1 {
				t.Fatalf("support on the wallboard %v", l.Fields)
			}
		}
	}
	if !found {
		t.Fatalf("no support line on the wallboard: %+v", f.Queues)
	}
	// Prometheus: the same split.
	reg := prometheus.NewRegistry()
	reg.MustRegister(cti.NewQueueCollector(cti.QueueCollectorParams{Stats: w.orch.LiveQueueStats, Log: zerolog.Nop()}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	for name, want := range map[string]float64{"ctid_queue_calls_offered_total": 0, "ctid_queue_calls_answered_total": 0,
		"ctid_queue_consults_offered_total": 1, "ctid_queue_consults_answered_total": 1} {
		if got, ok := metricValue(t, byName, name, map[string]string{"queue": "support"}); !ok || got != want {
			t.Errorf("%s{queue=support} = %v (found %v), want %v", name, got, ok, want)
		}
	}
}
