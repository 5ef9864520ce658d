package queue

import (
	"testing"
	"time"
)

func restoreConfig() Config {
	return Config{OfferTimeout: 10 * time.Second, Agents: []AgentConfig{{ID: "ann"}, {ID: "bob"}},
		Queues: []QueueConfig{{ID: "sales", WrapUp: 30 * time.Second,
			Members: []Member{{Agent: "ann", Tier: 1}, {Agent: "bob", Tier: 1}}}}}
}

// A call connected before a restart is restored onto its (logged-out) agent, who is
// Talking with it; when it ends the agent wraps up as after any call.
func TestRestoreConnectedThenEnds(t *testing.T) {
	e := mustEngine(t, restoreConfig())
	ds := must(t)(e.RestoreConnected(at(100), Call{ID: "c1", Queue: "sales", Arrived: at(10)}, "ann", at(40)))
	if st := ofKind(ds, DecAgentState); len(st) != 2 || st[1].State != Talking {
		t.Fatalf("decisions %+v", ds)
	}
	s := e.Snapshot(at(100))
	if len(s.Calls) != 1 || s.Calls[0].State != CallConnected || !s.Calls[0].Arrived.Equal(at(10)) {
		t.Fatalf("calls %+v", s.Calls)
	}
	if s.Agents[0].State != Talking || s.Agents[0].Call != "c1" {
		t.Fatalf("agent %+v", s.Agents[0])
	}
	// Another call does not go to the restored agent.
	must(t)(e.AgentLogin(at(101), "bob"))
	must(t)(e.AgentReady(at(101), "bob"))
	if got := offers(must(t)(e.CallArrived(at(102), Call{ID: "c2", Queue: "sales"}))); len(got) != 1 || got[0] != "c2>bob" {
		t.Fatalf("offers %v", got)
	}
	ds = must(t)(e.CallEnded(at(160), "c1"))
	if w := ofKind(ds, DecWrapUpStarted); len(w) != 1 || w[0].Agent != "ann" {
		t.Fatalf("end %+v", ds)
	}
	if e.Snapshot(at(160)).Agents[0].TalkTime != 120*time.Second {
		t.Fatalf("talk time counted from the original answer: %v", e.Snapshot(at(160)).Agents[0].TalkTime)
	}
	// Restoring onto a busy agent or a known call is refused.
	ds, err := e.RestoreConnected(at(161), Call{ID: "c2", Queue: "sales"}, "ann", at(161))
	mustErr(t, ErrDuplicateCall, ds, err)
	ds, err = e.RestoreConnected(at(161), Call{ID: "c3", Queue: "sales"}, "bob", at(161))
	mustErr(t, ErrInvalidTransition, ds, err)
}

// A re-queued caller with their original arrival keeps their place ahead of callers
// who came later, whatever the order they are queued again in.
func TestRequeuedCallersKeepTheirPlace(t *testing.T) {
	e := mustEngine(t, restoreConfig())
	must(t)(e.CallArrived(at(100), Call{ID: "late", Queue: "sales", Arrived: at(50)}))
	must(t)(e.CallArrived(at(100), Call{ID: "early", Queue: "sales", Arrived: at(20)}))
	must(t)(e.CallArrived(at(100), Call{ID: "future", Queue: "sales", Arrived: at(500)})) // ignored: not before now
	pos := map[CallID]int{}
	arr := map[CallID]time.Time{}
	for _, c := range e.Snapshot(at(100)).Calls {
		pos[c.ID], arr[c.ID] = c.Position, c.Arrived
	}
	if pos["early"] != 1 || pos["late"] != 2 || pos["future"] != 3 || !arr["early"].Equal(at(20)) || !arr["future"].Equal(at(100)) {
		t.Fatalf("positions %v arrivals %v", pos, arr)
	}
	must(t)(e.AgentLogin(at(101), "ann"))
	if got := offers(must(t)(e.AgentReady(at(101), "ann"))); len(got) != 1 || got[0] != "early>ann" {
		t.Fatalf("first offer %v", got)
	}
}

// A call that was on hold when the process restarted is restored connected and then
// held: the agent is OnHold, unhold puts them back to Talking; a call that is not
// connected cannot be restored held.
func TestRestoreHeld(t *testing.T) {
	e := mustEngine(t, restoreConfig())
	must(t)(e.RestoreConnected(at(100), Call{ID: "c1", Queue: "sales", Arrived: at(10)}, "ann", at(40)))
	ds := must(t)(e.RestoreHeld(at(100), "c1", at(90)))
	if st := ofKind(ds, DecAgentState); len(st) != 1 || st[0].State != OnHold || st[0].Agent != "ann" {
		t.Fatalf("decisions %+v", ds)
	}
	must(t)(e.CallUnheld(at(120), "c1"))
	if a := e.Snapshot(at(120)).Agents[0]; a.State != Talking {
		t.Fatalf("ann after unhold %+v", a)
	}
	ds, err := e.RestoreHeld(at(121), "nope", at(100))
	mustErr(t, ErrUnknownCall, ds, err)
	must(t)(e.CallArrived(at(122), Call{ID: "waiting", Queue: "sales"}))
	ds, err = e.RestoreHeld(at(123), "waiting", at(100))
	mustErr(t, ErrCallState, ds, err)
}

