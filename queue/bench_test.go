package queue

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
)

// The routing benchmarks model a large contact centre: 10,000 agents with 8 skills
// each, 200 queues (each a two-skill requirement with one relax step, every agent a
// member of 4 queues), and 5,000 calls waiting.
const (
	benchAgents  = 10000
	benchQueues  = 200
	benchWaiting = 5000
)

type benchWorld struct {
	e       *Engine
	agents  []AgentID
	queues  []QueueID
	callIDs []CallID
	next    int
}

func benchQueueOf(agent, k int) int { return (agent + k*53) % benchQueues }

// newBenchWorld builds the engine. All agents are logged in and NotReady.
func newBenchWorld(tb testing.TB) *benchWorld {
	w := &benchWorld{}
	var ags []AgentConfig
	for i := 0; i < benchAgents; i++ {
		sk := SkillLevels{}
		for k := 0; k < 4; k++ {
			q := benchQueueOf(i, k)
			sk[fmt.Sprintf("lang:l%d", q%5)] = 3 + (i+k)%5
			sk[fmt.Sprintf("prod:p%d", q)] = 1 + (i+k)%9
		}
		for j := 0; len(sk) < 8; j++ {
			sk[fmt.Sprintf("extra:x%d", (i+j)%50)] = 1 + j
		}
		id := AgentID(fmt.Sprintf("agent%05d", i))
		w.agents = append(w.agents, id)
		ags = append(ags, AgentConfig{ID: id, Skills: sk})
	}
	members := make([][]Member, benchQueues)
	for i := 0; i < benchAgents; i++ {
		for k := 0; k < 4; k++ {
			q := benchQueueOf(i, k)
			members[q] = append(members[q], Member{Agent: w.agents[i], Tier: 1 + k%2})
		}
	}
	var qs []QueueConfig
	for q := 0; q < benchQueues; q++ {
		id := QueueID(fmt.Sprintf("queue%03d", q))
		w.queues = append(w.queues, id)
		qs = append(qs, QueueConfig{
			ID: id, Members: members[q], Skills: fmt.Sprintf("lang:l%d>=3 & prod:p%d", q%5, q),
			Relax:        []RelaxStep{{After: 30 * time.Second, DropSkills: []string{"prod"}}},
			MaxWait:      time.Hour,
			Announce:     AnnounceConfig{Every: time.Minute},
			OfferTimeout: 20 * time.Second,
		})
	}
	e, err := NewEngine(Config{Agents: ags, Queues: qs})
	if err != nil {
		tb.Fatal(err)
	}
	w.e = e
	for _, id := range w.agents {
		if _, err := e.AgentLogin(t0, id); err != nil {
			tb.Fatal(err)
		}
	}
	for i := 0; i < 2*benchAgents; i++ {
		w.callIDs = append(w.callIDs, CallID(fmt.Sprintf("call%06d", i)))
	}
	return w
}

func (w *benchWorld) callID() CallID {
	for {
		id := w.callIDs[w.next%len(w.callIDs)]
		w.next++
		if _, busy := w.e.calls[id]; !busy {
			return id
		}
	}
}

