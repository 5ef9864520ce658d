package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func assertInteraction(t *testing.T, want, got Interaction) {
	t.Helper()
	norm := func(x time.Time) time.Time {
		if x.IsZero() {
			return x
		}
		return x.UTC().Truncate(time.Microsecond)
	}
	want.Created, want.Queued, want.Answered, want.Ended = norm(want.Created), norm(want.Queued), norm(want.Answered), norm(want.Ended)
	if want.Segments == nil {
		want.Segments = []Segment{}
	}
	for i := range want.Segments {
		want.Segments[i].Start, want.Segments[i].End = norm(want.Segments[i].Start), norm(want.Segments[i].End)
	}
	require.Equal(t, want, got)
}

func TestInteractionLifecycle(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		ix := Interaction{ID: "ix-1", CallID: "1700000000.1", Direction: Inbound, Queue: "support",
			CallerNumber: "+441632960002", CallerName: "Ada", Dialled: "+441632960999",
			Created: t0.Add(123456789 * time.Nanosecond), Queued: t0.Add(time.Second)}
		require.NoError(t, s.SaveInteraction(ix))
		segs := []Segment{
			{InteractionID: "ix-1", Kind: SegQueued, Start: t0.Add(time.Second), End: t0.Add(30 * time.Second)},
			{InteractionID: "ix-1", Kind: SegOffered, Agent: "bob", Start: t0.Add(30 * time.Second), End: t0.Add(31 * time.Second)},
			{InteractionID: "ix-1", Kind: SegRinging, Agent: "bob", Start: t0.Add(31 * time.Second), End: t0.Add(35 * time.Second)},
			{InteractionID: "ix-1", Kind: SegTalking, Agent: "bob", Start: t0.Add(35 * time.Second)},
		}
		for _, sg := range segs {
			require.NoError(t, s.AppendSegment(sg))
		}
		// Answered arrives as a second save: zero fields must not erase anything.
		require.NoError(t, s.SaveInteraction(Interaction{ID: "ix-1", Direction: Inbound, Answered: t0.Add(35 * time.Second)}))
		require.NoError(t, s.CloseInteraction(InteractionClose{ID: "ix-1", Ended: t0.Add(95 * time.Second), Outcome: "answered", Cause: "16"}))
		require.NoError(t, s.AppendSegment(Segment{InteractionID: "ix-1", Kind: SegWrapUp, Agent: "bob", Start: t0.Add(95 * time.Second), End: t0.Add(125 * time.Second)}))
		// Wrap-up result later: only the non-zero fields change.
		require.NoError(t, s.CloseInteraction(InteractionClose{ID: "ix-1", Disposition: "resolved", Notes: "reset password", RecordingName: "rec-ix-1"}))
		require.NoError(t, s.Sync(ctx))

		got, err := s.Interaction(ctx, "ix-1")
		require.NoError(t, err)
		want := ix
		want.Answered, want.Ended = t0.Add(35*time.Second), t0.Add(95*time.Second)
		want.Outcome, want.Cause, want.Disposition, want.Notes, want.RecordingName = "answered", "16", "resolved", "reset password", "rec-ix-1"
		want.Segments = append(segs, Segment{InteractionID: "ix-1", Kind: SegWrapUp, Agent: "bob", Start: t0.Add(95 * time.Second), End: t0.Add(125 * time.Second)})
		want.Segments[3].End = t0.Add(95 * time.Second) // the open talking segment closed with the interaction
		for i := range want.Segments {
			want.Segments[i].Seq = i + 1
		}
		assertInteraction(t, want, got)

		_, err = s.Interaction(ctx, "nope")
		require.ErrorIs(t, err, ErrNotFound)
	})
}

