package queue

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// serve runs one call through agent id via its solo queue ("solo-<id>"): talk seconds.
func serve(t *testing.T, e *Engine, now time.Time, id string, talk int) time.Time {
	t.Helper()
	cid := CallID(fmt.Sprintf("warm-%s-%d", id, now.Unix()))
	ds := must(t)(e.CallArrived(now, Call{ID: cid, Queue: QueueID("solo-" + id)}))
	eq(t, "warm offer", offers(ds), []string{fmt.Sprintf("%s>%s", cid, id)})
	must(t)(e.OfferAccepted(now, cid, AgentID(id)))
	end := now.Add(time.Duration(talk) * time.Second)
	must(t)(e.CallEnded(end, cid))
	return end
}

func TestStrategiesPickAgent(t *testing.T) {
	type setup func(t *testing.T, e *Engine) time.Time
	// readyOrder makes agents ready in the given order, one second apart.
	readyOrder := func(ids ...string) setup {
		return func(t *testing.T, e *Engine) time.Time {
			for i, id := range ids {
				loginReady(t, e, at(i), id)
			}
			return at(len(ids))
		}
	}
	// history gives each agent a number of calls of a talk time, then all ready.
	history := func(calls map[string][]int) setup {
		return func(t *testing.T, e *Engine) time.Time {
			now := at(0)
			for _, id := range []string{"a1", "a2", "a3"} {
				loginReady(t, e, now, id)
			}
			for _, id := range []string{"a1", "a2", "a3"} {
				for _, talk := range calls[id] {
					now = serve(t, e, now, id, talk)
				}
			}
			return now.Add(time.Second)
		}
	}
	cases := []struct {
		name     string
		strategy Strategy
		members  []Member
		skills   map[string]SkillLevels
		call     Call
		setup    setup
		want     []string
	}{
		{"longest-idle picks first ready", LongestIdle, members("a1", "a2", "a3"), nil, Call{}, readyOrder("a2", "a3", "a1"), []string{"c>a2"}},
		{"longest-idle prefers tier 1", LongestIdle, []Member{{"a1", 2}, {"a2", 1}, {"a3", 1}}, nil, Call{}, readyOrder("a1", "a3", "a2"), []string{"c>a3"}},
		{"linear follows member order", Linear, members("a3", "a1", "a2"), nil, Call{}, readyOrder("a1", "a2", "a3"), []string{"c>a3"}},
		{"fewest-calls", FewestCalls, members("a1", "a2", "a3"), nil, Call{}, history(map[string][]int{"a1": {10, 10}, "a3": {10}}), []string{"c>a2"}},
		{"least-talk-time", LeastTalkTime, members("a1", "a2", "a3"), nil, Call{}, history(map[string][]int{"a1": {300}, "a2": {100}, "a3": {50, 60}}), []string{"c>a2"}},
		{"ring-all offers everyone eligible", RingAll, members("a1", "a2", "a3"), nil, Call{}, readyOrder("a3", "a1", "a2"), []string{"c>a3", "c>a1", "c>a2"}},
		{"skills best match", SkillsBest, members("a1", "a2", "a3"),
			map[string]SkillLevels{"a1": {"lang:pl": 9, "product:internet": 1}, "a2": {"lang:pl": 6, "product:internet": 6}, "a3": {"lang:pl": 3}},
			Call{Skills: "lang:pl>=3 & product:internet"}, readyOrder("a1", "a3", "a2"), []string{"c>a2"}},
		{"skills filter with longest-idle", LongestIdle, members("a1", "a2", "a3"),
			map[string]SkillLevels{"a1": {"lang:en": 9}, "a2": {"lang:pl": 4}, "a3": {"lang:pl": 2}},
			Call{Skills: "lang:pl>=3"}, readyOrder("a1", "a3", "a2"), []string{"c>a2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ags []AgentConfig
			queues := []QueueConfig{{ID: "q", Strategy: c.strategy, Members: c.members}}
			for _, id := range []string{"a1", "a2", "a3"} {
				ags = append(ags, AgentConfig{ID: AgentID(id), Skills: c.skills[id]})
				queues = append(queues, QueueConfig{ID: QueueID("solo-" + id), Members: members(id)})
			}
			e := mustEngine(t, Config{Agents: ags, Queues: queues})
			now := c.setup(t, e)
			call := c.call
			call.ID, call.Queue = "c", "q"
			ds := must(t)(e.CallArrived(now, call))
			eq(t, "offers", offers(ds), c.want)
		})
	}
}

