package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/queue"
)

// benchQueues and benchAgents shape the generated call centre: 4 queues, 60 agents.
var benchQueues = []string{"sales", "support", "billing", "retention"}

func benchAgents() []string {
	out := make([]string, 60)
	for i := range out {
		out[i] = fmt.Sprintf("agent%02d", i)
	}
	return out
}

// generateDay writes n inbound interactions spread over days days from start (90%
// answered with ringing, talking, sometimes hold, and wrap-up segments; 10% abandoned),
// an agent state log and some survey answers, straight into the tables in large
// transactions (the writer is measured separately).
func generateDays(tb testing.TB, s *Store, start time.Time, days, n int) {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	agents := benchAgents()
	span := time.Duration(days) * 24 * time.Hour
	step := span / time.Duration(n)
	const batch = 20_000
	for lo := 0; lo < n; lo += batch {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			tb.Fatal(err)
		}
		prep := func(q string) *sql.Stmt {
			st, err := tx.PrepareContext(ctx, s.d.q(q))
			if err != nil {
				tb.Fatal(err)
			}
			return st
		}
		insIx := prep(`INSERT INTO interactions (id, direction, queue, caller_number, created_at, queued_at, answered_at, ended_at, outcome,
    connected_us, hold_us, wrapup_us)
VALUES (?, 'inbound', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		insSeg := prep(`INSERT INTO interaction_segments (interaction_id, seq, kind, agent, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)`)
		insSurvey := prep(`INSERT INTO survey_answers (interaction_id, queue, agent, kind, score, at) VALUES (?, ?, ?, ?, ?, ?)`)
		for i := lo; i < min(lo+batch, n); i++ {
			id := fmt.Sprintf("ix%08d", i)
			created := start.Add(time.Duration(i) * step)
			q := benchQueues[i%len(benchQueues)]
			agent := agents[rng.IntN(len(agents))]
			num := fmt.Sprintf("+48%09d", rng.IntN(n/2+1))
			wait := time.Duration(rng.IntN(90)) * time.Second
			mustExec := func(st *sql.Stmt, args ...any) {
				if _, err := st.ExecContext(ctx, args...); err != nil {
					tb.Fatal(err)
				}
			}
			if i%10 == 0 {
				mustExec(insIx, id, q, num, micros(created), micros(created), nil, micros(created.Add(wait)), "abandoned", 0, 0, 0)
				continue
			}
			ans := created.Add(wait)
			talk := time.Duration(60+rng.IntN(540)) * time.Second
			end := ans.Add(talk)
			var hold time.Duration
			if i%4 == 0 {
				hold = talk/2 - talk/3
			}
			// The totals the writer would keep (refreshTotals).
			mustExec(insIx, id, q, num, micros(created), micros(created), micros(ans), micros(end), "answered",
				talk.Microseconds(), hold.Microseconds(), (30 * time.Second).Microseconds())
			mustExec(insSeg, id, 1, "ringing", agent, micros(ans.Add(-3*time.Second)), micros(ans))
			mustExec(insSeg, id, 2, "talking", agent, micros(ans), micros(end))
			seq := 3
			if hold > 0 {
				mustExec(insSeg, id, seq, "hold", agent, micros(ans.Add(talk/3)), micros(ans.Add(talk/2)))
				seq++
			}
			mustExec(insSeg, id, seq, "wrapup", agent, micros(end), micros(end.Add(30*time.Second)))
			if i%7 == 0 {
				mustExec(insSurvey, id, q, agent, "nps", rng.IntN(11), micros(end.Add(time.Minute)))
				mustExec(insSurvey, id, q, agent, "csat", 1+rng.IntN(5), micros(end.Add(time.Minute)))
			}
		}
		if err := errors.Join(insIx.Close(), insSeg.Close(), insSurvey.Close(), tx.Commit()); err != nil {
			tb.Fatal(err)
		}
	}
	// Next contacts, as the writer would keep them (linkContacts).
	if _, err := s.db.ExecContext(ctx, `UPDATE interactions SET next_contact_at = (SELECT MIN(j.created_at) FROM interactions j
    WHERE j.direction = 'inbound' AND j.caller_number = interactions.caller_number AND j.created_at > interactions.created_at)
WHERE direction = 'inbound' AND caller_number <> ''`); err != nil {
		tb.Fatal(err)
	}
	// One call two days before: a store has history, and the rollups of slots less
	// than purgeMargin after the oldest call are not trusted (see agentCallFacts).
	if _, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO interactions (id, direction, queue, created_at, outcome)
VALUES ('history', 'inbound', 'sales', ?, 'abandoned')`), micros(start.Add(-48*time.Hour))); err != nil {
		tb.Fatal(err)
	}
	// The queue rollups, as the writer would keep them (migration 0005's backfill).
	rebuildRollups(tb, s)
	// Agent state log: each agent cycles ready -> reserved -> talking -> wrap_up every
	// ~5 minutes for the whole span.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ins, err := tx.PrepareContext(ctx, s.d.q("INSERT INTO agent_state_log (agent, state, reason, at) VALUES (?, ?, '', ?)"))
	if err != nil {
		tb.Fatal(err)
	}
	cycle := []struct {
		state string
		d     time.Duration
	}{{"ready", 40 * time.Second}, {"reserved", 5 * time.Second}, {"talking", 4 * time.Minute}, {"wrap_up", 30 * time.Second}}
	for _, a := range agents {
		t := start
		for t.Before(start.Add(span)) {
			for _, c := range cycle {
				if _, err := ins.ExecContext(ctx, a, c.state, micros(t)); err != nil {
					tb.Fatal(err)
				}
				t = t.Add(c.d)
			}
		}
	}
	if err := errors.Join(ins.Close(), tx.Commit()); err != nil {
		tb.Fatal(err)
	}
	rebuildAgentStateRollups(tb, s) // as the writer would keep them
}