func TestSaveInteractionReplacesSegments(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		ix := Interaction{ID: "ix-r", Direction: Outbound, Campaign: "renewals", Dialled: "+15550100", Created: t0,
			Segments: []Segment{{Kind: SegRinging, Start: t0}, {Kind: SegTalking, Agent: "carol", Start: t0.Add(time.Second)}}}
		require.NoError(t, s.SaveDurable(ctx, ix))
		ix.Segments = []Segment{{Kind: SegTalking, Agent: "carol", Start: t0.Add(time.Second), End: t0.Add(time.Minute)}}
		require.NoError(t, s.SaveDurable(ctx, ix))
		got, err := s.Interaction(ctx, "ix-r")
		require.NoError(t, err)
		require.Len(t, got.Segments, 1)
		require.Equal(t, Segment{InteractionID: "ix-r", Seq: 1, Kind: SegTalking, Agent: "carol", Start: t0.Add(time.Second), End: t0.Add(time.Minute)}, got.Segments[0])
		require.Equal(t, Outbound, got.Direction)
		require.Equal(t, "renewals", got.Campaign)
	})
}

func TestInteractionsByNumber(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		const num = "+441632960123"
		for i := range 5 {
			ix := Interaction{ID: fmt.Sprintf("h-%d", i), Direction: Inbound, Queue: "sales", CallerNumber: num, Created: t0.Add(time.Duration(i) * time.Hour)}
			if i == 3 { // an outbound call to the same customer
				ix.Direction, ix.CallerNumber, ix.Dialled = Outbound, "+441632960999", num
			}
			require.NoError(t, s.SaveInteraction(ix))
			require.NoError(t, s.AppendSegment(Segment{InteractionID: ix.ID, Kind: SegTalking, Agent: "dave", Start: ix.Created}))
		}
		require.NoError(t, s.SaveInteraction(Interaction{ID: "other", Direction: Inbound, CallerNumber: "+15550199", Created: t0.Add(10 * time.Hour)}))
		require.NoError(t, s.Sync(ctx))

		got, err := s.InteractionsByNumber(ctx, num, 3)
		require.NoError(t, err)
		ids := []string{}
		for _, ix := range got {
			ids = append(ids, ix.ID)
			require.Len(t, ix.Segments, 1)
			require.Equal(t, "dave", ix.Segments[0].Agent)
		}
		require.Equal(t, []string{"h-4", "h-3", "h-2"}, ids)
		require.Equal(t, Outbound, got[1].Direction)

		none, err := s.InteractionsByNumber(ctx, "+10000000000", 10)
		require.NoError(t, err)
		require.Empty(t, none)
		_, err = s.InteractionsByNumber(ctx, num, 0)
		require.ErrorIs(t, err, ErrInvalidRecord)
		_, err = s.InteractionsByNumber(ctx, num, MaxHistory+1)
		require.ErrorIs(t, err, ErrInvalidRecord)
	})
}

func TestUsers(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		u := User{Username: "erin", Role: RoleAgent, PasswordHash: "$2a$10$abc", Teams: []string{"red", "blue", "red"}, Updated: t0}
		require.NoError(t, s.UpsertUser(ctx, u))
		got, err := s.User(ctx, "erin")
		require.NoError(t, err)
		require.Equal(t, User{Username: "erin", Role: RoleAgent, PasswordHash: "$2a$10$abc", Teams: []string{"blue", "red"}, Created: t0, Updated: t0}, got)

		u2 := User{Username: "erin", Role: RoleSupervisor, PasswordHash: "$2a$10$def", Teams: []string{"green"}, Updated: t0.Add(time.Hour)}
		require.NoError(t, s.UpsertUser(ctx, u2))
		got, err = s.User(ctx, "erin")
		require.NoError(t, err)
		require.Equal(t, User{Username: "erin", Role: RoleSupervisor, PasswordHash: "$2a$10$def", Teams: []string{"green"}, Created: t0, Updated: t0.Add(time.Hour)}, got)

		_, err = s.User(ctx, "frank")
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorIs(t, s.UpsertUser(ctx, User{Username: "x", PasswordHash: "h"}), ErrInvalidRecord)
		require.ErrorIs(t, s.UpsertUser(ctx, User{Username: "x", Role: RoleAdmin}), ErrInvalidRecord)
	})
}

