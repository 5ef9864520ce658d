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

// callbackRingingAtTheKill: the caller queues, presses 1 and hangs up; anna goes
// ready and the callback to number is dialled; run1 is killed while it rings.
func callbackRingingAtTheKill(t *testing.T, emu *ariemu.Emulator, db *store.Store, run1 *ctidRun, number string) string {
	t.Helper()
	ctx := context.Background()
	caller, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: number, Dialled: "1", Args: []string{"inbound", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the caller queued with music", func() bool { ch, ok := emu.Channel(caller); return ok && ch.MOH })
	if err := emu.SendDTMF(caller, "1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the caller released after choosing a callback", func() bool { return !contains(emu.ChannelIDs(), caller) })
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	waitUntil(t, 10*time.Second, "the callback ringing and its row stored", func() bool {
		if _, ok := emu.Channel(caller + "-cb-1"); !ok {
			return false
		}
		cb, err := db.Callback(ctx, caller)
		return err == nil && cb.Status == store.CallbackInProgress && cb.Attempts == 1
	})
	run1.stop()
	return caller
}

// ctid dies while a keep-your-place callback rings at a number that never answers,
// its last allowed dial (callback retries 1); the PBX ends it at its originate
// timeout (30 s) while run 2 runs, which hears nothing of it. Run 2's start-up sweep
// finds its row still dialling: once past the originate timeout + 5 s, with the
// channel gone and the caller's record not answered, the record (closed
// callback_requested at the request) now says callback_failed with the sweep's
// cause, ended at the originate timeout, and the row is failed. (With dials left it
// is dialled again instead: TestRestartRedialsCallbackRingingAtTheKill.)
func TestRestartSweepsCallbackRingingAtTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	qc.CallbackRetries = 1
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	const number = "5550002" // rings until the originate timeout
	call := callbackRingingAtTheKill(t, emu, db, run1, number)
	dialled, err := db.Callback(ctx, call)
	if err != nil {
		t.Fatal(err)
	}

	startRunCfg(t, srvURL, qc, cc, db)
	var ix store.Interaction
	waitUntil(t, 50*time.Second, "the record closed by the sweep", func() bool {
		if err := db.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		ix, err = db.Interaction(ctx, call)
		return err == nil && ix.Outcome == "callback_failed"
	})
	if !strings.Contains(ix.Cause, "ctid was down") || !ix.Answered.IsZero() || !ix.Ended.Equal(dialled.Due.Add(30*time.Second)) {
		t.Fatalf("record of the callback ringing at the kill %+v (dialled %s)", ix, dialled.Due)
	}
	cb, err := db.Callback(ctx, call)
	if err != nil || cb.Status != store.CallbackFailed || !cb.Requested.Before(dialled.Due) || cb.InteractionID != call || cb.Number != number || cb.Queue != "sales" {
		t.Fatalf("callback row %+v %v", cb, err)
	}
	oneRecordFor(t, db, number)
	noChannelsLeft(t, emu)
}

// ctid dies while a keep-your-place callback rings at a number that never answers,
// its first of three allowed dials. Run 2's sweep finds it ended unanswered while
// ctid was down (as above) but, the node's own and with dials left, puts it back at
// its place instead of failing it (row pending, completed at the originate timeout;
// the record still callback_requested); anna, Ready on run 2, gets it dialled again
// ("-cb-2", row in_progress with 2 attempts) once the retry delay (1 s) after that
// failure has passed. That dial is not answered either (hung up here): parked for a
// retry, the row is pending again with 2 attempts, not failed.
func TestRestartRedialsCallbackRingingAtTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	qc.CallbackRetryDelay = time.Second
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	const number = "5550002" // rings until the originate timeout
	call := callbackRingingAtTheKill(t, emu, db, run1, number)
	dialled, err := db.Callback(ctx, call)
	if err != nil {
		t.Fatal(err)
	}

	run2 := startRunCfg(t, srvURL, qc, cc, db)
	if err := run2.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	again := call + "-cb-2"
	waitUntil(t, 50*time.Second, "the callback dialled again by run 2", func() bool { _, ok := emu.Channel(again); return ok })
	offered := run2.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == call })
	if offered["direction"] != "callback" {
		t.Fatalf("offer of the redial %v", offered)
	}
	var row store.Callback
	waitUntil(t, 10*time.Second, "the redial's row", func() bool {
		row, err = db.Callback(ctx, call)
		return err == nil && row.Status == store.CallbackInProgress && row.Attempts == 2
	})
	if !row.Due.After(dialled.Due.Add(30*time.Second)) || !row.Requested.Equal(dialled.Requested) || row.Node != dialled.Node {
		t.Fatalf("redial row %+v (first dial %+v)", row, dialled)
	}
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ix, err := db.Interaction(ctx, call); err != nil || ix.Outcome != "callback_requested" {
		t.Fatalf("record while the callback is dialled again %+v %v", ix, err)
	}
	if err := emu.Hangup(again, 19); err != nil { // no answer
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the redial's row parked for a retry", func() bool {
		row, err = db.Callback(ctx, call)
		return err == nil && row.Status == store.CallbackPending && row.Attempts == 2 && !row.Completed.IsZero()
	})
	s, err := run2.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Calls) != 1 || s.Calls[0].State != queue.CallParked || !s.Calls[0].Callback {
		t.Fatalf("engine after the unanswered redial %+v", s.Calls)
	}
	oneRecordFor(t, db, number)
	noChannelsLeft(t, emu)
}