func benchSpecs() []QueueSpec {
	agents := benchAgents()
	specs := make([]QueueSpec, len(benchQueues))
	for i, q := range benchQueues {
		specs[i] = QueueSpec{Queue: q, SLThreshold: 20 * time.Second, ShortAbandon: 5 * time.Second,
			Formula: queue.SLFormula(i % 4), Members: agents[i*15 : i*15+15]}
	}
	return specs
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	c := testConfig()
	c.Path = filepath.Join(b.TempDir(), "ctid.db")
	s, err := Open(context.Background(), c, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

// BenchmarkQueueReportDay: the hourly report of all 4 queues (with their members'
// occupancy) for a day holding 100,000 interactions, on SQLite.
func BenchmarkQueueReportDay(b *testing.B) {
	s := benchStore(b)
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	generateDays(b, s, day, 1, 100_000)
	req := ReportRequest{From: day, To: day.AddDate(0, 0, 1), Interval: IntervalHour, FCRWindow: 7 * 24 * time.Hour, Now: day.AddDate(0, 0, 2)}
	specs := benchSpecs()
	// The first report of these thresholds counts them from the interactions and has
	// the writer count the rollups for them; the loop measures the reports after that.
	t0 := time.Now()
	if _, err := s.QueueReport(context.Background(), req, specs); err != nil {
		b.Fatal(err)
	}
	b.Logf("first report (thresholds counted from the interactions): %s", time.Since(t0))
	if err := s.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		rows, err := s.QueueReport(context.Background(), req, specs)
		if err != nil || len(rows) != 4*24 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e6, "cpu-ms/op")
}

// BenchmarkAgentReportDay: the hourly report of all 60 agents for the same day.
func BenchmarkAgentReportDay(b *testing.B) {
	s := benchStore(b)
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	generateDays(b, s, day, 1, 100_000)
	req := ReportRequest{From: day, To: day.AddDate(0, 0, 1), Interval: IntervalHour, FCRWindow: 7 * 24 * time.Hour, Now: day.AddDate(0, 0, 2)}
	agents := benchAgents()
	// The first report of this FCR window counts it from the interactions and has the
	// writer count the rollups for it; the loop measures the reports after that.
	t0 := time.Now()
	if _, err := s.AgentReport(context.Background(), req, agents); err != nil {
		b.Fatal(err)
	}
	b.Logf("first report (FCR counted from the interactions): %s", time.Since(t0))
	if err := s.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		rows, err := s.AgentReport(context.Background(), req, agents)
		if err != nil || len(rows) != 60*24 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e6, "cpu-ms/op")
}