func TestAgentStateAndAuditLogs(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		states := []AgentStateEntry{
			{Agent: "gina", State: "login", At: t0},
			{Agent: "gina", State: "ready", At: t0.Add(time.Minute)},
			{Agent: "gina", State: "not_ready", Reason: "lunch", At: t0.Add(time.Hour)},
			{Agent: "hal", State: "ready", At: t0.Add(time.Minute)},
			{Agent: "gina", State: "logout", At: t0.Add(2 * time.Hour)},
		}
		for _, st := range states {
			require.NoError(t, s.LogAgentState(st))
		}
		audits := []AuditEntry{
			{Actor: "sup1", Action: "agent.logout", Target: "gina", At: t0.Add(time.Hour), Detail: `{"reason":"end of shift"}`},
			{Actor: "admin", Action: "queue.update", Target: "sales", At: t0.Add(2 * time.Hour)},
		}
		for _, a := range audits {
			require.NoError(t, s.Audit(a))
		}
		require.ErrorIs(t, s.LogAgentState(AgentStateEntry{Agent: "gina"}), ErrInvalidRecord)
		require.ErrorIs(t, s.Audit(AuditEntry{Action: "x"}), ErrInvalidRecord)
		require.NoError(t, s.Sync(ctx))

		got, err := s.AgentStates(ctx, "gina", t0, t0.Add(2*time.Hour))
		require.NoError(t, err)
		require.Equal(t, []AgentStateEntry{states[0], states[1], states[2]}, got)
		al, err := s.AuditLog(ctx, t0, t0.Add(3*time.Hour))
		require.NoError(t, err)
		require.Equal(t, audits, al)
	})
}

func TestCallbacks(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		require.NoError(t, s.SaveDurable(ctx, Interaction{ID: "ix-cb", Direction: Inbound, Created: t0}))
		cb := Callback{ID: "cb-1", Queue: "support", Number: "+441632960555", Name: "Ivy", InteractionID: "ix-cb",
			Status: CallbackPending, Requested: t0, Due: t0.Add(time.Hour)}
		require.NoError(t, s.SaveDurable(ctx, cb))
		got, err := s.Callback(ctx, "cb-1")
		require.NoError(t, err)
		require.Equal(t, cb, got)
		cb.Status, cb.Attempts, cb.Agent, cb.Completed = CallbackDone, 2, "jo", t0.Add(90*time.Minute)
		require.NoError(t, s.SaveDurable(ctx, cb))
		got, err = s.Callback(ctx, "cb-1")
		require.NoError(t, err)
		require.Equal(t, cb, got)
		_, err = s.Callback(ctx, "cb-2")
		require.ErrorIs(t, err, ErrNotFound)

		// by status, oldest due first, at most limit
		for _, c := range []Callback{
			{ID: "cb-3", Queue: "sales", Number: "+441632960556", Status: CallbackInProgress, Requested: t0, Due: t0.Add(2 * time.Minute), Attempts: 1},
			{ID: "cb-4", Queue: "sales", Number: "+441632960557", Status: CallbackInProgress, Requested: t0, Due: t0.Add(time.Minute), Attempts: 2},
			{ID: "cb-5", Queue: "sales", Number: "+441632960558", Status: CallbackPending, Requested: t0, Due: t0},
		} {
			require.NoError(t, s.SaveDurable(ctx, c))
		}
		in, err := s.CallbacksByStatus(ctx, CallbackInProgress, 10)
		require.NoError(t, err)
		require.Len(t, in, 2)
		require.Equal(t, []string{"cb-4", "cb-3"}, []string{in[0].ID, in[1].ID})
		require.Equal(t, 2, in[0].Attempts)
		require.True(t, in[0].Due.Equal(t0.Add(time.Minute)))
		one, err := s.CallbacksByStatus(ctx, CallbackInProgress, 1)
		require.NoError(t, err)
		require.Len(t, one, 1)
		none, err := s.CallbacksByStatus(ctx, CallbackFailed, 10)
		require.NoError(t, err)
		require.Empty(t, none)
	})
}

