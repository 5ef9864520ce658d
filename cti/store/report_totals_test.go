package store

import (
	"database/sql"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

type totals struct {
	connected, hold, wrapup int64
	transfers               int
	next                    sql.NullInt64
}

func readTotals(t *testing.T, s *Store, id string) totals {
	t.Helper()
	var x totals
	require.NoError(t, s.db.QueryRowContext(testCtx(t), s.d.q(`SELECT connected_us, hold_us, wrapup_us, transfers, next_contact_at
FROM interactions WHERE id = ?`), id).Scan(&x.connected, &x.hold, &x.wrapup, &x.transfers, &x.next))
	return x
}

// The writer keeps each interaction's segment totals and the same number's next
// contact right, whatever order the records arrive in.
func TestReportTotalsKeptByWriter(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		day := 24 * time.Hour
		// Saved out of order: the last call first, then the first, then the middle one.
		for _, ix := range []Interaction{
			{ID: "last", Direction: Inbound, Queue: "q", CallerNumber: "+481", Created: at(2 * day)},
			{ID: "first", Direction: Inbound, Queue: "q", CallerNumber: "+481", Created: at(0)},
			{ID: "middle", Direction: Inbound, Queue: "q", CallerNumber: "+481", Created: at(day)},
			{ID: "other", Direction: Inbound, Queue: "q", CallerNumber: "+482", Created: at(day / 2)},
			{ID: "out", Direction: Outbound, Queue: "q", CallerNumber: "+481", Created: at(day / 2)},
		} {
			require.NoError(t, s.SaveInteraction(ix))
		}
		// Segments: talking closed by the hang-up, hold inside it, a transfer, wrap-up later.
		require.NoError(t, s.AppendSegment(Segment{InteractionID: "first", Kind: SegTalking, Agent: "a", Start: at(10 * time.Second)}))
		require.NoError(t, s.AppendSegment(Segment{InteractionID: "first", Kind: SegHold, Agent: "a", Start: at(20 * time.Second), End: at(35 * time.Second)}))
		require.NoError(t, s.AppendSegment(Segment{InteractionID: "first", Kind: SegTransfer, Agent: "a", Start: at(70 * time.Second), End: at(70 * time.Second)}))
		require.NoError(t, s.Sync(ctx))
		require.Equal(t, totals{hold: 15e6, transfers: 1, next: sql.NullInt64{Int64: micros(at(day)), Valid: true}}, readTotals(t, s, "first"),
			"the open talking segment does not count yet")
		require.NoError(t, s.CloseInteraction(InteractionClose{ID: "first", Ended: at(70 * time.Second), Outcome: "answered"}))
		require.NoError(t, s.AppendSegment(Segment{InteractionID: "first", Kind: SegWrapUp, Agent: "a", Start: at(70 * time.Second), End: at(100 * time.Second)}))
		// A re-save without segments (e.g. the answer time) changes neither.
		require.NoError(t, s.SaveInteraction(Interaction{ID: "first", Direction: Inbound, Answered: at(10 * time.Second)}))
		require.NoError(t, s.Sync(ctx))
		require.Equal(t, totals{connected: 60e6, hold: 15e6, wrapup: 30e6, transfers: 1, next: sql.NullInt64{Int64: micros(at(day)), Valid: true}},
			readTotals(t, s, "first"))
		require.Equal(t, sql.NullInt64{Int64: micros(at(2 * day)), Valid: true}, readTotals(t, s, "middle").next)
		require.False(t, readTotals(t, s, "last").next.Valid)
		require.False(t, readTotals(t, s, "other").next.Valid)
		// Saving an interaction with its segments replaces them and the totals.
		require.NoError(t, s.SaveInteraction(Interaction{ID: "first", Direction: Inbound, Segments: []Segment{
			{Kind: SegTalking, Agent: "a", Start: at(0), End: at(5 * time.Second)}}}))
		require.NoError(t, s.Sync(ctx))
		require.Equal(t, totals{connected: 5e6, next: sql.NullInt64{Int64: micros(at(day)), Valid: true}}, readTotals(t, s, "first"))
	})
}

// Rows written before version 4 get their totals and next contacts from the migration.
func TestMigrateToVersion4BackfillsReportTotals(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		ctx := testCtx(t)
		old, err := open(ctx, cfg, zerolog.Nop(), 3)
		require.NoError(t, err)
		for _, q := range []string{
			"INSERT INTO interactions (id, direction, queue, caller_number, created_at, outcome) VALUES ('a', 'inbound', 'sales', '+1', 1000000, 'answered')",
			"INSERT INTO interactions (id, direction, queue, caller_number, created_at, outcome) VALUES ('b', 'inbound', 'sales', '+1', 5000000, 'answered')",
			"INSERT INTO interaction_segments (interaction_id, seq, kind, agent, started_at, ended_at) VALUES ('a', 1, 'talking', 'ann', 1000000, 3000000)",
			"INSERT INTO interaction_segments (interaction_id, seq, kind, agent, started_at, ended_at) VALUES ('a', 2, 'hold', 'ann', 1500000, 2000000)",
			"INSERT INTO interaction_segments (interaction_id, seq, kind, agent, started_at, ended_at) VALUES ('a', 3, 'wrapup', 'ann', 3000000, 4000000)",
			"INSERT INTO interaction_segments (interaction_id, seq, kind, agent, started_at, ended_at) VALUES ('a', 4, 'transfer', 'ann', 3000000, 3000000)",
		} {
			_, err := old.db.ExecContext(ctx, q)
			require.NoError(t, err)
		}
		require.NoError(t, old.Close())
		s := mustOpen(t, cfg)
		require.Equal(t, totals{connected: 2e6, hold: 5e5, wrapup: 1e6, transfers: 1, next: sql.NullInt64{Int64: 5000000, Valid: true}}, readTotals(t, s, "a"))
		require.Equal(t, totals{}, readTotals(t, s, "b"))
	})
}

// Survey answers are personal data too: they go with the interactions' retention,
// linked or not.
func TestPurgeSurveyAnswers(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		cfg.Retention.InteractionsDays = 30
		s := mustOpen(t, cfg)
		ctx := testCtx(t)
		now := t0.Add(100 * 24 * time.Hour)
		old, recent := now.Add(-40*24*time.Hour), now.Add(-5*24*time.Hour)
		require.NoError(t, s.SaveDurable(ctx, Interaction{ID: "new", Direction: Inbound, Created: recent}))
		for _, a := range []SurveyAnswer{
			{Kind: SurveyNPS, Score: 9, At: old},                           // orphan, old
			{InteractionID: "new", Kind: SurveyCSAT, Score: 4, At: old},    // old answer
			{InteractionID: "new", Kind: SurveyCSAT, Score: 5, At: recent}, // kept
		} {
			require.NoError(t, s.SaveSurveyAnswer(a))
		}
		require.NoError(t, s.Sync(ctx))
		res, err := s.Purge(ctx, now)
		require.NoError(t, err)
		require.Equal(t, int64(2), res.Surveys)
		var n int
		require.NoError(t, s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM survey_answers").Scan(&n))
		require.Equal(t, 1, n)
	})
}
