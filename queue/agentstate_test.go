package queue

import (
	"errors"
	"testing"
	"time"
)

func TestAgentStateMachineTable(t *testing.T) {
	cases := []struct {
		from    AgentState
		in      agentInput
		ok      bool
		to      AgentState
		pending bool
	}{
		{LoggedOut, inLogin, true, NotReady, false},
		{LoggedOut, inReady, false, 0, false},
		{LoggedOut, inOffer, false, 0, false},
		{NotReady, inReady, true, Ready, false},
		{NotReady, inOffer, false, 0, false},
		{NotReady, inLogout, true, LoggedOut, false},
		{NotReady, inLogin, false, 0, false},
		{Ready, inOffer, true, Reserved, false},
		{Ready, inNotReady, true, NotReady, false},
		{Ready, inAccept, false, 0, false},
		{Reserved, inAccept, true, Talking, false},
		{Reserved, inReject, true, NotReady, false},
		{Reserved, inTimeout, true, NotReady, false},
		{Reserved, inWithdraw, true, Ready, false},
		{Reserved, inEnd, false, 0, false},
		{Talking, inHold, true, OnHold, false},
		{Talking, inEnd, true, WrapUp, false},
		{Talking, inNotReady, true, Talking, true},
		{Talking, inLogout, true, Talking, true},
		{Talking, inReady, false, 0, false},
		{OnHold, inUnhold, true, Talking, false},
		{OnHold, inEnd, true, WrapUp, false},
		{OnHold, inHold, false, 0, false},
		{WrapUp, inWrapDone, true, Ready, false},
		{WrapUp, inNotReady, true, WrapUp, true},
		{WrapUp, inOffer, false, 0, false},
	}
	for _, c := range cases {
		t.Run(c.from.String()+"/"+c.in.String(), func(t *testing.T) {
			tr, ok := apply(c.from, c.in)
			eq(t, "ok", ok, c.ok)
			if ok {
				eq(t, "to", tr.to, c.to)
				eq(t, "pending", tr.pending, c.pending)
			}
		})
	}
	for s := LoggedOut; s <= WrapUp; s++ {
		p, ok := ParseAgentState(s.String())
		if !ok || p != s {
			t.Fatalf("ParseAgentState(%q) = %v %v", s.String(), p, ok)
		}
	}
}

func TestAgentIllegalTransitionsAreTypedAndHarmless(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(1, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1")}}})
	_, err := e.AgentReady(at(0), "a1")
	var te *TransitionError
	if !errors.As(err, &te) || !errors.Is(err, ErrInvalidTransition) || te.From != LoggedOut {
		t.Fatalf("ready while logged out: %v", err)
	}
	eq(t, "state", state(t, e, "a1"), LoggedOut)
	_, err = e.WrapUpDone(at(0), "a1")
	mustErr(t, ErrInvalidTransition, nil, err)
	must(t)(e.AgentLogin(at(0), "a1"))
	_, err = e.AgentLogin(at(1), "a1")
	mustErr(t, ErrAlreadyLoggedIn, nil, err)
	eq(t, "state", state(t, e, "a1"), NotReady)
}

func TestPendingPauseAndWrapUp(t *testing.T) {
	wrap0 := time.Duration(0)
	cases := []struct {
		name      string
		queueWrap time.Duration
		agentWrap *time.Duration
		pause     bool // ask not-ready during the call
		logout    bool
		manual    bool          // finish with WrapUpDone at +5s rather than waiting
		tickAt    time.Duration // after call end
		want      AgentState
		reason    string
	}{
		{"timer wrap then ready", 30 * time.Second, nil, false, false, false, 30 * time.Second, Ready, ""},
		{"still in wrap before timer", 30 * time.Second, nil, false, false, false, 29 * time.Second, WrapUp, ""},
		{"pending pause applied at wrap end", 30 * time.Second, nil, true, false, false, 30 * time.Second, NotReady, "lunch"},
		{"pending pause with manual wrap done", 300 * time.Second, nil, true, false, true, 0, NotReady, "lunch"},
		{"agent override zero wrap", 30 * time.Second, &wrap0, false, false, false, 0, Ready, ""},
		{"agent override zero wrap with pause", 30 * time.Second, &wrap0, true, false, false, 0, NotReady, "lunch"},
		{"pending logout", 10 * time.Second, nil, false, true, false, 10 * time.Second, LoggedOut, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ac := AgentConfig{ID: "a1", WrapUp: c.agentWrap}
			e := mustEngine(t, Config{Agents: []AgentConfig{ac}, Queues: []QueueConfig{{ID: "q", Members: members("a1"), WrapUp: c.queueWrap}}})
			loginReady(t, e, at(0), "a1")
			ds := must(t)(e.CallArrived(at(1), Call{ID: "c1", Queue: "q"}))
			eq(t, "offers", offers(ds), []string{"c1>a1"})
			must(t)(e.OfferAccepted(at(2), "c1", "a1"))
			if c.pause {
				must(t)(e.AgentNotReady(at(3), "a1", "lunch"))
				eq(t, "state during call", state(t, e, "a1"), Talking)
			}
			if c.logout {
				must(t)(e.AgentLogout(at(3), "a1"))
				eq(t, "state during call", state(t, e, "a1"), Talking)
			}
			end := at(60)
			must(t)(e.CallEnded(end, "c1"))
			if c.manual {
				must(t)(e.WrapUpDone(end.Add(5*time.Second), "a1"))
			} else if c.tickAt > 0 {
				e.Tick(end.Add(c.tickAt))
			}
			eq(t, "state", state(t, e, "a1"), c.want)
			eq(t, "reason", e.agents["a1"].reason, c.reason)
		})
	}
}

func TestPauseWhileRingingReturnsCall(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(2, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1", "a2")}}})
	loginReady(t, e, at(0), "a1")
	must(t)(e.CallArrived(at(1), Call{ID: "c1", Queue: "q"}))
	loginReady(t, e, at(2), "a2") // nothing waiting: stays ready
	ds := must(t)(e.AgentNotReady(at(3), "a1", "break"))
	eq(t, "withdraw", len(ofKind(ds, DecWithdrawOffer)), 1)
	eq(t, "re-offer", offers(ds), []string{"c1>a2"})
	eq(t, "a1", state(t, e, "a1"), NotReady)
	_, err := e.OfferAccepted(at(4), "c1", "a1")
	mustErr(t, ErrNotOffered, nil, err)
}