// TestCallbackNodeAndPlace: a callback row keeps its node and place (arrival,
// priority, skills) across the later saves of its dials that do not carry them, a
// take-over may change the node, and CallbacksOfNode reads one node's rows in a status.
func TestCallbackNodeAndPlace(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		arrived := t0.Add(-3 * time.Minute)
		cb := Callback{ID: "cb-1", Queue: "sales", Number: "+441632960555", Status: CallbackPending, Requested: t0, Due: t0,
			Node: "node-a", Arrived: arrived, Priority: 7, Skills: "french>=3"}
		require.NoError(t, s.SaveDurable(ctx, cb))
		got, err := s.Callback(ctx, "cb-1")
		require.NoError(t, err)
		require.Equal(t, cb, got)
		// a dial's save without node or place keeps them
		dial := Callback{ID: "cb-1", Queue: "sales", Number: "+441632960555", Status: CallbackInProgress, Requested: t0,
			Due: t0.Add(time.Minute), Attempts: 1, Agent: "anna"}
		require.NoError(t, s.SaveDurable(ctx, dial))
		got, err = s.Callback(ctx, "cb-1")
		require.NoError(t, err)
		want := dial
		want.Node, want.Arrived, want.Priority, want.Skills = "node-a", arrived, 7, "french>=3"
		require.Equal(t, want, got)
		// a take-over by node-b
		want.Node, want.Status = "node-b", CallbackPending
		require.NoError(t, s.SaveDurable(ctx, want))
		got, err = s.Callback(ctx, "cb-1")
		require.NoError(t, err)
		require.Equal(t, want, got)

		for _, c := range []Callback{
			{ID: "cb-2", Queue: "sales", Number: "1", Status: CallbackPending, Requested: t0, Due: t0.Add(2 * time.Minute), Node: "node-a"},
			{ID: "cb-3", Queue: "sales", Number: "2", Status: CallbackPending, Requested: t0, Due: t0.Add(time.Minute), Node: "node-a"},
			{ID: "cb-4", Queue: "sales", Number: "3", Status: CallbackInProgress, Requested: t0, Due: t0, Node: "node-a"},
			{ID: "cb-5", Queue: "sales", Number: "4", Status: CallbackPending, Requested: t0, Due: t0}, // no node (before v10)
		} {
			require.NoError(t, s.SaveDurable(ctx, c))
		}
		rows, err := s.CallbacksOfNode(ctx, "node-a", CallbackPending, 10)
		require.NoError(t, err)
		ids := []string{}
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		require.Equal(t, []string{"cb-3", "cb-2"}, ids)
		require.True(t, rows[0].Arrived.IsZero())
		rows, err = s.CallbacksOfNode(ctx, "node-b", CallbackPending, 10)
		require.NoError(t, err)
		require.Len(t, rows, 1)
		require.Equal(t, "cb-1", rows[0].ID)
		rows, err = s.CallbacksOfNode(ctx, "node-a", CallbackPending, 1)
		require.NoError(t, err)
		require.Len(t, rows, 1)
		_, err = s.CallbacksOfNode(ctx, "", CallbackPending, 10)
		require.ErrorIs(t, err, ErrInvalidRecord)
		require.ErrorIs(t, s.SaveDurable(ctx, Callback{ID: "cb-6", Queue: "q", Number: "5", Status: CallbackPending, Priority: 11}), ErrInvalidRecord)
	})
}