// latencies records per-operation durations and reports mean, p99 and rate.
type latencies struct{ d []time.Duration }

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	var sum time.Duration
	for _, d := range l.d {
		sum += d
	}
	p99 := l.d[len(l.d)*99/100]
	b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(l.d[len(l.d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(len(l.d))/sum.Seconds(), "decisions/s")
}

func firstOffer(ds []Decision) (Decision, bool) {
	for _, d := range ds {
		if d.Kind == DecOfferCall {
			return d, true
		}
	}
	return Decision{}, false
}

// BenchmarkRouteAgentReady: an agent becomes ready and is offered one of the 5,000
// waiting calls (the timed operation). The rest of the cycle (accept, pending pause,
// end, a new call arriving to keep 5,000 waiting) is outside the measured latency.
func BenchmarkRouteAgentReady(b *testing.B) {
	w := newBenchWorld(b)
	e := w.e
	now := t0.Add(time.Second)
	for i := 0; i < benchWaiting; i++ {
		if _, err := e.CallArrived(now, Call{ID: w.callID(), Queue: w.queues[i%benchQueues]}); err != nil {
			b.Fatal(err)
		}
	}
	lat := latencies{d: make([]time.Duration, 0, b.N)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := w.agents[(i*7919)%benchAgents]
		st := time.Now()
		ds, err := e.AgentReady(now, a)
		el := time.Since(st)
		if err != nil {
			b.Fatal(err)
		}
		d, ok := firstOffer(ds)
		if !ok {
			b.Fatalf("no offer for %s", a)
		}
		lat.d = append(lat.d, el)
		q := d.Queue
		c := d.Call
		if _, err := e.OfferAccepted(now, c, a); err != nil {
			b.Fatal(err)
		}
		if _, err := e.AgentNotReady(now, a, "bench"); err != nil {
			b.Fatal(err)
		}
		if _, err := e.CallEnded(now, c); err != nil {
			b.Fatal(err)
		}
		if _, err := e.CallArrived(now, Call{ID: w.callID(), Queue: q}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	lat.report(b)
}

// BenchmarkRouteCallArrives: a call arrives and is offered to the best of the ready
// agents (timed). 5,000 calls wait in every queue for a skill nobody has, so the heaps
// are full; half the agents are ready. The agent accepts and hangs up (zero wrap-up)
// and becomes ready again outside the measured latency.
func BenchmarkRouteCallArrives(b *testing.B) {
	w := newBenchWorld(b)
	e := w.e
	now := t0.Add(time.Second)
	for i := 0; i < benchWaiting; i++ {
		q := w.queues[i%benchQueues]
		if _, err := e.CallArrived(now, Call{ID: w.callID(), Queue: q, Skills: "lang:l0>=3 & rare:nobody"}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < benchAgents; i += 2 {
		if _, err := e.AgentReady(now, w.agents[i]); err != nil {
			b.Fatal(err)
		}
	}
	lat := latencies{d: make([]time.Duration, 0, b.N)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := w.queues[(i*37)%benchQueues]
		id := w.callID()
		st := time.Now()
		ds, err := e.CallArrived(now, Call{ID: id, Queue: q})
		el := time.Since(st)
		if err != nil {
			b.Fatal(err)
		}
		d, ok := firstOffer(ds)
		if !ok {
			b.Fatalf("no offer in %s", q)
		}
		lat.d = append(lat.d, el)
		if _, err := e.OfferAccepted(now, id, d.Agent); err != nil {
			b.Fatal(err)
		}
		if _, err := e.CallEnded(now, id); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	lat.report(b)
}

// BenchmarkRouteFullCycle times a whole agent cycle: ready→offer, accept, pending
// pause, end, and a new call arriving (5 engine commands per op).
func BenchmarkRouteFullCycle(b *testing.B) {
	w := newBenchWorld(b)
	e := w.e
	now := t0.Add(time.Second)
	for i := 0; i < benchWaiting; i++ {
		if _, err := e.CallArrived(now, Call{ID: w.callID(), Queue: w.queues[i%benchQueues]}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := w.agents[(i*7919)%benchAgents]
		ds, err := e.AgentReady(now, a)
		if err != nil {
			b.Fatal(err)
		}
		d, ok := firstOffer(ds)
		if !ok {
			b.Fatal("no offer")
		}
		q, c := d.Queue, d.Call
		if _, err := e.OfferAccepted(now, c, a); err != nil {
			b.Fatal(err)
		}
		if _, err := e.AgentNotReady(now, a, "bench"); err != nil {
			b.Fatal(err)
		}
		if _, err := e.CallEnded(now, c); err != nil {
			b.Fatal(err)
		}
		if _, err := e.CallArrived(now, Call{ID: w.callID(), Queue: q}); err != nil {
			b.Fatal(err)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkRouteMemory reports the engine's memory per waiting call and per agent
// (agent with 8 skills, 4 queue memberships, ready in all its classes).
func BenchmarkRouteMemory(b *testing.B) {
	// One measurement whatever b.N is (building the world takes ~0.3 s).
	base := heapInUse()
	w := newBenchWorld(b)
	afterAgents := heapInUse()
	now := t0.Add(time.Second)
	for j := 0; j < benchAgents; j++ {
		if _, err := w.e.AgentReady(now, w.agents[j]); err != nil {
			b.Fatal(err)
		}
	}
	afterReady := heapInUse()
	for j := 0; j < benchWaiting*4; j++ {
		if _, err := w.e.CallArrived(now, Call{ID: w.callID(), Queue: w.queues[j%benchQueues], Skills: "rare:nobody"}); err != nil {
			b.Fatal(err)
		}
	}
	afterCalls := heapInUse()
	runtime.KeepAlive(w)
	for range b.N {
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(afterAgents-base)/benchAgents, "B/agent-idle")
	b.ReportMetric(float64(afterReady-base)/benchAgents, "B/agent-ready")
	b.ReportMetric(float64(afterCalls-afterReady)/(benchWaiting*4), "B/waiting-call")
}

// TestRouteHotPathAllocationFree asserts the routing hot path does not allocate in
// steady state (the benchmark world, one full agent cycle per run).
func TestRouteHotPathAllocationFree(t *testing.T) {
	if testing.Short() {
		t.Log("short mode: building a smaller world is not meaningful; running anyway")
	}
	w := newBenchWorld(t)
	e := w.e
	now := t0.Add(time.Second)
	for i := 0; i < benchWaiting; i++ {
		if _, err := e.CallArrived(now, Call{ID: w.callID(), Queue: w.queues[i%benchQueues]}); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	cycle := func() {
		a := w.agents[(i*7919)%benchAgents]
		i++
		ds, err := e.AgentReady(now, a)
		if err != nil {
			t.Fatal(err)
		}
		d, ok := firstOffer(ds)
		if !ok {
			t.Fatal("no offer")
		}
		q, c := d.Queue, d.Call
		if _, err := e.OfferAccepted(now, c, a); err != nil {
			t.Fatal(err)
		}
		if _, err := e.AgentNotReady(now, a, "bench"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.CallEnded(now, c); err != nil {
			t.Fatal(err)
		}
		if _, err := e.CallArrived(now, Call{ID: w.callID(), Queue: q}); err != nil {
			t.Fatal(err)
		}
	}
	for j := 0; j < 3000; j++ { // warm up: slices and maps reach their size
		cycle()
	}
	allocs := testing.AllocsPerRun(2000, cycle)
	if allocs != 0 {
		t.Fatalf("hot path allocates %.2f times per cycle", allocs)
	}
}
