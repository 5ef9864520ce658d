package cti_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// callbackPendingAtTheKill: a caller from number queues and presses 1 (released,
// their place kept), then a caller from later queues behind them; nobody is Ready
// and run1 is killed. It returns the two call ids.
func callbackPendingAtTheKill(t *testing.T, emu *ariemu.Emulator, db *store.Store, run1 *ctidRun, number, later string) (string, string) {
	t.Helper()
	ctx := context.Background()
	first, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: number, Dialled: "1", Args: []string{"inbound", "sales", "priority=6"}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the first caller queued with music", func() bool { ch, ok := emu.Channel(first); return ok && ch.MOH })
	second, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: later, Dialled: "1", Args: []string{"inbound", "sales", "priority=6"}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the second caller queued with music", func() bool { ch, ok := emu.Channel(second); return ok && ch.MOH })
	if err := emu.SendDTMF(first, "1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the first caller released after choosing a callback", func() bool { return !contains(emu.ChannelIDs(), first) })
	cb, err := db.Callback(ctx, first)
	if err != nil || cb.Status != store.CallbackPending || cb.Node == "" || cb.Arrived.IsZero() || !cb.Arrived.Before(cb.Requested) ||
		cb.Priority != 6 || cb.Attempts != 0 {
		t.Fatalf("pending callback row %+v %v", cb, err)
	}
	run1.stop()
	return first, second
}

// waitCallsQueued waits until run's engine has exactly the calls ids, waiting.
func waitCallsQueued(t *testing.T, run *ctidRun, ids ...string) queue.Snapshot {
	t.Helper()
	var s queue.Snapshot
	waitUntil(t, 10*time.Second, "the calls back in the queue", func() bool {
		var err error
		s, err = run.orch.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Calls) != len(ids) {
			return false
		}
		for _, c := range s.Calls {
			if !contains(ids, string(c.ID)) || c.State != queue.CallWaiting {
				return false
			}
		}
		return true
	})
	return s
}

func callIn(s queue.Snapshot, id string) queue.CallSnapshot {
	for _, c := range s.Calls {
		if string(c.ID) == id {
			return c
		}
	}
	return queue.CallSnapshot{}
}

// ctid dies while a keep-your-place callback is kept (requested, not yet dialled:
// nobody was Ready) and a later caller waits behind it. The next run of the same
// node takes the callback back from its pending row at its place — the original
// arrival and priority, ahead of the later caller it had been ahead of — and when
// anna goes Ready it is dialled first: answered, anna connected and talking, the
// record (closed callback_requested at the request) continued and closed answered,
// the row done; then the later caller is offered. Without the restore the callback
// is never dialled (its row stays pending, the record callback_requested).
func TestRestartDialsPendingCallbackAtItsPlace(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	const number, later = "5550000", "100" // 5550000 answers at once
	first, second := callbackPendingAtTheKill(t, emu, db, run1, number, later)
	kept, err := db.Callback(ctx, first)
	if err != nil {
		t.Fatal(err)
	}

	run2 := startRunCfg(t, srvURL, qc, cc, db)
	s := waitCallsQueued(t, run2, first, second)
	cb, wt := callIn(s, first), callIn(s, second)
	if !cb.Callback || cb.Number != number || cb.Position != 1 || cb.Priority != 6 || !cb.Arrived.Equal(kept.Arrived) ||
		wt.Callback || wt.Position != 2 || !cb.Arrived.Before(wt.Arrived) {
		t.Fatalf("queue after the restart: callback %+v, later caller %+v (kept row %+v)", cb, wt, kept)
	}
	if err := run2.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	offered := run2.desk.wait(t, "anna", "call.offered", nil) // the first offer she gets
	if offered["call_id"] != first || offered["direction"] != "callback" {
		t.Fatalf("first offer after the restart %v, want the callback %s", offered, first)
	}
	conn := run2.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == first })
	if conn["restored"] == true {
		t.Fatalf("the callback was dialled, not taken over: %v", conn)
	}
	waitUntil(t, 10*time.Second, "the callback bridged with anna", func() bool {
		bridge, _ := conn["bridge_id"].(string)
		return len(bridgeMembers(emu, bridge)) == 2 && contains(bridgeMembers(emu, bridge), first+"-cb-1")
	})
	if got := run2.desk.countFor("anna", "call.offered", second); got != 0 {
		t.Fatalf("the later caller was offered %d times before the callback ended", got)
	}
	time.Sleep(200 * time.Millisecond) // talk
	if err := run2.orch.Hangup(ctx, "anna", first); err != nil {
		t.Fatal(err)
	}
	run2.desk.wait(t, "anna", "call.ended", func(e map[string]any) bool { return e["call_id"] == first })
	if err := run2.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: first, Disposition: "called back"}); err != nil {
		t.Fatal(err)
	}
	ix := closedRecord(t, db, first)
	if ix.Outcome != "answered" || ix.Answered.IsZero() || ix.Disposition != "called back" || ix.Queue != "sales" {
		t.Fatalf("record of the restored callback %+v", ix)
	}
	if talks := segmentsOf(ix, store.SegTalking); len(talks) != 1 || talks[0].Agent != "anna" {
		t.Fatalf("talking segments %+v", ix.Segments)
	}
	row, err := db.Callback(ctx, first)
	if err != nil || row.Status != store.CallbackDone || row.Attempts != 1 || row.Agent != "anna" || row.Node != kept.Node ||
		!row.Requested.Equal(kept.Requested) || row.Completed.IsZero() {
		t.Fatalf("callback row after the restored dial %+v %v", row, err)
	}
	oneRecordFor(t, db, number)

	// then the later caller, whose place was behind the callback
	run2.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == second })
	if err := emu.Hangup(second, 16); err != nil {
		t.Fatal(err)
	}
	closedRecord(t, db, second)
	oneRecordFor(t, db, later)
	noChannelsLeft(t, emu)
}