// TestRejectedRecords: a record the engine refuses is reported to a durable caller,
// logged and counted, and does not take the records around it down with it.
func TestRejectedRecords(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		err := s.SaveDurable(ctx, Segment{InteractionID: "ghost", Kind: SegTalking, Start: t0})
		require.ErrorIs(t, err, ErrRejected)
		err = s.SaveDurable(ctx, InteractionClose{ID: "ghost", Outcome: "answered"})
		require.ErrorIs(t, err, ErrRejected)

		require.NoError(t, s.SaveInteraction(Interaction{ID: "ok-1", Direction: Inbound, Created: t0}))
		require.NoError(t, s.AppendSegment(Segment{InteractionID: "ghost", Kind: SegHold, Start: t0}))
		require.NoError(t, s.SaveInteraction(Interaction{ID: "ok-2", Direction: Inbound, Created: t0}))
		require.NoError(t, s.Sync(ctx))
		for _, id := range []string{"ok-1", "ok-2"} {
			_, err := s.Interaction(ctx, id)
			require.NoError(t, err, id)
		}
		st := s.Stats()
		require.Equal(t, uint64(3), st.Rejected)
		require.Equal(t, 0, st.Pending)
		require.ErrorIs(t, s.SaveInteraction(Interaction{ID: "bad"}), ErrInvalidRecord) // no direction
		require.ErrorIs(t, s.AppendSegment(Segment{InteractionID: "ok-1", Kind: SegmentKind(99)}), ErrInvalidRecord)
	})
}

// blockWrites makes the engine refuse or stall the writer's transactions until the
// returned function is called: SQLite by holding the write lock from another
// connection (the writer fails with SQLITE_BUSY and retries), PostgreSQL by locking
// the audit table (the writer waits).
func blockWrites(t *testing.T, cfg Config) (release func()) {
	t.Helper()
	ctx := testCtx(t)
	var (
		db  *sql.DB
		err error
	)
	switch cfg.Driver {
	case DriverSQLite:
		db, err = sql.Open("sqlite", cfg.Path+"?_pragma=busy_timeout(1000)&_txlock=immediate")
	default:
		db, err = sql.Open("pgx", cfg.DSN)
	}
	require.NoError(t, err)
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	if cfg.Driver == DriverPostgres {
		_, err = tx.ExecContext(ctx, "LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
	} else {
		_, err = tx.ExecContext(ctx, "INSERT INTO audit_log (actor, action, at) VALUES ('lock', 'lock', 0)")
	}
	require.NoError(t, err)
	var once sync.Once
	release = func() {
		once.Do(func() {
			require.NoError(t, tx.Rollback())
			require.NoError(t, db.Close())
		})
	}
	t.Cleanup(release)
	return release
}

// TestBacklogBoundAndOutage: while the engine cannot write, records wait in memory
// up to max_pending; past it Enqueue says ErrBacklogFull; once the engine is back
// every accepted record is saved.
func TestBacklogBoundAndOutage(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		cfg.BusyTimeout = 20 * time.Millisecond
		cfg.Writer.BatchSize = 4
		cfg.Writer.MaxPending = 8
		s := mustOpen(t, cfg)
		ctx := testCtx(t)
		release := blockWrites(t, cfg)

		accepted := 0
		var full error
		for i := range 50 {
			err := s.Audit(AuditEntry{Actor: "sup", Action: "a", Target: fmt.Sprint(i), At: t0.Add(time.Duration(i) * time.Second)})
			if err != nil {
				full = err
				break
			}
			accepted++
		}
		require.ErrorIs(t, full, ErrBacklogFull)
		// At most one batch can be in flight outside the bound.
		require.GreaterOrEqual(t, accepted, cfg.Writer.MaxPending)
		require.LessOrEqual(t, accepted, cfg.Writer.MaxPending+cfg.Writer.BatchSize)
		require.Equal(t, uint64(1), s.Stats().BacklogFull)

		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := s.Sync(short)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "Sync must not report success while the engine is blocked")
		ok, reason := s.Ready()
		require.False(t, ok)
		require.NotEmpty(t, reason)
		if e.name == DriverSQLite {
			st := s.Stats()
			require.Positive(t, st.FailedAttempts)
			require.NotEmpty(t, st.LastError)
		}

		release()
		require.NoError(t, s.Sync(ctx))
		got, err := s.AuditLog(ctx, t0, t0.Add(time.Hour))
		require.NoError(t, err)
		require.Len(t, got, accepted)
		st := s.Stats()
		require.Equal(t, uint64(accepted), st.Committed)
		require.Empty(t, st.LastError)
		ok, reason = s.Ready()
		require.True(t, ok, reason)
	})
}