// An agent's consultation routed through a queue (Call.Consult) is offered like a
// call but counted apart: Consults / ConsultsAnswered, never in Entered, Counts,
// ASA or AHT; an abandoned consultation is no abandoned call.
func TestConsultCallsCountApart(t *testing.T) {
	e := mustEngine(t, restoreConfig())
	must(t)(e.AgentLogin(at(0), "bob"))
	must(t)(e.AgentReady(at(0), "bob"))
	if got := offers(must(t)(e.CallArrived(at(10), Call{ID: "k1", Queue: "sales", Consult: true}))); len(got) != 1 || got[0] != "k1>bob" {
		t.Fatalf("offers %v", got)
	}
	must(t)(e.OfferAccepted(at(15), "k1", "bob"))
	must(t)(e.CallEnded(at(75), "k1"))
	must(t)(e.WrapUpDone(at(80), "bob"))
	must(t)(e.CallArrived(at(90), Call{ID: "k2", Queue: "sales", Consult: true}))
	must(t)(e.CallAbandoned(at(95), "k2"))
	s, err := e.QueueStats(at(100), "sales")
	if err != nil {
		t.Fatal(err)
	}
	if s.Consults != 2 || s.ConsultsAnswered != 1 {
		t.Fatalf("consults %d answered %d", s.Consults, s.ConsultsAnswered)
	}
	if s.Entered != 0 || s.Counts != (SLCounts{}) || s.ASA != 0 || s.AHT != 0 {
		t.Fatalf("consultations counted as calls: %+v", s)
	}
	// A real call still counts.
	must(t)(e.CallArrived(at(100), Call{ID: "c1", Queue: "sales"}))
	must(t)(e.OfferAccepted(at(104), "c1", "bob"))
	if s, _ := e.QueueStats(at(105), "sales"); s.Entered != 1 || s.Counts.Answered != 1 {
		t.Fatalf("the real call: %+v", s)
	}
}

// An outbound call connected before a restart is restored onto its agent with no
// queue; when it ends the agent wraps up.
func TestRestoreOutboundThenEnds(t *testing.T) {
	e := mustEngine(t, restoreConfig())
	ds := must(t)(e.RestoreOutbound(at(100), "o1", "ann", at(40)))
	if st := ofKind(ds, DecAgentState); len(st) != 2 || st[1].State != Talking {
		t.Fatalf("decisions %+v", ds)
	}
	s := e.Snapshot(at(100))
	if len(s.Calls) != 1 || s.Calls[0].State != CallConnected || s.Agents[0].State != Talking || s.Agents[0].Call != "o1" {
		t.Fatalf("snapshot %+v", s)
	}
	ds = must(t)(e.CallEnded(at(160), "o1"))
	if w := ofKind(ds, DecWrapUpStarted); len(w) != 1 || w[0].Agent != "ann" {
		t.Fatalf("end %+v", ds)
	}
	if got := e.Snapshot(at(160)).Agents[0].TalkTime; got != 120*time.Second {
		t.Fatalf("talk time counted from the original answer: %v", got)
	}
	if s := e.Snapshot(at(160)); len(s.Calls) != 0 || s.Agents[0].State == Talking || s.Agents[0].Call != "" {
		t.Fatalf("after the end %+v", s)
	}
	must(t)(e.RestoreOutbound(at(161), "o2", "ann", at(161))) // ready again: no wrap-up configured
	ds, err := e.RestoreOutbound(at(162), "o3", "ann", at(150))
	mustErr(t, ErrInvalidTransition, ds, err)
	must(t)(e.AgentLogin(at(162), "bob"))
	ds, err = e.RestoreOutbound(at(163), "o2", "bob", at(150))
	mustErr(t, ErrDuplicateCall, ds, err)
}