// A pending callback row is taken back only by its own node: node-b restarting after
// node-a's kill leaves node-a's kept callback alone (pending, named node-a, not in
// node-b's queue) while it takes back its own pending row, and closes failed (record
// callback_failed with the restore's cause) its own rows the engine cannot take back:
// one whose dials are used up, one whose queue is gone.
func TestRestartLeavesOtherNodesPendingCallbackAlone(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	cc.Node = "node-a"
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	first, second := callbackPendingAtTheKill(t, emu, db, run1, "5550000", "100")

	// node-b's own rows, as its killed run left them
	past := time.Now().Add(-10 * time.Minute)
	for _, r := range []store.Callback{
		{ID: "b-kept", Queue: "sales", Number: "5550000", Status: store.CallbackPending, Requested: past, Arrived: past.Add(-time.Minute), Priority: 6},
		{ID: "b-used-up", Queue: "sales", Number: "5550001", Status: store.CallbackPending, Requested: past, Attempts: 3, Completed: past},
		{ID: "b-no-queue", Queue: "gone", Number: "5550002", Status: store.CallbackPending, Requested: past},
	} {
		r.InteractionID, r.Node = r.ID, "node-b"
		if err := db.SaveDurable(ctx, store.Interaction{ID: r.ID, Direction: store.Inbound, Queue: r.Queue, CallerNumber: r.Number, Created: past}); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveDurable(ctx, store.InteractionClose{ID: r.ID, Ended: past, Outcome: "callback_requested", Cause: "callback requested"}); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveDurable(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	cc.Node = "node-b"
	run2 := startRunCfg(t, srvURL, qc, cc, db)
	s := waitCallsQueued(t, run2, "b-kept", second) // the later caller's channel is in this PBX: taken over
	if c := callIn(s, "b-kept"); !c.Callback || c.Position != 1 {
		t.Fatalf("node-b's own callback %+v", c)
	}
	for _, id := range []string{"b-used-up", "b-no-queue"} {
		var row store.Callback
		waitUntil(t, 10*time.Second, "node-b's row closed failed", func() bool {
			var err error
			row, err = db.Callback(ctx, id)
			return err == nil && row.Status == store.CallbackFailed
		})
		ix := closedRecord(t, db, id)
		if ix.Outcome != "callback_failed" || !strings.Contains(ix.Cause, "could not be restored") || row.Completed.IsZero() {
			t.Fatalf("record %+v row %+v", ix, row)
		}
	}
	row, err := db.Callback(ctx, first)
	if err != nil || row.Status != store.CallbackPending || row.Node != "node-a" {
		t.Fatalf("node-a's row after node-b's start %+v %v", row, err)
	}
	if c := callIn(s, first); c.ID != "" {
		t.Fatalf("node-a's callback in node-b's queue: %+v", c)
	}
	if err := emu.Hangup(second, 16); err != nil {
		t.Fatal(err)
	}
	closedRecord(t, db, second)
	noChannelsLeft(t, emu)
}

// A callback whose dial was not answered before the kill is kept parked for a retry
// (row pending with its attempts and when that dial ended): after the restart the
// one whose retry delay (5 min) has passed is dialled as its next attempt
// ("-cb-2", answered, row done with 2 attempts), the one whose delay has not is
// parked until then (not dialled for the Ready agent).
func TestRestartRedialsParkedCallbackAfterItsRetryDelay(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	cc.Node = "node-a"
	now := time.Now()
	for _, r := range []store.Callback{
		{ID: "due", Number: "5550000", Completed: now.Add(-6 * time.Minute), Arrived: now.Add(-20 * time.Minute)},
		{ID: "not-due", Number: "5550001", Completed: now.Add(-10 * time.Second), Arrived: now.Add(-30 * time.Minute)},
	} {
		r.Queue, r.Status, r.Requested, r.Due, r.Attempts, r.InteractionID, r.Node = "sales", store.CallbackPending,
			r.Arrived.Add(time.Minute), r.Completed.Add(-30*time.Second), 1, r.ID, "node-a"
		if err := db.SaveDurable(ctx, store.Interaction{ID: r.ID, Direction: store.Inbound, Queue: "sales", CallerNumber: r.Number, Created: r.Arrived}); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveDurable(ctx, store.InteractionClose{ID: r.ID, Ended: r.Requested, Outcome: "callback_requested", Cause: "callback requested"}); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveDurable(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	run := startRunCfg(t, srvURL, qc, cc, db)
	var s queue.Snapshot
	waitUntil(t, 10*time.Second, "both callbacks back", func() bool {
		var err error
		s, err = run.orch.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(s.Calls) == 2
	})
	if due, nd := callIn(s, "due"), callIn(s, "not-due"); due.State != queue.CallWaiting || nd.State != queue.CallParked || !due.Callback || !nd.Callback {
		t.Fatalf("restored callbacks: due %+v, not due %+v", due, nd)
	}
	if err := run.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	run.desk.wait(t, "anna", "call.connected", func(e map[string]any) bool { return e["call_id"] == "due" })
	if _, ok := emu.Channel("due-cb-2"); !ok {
		t.Fatalf("the redial is not attempt 2: channels %v", emu.ChannelIDs())
	}
	if err := run.orch.Hangup(ctx, "anna", "due"); err != nil {
		t.Fatal(err)
	}
	if err := run.orch.WrapUpDone(ctx, "anna", cti.WrapUpResult{CallID: "due"}); err != nil {
		t.Fatal(err)
	}
	if ix := closedRecord(t, db, "due"); ix.Outcome != "answered" {
		t.Fatalf("record of the redialled callback %+v", ix)
	}
	row, err := db.Callback(ctx, "due")
	if err != nil || row.Status != store.CallbackDone || row.Attempts != 2 {
		t.Fatalf("row of the redialled callback %+v %v", row, err)
	}
	if n := run.desk.countFor("anna", "call.offered", "not-due"); n != 0 {
		t.Fatalf("the callback not yet due was offered %d times", n)
	}
	if row, err := db.Callback(ctx, "not-due"); err != nil || row.Status != store.CallbackPending || row.Attempts != 1 {
		t.Fatalf("row of the parked callback %+v %v", row, err)
	}
	noChannelsLeft(t, emu)
}