// TestCloseFlushesQueue: Close commits what is still queued; afterwards records are refused.
func TestCloseFlushesQueue(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		cfg.Writer.FlushInterval = time.Minute
		cfg.Writer.BatchSize = 1000
		cfg.Writer.MaxPending = 1000
		s, err := Open(testCtx(t), cfg, zerolog.Nop())
		require.NoError(t, err)
		for i := range 100 {
			require.NoError(t, s.LogAgentState(AgentStateEntry{Agent: "kim", State: "ready", At: t0.Add(time.Duration(i) * time.Second)}))
		}
		require.NoError(t, s.Close())
		require.NoError(t, s.Close()) // idempotent
		require.ErrorIs(t, s.LogAgentState(AgentStateEntry{Agent: "kim", State: "ready"}), ErrClosed)
		require.NoError(t, s.Sync(testCtx(t)), "nothing is left unsaved")

		s2 := mustOpen(t, cfg)
		got, err := s2.AgentStates(testCtx(t), "kim", t0, t0.Add(time.Hour))
		require.NoError(t, err)
		require.Len(t, got, 100)
	})
}

func TestConcurrentWriters(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		cfg.Writer.BatchSize = 16
		s := mustOpen(t, cfg)
		ctx := testCtx(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				for i := range 10 {
					id := fmt.Sprintf("c-%d-%d", g, i)
					err := errors.Join(
						s.SaveInteraction(Interaction{ID: id, Direction: Inbound, CallerNumber: "+15550000", Created: t0.Add(time.Duration(g*10+i) * time.Second)}),
						s.AppendSegment(Segment{InteractionID: id, Kind: SegQueued, Start: t0}),
						s.AppendSegment(Segment{InteractionID: id, Kind: SegTalking, Agent: "lee", Start: t0}),
						s.CloseInteraction(InteractionClose{ID: id, Ended: t0.Add(time.Minute), Outcome: "answered"}))
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.NoError(t, s.Sync(ctx))
		got, err := s.InteractionsByNumber(ctx, "+15550000", MaxHistory)
		require.NoError(t, err)
		require.Len(t, got, 80)
		for _, ix := range got {
			require.Len(t, ix.Segments, 2, ix.ID)
			require.Equal(t, []SegmentKind{SegQueued, SegTalking}, []SegmentKind{ix.Segments[0].Kind, ix.Segments[1].Kind})
			require.Equal(t, t0.Add(time.Minute), ix.Segments[1].End)
		}
		require.Equal(t, uint64(320), s.Stats().Committed)
	})
}

