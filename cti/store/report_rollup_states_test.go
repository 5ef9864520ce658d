package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// stateSlotRows reads report_agent_state_slots without its zero rows, sorted.
func stateSlotRows(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	require.NoError(t, s.eachRow(testCtx(t), "test", `SELECT agent, slot, state, reason, dur_us FROM report_agent_state_slots
WHERE dur_us <> 0`, nil, func(rows *sql.Rows) error {
		var (
			agent, state, reason string
			slot, dur            int64
		)
		if err := rows.Scan(&agent, &slot, &state, &reason, &dur); err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s/%d/%s/%s=%d", agent, slot, state, reason, dur))
		return nil
	}))
	sort.Strings(out)
	return out
}

// The writer keeps the agent state rollups equal to the backfill of migration 0008
// whatever order entries arrive in (ties in time included), and reports read from
// them agree with reports read from the log alone: aligned and unaligned ranges, 15
// minute to whole-range intervals, now inside the range, after a retention purge.
func TestAgentStateRollupsExact(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		cfg.Retention.AgentStatesDays = 1 // for the purge at the end
		s := mustOpen(t, cfg)
		ctx := testCtx(t)
		rng := rand.New(rand.NewPCG(5, 9))
		start := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
		states := []string{"login", "ready", "not_ready", "reserved", "talking", "on_hold", "wrap_up", "logout"}
		reasons := []string{"", "lunch", "training"}
		var entries []AgentStateEntry
		for _, agent := range []string{"x", "y", "z"} {
			at := start.Add(time.Duration(rng.IntN(3600)) * time.Second)
			for range 120 {
				st := states[rng.IntN(len(states))]
				reason := ""
				if st == "not_ready" {
					reason = reasons[rng.IntN(len(reasons))]
				}
				entries = append(entries, AgentStateEntry{Agent: agent, State: st, Reason: reason, At: at})
				if rng.IntN(6) > 0 { // sometimes two entries at the same time
					at = at.Add(time.Duration(1+rng.IntN(1500)) * time.Second)
				}
			}
		}
		// Shuffled, but entries of one agent at the same time keep their order (the log
		// orders ties by arrival).
		var groups [][]AgentStateEntry
		for i, en := range entries {
			if i > 0 && en.Agent == entries[i-1].Agent && en.At.Equal(entries[i-1].At) {
				groups[len(groups)-1] = append(groups[len(groups)-1], en)
				continue
			}
			groups = append(groups, []AgentStateEntry{en})
		}
		for _, i := range rng.Perm(len(groups)) {
			for _, en := range groups[i] {
				require.NoError(t, s.LogAgentState(en))
			}
		}
		require.NoError(t, s.Sync(ctx))
		kept := stateSlotRows(t, s)
		require.NotEmpty(t, kept)
		rebuildAgentStateRollups(t, s)
		require.Equal(t, kept, stateSlotRows(t, s), "writer's rollups = migration 0008's backfill")

		check := func(name string, req ReportRequest) {
			t.Helper()
			b, err := newBuckets(req, 3)
			require.NoError(t, err)
			for _, agent := range []string{"x", "y", "z", "nobody"} {
				fast := make([]facts, len(b.starts))
				raw := make([]facts, len(b.starts))
				require.NoError(t, s.stateFacts(ctx, b, agent, req.Now, fast))
				end := b.end
				if req.Now.Before(end) {
					end = req.Now
				}
				require.NoError(t, s.rawStateFacts(ctx, b, agent, b.from(), end, raw))
				require.Equal(t, raw, fast, "%s: %s", name, agent)
			}
		}
		loc, err := time.LoadLocation("Asia/Kathmandu") // UTC+5:45
		require.NoError(t, err)
		day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		late := day.AddDate(0, 0, 3)
		check("day hourly", ReportRequest{From: day, To: day.AddDate(0, 0, 2), Interval: IntervalHour, Now: late})
		check("15m, now mid-slot", ReportRequest{From: day, To: day.AddDate(0, 0, 2), Interval: Interval15Min,
			Now: start.Add(17*time.Hour + 7*time.Minute + 3*time.Second)})
		check("custom range", ReportRequest{From: start.Add(83 * time.Minute), To: start.Add(29 * time.Hour), Interval: IntervalRange, Now: late})
		check("Kathmandu days", ReportRequest{From: day, To: day.AddDate(0, 0, 3), Interval: IntervalDay, Location: loc, Now: late})
		check("now before the range ends", ReportRequest{From: day, To: day.AddDate(0, 0, 2), Interval: IntervalRange, Now: start.Add(5 * time.Hour)})

		// A retention purge takes the old totals with the old log.
		_, err = s.Purge(context.Background(), start.Add(24*time.Hour+10*time.Hour))
		require.NoError(t, err)
		for _, row := range stateSlotRows(t, s) {
			var (
				agent, rest string
				slot        int64
			)
			_, err := fmt.Sscanf(row, "%1s/%d/%s", &agent, &slot, &rest)
			require.NoError(t, err, row)
			require.GreaterOrEqual(t, slot, micros(start.Add(10*time.Hour))/slotMicros, row)
		}
	})
}

