package queue

import (
	"math"
	"testing"
	"time"
)

func TestOverflowAndQueueRules(t *testing.T) {
	type step func(t *testing.T, e *Engine) []Decision
	arrive := func(id string, sec int) step {
		return func(t *testing.T, e *Engine) []Decision {
			return must(t)(e.CallArrived(at(sec), Call{ID: CallID(id), Queue: "q"}))
		}
	}
	tick := func(sec int) step {
		return func(t *testing.T, e *Engine) []Decision { return e.Tick(at(sec)) }
	}
	cases := []struct {
		name  string
		q     QueueConfig
		login bool // a1 logged in (not ready), a2 ready in q2
		steps []step
		kind  DecisionKind
		want  Decision
		// the call ends up offered in q2 (queue target)
		offer []string
	}{
		{"max wait to queue", QueueConfig{MaxWait: 60 * time.Second, MaxWaitTarget: Target{TargetQueue, "q2"}}, true,
			[]step{arrive("c1", 0), tick(59), tick(60)}, DecOverflow,
			Decision{Kind: DecOverflow, Call: "c1", Queue: "q", Target: Target{TargetQueue, "q2"}, Reason: "max-wait"}, []string{"c1>a2"}},
		{"max wait to number", QueueConfig{MaxWait: 60 * time.Second, MaxWaitTarget: Target{TargetNumber, "+48221234567"}}, true,
			[]step{arrive("c1", 0), tick(60)}, DecOverflow,
			Decision{Kind: DecOverflow, Call: "c1", Queue: "q", Target: Target{TargetNumber, "+48221234567"}, Reason: "max-wait"}, nil},
		{"max wait to voicemail", QueueConfig{MaxWait: 60 * time.Second, MaxWaitTarget: Target{TargetVoicemail, "100"}}, true,
			[]step{arrive("c1", 0), tick(60)}, DecOverflow,
			Decision{Kind: DecOverflow, Call: "c1", Queue: "q", Target: Target{TargetVoicemail, "100"}, Reason: "max-wait"}, nil},
		{"max wait offers callback", QueueConfig{MaxWait: 60 * time.Second, MaxWaitTarget: Target{Kind: TargetCallback}}, true,
			[]step{arrive("c1", 0), tick(60)}, DecOfferCallback,
			Decision{Kind: DecOfferCallback, Call: "c1", Queue: "q", Target: Target{Kind: TargetCallback}, Reason: "max-wait"}, nil},
		{"max length", QueueConfig{MaxLength: 2, FullTarget: Target{TargetVoicemail, "200"}}, true,
			[]step{arrive("c1", 0), arrive("c2", 1), arrive("c3", 2)}, DecOverflow,
			Decision{Kind: DecOverflow, Call: "c3", Queue: "q", Target: Target{TargetVoicemail, "200"}, Reason: "full"}, nil},
		{"join when empty (nobody logged in)", QueueConfig{JoinEmpty: EmptyNoLoggedIn, EmptyTarget: Target{TargetQueue, "q2"}}, false,
			[]step{arrive("c1", 0)}, DecOverflow,
			Decision{Kind: DecOverflow, Call: "c1", Queue: "q", Target: Target{TargetQueue, "q2"}, Reason: "empty"}, []string{"c1>a2"}},
		{"leave when empty (last agent logs out)", QueueConfig{LeaveEmpty: EmptyNoLoggedIn}, true,
			[]step{arrive("c1", 0), func(t *testing.T, e *Engine) []Decision { return must(t)(e.AgentLogout(at(5), "a1")) }}, DecOverflow,
			Decision{Kind: DecOverflow, Call: "c1", Queue: "q", Target: Target{Kind: TargetHangup}, Reason: "empty"}, nil},
		{"leave when no one available (last agent pauses)", QueueConfig{LeaveEmpty: EmptyNoAvailable, EmptyTarget: Target{TargetNumber, "999"}}, true,
			[]step{func(t *testing.T, e *Engine) []Decision {
				must(t)(e.AgentReady(at(0), "a1"))
				must(t)(e.AgentNotReady(at(0), "a1", "x"))
				must(t)(e.AgentReady(at(0), "a1"))
				ds := must(t)(e.CallArrived(at(1), Call{ID: "c0", Queue: "q"}))
				must(t)(e.OfferAccepted(at(1), "c0", "a1"))
				return ds
			}, arrive("c1", 2), func(t *testing.T, e *Engine) []Decision {
				must(t)(e.AgentNotReady(at(3), "a1", "x")) // pending: still talking
				return must(t)(e.CallEnded(at(4), "c0"))   // now paused: queue empty
			}}, DecOverflow,
			Decision{Kind: DecOverflow, Call: "c1", Queue: "q", Target: Target{TargetNumber, "999"}, Reason: "empty"}, []string{"c0>a1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := c.q
			q.ID, q.Members = "q", members("a1")
			e := mustEngine(t, Config{Agents: agentsN(2, nil), Queues: []QueueConfig{q, {ID: "q2", Members: members("a2")}}})
			if c.login {
				must(t)(e.AgentLogin(at(0), "a1"))
			}
			loginReady(t, e, at(0), "a2")
			var all []Decision
			for _, s := range c.steps {
				all = append(all, s(t, e)...)
			}
			got := ofKind(all, c.kind)
			if len(got) != 1 {
				t.Fatalf("want one %s, got %v", c.kind, all)
			}
			eq(t, "decision", got[0], c.want)
			eq(t, "offers", offers(all), c.offer)
		})
	}
}