func TestPurgeRetention(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		cfg.Retention = Retention{InteractionsDays: 30, AgentStatesDays: 10, AuditDays: 0, CallbacksDays: 30}
		s := mustOpen(t, cfg)
		ctx := testCtx(t)
		now := t0.Add(100 * 24 * time.Hour)
		old, recent := now.Add(-40*24*time.Hour), now.Add(-5*24*time.Hour)
		for _, r := range []Record{
			Interaction{ID: "old", Direction: Inbound, Created: old, Segments: []Segment{{Kind: SegTalking, Start: old}}},
			Interaction{ID: "new", Direction: Inbound, Created: recent},
			Callback{ID: "cb-old", Queue: "q", Number: "1", InteractionID: "old", Status: CallbackDone, Requested: old},
			Callback{ID: "cb-new", Queue: "q", Number: "1", InteractionID: "old", Status: CallbackPending, Requested: recent},
			AgentStateEntry{Agent: "a", State: "ready", At: now.Add(-11 * 24 * time.Hour)},
			AgentStateEntry{Agent: "a", State: "ready", At: recent},
			AuditEntry{Actor: "x", Action: "y", At: old},
		} {
			require.NoError(t, s.Enqueue(r))
		}
		require.NoError(t, s.Sync(ctx))
		res, err := s.Purge(ctx, now)
		require.NoError(t, err)
		require.Equal(t, PurgeResult{Interactions: 1, AgentStates: 1, Audit: 0, Callbacks: 1}, res)
		_, err = s.Interaction(ctx, "old")
		require.ErrorIs(t, err, ErrNotFound)
		var segs int
		require.NoError(t, s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM interaction_segments").Scan(&segs))
		require.Zero(t, segs, "segments go with their interaction")
		cb, err := s.Callback(ctx, "cb-new")
		require.NoError(t, err)
		require.Empty(t, cb.InteractionID, "the purged interaction is unlinked from the kept callback")
		al, err := s.AuditLog(ctx, old.Add(-time.Hour), now)
		require.NoError(t, err)
		require.Len(t, al, 1)
	})
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	pg := DefaultConfig()
	pg.Driver, pg.DSN = DriverPostgres, "postgres://ctid:secret@db.example:5432/ctid"
	require.NoError(t, pg.Validate())
	cases := []struct {
		key string
		mut func(*Config)
	}{
		{"store.driver", func(c *Config) { c.Driver = "mysql" }},
		{"store.path", func(c *Config) { c.Path = "" }},
		{"store.path", func(c *Config) { c.Path = "file:x.db?mode=ro" }},
		{"store.busy_timeout", func(c *Config) { c.BusyTimeout = 0 }},
		{"store.dsn", func(c *Config) { c.Driver, c.DSN = DriverPostgres, "" }},
		{"store.dsn", func(c *Config) { c.Driver, c.DSN = DriverPostgres, "postgres://u:topsecret@h:notaport/db" }},
		{"store.max_open_conns", func(c *Config) { c.MaxOpenConns = 0 }},
		{"store.writer.batch_size", func(c *Config) { c.Writer.BatchSize = 0 }},
		{"store.writer.flush_interval", func(c *Config) { c.Writer.FlushInterval = -time.Second }},
		{"store.writer.max_pending", func(c *Config) { c.Writer.MaxPending = 1 }},
		{"store.writer.write_timeout", func(c *Config) { c.Writer.WriteTimeout = 0 }},
		{"store.writer.retry_max", func(c *Config) { c.Writer.RetryMax = 0 }},
		{"store.writer.close_timeout", func(c *Config) { c.Writer.CloseTimeout = time.Hour }},
		{"store.retention.interactions_days", func(c *Config) { c.Retention.InteractionsDays = -1 }},
		{"store.retention.audit_days", func(c *Config) { c.Retention.AuditDays = 40000 }},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.mut(&c)
		err := c.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig, tc.key)
		require.Contains(t, err.Error(), tc.key+":")
		require.NotContains(t, err.Error(), "topsecret", "the DSN password must not leak into errors")
		_, err = Open(context.Background(), c, zerolog.Nop())
		require.ErrorIs(t, err, ErrInvalidConfig, "Open validates")
	}
}

func TestEnumsRoundTrip(t *testing.T) {
	for k := SegQueued; k <= SegWrapUp; k++ {
		got, err := ParseSegmentKind(k.String())
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	for d := Inbound; d <= Internal; d++ {
		got, err := ParseDirection(d.String())
		require.NoError(t, err)
		require.Equal(t, d, got)
	}
	for r := RoleAgent; r <= RoleAdmin; r++ {
		got, err := ParseRole(r.String())
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
	for c := CallbackPending; c <= CallbackCancelled; c++ {
		got, err := ParseCallbackStatus(c.String())
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
	_, err := ParseSegmentKind("lunch")
	require.ErrorIs(t, err, ErrInvalidRecord)
	require.Equal(t, "unknown", SegmentKind(0).String())
	require.True(t, strings.Contains(SegWrapUp.String(), "wrapup"))
}