// BenchmarkWriterThroughput: interactions with 4 segments each through the batched
// writer (SaveInteraction, then one Sync per 1,000), per engine.
func BenchmarkWriterThroughput(b *testing.B) {
	for _, engine := range []string{DriverSQLite, DriverPostgres} {
		b.Run(engine, func(b *testing.B) {
			c := testConfig()
			c.Driver = engine
			if engine == DriverSQLite {
				c.Path = filepath.Join(b.TempDir(), "ctid.db")
			} else {
				c.DSN = newPGDatabase(b)
			}
			c.Writer.FlushInterval = 50 * time.Millisecond
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
			b.ResetTimer()
			cpu0 := cpuTime()
			i := 0
			for b.Loop() {
				at := t0.Add(time.Duration(i) * time.Second)
				ix := Interaction{ID: fmt.Sprintf("w%09d", i), Direction: Inbound, Queue: "sales", CallerNumber: "+48221234567",
					Created: at, Queued: at, Answered: at.Add(10 * time.Second), Ended: at.Add(130 * time.Second), Outcome: "answered",
					Segments: []Segment{
						{Kind: SegQueued, Start: at, End: at.Add(10 * time.Second)},
						{Kind: SegRinging, Agent: "anna", Start: at.Add(5 * time.Second), End: at.Add(10 * time.Second)},
						{Kind: SegTalking, Agent: "anna", Start: at.Add(10 * time.Second), End: at.Add(130 * time.Second)},
						{Kind: SegWrapUp, Agent: "anna", Start: at.Add(130 * time.Second), End: at.Add(160 * time.Second)},
					}}
				for {
					err := s.SaveInteraction(ix)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrBacklogFull) {
						b.Fatal(err)
					}
					if err := s.Sync(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				i++
				if i%1000 == 0 {
					if err := s.Sync(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := s.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "interactions/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(max(i, 1))/1e3, "cpu-µs/interaction")
		})
	}
}

// rebuildRollups recomputes report_queue_slots from the interactions with the
// backfill statements of migration 0005 (for rows inserted around the writer).
func rebuildRollups(tb testing.TB, s *Store) {
	tb.Helper()
	ms, err := loadMigrations(s.d)
	if err != nil {
		tb.Fatal(err)
	}
	stmts := []string{"DELETE FROM report_queue_slots", "DELETE FROM report_agent_slots"}
	for _, m := range ms {
		if m.version == 5 {
			for _, st := range m.stmts {
				if !strings.HasPrefix(st, "CREATE") {
					stmts = append(stmts, st)
				}
			}
		}
	}
	if len(stmts) != 5 {
		tb.Fatalf("migration 0005: want 3 backfill statements, have %d", len(stmts)-2)
	}
	for _, st := range stmts {
		if _, err := s.db.ExecContext(context.Background(), st); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkReportMonth: a month of 3,000,000 interactions (100,000 a day, the same
// shape as the day benchmarks; CTID_BENCH_MONTH_N overrides the count), generated once
// (the generation time is logged), then the daily report of the 4 queues over the
// month, the hourly report of one day of it, and the daily report of the 60 agents.
func BenchmarkReportMonth(b *testing.B) {
	n := 3_000_000
	if v := os.Getenv("CTID_BENCH_MONTH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("CTID_BENCH_MONTH_N=%q: want a positive count", v)
		}
	}
	s := benchStore(b)
	month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	generateDays(b, s, month, 30, n)
	b.Logf("generated %d interactions over 30 days in %s", n, time.Since(t0).Round(time.Second))
	end := month.AddDate(0, 0, 30)
	monthly := ReportRequest{From: month, To: end, Interval: IntervalDay, FCRWindow: 7 * 24 * time.Hour, Now: end}
	day := month.AddDate(0, 0, 14)
	daily := ReportRequest{From: day, To: day.AddDate(0, 0, 1), Interval: IntervalHour, FCRWindow: 7 * 24 * time.Hour, Now: end}
	specs := benchSpecs()
	// The first report of a set of thresholds has the writer count the rollups for them.
	t1 := time.Now()
	if _, err := s.QueueReport(context.Background(), monthly, specs); err != nil {
		b.Fatal(err)
	}
	if _, err := s.AgentReport(context.Background(), monthly, benchAgents()); err != nil {
		b.Fatal(err)
	}
	b.Logf("first queue and agent reports of the month (thresholds counted from the interactions): %s", time.Since(t1).Round(time.Millisecond))
	if err := s.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	run := func(name string, want int, report func() (int, error)) {
		b.Run(name, func(b *testing.B) {
			cpu0, k := cpuTime(), 0
			for b.Loop() {
				rows, err := report()
				if err != nil || rows != want {
					b.Fatalf("%d rows, %v", rows, err)
				}
				k++
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(k)/1e6, "cpu-ms/op")
		})
	}
	run("queues-daily", 4*30, func() (int, error) {
		rows, err := s.QueueReport(context.Background(), monthly, specs)
		return len(rows), err
	})
	run("queues-hourly-one-day", 4*24, func() (int, error) {
		rows, err := s.QueueReport(context.Background(), daily, specs)
		return len(rows), err
	})
	run("agents-daily", 60*30, func() (int, error) {
		rows, err := s.AgentReport(context.Background(), monthly, benchAgents())
		return len(rows), err
	})
}