func TestRoundRobinRemembersLastAgent(t *testing.T) {
	for _, tc := range []struct {
		strategy Strategy
		want     []string
	}{
		{RoundRobin, []string{"a1", "a2", "a3", "a1"}},
		{Linear, []string{"a1", "a1", "a1", "a1"}},
	} {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			e := mustEngine(t, Config{Agents: agentsN(3, nil), Queues: []QueueConfig{{ID: "q", Strategy: tc.strategy, Members: members("a1", "a2", "a3")}}})
			loginReady(t, e, at(0), "a1", "a2", "a3")
			var got []string
			for i := 0; i < 4; i++ {
				id := CallID(fmt.Sprintf("c%d", i))
				ds := must(t)(e.CallArrived(at(10*i+1), Call{ID: id, Queue: "q"}))
				o, ok := ds[len(ds)-1].AsOfferCall()
				if !ok {
					t.Fatalf("no offer: %v", ds)
				}
				got = append(got, string(o.Agent))
				must(t)(e.OfferAccepted(at(10*i+2), id, o.Agent))
				must(t)(e.CallEnded(at(10*i+3), id)) // no wrap-up: ready again at once
			}
			eq(t, "agents", got, tc.want)
		})
	}
}

func TestRandomStrategyIsSeededAndSpreads(t *testing.T) {
	run := func(seed uint64) []string {
		e := mustEngine(t, Config{Seed: seed, Agents: agentsN(4, nil), Queues: []QueueConfig{{ID: "q", Strategy: Random, Members: members("a1", "a2", "a3", "a4")}}})
		loginReady(t, e, at(0), "a1", "a2", "a3", "a4")
		var got []string
		for i := 0; i < 40; i++ {
			id := CallID(fmt.Sprintf("c%d", i))
			ds := must(t)(e.CallArrived(at(i+1), Call{ID: id, Queue: "q"}))
			o, ok := ds[len(ds)-1].AsOfferCall()
			if !ok {
				t.Fatalf("no offer")
			}
			got = append(got, string(o.Agent))
			must(t)(e.OfferAccepted(at(i+1), id, o.Agent))
			must(t)(e.CallEnded(at(i+1), id))
		}
		return got
	}
	a, b := run(7), run(7)
	eq(t, "same seed same picks", a, b)
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	eq(t, "all agents picked", len(seen), 4)
}

func TestRingAllFirstAcceptWins(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(3, nil), Queues: []QueueConfig{{ID: "q", Strategy: RingAll, Members: members("a1", "a2", "a3")}}})
	loginReady(t, e, at(0), "a1", "a2", "a3")
	ds := must(t)(e.CallArrived(at(1), Call{ID: "c1", Queue: "q"}))
	eq(t, "rings", len(offers(ds)), 3)
	ds = must(t)(e.OfferAccepted(at(2), "c1", "a2"))
	w := ofKind(ds, DecWithdrawOffer)
	eq(t, "withdrawn", len(w), 2)
	for _, d := range w {
		eq(t, "reason", d.Reason, "answered-elsewhere")
	}
	eq(t, "a2", state(t, e, "a2"), Talking)
	eq(t, "a1", state(t, e, "a1"), Ready)
	eq(t, "a3", state(t, e, "a3"), Ready)
	_, err := e.OfferAccepted(at(2), "c1", "a1")
	mustErr(t, ErrOfferWithdrawn, nil, err)
	eq(t, "a1 unchanged", state(t, e, "a1"), Ready)
	// a second call rings the two free agents only
	ds = must(t)(e.CallArrived(at(3), Call{ID: "c2", Queue: "q"}))
	eq(t, "second ring", offers(ds), []string{"c2>a1", "c2>a3"})
	// one rejects: the other keeps ringing; then it times out: call back in queue
	ds = must(t)(e.OfferRejected(at(4), "c2", "a1"))
	eq(t, "a1 rejected", state(t, e, "a1"), NotReady)
	eq(t, "no requeue yet", offers(ds), []string(nil))
	ds = e.Tick(at(3 + 20))
	eq(t, "a3 missed", state(t, e, "a3"), NotReady)
	eq(t, "waiting", e.queues["q"].waiting, 1)
	_, err = e.OfferAccepted(at(24), "c2", "a3")
	mustErr(t, ErrOfferTimedOut, nil, err)
}

