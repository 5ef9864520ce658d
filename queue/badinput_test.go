package queue

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestBadInputIsTypedAndLeavesStateUnchanged(t *testing.T) {
	newE := func(t *testing.T) *Engine {
		e := mustEngine(t, Config{Agents: agentsN(2, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1", "a2"), OfferTimeout: 10 * time.Second}}})
		loginReady(t, e, at(0), "a1")
		must(t)(e.AgentLogin(at(0), "a2"))
		must(t)(e.CallArrived(at(1), Call{ID: "c1", Queue: "q"})) // offered to a1
		must(t)(e.CallArrived(at(2), Call{ID: "c2", Queue: "q"})) // waiting
		return e
	}
	cases := []struct {
		name string
		do   func(e *Engine) ([]Decision, error)
		want error
	}{
		{"unknown queue", func(e *Engine) ([]Decision, error) { return e.CallArrived(at(3), Call{ID: "x", Queue: "nope"}) }, ErrUnknownQueue},
		{"unknown agent", func(e *Engine) ([]Decision, error) { return e.AgentReady(at(3), "zz") }, ErrUnknownAgent},
		{"duplicate login", func(e *Engine) ([]Decision, error) { return e.AgentLogin(at(3), "a1") }, ErrAlreadyLoggedIn},
		{"duplicate call", func(e *Engine) ([]Decision, error) { return e.CallArrived(at(3), Call{ID: "c1", Queue: "q"}) }, ErrDuplicateCall},
		{"accept call offered to another", func(e *Engine) ([]Decision, error) { return e.OfferAccepted(at(3), "c1", "a2") }, ErrNotOffered},
		{"accept waiting call", func(e *Engine) ([]Decision, error) { return e.OfferAccepted(at(3), "c2", "a1") }, ErrNotOffered},
		{"accept unknown call", func(e *Engine) ([]Decision, error) { return e.OfferAccepted(at(3), "c9", "a1") }, ErrUnknownCall},
		{"negative priority", func(e *Engine) ([]Decision, error) {
			return e.CallArrived(at(3), Call{ID: "x", Queue: "q", Priority: -1})
		}, ErrBadPriority},
		{"huge priority", func(e *Engine) ([]Decision, error) {
			return e.CallArrived(at(3), Call{ID: "x", Queue: "q", Priority: 1 << 40})
		}, ErrBadPriority},
		{"bad skill expression", func(e *Engine) ([]Decision, error) {
			return e.CallArrived(at(3), Call{ID: "x", Queue: "q", Skills: "lang:pl >= & x"})
		}, ErrBadSkillExpr},
		{"end unknown call", func(e *Engine) ([]Decision, error) { return e.CallEnded(at(3), "c9") }, ErrUnknownCall},
		{"hold a waiting call", func(e *Engine) ([]Decision, error) { return e.CallHeld(at(3), "c2") }, ErrCallState},
		{"wrap-up done while ringing", func(e *Engine) ([]Decision, error) { return e.WrapUpDone(at(3), "a1") }, ErrInvalidTransition},
		{"bad queue upsert", func(e *Engine) ([]Decision, error) {
			return e.UpsertQueue(at(3), QueueConfig{ID: "q", Skills: "(a", Members: members("a1")})
		}, ErrBadSkillExpr},
		{"upsert queue with unknown member", func(e *Engine) ([]Decision, error) {
			return e.UpsertQueue(at(3), QueueConfig{ID: "q", Members: members("ghost")})
		}, ErrUnknownAgent},
		{"remove logged-in agent", func(e *Engine) ([]Decision, error) { return e.RemoveAgent(at(3), "a2") }, ErrInvalidTransition},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newE(t)
			before := e.Snapshot(at(3))
			_, err := c.do(e)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			after := e.Snapshot(at(3))
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	e := newE(t)
	e.Tick(at(11)) // ring-no-answer
	_, err := e.OfferAccepted(at(12), "c1", "a1")
	mustErr(t, ErrOfferTimedOut, nil, err)
	eq(t, "a1 missed", state(t, e, "a1"), NotReady)

	var pe *ParseError
	e = newE(t)
	_, err = e.CallArrived(at(3), Call{ID: "x", Queue: "q", Skills: "lang:pl >= & x"})
	if !errors.As(err, &pe) || pe.Pos != 11 {
		t.Fatalf("want ParseError at 11, got %v", err)
	}
}

func TestBlendingHooks(t *testing.T) {
	ags := []AgentConfig{
		{ID: "a1", Campaigns: []string{"sales"}},
		{ID: "a2", Campaigns: []string{"sales"}},
		{ID: "a3", Campaigns: []string{"sales"}},
		{ID: "a4"},
	}
	e := mustEngine(t, Config{DefaultAHT: 200 * time.Second, Agents: ags, Queues: []QueueConfig{{ID: "q", Members: members("a1", "a2", "a3", "a4"), WrapUp: 30 * time.Second}}})
	loginReady(t, e, at(0), "a1", "a2", "a3", "a4")
	eq(t, "free", e.AgentsFree("sales"), []AgentID{"a1", "a2", "a3"})
	// inbound goes first: a1 takes a queue call
	ds := must(t)(e.CallArrived(at(1), Call{ID: "in1", Queue: "q"}))
	eq(t, "inbound", offers(ds), []string{"in1>a1"})
	must(t)(e.OfferAccepted(at(2), "in1", "a1"))
	// dialer reserves a2 for an outbound call and connects it
	must(t)(e.DialerReserve(at(3), "out1", "a2"))
	eq(t, "a2 reserved", state(t, e, "a2"), Reserved)
	must(t)(e.OfferAccepted(at(5), "out1", "a2"))
	// a3 reserved then the attempt fails: ready again
	must(t)(e.DialerReserve(at(6), "out2", "a3"))
	must(t)(e.DialerRelease(at(7), "out2"))
	eq(t, "a3 ready", state(t, e, "a3"), Ready)
	_, err := e.DialerReserve(at(8), "out3", "a1")
	mustErr(t, ErrInvalidTransition, nil, err)
	eq(t, "free now", len(e.AgentsFree("sales")), 1)
	// at 100 s: a1 talked 98 s, a2 95 s (AHT 200 s): within 60 s nobody else, within 110 s both
	eq(t, "likely 60s", e.AgentsLikelyFree(at(100), "sales", 60*time.Second), 1)
	eq(t, "likely 110s", e.AgentsLikelyFree(at(100), "sales", 110*time.Second), 3)
	// a1 ends: wrap-up 30 s counts as free within 30 s
	must(t)(e.CallEnded(at(100), "in1"))
	eq(t, "wrap within 29s", e.AgentsLikelyFree(at(100), "sales", 29*time.Second), 1)
	eq(t, "wrap within 30s", e.AgentsLikelyFree(at(100), "sales", 30*time.Second), 2)
	eq(t, "any campaign", len(e.AgentsFree("")), 2)
}

func TestQueueStatsFromRawFacts(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(1, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1"), WrapUp: 10 * time.Second}}})
	must(t)(e.AgentLogin(at(0), "a1"))
	must(t)(e.CallArrived(at(0), Call{ID: "c1", Queue: "q"}))
	must(t)(e.CallArrived(at(0), Call{ID: "c2", Queue: "q"}))
	must(t)(e.CallArrived(at(0), Call{ID: "c3", Queue: "q"}))
	must(t)(e.CallAbandoned(at(3), "c3"))        // short abandon
	must(t)(e.AgentReady(at(10), "a1"))          // offered c1
	must(t)(e.OfferAccepted(at(12), "c1", "a1")) // answered in 12 s
	must(t)(e.CallEnded(at(72), "c1"))           // talk 60 s
	e.Tick(at(82))                               // wrap 10 s; ready → c2 offered
	must(t)(e.OfferAccepted(at(85), "c2", "a1")) // answered in 85 s
	s, err := e.QueueStats(at(100), "q")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "counts", s.Counts, SLCounts{Answered: 2, AnsweredWithin: 1, Abandoned: 1, AbandonedWithin: 1, ShortAbandoned: 1})
	eq(t, "ASA", s.ASA, 48500*time.Millisecond)
	eq(t, "AHT", s.AHT, 70*time.Second)
	eq(t, "rolling AHT", s.RollingAHT, 70*time.Second)
	eq(t, "SL answered only", s.ServiceLevel[SLAnsweredOnly], 0.5)
	eq(t, "talking", s.AgentsByState[Talking], 1)
	eq(t, "entered", s.Entered, 3)
	// busy: reserved 10..12, talk 12..72, wrap 72..82, reserved 82..85, talk 85..100 = 90 s; ready 0 s
	eq(t, "occupancy", s.Occupancy, 1.0)
	_, err = e.QueueStats(at(100), "nope")
	mustErr(t, ErrUnknownQueue, nil, err)
}

func TestUpsertQueueKeepsWaitingCalls(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(2, SkillLevels{"lang:pl": 5}), Queues: []QueueConfig{{ID: "q", Members: members("a1")}}})
	must(t)(e.CallArrived(at(0), Call{ID: "c1", Queue: "q"}))
	must(t)(e.CallArrived(at(1), Call{ID: "c2", Queue: "q", Skills: "lang:pl"}))
	loginReady(t, e, at(2), "a2") // not a member yet
	ds := must(t)(e.UpsertQueue(at(3), QueueConfig{ID: "q", Strategy: Linear, Members: members("a1", "a2")}))
	eq(t, "new member takes the head", offers(ds), []string{"c1>a2"})
	ds = loginReady(t, e, at(4), "a1")
	eq(t, "second", offers(ds), []string{"c2>a1"})
	s := e.Snapshot(at(5))
	eq(t, "calls", len(s.Calls), 2)
	// a waiting call survives an upsert and is counted
	must(t)(e.CallArrived(at(6), Call{ID: "c3", Queue: "q"}))
	must(t)(e.UpsertQueue(at(7), QueueConfig{ID: "q", Members: members("a1", "a2"), WrapUp: time.Second}))
	eq(t, "waiting after upsert", e.queues["q"].waiting, 1)
	must(t)(e.OfferAccepted(at(8), "c1", "a2"))
	must(t)(e.CallEnded(at(9), "c1")) // new queue's wrap-up applies; then a2 takes c3
	e.Tick(at(10))
	eq(t, "c3 offered", e.calls["c3"].state, CallOffered)
	eq(t, "waiting", e.queues["q"].waiting, 0)
	must(t)(e.UpsertAgent(at(5), AgentConfig{ID: "a3"}))
	eq(t, "agents", len(e.Snapshot(at(5)).Agents), 3)
	must(t)(e.RemoveAgent(at(5), "a3"))
	eq(t, "agents", len(e.Snapshot(at(5)).Agents), 2)
}

// TestRingAllRacingAccepts: 1,000 ring-all calls each ringing 10 agents; 10,000
// accepts race through the engine loop from many goroutines. Exactly one wins per call.
func TestRingAllRacingAccepts(t *testing.T) {
	const calls, per = 1000, 10
	var ags []AgentConfig
	var qs []QueueConfig
	for i := 0; i < calls; i++ {
		q := QueueConfig{ID: QueueID(fmt.Sprintf("q%d", i)), Strategy: RingAll}
		for j := 0; j < per; j++ {
			id := AgentID(fmt.Sprintf("a%d-%d", i, j))
			ags = append(ags, AgentConfig{ID: id})
			q.Members = append(q.Members, Member{Agent: id})
		}
		qs = append(qs, q)
	}
	e := mustEngine(t, Config{Agents: ags, Queues: qs})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := NewLoop(e)
	var runWG sync.WaitGroup
	runWG.Add(1)
	go func() { defer runWG.Done(); _ = l.Run(ctx) }()
	defer runWG.Wait()
	defer cancel()

	type acc struct {
		call  CallID
		agent AgentID
	}
	var work []acc
	for i := 0; i < calls; i++ {
		for j := 0; j < per; j++ {
			id := AgentID(fmt.Sprintf("a%d-%d", i, j))
			if _, err := l.AgentLogin(ctx, at(0), id); err != nil {
				t.Fatal(err)
			}
			if _, err := l.AgentReady(ctx, at(0), id); err != nil {
				t.Fatal(err)
			}
		}
		ds, err := l.CallArrived(ctx, at(1), Call{ID: CallID(fmt.Sprintf("c%d", i)), Queue: QueueID(fmt.Sprintf("q%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(offers(ds)); n != per {
			t.Fatalf("call %d rang %d agents", i, n)
		}
		for _, d := range ofKind(ds, DecOfferCall) {
			work = append(work, acc{d.Call, d.Agent})
		}
	}
	// interleave: accept k of every call, then k+1...
	order := make([]acc, 0, len(work))
	for j := 0; j < per; j++ {
		for i := 0; i < calls; i++ {
			order = append(order, work[i*per+(j*7+i)%per])
		}
	}
	const workers = 500
	var mu sync.Mutex
	wins := map[CallID][]AgentID{}
	losses := 0
	var wg sync.WaitGroup
	ch := make(chan acc)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range ch {
				_, err := l.OfferAccepted(ctx, at(2), a.call, a.agent)
				mu.Lock()
				switch {
				case err == nil:
					wins[a.call] = append(wins[a.call], a.agent)
				case errors.Is(err, ErrOfferWithdrawn):
					losses++
				default:
					t.Errorf("accept %v: %v", a, err)
				}
				mu.Unlock()
			}
		}()
	}
	for _, a := range order {
		ch <- a
	}
	close(ch)
	wg.Wait()
	eq(t, "calls with a winner", len(wins), calls)
	for c, w := range wins {
		if len(w) != 1 {
			t.Fatalf("call %s has %d winners", c, len(w))
		}
	}
	eq(t, "losers", losses, calls*(per-1))
	snap, err := l.Snapshot(ctx, at(3))
	if err != nil {
		t.Fatal(err)
	}
	talking := 0
	for _, a := range snap.Agents {
		if a.State == Talking {
			talking++
		}
	}
	eq(t, "talking agents", talking, calls)
	cancel()
	runWG.Wait()
	_, err = l.AgentReady(context.Background(), at(4), "a0-0")
	mustErr(t, ErrLoopStopped, nil, err)
}

func TestLoopCommandsAndStop(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(1, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1"), OfferTimeout: 5 * time.Second}}})
	l := NewLoop(e)
	// a command whose context is already cancelled never reaches the engine
	dead, cancelDead := context.WithCancel(context.Background())
	cancelDead()
	_, err := l.AgentLogin(dead, at(0), "a1")
	mustErr(t, ErrLoopStopped, nil, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	if _, err := l.AgentLogin(ctx, at(0), "a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AgentReady(ctx, at(0), "a1"); err != nil {
		t.Fatal(err)
	}
	ds, err := l.CallArrived(ctx, at(1), Call{ID: "c", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "offer", offers(ds), []string{"c>a1"})
	ds, err = l.Tick(ctx, at(6))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "timeout withdraw", len(ofKind(ds, DecWithdrawOffer)), 1)
	_, err = l.OfferAccepted(ctx, at(7), "c", "a1")
	mustErr(t, ErrOfferTimedOut, nil, err)
	st, err := l.QueueStats(ctx, at(7), "q")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "waiting", st.Waiting, 1)
	_, err = l.QueueStats(ctx, at(7), "nope")
	mustErr(t, ErrUnknownQueue, nil, err)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	_, err = l.Tick(context.Background(), at(8))
	mustErr(t, ErrLoopStopped, nil, err)
}

// "Inbound before the dialer unless the queue says otherwise": a queue says
// otherwise by putting its campaign agents on a higher tier than its TierLimit. Its
// calls then wait for the inbound agents and leave the campaign agents to the
// dialer, until a relax step widens the tier after a configured wait.
func TestQueueCanLeaveCampaignAgentsToTheDialer(t *testing.T) {
	ags := []AgentConfig{{ID: "in1"}, {ID: "out1", Campaigns: []string{"sales"}}}
	q := QueueConfig{ID: "q", Members: []Member{{Agent: "in1", Tier: 1}, {Agent: "out1", Tier: 2}}, TierLimit: 1,
		Relax: []RelaxStep{{After: 60 * time.Second, TierLimit: 2}}}
	e := mustEngine(t, Config{Agents: ags, Queues: []QueueConfig{q}})
	loginReady(t, e, at(0), "in1", "out1")
	ds := must(t)(e.CallArrived(at(1), Call{ID: "c1", Queue: "q"}))
	eq(t, "first call to the inbound agent", offers(ds), []string{"c1>in1"})
	must(t)(e.OfferAccepted(at(2), "c1", "in1"))
	ds = must(t)(e.CallArrived(at(3), Call{ID: "c2", Queue: "q"}))
	eq(t, "second call waits: the campaign agent stays with the dialer", offers(ds), []string(nil))
	eq(t, "dialer still has out1", e.AgentsFree("sales"), []AgentID{"out1"})
	eq(t, "before the relax step", offers(e.Tick(at(62))), []string(nil))
	eq(t, "after 60 s of waiting the queue takes the campaign agent", offers(e.Tick(at(63))), []string{"c2>out1"})
}
