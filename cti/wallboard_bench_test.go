package cti

import (
	"fmt"
	"testing"
	"time"

	"github.com/ctid/ctid/queue"
)

// benchWallboardEngine: 50 queues, 1,000 agents (each in 3 queues, all logged in,
// half ready), 200 waiting calls — a large site's wallboard.
func benchWallboardEngine(b *testing.B) (*queue.Engine, time.Time) {
	b.Helper()
	const nq, na, nc = 50, 1000, 200
	cfg := queue.Config{}
	qs := make([]queue.QueueConfig, nq)
	for i := range qs {
		qs[i] = queue.QueueConfig{ID: queue.QueueID(fmt.Sprintf("q%02d", i))}
	}
	for i := range na {
		id := queue.AgentID(fmt.Sprintf("a%04d", i))
		cfg.Agents = append(cfg.Agents, queue.AgentConfig{ID: id})
		for k := range 3 {
			q := &qs[(i+k*17)%nq]
			q.Members = append(q.Members, queue.Member{Agent: id, Tier: 1})
		}
	}
	cfg.Queues = qs
	e, err := queue.NewEngine(cfg)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for i := range na {
		id := queue.AgentID(fmt.Sprintf("a%04d", i))
		if _, err := e.AgentLogin(now, id); err != nil {
			b.Fatal(err)
		}
	}
	for i := range nc {
		if _, err := e.CallArrived(now, queue.Call{ID: queue.CallID(fmt.Sprintf("c%04d", i)), Queue: qs[i%nq].ID}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < na; i += 2 {
		if _, err := e.AgentReady(now, queue.AgentID(fmt.Sprintf("a%04d", i))); err != nil {
			b.Fatal(err)
		}
	}
	return e, now.Add(time.Minute)
}

// BenchmarkWallboardEngineRead is what one wallboard tick costs the engine
// goroutine: every queue's stats and a snapshot.
func BenchmarkWallboardEngineRead(b *testing.B) {
	e, now := benchWallboardEngine(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, id := range e.Queues() {
			if _, err := e.QueueStats(now, id); err != nil {
				b.Fatal(err)
			}
		}
		_ = e.Snapshot(now)
	}
}

// BenchmarkWallboardFrame is the rest of a tick, off the engine goroutine: history
// and the JSON-ready frame (the push's marshalling is not included).
func BenchmarkWallboardFrame(b *testing.B) {
	e, now := benchWallboardEngine(b)
	r := wbReading{at: now, snap: e.Snapshot(now)}
	for _, id := range e.Queues() {
		st, err := e.QueueStats(now, id)
		if err != nil {
			b.Fatal(err)
		}
		r.queues = append(r.queues, st)
	}
	w := newWallboard(DefaultWallboardConfig())
	b.ReportAllocs()
	for b.Loop() {
		_ = w.frame(r)
	}
}
