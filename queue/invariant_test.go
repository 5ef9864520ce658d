package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// checkInvariants verifies the engine's internal indexes against a recount.
func checkInvariants(t *testing.T, e *Engine, step int, op string) {
	t.Helper()
	fail := func(format string, a ...any) {
		t.Helper()
		t.Fatalf("step %d after %s: %s", step, op, fmt.Sprintf(format, a...))
	}
	for qid, q := range e.queues {
		n, li, av := 0, 0, 0
		for _, cl := range q.classes {
			n += cl.calls.len()
			if cl.calls.len() > 0 && cl.ready.len() > 0 {
				fail("queue %s class %s has waiting calls and ready agents", qid, cl.expr)
			}
			for i, c := range cl.calls.items {
				if c.hidx != i || c.cls != cl || c.state != CallWaiting || c.q != q {
					fail("call %s heap index/class/state wrong", c.id)
				}
				if i > 0 && callLess(c, cl.calls.items[(i-1)/2]) {
					fail("call heap order broken in %s", qid)
				}
			}
			for i, it := range cl.ready.items {
				if it.a.state != Ready || it.a.slots[it.slot].pos != i || it.a.slots[it.slot].cls != cl {
					fail("ready item %s broken", it.a.id)
				}
				if i > 0 && it.key.less(cl.ready.items[(i-1)/2].key) {
					fail("ready heap order broken")
				}
			}
		}
		if n != q.waiting {
			fail("queue %s waiting %d, heaps hold %d", qid, q.waiting, n)
		}
		for _, m := range q.members {
			if m.a.state.loggedIn() {
				li++
			}
			if m.a.state.available() {
				av++
			}
		}
		if li != q.loggedIn || av != q.available {
			fail("queue %s counters loggedIn %d/%d available %d/%d", qid, q.loggedIn, li, q.available, av)
		}
	}
	for id, a := range e.agents {
		want := 0
		if a.state == Ready {
			for _, m := range a.members {
				for _, c := range m.q.classes {
					if e.evalEligible(m, c) {
						want++
					}
				}
			}
		}
		if len(a.slots) != want {
			fail("agent %s (%s) in %d ready heaps, want %d", id, a.state, len(a.slots), want)
		}
		switch a.state {
		case Reserved:
			if a.call == nil || a.call.state != CallOffered || !containsAgent(a.call.ringing, a) {
				fail("reserved agent %s not ringing", id)
			}
		case Talking, OnHold:
			if a.call == nil || a.call.agent != a || a.call.state != CallConnected {
				fail("talking agent %s without its call", id)
			}
		default:
			if a.call != nil {
				fail("agent %s in %s holds call %s", id, a.state, a.call.id)
			}
		}
	}
	for id, c := range e.calls {
		if c.id != id {
			fail("call map key %s != %s", id, c.id)
		}
		switch c.state {
		case CallWaiting:
			if c.hidx < 0 {
				fail("waiting call %s not in a heap", id)
			}
		case CallOffered:
			if len(c.ringing) == 0 {
				fail("offered call %s rings nobody", id)
			}
			for _, a := range c.ringing {
				if a.call != c || a.state != Reserved {
					fail("call %s rings %s which is %s", id, a.id, a.state)
				}
			}
		case CallConnected:
			if c.agent == nil || c.agent.call != c {
				fail("connected call %s agent mismatch", id)
			}
		}
	}
	for i := range e.timers.items {
		it := &e.timers.items[i]
		if *e.timers.idx(it) != i {
			fail("timer %d index mismatch", i)
		}
		if i > 0 && it.at < e.timers.items[(i-1)/2].at {
			fail("timer heap order broken")
		}
	}
}

