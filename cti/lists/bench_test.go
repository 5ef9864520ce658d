package lists

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ctid/ctid/cti/store"
)

// genCSV streams n rows (UK mobiles 07400 000000 + i, names, a custom field)
// without ever holding the file in memory.
type genCSV struct {
	n, i int
	buf  []byte
}

func (g *genCSV) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i > g.n {
			return 0, io.EOF
		}
		if g.i == 0 {
			g.buf = append(g.buf, "First Name,Last Name,Mobile,Plan\n"...)
		} else {
			g.buf = fmt.Appendf(g.buf, "Name%d,Surname%d,07400 %06d,plan-%d\n", g.i, g.i, g.i-1, g.i%7)
		}
		g.i++
	}
	k := copy(p, g.buf)
	g.buf = g.buf[k:]
	return k, nil
}

// BenchmarkImport1M imports 1,000,000 generated rows into SQLite (all-or-nothing, one
// number per contact, time zone derived from the number). Numbers: docs/BENCHMARKS.md.
func BenchmarkImport1M(b *testing.B) { benchImport(b, 1_000_000) }

// BenchmarkImport100K is the same on 100,000 rows (quicker, for profiling).
func BenchmarkImport100K(b *testing.B) { benchImport(b, 100_000) }

func benchImport(b *testing.B, rows int) {
	st := openStore(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	b.ReportAllocs()
	var peak uint64
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		progress := func(Progress) {
			var ms runtime.MemStats
			if i == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
		rep, err := Import(ctx, st, store.ImportSpec{CampaignID: "c1", ListName: fmt.Sprintf("bench-%d", i), By: "bench"},
			&genCSV{n: rows}, gbConfig(AllOrNothing), Mapping{}, progress)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Imported != rows {
			b.Fatalf("imported %d of %d", rep.Imported, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	// CPU time (user+system, all goroutines) per row: comparable across loaded machines.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(rows*b.N), "cpu-µs/row")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
