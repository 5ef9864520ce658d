package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkContactHistory: the screen-pop's contact-history read
// (InteractionsByNumber, limit 10) on SQLite with 20,000 interactions from 10,000
// numbers, most looked up numbers having none (a first call) — the read made for
// every offered call.
func BenchmarkContactHistory(b *testing.B) {
	c := testConfig()
	c.Path = filepath.Join(b.TempDir(), "ctid.db")
	s, err := Open(context.Background(), c, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	}()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i := range 20_000 {
		at := t0.Add(time.Duration(i) * time.Second)
		ix := Interaction{ID: fmt.Sprintf("h%09d", i), Direction: Inbound, Queue: "sales",
			CallerNumber: fmt.Sprintf("+4822%07d", i%10_000), Created: at, Queued: at, Ended: at.Add(time.Minute),
			Outcome: "abandoned"}
		if err := s.SaveInteraction(ix); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		n := fmt.Sprintf("+4822%07d", i%40_000) // 1 in 4 has two earlier contacts
		if _, err := s.InteractionsByNumber(ctx, n, 10); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(max(i, 1))/1e3, "cpu-µs/op")
}