func TestBusinessHoursDSTAndHolidays(t *testing.T) {
	var weekly []OpenRange
	for d := time.Monday; d <= time.Friday; d++ {
		weekly = append(weekly, OpenRange{Day: d, Open: "09:00", Close: "18:00"})
	}
	hours := &Schedule{TimeZone: "Europe/Warsaw", Weekly: weekly, Holidays: []string{"2026-11-11", "2026-12-25"}}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name string
		at   time.Time
		open bool
	}{
		{"Fri before DST end 17:59:59 CEST", utc("2026-10-23T15:59:59Z"), true},
		{"Fri before DST end 18:00:00 CEST", utc("2026-10-23T16:00:00Z"), false},
		{"Mon after DST end 16:00Z is 17:00 CET", utc("2026-10-26T16:00:00Z"), true},
		{"Mon after DST end 17:59:59 CET", utc("2026-10-26T16:59:59Z"), true},
		{"Mon after DST end 18:00:00 CET", utc("2026-10-26T17:00:00Z"), false},
		{"Mon after DST end 08:59:59 CET", utc("2026-10-26T07:59:59Z"), false},
		{"Mon after DST end 09:00:00 CET", utc("2026-10-26T08:00:00Z"), true},
		{"Fri before DST start 18:00 CET", utc("2026-03-27T17:00:00Z"), false},
		{"Fri before DST start 17:59:59 CET", utc("2026-03-27T16:59:59Z"), true},
		{"Mon after DST start 17:59:59 CEST", utc("2026-03-30T15:59:59Z"), true},
		{"Mon after DST start 18:00:00 CEST", utc("2026-03-30T16:00:00Z"), false},
		{"Sunday DST day closed", utc("2026-10-25T10:00:00Z"), false},
		{"holiday Wednesday 10:00", utc("2026-11-11T09:00:00Z"), false},
		{"day after holiday 10:00", utc("2026-11-12T09:00:00Z"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := mustEngine(t, Config{Agents: agentsN(1, nil), Queues: []QueueConfig{{
				ID: "q", Members: members("a1"), Hours: hours, ClosedTarget: Target{TargetVoicemail, "500"},
			}}})
			ds := must(t)(e.CallArrived(c.at, Call{ID: "c", Queue: "q"}))
			closed := ofKind(ds, DecClosedAction)
			if c.open {
				eq(t, "closed actions", len(closed), 0)
				eq(t, "waiting", e.queues["q"].waiting, 1)
			} else {
				eq(t, "closed action", closed, []Decision{{Kind: DecClosedAction, Call: "c", Queue: "q", Target: Target{TargetVoicemail, "500"}, Reason: "closed"}})
				eq(t, "waiting", e.queues["q"].waiting, 0)
				_, err := e.CallAbandoned(c.at, "c")
				mustErr(t, ErrUnknownCall, nil, err)
			}
			eq(t, "Schedule.Open", hours.Open(c.at), c.open)
		})
	}
	_, err := NewEngine(Config{Queues: []QueueConfig{{ID: "q", Hours: &Schedule{TimeZone: "Mars/Olympus"}}}})
	mustErr(t, ErrInvalidConfig, nil, err)
	_, err = NewEngine(Config{Queues: []QueueConfig{{ID: "q", Hours: &Schedule{Weekly: []OpenRange{{Day: 1, Open: "18:00", Close: "09:00"}}}}}})
	mustErr(t, ErrInvalidConfig, nil, err)
}