// A version-5 database with an agent state log, campaign attempts and campaign calls
// is migrated: the backfills of 0007 and 0008 give the rollups the raw rows give.
func TestCampaignAndStateRollupBackfill(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		ctx := testCtx(t)
		old, err := open(ctx, cfg, zerolog.Nop(), 5)
		require.NoError(t, err)
		start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		exec := func(q string, args ...any) {
			t.Helper()
			_, err := old.db.ExecContext(ctx, old.d.q(q), args...)
			require.NoError(t, err)
		}
		states := []string{"login", "ready", "not_ready", "talking", "wrap_up", "ready", "logout"}
		for i := range 60 {
			at := start.Add(time.Duration(i) * 377 * time.Second)
			exec("INSERT INTO agent_state_log (agent, state, reason, at) VALUES (?, ?, ?, ?)",
				[]string{"x", "y"}[i%2], states[i%len(states)], []string{"", "lunch"}[i%3%2], micros(at))
		}
		outcomes := []string{"", "busy", "abandoned", "machine", "", "skipped", "no-answer"}
		for i := range 50 {
			at := start.Add(time.Duration(i) * 211 * time.Second)
			var connected any
			disp := ""
			if outcomes[i%len(outcomes)] == "" {
				connected, disp = micros(at.Add(5*time.Second)), []string{"sale", "callback"}[i%2]
			}
			id := fmt.Sprintf("at%d", i)
			exec(`INSERT INTO campaign_attempts (id, campaign_id, contact_id, number, outcome, disposition, placed_at, connected_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, []string{"k1", "k2"}[i%2], "c", "+44", outcomes[i%len(outcomes)], disp, micros(at), connected)
			exec(`INSERT INTO interactions (id, direction, campaign, created_at, cause, connected_us, hold_us, wrapup_us)
VALUES (?, 'outbound', ?, ?, ?, ?, ?, ?)`, id, []string{"k1", "k2"}[i%2], micros(at),
				[]string{"", "safe-harbour message played"}[i%3%2], int64(i)*1_000_000, int64(i%4)*1_000_000, int64(i%5)*1_000_000)
		}
		require.NoError(t, old.Close())
		s := mustOpen(t, cfg)
		req := ReportRequest{From: start.Add(-time.Hour), To: start.Add(8 * time.Hour), Interval: IntervalHour, Now: start.Add(24 * time.Hour)}
		b, err := newBuckets(req, 1)
		require.NoError(t, err)
		lo, hi := b.rangeArgs()
		for _, k := range []string{"k1", "k2"} {
			fast := make([]campFacts, len(b.starts))
			raw := make([]campFacts, len(b.starts))
			require.NoError(t, s.campaignRollupFacts(ctx, b, k, lo/slotMicros, hi/slotMicros, fast))
			require.NoError(t, s.rawCampaignFacts(ctx, b, k, lo, hi, raw))
			require.Equal(t, raw, fast, k)
			n, plays, talk := 0, 0, time.Duration(0)
			for _, x := range fast {
				n, plays, talk = n+x.attempts, plays+x.plays, talk+x.connected
			}
			require.True(t, n > 0 && plays > 0 && talk > 0, "%s: attempts %d, plays %d, talk %s", k, n, plays, talk)
		}
		for _, a := range []string{"x", "y"} {
			fast := make([]facts, len(b.starts))
			raw := make([]facts, len(b.starts))
			require.NoError(t, s.stateFacts(ctx, b, a, req.Now, fast))
			require.NoError(t, s.rawStateFacts(ctx, b, a, b.from(), b.end, raw))
			require.Equal(t, raw, fast, a)
			var ready, notReady time.Duration
			for _, x := range fast {
				ready, notReady = ready+x.ready, notReady+x.notReady
			}
			require.True(t, ready > 0 && notReady > 0, "%s: ready %s, not ready %s", a, ready, notReady)
		}
	})
}