// ctid dies while a keep-your-place callback rings; the customer answers 3 s after
// the dial, on run 2, which does not know the callback: the customer gets the
// fallback (hung up) and the caller's record, closed callback_requested at the
// request, now says callback_failed with the cause "ctid restarted".
func TestRestartClosesCallbackAnsweredAfterTheKill(t *testing.T) {
	emu, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	run1 := startRunCfg(t, srvURL, qc, cc, db)
	const number = "5550008" // answers 3 s after the dial
	call := callbackRingingAtTheKill(t, emu, db, run1, number)

	startRunCfg(t, srvURL, qc, cc, db)
	var ix store.Interaction
	waitUntil(t, 15*time.Second, "the record closed after the late answer", func() bool {
		if err := db.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var err error
		ix, err = db.Interaction(ctx, call)
		return err == nil && ix.Outcome == "callback_failed"
	})
	if ix.Cause != "ctid restarted" || !ix.Answered.IsZero() {
		t.Fatalf("record of the callback answered after the kill %+v", ix)
	}
	oneRecordFor(t, db, number)
	noChannelsLeft(t, emu)
}

// The sweep's choice for callbacks of an earlier run that ended unanswered while
// ctid was down (rows in_progress, dialled 2 min before this run, their channels
// gone): this node's with a dial left is put back for it — also when an earlier
// unanswered dial had closed its record callback_failed (parked here until its retry
// time: row pending, completed at the originate timeout, record untouched); this
// node's on its last dial, and another node's, are closed failed with the sweep's
// cause; one whose record a late answer's fallback closed ("ctid restarted") only has
// its row closed.
func TestRestartSweepRedialsOrClosesCallbacksOfEarlierRuns(t *testing.T) {
	_, srvURL, db := restartPBX(t)
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := cti.DefaultConfig()
	cc.CallbackEndpoint = "Local/{number}@callers"
	cc.Node = "node-a"
	dialled := time.Now().Add(-2 * time.Minute).Truncate(time.Millisecond)
	type cb struct {
		id, node, outcome, cause string
		attempts                 int
	}
	for _, c := range []cb{
		{"mine-redial", "node-a", "callback_failed", "callback not answered", 2},
		{"mine-last", "node-a", "callback_requested", "callback requested", 3},
		{"other-node", "node-b", "callback_requested", "callback requested", 1},
		{"late-answered", "node-a", "callback_failed", "ctid restarted", 1},
	} {
		created := dialled.Add(-10 * time.Minute)
		if err := db.SaveDurable(ctx, store.Interaction{ID: c.id, Direction: store.Inbound, Queue: "sales", CallerNumber: "5550002", Created: created}); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveDurable(ctx, store.InteractionClose{ID: c.id, Ended: created.Add(time.Minute), Outcome: c.outcome, Cause: c.cause}); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveDurable(ctx, store.Callback{ID: c.id, Queue: "sales", Number: "5550002", InteractionID: c.id, Status: store.CallbackInProgress,
			Requested: created, Due: dialled, Attempts: c.attempts, Agent: "anna", Node: c.node, Arrived: created}); err != nil {
			t.Fatal(err)
		}
	}

	run := startRunCfg(t, srvURL, qc, cc, db)
	rows := map[string]store.Callback{}
	waitUntil(t, 10*time.Second, "every row swept", func() bool {
		for _, id := range []string{"mine-redial", "mine-last", "other-node", "late-answered"} {
			r, err := db.Callback(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status == store.CallbackInProgress {
				return false
			}
			rows[id] = r
		}
		return true
	})
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ended := dialled.Add(30 * time.Second)
	if r := rows["mine-redial"]; r.Status != store.CallbackPending || r.Attempts != 2 || !r.Completed.Equal(ended) {
		t.Fatalf("this node's callback with a dial left %+v", r)
	}
	if ix, err := db.Interaction(ctx, "mine-redial"); err != nil || ix.Cause != "callback not answered" {
		t.Fatalf("its record %+v %v", ix, err)
	}
	s, err := run.orch.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Calls) != 1 || s.Calls[0].ID != "mine-redial" || s.Calls[0].State != queue.CallParked {
		t.Fatalf("engine after the sweep %+v", s.Calls)
	}
	for _, id := range []string{"mine-last", "other-node"} {
		ix, err := db.Interaction(ctx, id)
		if r := rows[id]; err != nil || r.Status != store.CallbackFailed || ix.Outcome != "callback_failed" ||
			!strings.Contains(ix.Cause, "ctid was down") || !ix.Ended.Equal(ended) {
			t.Fatalf("%s: row %+v record %+v %v", id, r, ix, err)
		}
	}
	ix, err := db.Interaction(ctx, "late-answered")
	if r := rows["late-answered"]; err != nil || r.Status != store.CallbackFailed || ix.Cause != "ctid restarted" {
		t.Fatalf("late-answered: row %+v record %+v %v", r, ix, err)
	}
}