func containsAgent(as []*agent, a *agent) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// TestRandomOperationsKeepInvariants drives the engine with a seeded random mix of
// every command (valid and invalid) and checks all indexes after each step.
func TestRandomOperationsKeepInvariants(t *testing.T) {
	strategies := []Strategy{LongestIdle, RoundRobin, FewestCalls, LeastTalkTime, Linear, Random, RingAll, SkillsBest}
	skillSets := []SkillLevels{{"lang:pl": 5, "prod:tv": 2}, {"lang:en": 4}, {"lang:pl": 2, "lang:en": 7, "prod:net": 3}, {"prod:tv": 9}}
	var ags []AgentConfig
	for i := 0; i < 12; i++ {
		ags = append(ags, AgentConfig{ID: AgentID(fmt.Sprintf("a%d", i)), Skills: skillSets[i%4], Campaigns: []string{"c"}})
	}
	mkQueue := func(i int, s Strategy) QueueConfig {
		q := QueueConfig{ID: QueueID(fmt.Sprintf("q%d", i)), Strategy: s, WrapUp: time.Duration(i%3) * 5 * time.Second,
			OfferTimeout: 10 * time.Second, AgeEvery: time.Duration(i%2) * 20 * time.Second,
			Relax:     []RelaxStep{{After: 15 * time.Second, DropSkills: []string{"prod"}}, {After: 40 * time.Second, TierLimit: 2}},
			TierLimit: 1, MaxWait: 90 * time.Second, MaxWaitTarget: Target{TargetQueue, fmt.Sprintf("q%d", (i+1)%4)},
			Announce: AnnounceConfig{Every: 20 * time.Second}, LeaveEmpty: EmptyRule(i % 3), MaxLength: 6, FullTarget: Target{TargetQueue, "q0"}}
		if i == 0 {
			q.FullTarget = Target{Kind: TargetVoicemail}
		}
		for j := 0; j < 12; j++ {
			if (j+i)%3 != 0 {
				q.Members = append(q.Members, Member{Agent: AgentID(fmt.Sprintf("a%d", j)), Tier: 1 + j%2})
			}
		}
		return q
	}
	var qs []QueueConfig
	for i := 0; i < 4; i++ {
		qs = append(qs, mkQueue(i, strategies[i]))
	}
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			e := mustEngine(t, Config{Agents: ags, Queues: qs, Seed: seed})
			rng := rand.New(rand.NewPCG(seed, 99))
			now := t0
			callN := 0
			okOps := map[string]int{}
			defer func() { t.Logf("commands without error (incl. no-op draws): %v; live calls %d", okOps, len(e.calls)) }()
			exprs := []string{"", "lang:pl", "lang:en>=3 & prod:net", "!prod:tv", "lang:pl | lang:en"}
			randAgent := func() AgentID { return AgentID(fmt.Sprintf("a%d", rng.IntN(13))) } // a12 is unknown
			randCall := func() CallID {
				if callN == 0 || rng.IntN(10) == 0 {
					return "nope"
				}
				return CallID(fmt.Sprintf("c%d", rng.IntN(callN)))
			}
			for step := 0; step < 5000; step++ {
				now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
				var op string
				var err error
				switch r := rng.IntN(26); r {
				case 0:
					op = "login"
					_, err = e.AgentLogin(now, randAgent())
				case 1, 2, 20, 21, 22:
					op = "ready"
					_, err = e.AgentReady(now, randAgent())
				case 3:
					op = "notready"
					if rng.IntN(2) == 0 {
						_, err = e.AgentNotReady(now, randAgent(), "x")
					}
				case 4:
					op = "logout"
					if rng.IntN(3) == 0 {
						_, err = e.AgentLogout(now, randAgent())
					}
				case 5, 6, 23:
					op = "arrive"
					_, err = e.CallArrived(now, Call{ID: CallID(fmt.Sprintf("c%d", callN)), Queue: QueueID(fmt.Sprintf("q%d", rng.IntN(5))),
						Priority: rng.IntN(12), Skills: exprs[rng.IntN(len(exprs))]})
					callN++
				case 7:
					op = "abandon"
					_, err = e.CallAbandoned(now, randCall())
				case 8, 9, 24, 25:
					op = "accept"
					_, err = e.OfferAccepted(now, randCall(), randAgent())
					// also accept a real offer
					for _, a := range e.agents {
						if a.state == Reserved && rng.IntN(2) == 0 {
							_, err = e.OfferAccepted(now, a.call.id, a.id)
							break
						}
					}
				case 10:
					op = "reject"
					for _, a := range e.agents {
						if a.state == Reserved && rng.IntN(3) == 0 {
							_, err = e.OfferRejected(now, a.call.id, a.id)
							break
						}
					}
				case 11, 12:
					op = "end"
					_, err = e.CallEnded(now, randCall())
					for _, c := range e.calls {
						if c.state == CallConnected && rng.IntN(2) == 0 {
							_, err = e.CallEnded(now, c.id)
							break
						}
					}
				case 13:
					op = "hold"
					for _, c := range e.calls {
						if c.state == CallConnected {
							if c.agent.state == OnHold {
								_, err = e.CallUnheld(now, c.id)
							} else {
								_, err = e.CallHeld(now, c.id)
							}
							break
						}
					}
				case 14:
					op = "wrapdone"
					_, err = e.WrapUpDone(now, randAgent())
				case 15:
					op = "callback"
					_, err = e.RequestCallback(now, randCall(), "123")
					if rng.IntN(4) == 0 { // a callback kept over a restart, its place and failed dials random
						callN++
						var last time.Time
						if rng.IntN(2) == 0 {
							last = now.Add(-time.Duration(rng.IntN(600)) * time.Second)
						}
						_, err = e.RestoreCallback(now, Call{ID: CallID(fmt.Sprintf("c%d", callN-1)), Queue: QueueID(fmt.Sprintf("q%d", rng.IntN(5))),
							Arrived: now.Add(-time.Duration(rng.IntN(300)) * time.Second), Priority: rng.IntN(12),
							Skills: exprs[rng.IntN(len(exprs))]}, "456", rng.IntN(5)-1, last)
					}
					for _, c := range e.calls {
						if c.callback && c.state == CallOffered && rng.IntN(2) == 0 {
							_, err = e.CallbackFailed(now, c.id)
							break
						}
					}
				case 16:
					op = "dialer"
					id := CallID(fmt.Sprintf("o%d", step))
					if _, err = e.DialerReserve(now, id, randAgent()); err == nil && rng.IntN(2) == 0 {
						_, err = e.DialerRelease(now, id)
					}
				case 17:
					op = "upsert"
					i := rng.IntN(4)
					_, err = e.UpsertQueue(now, mkQueue(i, strategies[rng.IntN(len(strategies))]))
				default:
					op = "tick"
					now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
					e.Tick(now)
				}
				if err == nil {
					okOps[op]++
				}
				if err != nil && !isSentinel(err) {
					t.Fatalf("step %d %s: untyped error %v", step, op, err)
				}
				checkInvariants(t, e, step, op)
			}
		})
	}
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrUnknownQueue, ErrUnknownAgent, ErrUnknownCall, ErrDuplicateCall, ErrAlreadyLoggedIn,
		ErrInvalidTransition, ErrNotOffered, ErrOfferTimedOut, ErrOfferWithdrawn, ErrBadPriority, ErrBadSkillExpr, ErrCallState} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