func TestCallbackKeepsPlace(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(3, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1", "a2", "a3")}}})
	must(t)(e.AgentLogin(at(0), "a1"))
	must(t)(e.AgentLogin(at(0), "a2"))
	must(t)(e.AgentLogin(at(0), "a3"))
	for i, id := range []CallID{"c1", "c2", "c3"} {
		must(t)(e.CallArrived(at(i), Call{ID: id, Queue: "q"}))
	}
	must(t)(e.RequestCallback(at(10), "c2", "+48600100200"))
	must(t)(e.CallAbandoned(at(11), "c2")) // the caller hangs up; the entry stays
	_, err := e.RequestCallback(at(12), "nope", "1")
	mustErr(t, ErrUnknownCall, nil, err)

	ds := must(t)(e.AgentReady(at(20), "a1"))
	eq(t, "c1 first", offers(ds), []string{"c1>a1"})
	must(t)(e.OfferAccepted(at(21), "c1", "a1"))
	ds = must(t)(e.AgentReady(at(21), "a2"))
	cb := ofKind(ds, DecOriginateCallback)
	if len(cb) != 1 {
		t.Fatalf("want originate, got %v", ds)
	}
	o, _ := cb[0].AsOriginateCallback()
	eq(t, "originate", o, OriginateCallback{Call: "c2", Number: "+48600100200", Agent: "a2", Queue: "q"})
	// the callback's customer does not answer: agent back to ready and takes c3
	ds = must(t)(e.CallbackFailed(at(50), "c2"))
	eq(t, "a2 takes c3", offers(ds), []string{"c3>a2"})
	eq(t, "callback parked", e.calls["c2"].state, CallParked)
	// retry later goes to a3 (the next free agent)
	e.Tick(at(50 + 300))
	ds = must(t)(e.AgentReady(at(400), "a3"))
	eq(t, "retry", len(ofKind(ds, DecOriginateCallback)), 1)
	must(t)(e.OfferAccepted(at(410), "c2", "a3"))
	eq(t, "a3 talking", state(t, e, "a3"), Talking)
	must(t)(e.CallEnded(at(500), "c2"))
}

func TestCallbackDroppedAfterRetries(t *testing.T) {
	e := mustEngine(t, Config{CallbackRetries: 2, Agents: agentsN(1, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1")}}})
	must(t)(e.AgentLogin(at(0), "a1"))
	must(t)(e.CallArrived(at(0), Call{ID: "c", Queue: "q"}))
	must(t)(e.RequestCallback(at(1), "c", "123"))
	ds := must(t)(e.AgentReady(at(2), "a1"))
	eq(t, "originate", len(ofKind(ds, DecOriginateCallback)), 1)
	e.Tick(at(2 + 60)) // callback timeout = failure 1
	eq(t, "a1 ready", state(t, e, "a1"), Ready)
	ds = e.Tick(at(2 + 60 + 300))
	eq(t, "retry", len(ofKind(ds, DecOriginateCallback)), 1)
	ds = must(t)(e.CallbackFailed(at(400), "c"))
	eq(t, "dropped", len(ofKind(ds, DecCallbackDropped)), 1)
	_, ok := e.calls["c"]
	eq(t, "gone", ok, false)

	// a waiting callback can be cancelled; a normal call cannot
	must(t)(e.AgentNotReady(at(500), "a1", "x"))
	must(t)(e.CallArrived(at(500), Call{ID: "d", Queue: "q"}))
	_, err := e.CancelCallback(at(501), "d")
	mustErr(t, ErrCallState, nil, err)
	must(t)(e.RequestCallback(at(501), "d", "456"))
	must(t)(e.CancelCallback(at(502), "d"))
	eq(t, "waiting", e.queues["q"].waiting, 0)
}

func TestAnnouncements(t *testing.T) {
	cases := []struct {
		name   string
		ann    AnnounceConfig
		ticks  []int
		expect []Announce
	}{
		{"every 30s only when changed", AnnounceConfig{Every: 30 * time.Second}, []int{30, 60, 90},
			[]Announce{{Call: "c2", Position: 2, EWT: 3 * time.Minute}}},
		{"always", AnnounceConfig{Every: 30 * time.Second, Always: true}, []int{30, 60},
			[]Announce{{Call: "c2", Position: 2, EWT: 3 * time.Minute}, {Call: "c2", Position: 2, EWT: 3 * time.Minute}}},
		{"first after 10s, 10s rounding", AnnounceConfig{Every: 30 * time.Second, First: 10 * time.Second, Round: 10 * time.Second}, []int{10},
			[]Announce{{Call: "c2", Position: 2, EWT: 180 * time.Second}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// a1, a2 talking serve the queue, a3 is paused and does not; DefaultAHT 3 min:
			// EWT(position 2) = 2 × 180 s / 2 agents = 180 s.
			e := mustEngine(t, Config{Agents: agentsN(3, nil), Queues: []QueueConfig{{ID: "q", Members: members("a1", "a2", "a3"), Announce: c.ann}}})
			loginReady(t, e, at(0), "a1", "a2")
			must(t)(e.AgentLogin(at(0), "a3"))
			must(t)(e.CallArrived(at(0), Call{ID: "x1", Queue: "q"}))
			must(t)(e.CallArrived(at(0), Call{ID: "x2", Queue: "q"}))
			must(t)(e.OfferAccepted(at(0), "x1", "a1"))
			must(t)(e.OfferAccepted(at(0), "x2", "a2"))
			must(t)(e.CallArrived(at(0), Call{ID: "c1", Queue: "q", Priority: 9}))
			must(t)(e.CallArrived(at(0), Call{ID: "c2", Queue: "q"}))
			var got []Announce
			for _, s := range c.ticks {
				for _, d := range e.Tick(at(s)) {
					if a, ok := d.AsAnnounce(); ok && a.Call == "c2" {
						got = append(got, a)
					}
				}
			}
			eq(t, "announcements", got, c.expect)
		})
	}
}

func TestKPIWorkedExamples(t *testing.T) {
	c := SLCounts{Answered: 1000, AnsweredWithin: 860, Abandoned: 60, AbandonedWithin: 20, ShortAbandoned: 10}
	cases := []struct {
		f    SLFormula
		want float64 // percent, rounded
	}{
		{SLAbandonsMet, 83},
		{SLAnsweredOnly, 86},
		{SLAbandonsAgainst, 81},
		{SLShortAbandonsNeutral, 83},
	}
	for _, k := range cases {
		t.Run(k.f.String(), func(t *testing.T) {
			v, ok := ServiceLevel(c, k.f)
			eq(t, "ok", ok, true)
			eq(t, "percent", math.Round(v*100), k.want)
		})
	}
	_, ok := ServiceLevel(SLCounts{}, SLAnsweredOnly)
	eq(t, "empty", ok, false)
	ar, _ := AbandonRate(c, true)
	eq(t, "abandon rate excl short", math.Round(ar*1000)/10, 4.8) // 50/1050
	eq(t, "ASA", Average(30*time.Second*10, 10), 30*time.Second)
	occ, _ := Occupancy(45*time.Minute, 15*time.Minute)
	eq(t, "occupancy", occ, 0.75)
}

func TestErlangC(t *testing.T) {
	a, n := 48.0, 55
	pw := ErlangC(a, n)
	if math.Abs(pw-0.239) > 0.0015 {
		t.Fatalf("P(wait) = %.4f, want ≈ 0.239", pw)
	}
	sl := ErlangCServiceLevel(a, n, 15*time.Second, 240*time.Second)
	if math.Abs(sl-0.846) > 0.0015 {
		t.Fatalf("SL = %.4f, want ≈ 0.846", sl)
	}
	asa := ErlangCASA(a, n, 240*time.Second)
	if math.Abs(asa.Seconds()-8.2) > 0.05 {
		t.Fatalf("ASA = %v, want ≈ 8.2 s", asa)
	}
	eq(t, "overloaded", ErlangC(48, 48), 1.0)
	eq(t, "traffic", Traffic(720, time.Hour, 240*time.Second), 48.0)
	need := AgentsNeeded(a, 0.80, 15*time.Second, 240*time.Second, 200)
	if need < 53 || need > 55 || ErlangCServiceLevel(a, need-1, 15*time.Second, 240*time.Second) >= 0.80 {
		t.Fatalf("AgentsNeeded = %d", need)
	}
}

func TestOverflowLoopIsCut(t *testing.T) {
	e := mustEngine(t, Config{Queues: []QueueConfig{
		{ID: "a", MaxLength: 1, FullTarget: Target{TargetQueue, "b"}},
		{ID: "b", MaxLength: 1, FullTarget: Target{TargetQueue, "a"}},
	}})
	must(t)(e.CallArrived(at(0), Call{ID: "c1", Queue: "a"}))
	must(t)(e.CallArrived(at(0), Call{ID: "c2", Queue: "b"}))
	ds := must(t)(e.CallArrived(at(1), Call{ID: "c3", Queue: "a"}))
	ov := ofKind(ds, DecOverflow)
	if len(ov) != maxHops+1 || ov[len(ov)-1].Target.Kind != TargetHangup {
		t.Fatalf("overflow chain: %v", ov)
	}
	_, ok := e.calls["c3"]
	eq(t, "c3 dropped", ok, false)
}

func TestQueueWeightAcrossQueues(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(1, nil), Queues: []QueueConfig{
		{ID: "low", Members: members("a1")},
		{ID: "vip", Members: members("a1"), Weight: 10},
	}})
	must(t)(e.AgentLogin(at(0), "a1"))
	must(t)(e.CallArrived(at(0), Call{ID: "old", Queue: "low", Priority: 10}))
	must(t)(e.CallArrived(at(50), Call{ID: "vip1", Queue: "vip", Priority: 1}))
	ds := must(t)(e.AgentReady(at(60), "a1"))
	eq(t, "vip first", offers(ds), []string{"vip1>a1"})
	_, err := e.RemoveQueue(at(61), "vip")
	mustErr(t, ErrCallState, nil, err)
	must(t)(e.OfferAccepted(at(61), "vip1", "a1"))
	must(t)(e.AgentNotReady(at(61), "a1", "x"))
	must(t)(e.CallEnded(at(62), "vip1"))
	must(t)(e.RemoveQueue(at(63), "vip"))
	eq(t, "queues", e.Queues(), []QueueID{"low"})
}

func TestParseConfigHelpers(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Target
		bad  bool
	}{
		{"", Target{}, false},
		{"hangup:closed-msg", Target{TargetHangup, "closed-msg"}, false},
		{"queue:q2", Target{TargetQueue, "q2"}, false},
		{"number:+48221234567", Target{TargetNumber, "+48221234567"}, false},
		{"voicemail:100", Target{TargetVoicemail, "100"}, false},
		{"callback", Target{Kind: TargetCallback}, false},
		{"queue", Target{}, true},
		{"teleport:x", Target{}, true},
	} {
		got, err := ParseTarget(c.in)
		if c.bad {
			mustErr(t, ErrInvalidConfig, nil, err)
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		eq(t, c.in, got, c.want)
		if c.in != "" {
			eq(t, "round trip", got.String(), c.in)
		}
	}
	r, err := ParseEmptyRule("no-available")
	eq(t, "rule", r, EmptyNoAvailable)
	eq(t, "err", err, error(nil))
	_, err = ParseEmptyRule("sometimes")
	mustErr(t, ErrInvalidConfig, nil, err)
	s, err := ParseStrategy("ring-all")
	eq(t, "strategy", s, RingAll)
	eq(t, "err", err, error(nil))
	_, err = ParseStrategy("fastest")
	mustErr(t, ErrInvalidConfig, nil, err)
}

func TestAgentInTwoQueuesTakesMostUrgent(t *testing.T) {
	e := mustEngine(t, Config{Agents: agentsN(1, nil), Queues: []QueueConfig{
		{ID: "strict", Members: members("a1")},
		{ID: "ageing", Members: members("a1"), AgeEvery: 10 * time.Second},
	}})
	must(t)(e.AgentLogin(at(0), "a1"))
	must(t)(e.CallArrived(at(0), Call{ID: "s6", Queue: "strict", Priority: 6}))
	must(t)(e.CallArrived(at(0), Call{ID: "g2", Queue: "ageing", Priority: 2}))
	// at 30 s the ageing call is worth 2 + 3 = 5 < 6
	ds := must(t)(e.AgentReady(at(30), "a1"))
	eq(t, "strict first", offers(ds), []string{"s6>a1"})
	must(t)(e.AgentNotReady(at(31), "a1", "x"))
	must(t)(e.CallArrived(at(31), Call{ID: "s7", Queue: "strict", Priority: 7}))
	// at 60 s: 2 + 6 = 8 > 7
	ds = must(t)(e.AgentReady(at(60), "a1"))
	eq(t, "aged call first", offers(ds), []string{"g2>a1"})
}
