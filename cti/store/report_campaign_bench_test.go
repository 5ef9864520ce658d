package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// generateCampaignDay writes n attempts of campaign "winter" over one day from start,
// each with its call (interaction), straight into the tables: 35 % connected (with
// talk, sometimes hold, wrap-up and a disposition), 3 % abandoned (safe-harbour
// message), 15 % machine, 10 % busy, 30 % no answer, 5 % congestion, 2 % rejected;
// callbacks on every tenth connect, and the 30 campaign agents' state log.
func generateCampaignDay(tb testing.TB, s *Store, start time.Time, n int) []string {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 5))
	agents := benchAgents()[:30]
	step := 24 * time.Hour / time.Duration(n)
	disps := []string{"sale", "not_interested", "callback", "no_decision", "dnc"}
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
		insAtt := prep(`INSERT INTO campaign_attempts (id, campaign_id, contact_id, number, agent, interaction_id, outcome,
    disposition, placed_at, answered_at, connected_at, ended_at) VALUES (?, 'winter', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		insIx := prep(`INSERT INTO interactions (id, direction, campaign, caller_number, created_at, answered_at, ended_at,
    outcome, cause, connected_us, hold_us, wrapup_us) VALUES (?, 'outbound', 'winter', ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		insCb := prep(`INSERT INTO campaign_callbacks (id, campaign_id, contact_id, due_at, status, created_at)
VALUES (?, 'winter', ?, ?, 'pending', ?)`)
		mustExec := func(st *sql.Stmt, args ...any) {
			if _, err := st.ExecContext(ctx, args...); err != nil {
				tb.Fatal(err)
			}
		}
		for i := lo; i < min(lo+batch, n); i++ {
			id := fmt.Sprintf("att%08d", i)
			contact := fmt.Sprintf("c%08d", i)
			num := fmt.Sprintf("+44%09d", i)
			placed := start.Add(time.Duration(i) * step)
			p := rng.IntN(100)
			switch {
			case p < 35:
				agent := agents[rng.IntN(len(agents))]
				conn := placed.Add(time.Duration(5+rng.IntN(20)) * time.Second)
				talk := time.Duration(30+rng.IntN(300)) * time.Second
				var hold time.Duration
				if i%5 == 0 {
					hold = talk / 4
				}
				disp := disps[rng.IntN(len(disps))]
				mustExec(insAtt, id, contact, num, agent, id, "", disp, micros(placed), micros(conn.Add(-time.Second)), micros(conn), micros(conn.Add(talk)))
				mustExec(insIx, id, num, micros(placed), micros(conn), micros(conn.Add(talk)), "answered", "", talk.Microseconds(),
					hold.Microseconds(), (20 * time.Second).Microseconds())
				if disp == "callback" {
					mustExec(insCb, id+"-cb", contact, micros(placed.Add(2*time.Hour)), micros(conn.Add(talk)))
				}
			case p < 38:
				mustExec(insAtt, id, contact, num, "", id, "abandoned", "", micros(placed), micros(placed.Add(8*time.Second)), nil, micros(placed.Add(20*time.Second)))
				mustExec(insIx, id, num, micros(placed), nil, micros(placed.Add(20*time.Second)), "abandoned", "safe-harbour message played", 0, 0, 0)
			default:
				outcome := "no-answer"
				switch {
				case p < 53:
					outcome = "machine"
				case p < 63:
					outcome = "busy"
				case p < 93:
				case p < 98:
					outcome = "congestion"
				default:
					outcome = "rejected"
				}
				mustExec(insAtt, id, contact, num, "", id, outcome, "", micros(placed), nil, nil, micros(placed.Add(30*time.Second)))
				mustExec(insIx, id, num, micros(placed), nil, micros(placed.Add(30*time.Second)), outcome, outcome, 0, 0, 0)
			}
		}
		if err := errors.Join(insAtt.Close(), insIx.Close(), insCb.Close(), tx.Commit()); err != nil {
			tb.Fatal(err)
		}
	}
	// The agents' state log: ready -> reserved -> talking -> wrap_up, ~5 minutes a cycle.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ins, err := tx.PrepareContext(ctx, s.d.q("INSERT INTO agent_state_log (agent, state, reason, at) VALUES (?, ?, '', ?)"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range agents {
		for t := start; t.Before(start.Add(24 * time.Hour)); t = t.Add(315 * time.Second) {
			for j, st := range []string{"ready", "reserved", "talking", "wrap_up"} {
				if _, err := ins.ExecContext(ctx, a, st, micros(t.Add(time.Duration(j)*time.Minute))); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	if err := errors.Join(ins.Close(), tx.Commit()); err != nil {
		tb.Fatal(err)
	}
	rebuildAgentStateRollups(tb, s)
	rebuildCampaignRollups(tb, s)
	return agents
}

// rebuildCampaignRollups recomputes the campaign rollups with migration 0007's
// backfill (for rows inserted around the writer).
func rebuildCampaignRollups(tb testing.TB, s *Store) {
	tb.Helper()
	ms, err := loadMigrations(s.d)
	if err != nil {
		tb.Fatal(err)
	}
	stmts := []string{"DELETE FROM report_campaign_slots", "DELETE FROM report_campaign_call_slots"}
	for _, m := range ms {
		if m.version == 7 {
			for _, st := range m.stmts {
				if strings.HasPrefix(st, "INSERT") {
					stmts = append(stmts, st)
				}
			}
		}
	}
	if len(stmts) != 4 {
		tb.Fatalf("migration 0007: want 2 backfill statements, have %d", len(stmts)-2)
	}
	for _, st := range stmts {
		if _, err := s.db.ExecContext(context.Background(), st); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkCampaignReportDay: the hourly report of one campaign (with its 30 agents'
// logged-in time) for a day of 100,000 attempts and their calls, on SQLite.
func BenchmarkCampaignReportDay(b *testing.B) {
	s := benchStore(b)
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	agents := generateCampaignDay(b, s, day, 100_000)
	spec := CampaignSpec{Campaign: "winter", Agents: agents, Dispositions: []CampaignDisposition{
		{Code: "sale", Final: true, Sale: true}, {Code: "not_interested", Final: true}, {Code: "callback", Callback: true},
		{Code: "dnc", DNC: true}, {Code: "no_decision"}}}
	req := ReportRequest{From: day, To: day.AddDate(0, 0, 1), Interval: IntervalHour, FCRWindow: 7 * 24 * time.Hour, Now: day.AddDate(0, 0, 2)}
	b.ResetTimer()
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		rows, err := s.CampaignReport(context.Background(), req, []CampaignSpec{spec})
		if err != nil || len(rows) != 24 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e6, "cpu-ms/op")
}

// rebuildAgentStateRollups recomputes report_agent_state_slots from the agent state
// log with migration 0008's backfill (for rows inserted around the writer).
func rebuildAgentStateRollups(tb testing.TB, s *Store) {
	tb.Helper()
	ms, err := loadMigrations(s.d)
	if err != nil {
		tb.Fatal(err)
	}
	stmts := []string{"DELETE FROM report_agent_state_slots"}
	for _, m := range ms {
		if m.version == 8 {
			for _, st := range m.stmts {
				if strings.HasPrefix(st, "INSERT") {
					stmts = append(stmts, st)
				}
			}
		}
	}
	if len(stmts) != 2 {
		tb.Fatalf("migration 0008: want 1 backfill statement, have %d", len(stmts)-1)
	}
	for _, st := range stmts {
		if _, err := s.db.ExecContext(context.Background(), st); err != nil {
			tb.Fatal(err)
		}
	}
}