// A keep-your-place callback kept when the process restarted is put back at its
// place: dialled before callers who arrived after the original caller, after those
// who arrived before; parked until its retry time when its last dial failed less
// than the retry delay ago; dropped when its dials are used up.
func TestRestoreCallback(t *testing.T) {
	cases := []struct {
		name       string
		arrived    int // the caller's original arrival
		priority   int
		failed     int
		lastFailed int // when failed > 0
		// the first decision when ann goes ready at 100 with "later" (arrived 50) and,
		// but in two cases, "earlier" (arrived 5) waiting: "cb" dialled, or a call offered
		first   string
		dropped bool // at the restore
	}{
		{name: "before a later caller", arrived: 10, first: "cb"},
		{name: "after an earlier caller", arrived: 10, first: "earlier", priority: 4},
		{name: "higher priority ahead of the earlier caller", arrived: 10, priority: 6, first: "cb"},
		{name: "one failed dial long ago", arrived: 1, failed: 1, lastFailed: -300, first: "cb"},
		{name: "one failed dial, retry not yet due", arrived: 1, failed: 1, lastFailed: 90, first: "earlier"},
		{name: "dials used up", arrived: 1, failed: 3, lastFailed: 20, first: "earlier", dropped: true},
		{name: "arrival in the future is now", arrived: 500, first: "later"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, restoreConfig()) // retries 3, retry delay 5 min
			must(t)(e.CallArrived(at(90), Call{ID: "later", Queue: "sales", Arrived: at(50)}))
			if tc.name != "before a later caller" && tc.name != "arrival in the future is now" {
				must(t)(e.CallArrived(at(90), Call{ID: "earlier", Queue: "sales", Arrived: at(5)}))
			}
			var last time.Time
			if tc.failed > 0 {
				last = at(tc.lastFailed)
			}
			ds := must(t)(e.RestoreCallback(at(95), Call{ID: "cb", Queue: "sales", Arrived: at(tc.arrived), Priority: tc.priority},
				"+48600100200", tc.failed, last))
			if d := ofKind(ds, DecCallbackDropped); tc.dropped != (len(d) == 1) || len(ds) != len(d) {
				t.Fatalf("restore decisions %+v", ds)
			}
			if _, kept := e.calls["cb"]; kept == tc.dropped {
				t.Fatalf("kept %v", kept)
			}
			must(t)(e.AgentLogin(at(100), "ann"))
			ds = must(t)(e.AgentReady(at(100), "ann"))
			got := offers(ds)
			if cb := ofKind(ds, DecOriginateCallback); len(cb) == 1 {
				o, _ := cb[0].AsOriginateCallback()
				if o != (OriginateCallback{Call: "cb", Number: "+48600100200", Agent: "ann", Queue: "sales"}) {
					t.Fatalf("originate %+v", o)
				}
				got = append(got, "cb")
			}
			if len(got) != 1 || got[0] != tc.first && got[0] != tc.first+">ann" {
				t.Fatalf("first %v, want %s", got, tc.first)
			}
			if tc.first == "cb" {
				// not answered: parked and retried later, counted from the dials before
				ds = must(t)(e.CallbackFailed(at(110), "cb"))
				if drop := ofKind(ds, DecCallbackDropped); (tc.failed+1 >= 3) != (len(drop) == 1) {
					t.Fatalf("after a failed dial %+v", ds)
				}
			}
		})
	}
}

// The parked callback becomes due at its retry time (last failure + retry delay) and
// its remaining attempts are what the restore said; a bad restore is refused.
func TestRestoreCallbackParkedThenRetried(t *testing.T) {
	e := mustEngine(t, restoreConfig())
	must(t)(e.RestoreCallback(at(100), Call{ID: "cb", Queue: "sales", Arrived: at(10)}, "123", 2, at(60)))
	if st := e.calls["cb"].state; st != CallParked {
		t.Fatalf("state %s", st)
	}
	must(t)(e.AgentLogin(at(100), "ann"))
	if ds := must(t)(e.AgentReady(at(101), "ann")); len(ofKind(ds, DecOriginateCallback)) != 0 {
		t.Fatalf("dialled before its retry time: %+v", ds)
	}
	if next, ok := e.NextTimer(); !ok || !next.Equal(at(360)) {
		t.Fatalf("next timer %s %v, want %s", next, ok, at(360))
	}
	if ds := e.Tick(at(360)); len(ofKind(ds, DecOriginateCallback)) != 1 {
		t.Fatalf("retry at its time %+v", ds)
	}
	if ds := must(t)(e.CallbackFailed(at(370), "cb")); len(ofKind(ds, DecCallbackDropped)) != 1 {
		t.Fatalf("third failure drops it: %+v", ds)
	}

	ds, err := e.RestoreCallback(at(400), Call{ID: "x", Queue: "nope"}, "1", 0, time.Time{})
	mustErr(t, ErrUnknownQueue, ds, err)
	ds, err = e.RestoreCallback(at(400), Call{ID: "x", Queue: "sales"}, "", 0, time.Time{})
	mustErr(t, ErrCallState, ds, err)
	ds, err = e.RestoreCallback(at(400), Call{ID: "x", Queue: "sales"}, "1", -1, time.Time{})
	mustErr(t, ErrCallState, ds, err)
	ds, err = e.RestoreCallback(at(400), Call{ID: "x", Queue: "sales", Priority: 11}, "1", 0, time.Time{})
	mustErr(t, ErrBadPriority, ds, err)
	must(t)(e.CallArrived(at(400), Call{ID: "y", Queue: "sales"}))
	ds, err = e.RestoreCallback(at(400), Call{ID: "y", Queue: "sales"}, "1", 0, time.Time{})
	mustErr(t, ErrDuplicateCall, ds, err)
}