func TestRingNoAnswerRequeuesAtFront(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(2, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1", "a2"), OfferTimeout: 15 * time.Second}}})
	loginReady(t, e, at(0), "a1")
	ds := must(t)(e.CallArrived(at(1), Call{ID: "c1", Queue: "q"}))
	eq(t, "offer", offers(ds), []string{"c1>a1"})
	eq(t, "deadline", ds[len(ds)-1].Deadline, at(16))
	must(t)(e.CallArrived(at(2), Call{ID: "c2", Queue: "q"}))
	must(t)(e.CallArrived(at(3), Call{ID: "c3", Queue: "q"}))
	eq(t, "no tick before deadline", offers(e.Tick(at(15))), []string(nil))
	ds = e.Tick(at(16))
	eq(t, "withdraw", len(ofKind(ds, DecWithdrawOffer)), 1)
	eq(t, "missed", state(t, e, "a1"), NotReady)
	eq(t, "reason", e.agents["a1"].reason, "missed")
	ds = loginReady(t, e, at(17), "a2")
	eq(t, "c1 first again", offers(ds), []string{"c1>a2"})
	_, err := e.OfferAccepted(at(17), "c1", "a1")
	mustErr(t, ErrOfferTimedOut, nil, err)
}

func TestPriorityAndAgeing(t *testing.T) {
	cases := []struct {
		name     string
		ageEvery time.Duration
		calls    []Call // arrive at 0, 1, 2... * 10 s
		arrive   []int
		want     []string
	}{
		{"strict priority", 0, []Call{{ID: "low", Priority: 1}, {ID: "high", Priority: 9}, {ID: "mid", Priority: 5}}, []int{0, 100, 200}, []string{"high", "mid", "low"}},
		{"fifo within priority", 0, []Call{{ID: "x", Priority: 5}, {ID: "y", Priority: 5}, {ID: "z", Priority: 5}}, []int{0, 1, 2}, []string{"x", "y", "z"}},
		{"ageing lets an old low call pass", 30 * time.Second, []Call{{ID: "low", Priority: 1}, {ID: "high", Priority: 3}}, []int{0, 100}, []string{"low", "high"}},
		{"ageing still favours a young high call", 30 * time.Second, []Call{{ID: "low", Priority: 1}, {ID: "high", Priority: 3}}, []int{0, 40}, []string{"high", "low"}},
		{"default priority is 5", 0, []Call{{ID: "dflt"}, {ID: "six", Priority: 6}, {ID: "four", Priority: 4}}, []int{0, 1, 2}, []string{"six", "dflt", "four"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := mustEngine(t, Config{Agents: agentsN(1, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1"), AgeEvery: c.ageEvery}}})
			must(t)(e.AgentLogin(at(0), "a1"))
			for i, call := range c.calls {
				call.Queue = "q"
				must(t)(e.CallArrived(at(c.arrive[i]), call))
			}
			var got []string
			now := 1000
			for range c.calls {
				ds := must(t)(e.AgentReady(at(now), "a1"))
				o, ok := ds[len(ds)-1].AsOfferCall()
				if !ok {
					t.Fatalf("no offer in %v", ds)
				}
				got = append(got, string(o.Call))
				must(t)(e.OfferAccepted(at(now), o.Call, "a1"))
				must(t)(e.AgentNotReady(at(now), "a1", "next"))
				must(t)(e.CallEnded(at(now+1), o.Call))
				now += 2
			}
			eq(t, "order", got, c.want)
		})
	}
}

func TestSkillRelaxation(t *testing.T) {
	q := QueueConfig{
		ID: "q", Skills: "lang:pl>=3 & product:internet", TierLimit: 1,
		Members: []Member{{"a1", 1}, {"a2", 2}, {"a3", 1}},
		Relax: []RelaxStep{
			{After: 30 * time.Second, DropSkills: []string{"product"}},
			{After: 60 * time.Second, TierLimit: 2},
		},
	}
	ags := []AgentConfig{
		{ID: "a1", Skills: SkillLevels{"lang:pl": 5}},                        // tier 1, lacks product
		{ID: "a2", Skills: SkillLevels{"lang:pl": 5, "product:internet": 5}}, // tier 2, full match
		{ID: "a3", Skills: SkillLevels{"lang:en": 5, "product:internet": 5}}, // tier 1, wrong language
	}
	cases := []struct {
		name   string
		ready  []string
		call   Call
		tickAt []int
		want   []string // offers at each tick (joined)
	}{
		{"drop product after 30s", []string{"a1", "a2", "a3"}, Call{}, []int{29, 30}, []string{"", "c>a1"}},
		{"widen to tier 2 after 60s", []string{"a2", "a3"}, Call{}, []int{30, 59, 60}, []string{"", "", "c>a2"}},
		{"per-call expression relaxes too", []string{"a1", "a3"}, Call{Skills: "lang:en & product:internet>=9"}, []int{29, 30}, []string{"", "c>a3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := mustEngine(t, Config{Agents: ags, Queues: []QueueConfig{q}})
			loginReady(t, e, at(0), c.ready...)
			call := c.call
			call.ID, call.Queue = "c", "q"
			ds := must(t)(e.CallArrived(at(0), call))
			eq(t, "no offer at arrival", offers(ds), []string(nil))
			for i, s := range c.tickAt {
				got := ""
				if o := offers(e.Tick(at(s))); len(o) > 0 {
					got = o[0]
				}
				eq(t, fmt.Sprintf("tick %ds", s), got, c.want[i])
			}
		})
	}
}

func TestSkillExpressionParse(t *testing.T) {
	good := []struct {
		in    string
		canon string
		match SkillLevels
		ok    bool
	}{
		{"lang:pl>=3 & product:internet", "(lang:pl>=3 & product:internet)", SkillLevels{"lang:pl": 3, "product:internet": 1}, true},
		{"lang:pl>=3 & product:internet", "(lang:pl>=3 & product:internet)", SkillLevels{"lang:pl": 2, "product:internet": 1}, false},
		{"lang:pl | lang:en", "(lang:pl | lang:en)", SkillLevels{"lang:en": 1}, true},
		{"!vip && (a>2 || b<=1)", "(!vip & (a>2 | b<=1))", SkillLevels{"b": 1}, true},
		{"x=5", "x=5", SkillLevels{"x": 5}, true},
		{"x!=5", "x!=5", SkillLevels{"x": 5}, false},
		{"", "true", nil, true},
	}
	for _, g := range good {
		x, err := ParseSkillExpr(g.in)
		if err != nil {
			t.Fatalf("%q: %v", g.in, err)
		}
		eq(t, g.in+" canon", x.String(), g.canon)
		eq(t, g.in+" match", x.Match(g.match), g.ok)
	}
	bad := []struct {
		in  string
		pos int
	}{
		{"lang:pl>=", 9},
		{"lang:pl >= 3 &", 14},
		{"(a & b", 6},
		{"a & $b", 4},
		{"a b", 2},
		{"a>=101", 3},
	}
	for _, b := range bad {
		_, err := ParseSkillExpr(b.in)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrBadSkillExpr) {
			t.Fatalf("%q: want ParseError, got %v", b.in, err)
		}
		eq(t, b.in+" pos", pe.Pos, b.pos)
	}
	x, err := ParseSkillExpr("lang:pl>=3 & (product:internet | !product:tv)")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "drop", x.Drop("product").String(), "lang:pl>=3")
	sk, err := ParseSkills("lang:pl=5, product:internet=3, billing")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "skills", sk, SkillLevels{"lang:pl": 5, "product:internet": 3, "billing": 1})
	_, err = ParseSkills("lang:pl=5, x=0")
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Pos != 13 {
		t.Fatalf("ParseSkills bad level: %v", err)
	}
}
