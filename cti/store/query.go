package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SaveInteraction queues an insert-or-update of ix (see Interaction). Non-blocking.
func (s *Store) SaveInteraction(ix Interaction) error { return s.Enqueue(ix) }

// AppendSegment queues seg after the interaction's last segment. Non-blocking.
func (s *Store) AppendSegment(seg Segment) error { return s.Enqueue(seg) }

// CloseInteraction queues the end and/or wrap-up result of an interaction; open
// segments are closed at c.Ended. Non-blocking.
func (s *Store) CloseInteraction(c InteractionClose) error { return s.Enqueue(c) }

// LogAgentState queues one agent state change. Non-blocking.
func (s *Store) LogAgentState(e AgentStateEntry) error { return s.Enqueue(e) }

// Audit queues one audit log line. Non-blocking.
func (s *Store) Audit(e AuditEntry) error { return s.Enqueue(e) }

// UpsertUser creates or updates a user (role, password hash, teams) and returns after
// the commit. Created is kept from the first save.
func (s *Store) UpsertUser(ctx context.Context, u User) error { return s.SaveDurable(ctx, u) }

const interactionCols = `id, call_id, direction, queue, campaign, caller_number, caller_name, dialled,
    created_at, queued_at, answered_at, ended_at, outcome, cause, disposition, notes, recording_name`

type rowScanner interface{ Scan(dest ...any) error }

func scanInteraction(r rowScanner) (Interaction, error) {
	var (
		ix                      Interaction
		dir                     string
		created                 int64
		queued, answered, ended sql.NullInt64
	)
	if err := r.Scan(&ix.ID, &ix.CallID, &dir, &ix.Queue, &ix.Campaign, &ix.CallerNumber, &ix.CallerName,
		&ix.Dialled, &created, &queued, &answered, &ended, &ix.Outcome, &ix.Cause, &ix.Disposition, &ix.Notes,
		&ix.RecordingName); err != nil {
		return Interaction{}, err
	}
	d, err := ParseDirection(dir)
	if err != nil {
		return Interaction{}, err
	}
	ix.Direction = d
	ix.Created, ix.Queued, ix.Answered, ix.Ended = fromMicros(created), fromNullMicros(queued), fromNullMicros(answered), fromNullMicros(ended)
	ix.Segments = []Segment{}
	return ix, nil
}

// Interaction reads one committed interaction with its segments in order; ErrNotFound
// if there is none. Records still queued are not visible (Sync first if needed).
func (s *Store) Interaction(ctx context.Context, id string) (Interaction, error) {
	ix, err := scanInteraction(s.db.QueryRowContext(ctx, s.d.q("SELECT "+interactionCols+" FROM interactions WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Interaction{}, fmt.Errorf("%w: interaction %q", ErrNotFound, id)
	}
	if err != nil {
		return Interaction{}, fmt.Errorf("store: interaction %q: %w", id, err)
	}
	list := []Interaction{ix}
	if err := s.fillSegments(ctx, list); err != nil {
		return Interaction{}, err
	}
	return list[0], nil
}

// historyQuery: the limit is cast so that SQLite does not see a bare bound integer
// it may plan with: with a plain "LIMIT ?" every binding expires the prepared
// statement, which is then parsed again on each run.
const historyQuery = "SELECT " + interactionCols + ` FROM interactions
WHERE caller_number = ? OR dialled = ? ORDER BY created_at DESC, id LIMIT CAST(? AS BIGINT)`

// MaxHistory bounds InteractionsByNumber.
const MaxHistory = 500

// InteractionsByNumber is the contact history of a phone number (as caller or as
// dialled number), newest first, at most limit (1..MaxHistory), with segments.
func (s *Store) InteractionsByNumber(ctx context.Context, number string, limit int) ([]Interaction, error) {
	if strings.TrimSpace(number) == "" {
		return nil, fmt.Errorf("%w: empty number", ErrInvalidRecord)
	}
	if limit < 1 || limit > MaxHistory {
		return nil, fmt.Errorf("%w: limit %d: must be between 1 and %d", ErrInvalidRecord, limit, MaxHistory)
	}
	rows, err := s.dbQuery(ctx, historyQuery, number, number, limit)
	if err != nil {
		return nil, fmt.Errorf("store: history of %q: %w", number, err)
	}
	out := []Interaction{}
	for rows.Next() {
		ix, err := scanInteraction(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("store: history of %q: %w", number, err), rows.Close())
		}
		out = append(out, ix)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: history of %q: %w", number, err)
	}
	if err := s.fillSegments(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// maxPreparedIn: segment reads for up to this many interactions use a prepared
// statement (one per list length); longer lists (large history pages) are parsed each time.
const maxPreparedIn = 16

func (s *Store) fillSegments(ctx context.Context, list []Interaction) error {
	if len(list) == 0 {
		return nil
	}
	idx := make(map[string]int, len(list))
	args := make([]any, 0, len(list))
	for i, ix := range list {
		idx[ix.ID] = i
		args = append(args, ix.ID)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(list)), ", ")
	q := `SELECT interaction_id, seq, kind, agent, started_at, ended_at
FROM interaction_segments WHERE interaction_id IN (` + marks + `) ORDER BY interaction_id, seq`
	var (
		rows *sql.Rows
		err  error
	)
	if len(list) <= maxPreparedIn { // a screen-pop's history: one statement per list length
		rows, err = s.dbQuery(ctx, q, args...)
	} else {
		rows, err = s.db.QueryContext(ctx, s.d.q(q), args...)
	}
	if err != nil {
		return fmt.Errorf("store: segments: %w", err)
	}
	for rows.Next() {
		var (
			sg    Segment
			kind  string
			start int64
			end   sql.NullInt64
		)
		if err := rows.Scan(&sg.InteractionID, &sg.Seq, &kind, &sg.Agent, &start, &end); err != nil {
			return errors.Join(fmt.Errorf("store: segments: %w", err), rows.Close())
		}
		k, err := ParseSegmentKind(kind)
		if err != nil {
			return errors.Join(err, rows.Close())
		}
		sg.Kind, sg.Start, sg.End = k, fromMicros(start), fromNullMicros(end)
		if i, ok := idx[sg.InteractionID]; ok {
			list[i].Segments = append(list[i].Segments, sg)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("store: segments: %w", err)
	}
	return nil
}

// User reads a user with its teams (sorted); ErrNotFound if there is none.
func (s *Store) User(ctx context.Context, username string) (User, error) {
	var (
		u                User
		role             string
		created, updated int64
	)
	err := s.db.QueryRowContext(ctx, s.d.q("SELECT username, role, password_hash, created_at, updated_at, display_name FROM users WHERE username = ?"),
		username).Scan(&u.Username, &role, &u.PasswordHash, &created, &updated, &u.DisplayName)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("%w: user %q", ErrNotFound, username)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: user %q: %w", username, err)
	}
	if u.Role, err = ParseRole(role); err != nil {
		return User{}, err
	}
	u.Created, u.Updated = fromMicros(created), fromMicros(updated)
	rows, err := s.db.QueryContext(ctx, s.d.q("SELECT team FROM user_teams WHERE username = ? ORDER BY team"), username)
	if err != nil {
		return User{}, fmt.Errorf("store: teams of %q: %w", username, err)
	}
	u.Teams = []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return User{}, errors.Join(fmt.Errorf("store: teams of %q: %w", username, err), rows.Close())
		}
		u.Teams = append(u.Teams, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return User{}, fmt.Errorf("store: teams of %q: %w", username, err)
	}
	return u, nil
}

// callbackCols are the columns scanCallback reads.
const callbackCols = `id, queue, number, name, interaction_id, status, requested_at, due_at, attempts, agent, notes,
    completed_at, node, arrived_at, priority, skills`

// scanCallback reads one row of callbackCols.
func scanCallback(row interface{ Scan(...any) error }) (Callback, error) {
	var (
		c                  Callback
		status             string
		ixID               sql.NullString
		requested, due     int64
		completed, arrived sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.Queue, &c.Number, &c.Name, &ixID, &status, &requested, &due, &c.Attempts, &c.Agent,
		&c.Notes, &completed, &c.Node, &arrived, &c.Priority, &c.Skills); err != nil {
		return Callback{}, err
	}
	var err error
	if c.Status, err = ParseCallbackStatus(status); err != nil {
		return Callback{}, err
	}
	c.InteractionID = ixID.String
	c.Requested, c.Due, c.Completed = fromMicros(requested), fromMicros(due), fromNullMicros(completed)
	c.Arrived = fromNullMicros(arrived)
	return c, nil
}

// Callback reads one callback; ErrNotFound if there is none.
func (s *Store) Callback(ctx context.Context, id string) (Callback, error) {
	c, err := scanCallback(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+callbackCols+` FROM callbacks WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, fmt.Errorf("%w: callback %q", ErrNotFound, id)
	}
	if err != nil {
		return Callback{}, fmt.Errorf("store: callback %q: %w", id, err)
	}
	return c, nil
}

// CallbacksByStatus reads the callbacks in status, oldest due first (at most limit).
func (s *Store) CallbacksByStatus(ctx context.Context, status CallbackStatus, limit int) ([]Callback, error) {
	return s.callbacks(ctx, status.String(), `SELECT `+callbackCols+` FROM callbacks WHERE status = ? ORDER BY due_at, id LIMIT ?`,
		status.String(), limit)
}

// CallbacksOfNode reads node's callbacks in status, oldest due first (at most limit).
func (s *Store) CallbacksOfNode(ctx context.Context, node string, status CallbackStatus, limit int) ([]Callback, error) {
	if err := checkText("node", node, true); err != nil {
		return nil, err
	}
	return s.callbacks(ctx, status.String()+" of "+node, `SELECT `+callbackCols+` FROM callbacks WHERE node = ? AND status = ?
ORDER BY due_at, id LIMIT ?`, node, status.String(), limit)
}

func (s *Store) callbacks(ctx context.Context, what, query string, args ...any) ([]Callback, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: callbacks %s: %w", what, err)
	}
	out := []Callback{}
	for rows.Next() {
		c, err := scanCallback(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("store: callbacks %s: %w", what, err), rows.Close())
		}
		out = append(out, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: callbacks %s: %w", what, err)
	}
	return out, nil
}

// AgentStates reads an agent's state log between from (inclusive) and to (exclusive), oldest first.
func (s *Store) AgentStates(ctx context.Context, agent string, from, to time.Time) ([]AgentStateEntry, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT agent, state, reason, at FROM agent_state_log
WHERE agent = ? AND at >= ? AND at < ? ORDER BY at, id`), agent, micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("store: agent states of %q: %w", agent, err)
	}
	out := []AgentStateEntry{}
	for rows.Next() {
		var e AgentStateEntry
		var at int64
		if err := rows.Scan(&e.Agent, &e.State, &e.Reason, &at); err != nil {
			return nil, errors.Join(fmt.Errorf("store: agent states of %q: %w", agent, err), rows.Close())
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: agent states of %q: %w", agent, err)
	}
	return out, nil
}

// AuditLog reads the audit log between from (inclusive) and to (exclusive), oldest first.
func (s *Store) AuditLog(ctx context.Context, from, to time.Time) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT actor, action, target, at, detail FROM audit_log
WHERE at >= ? AND at < ? ORDER BY at, id`), micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Actor, &e.Action, &e.Target, &at, &e.Detail); err != nil {
			return nil, errors.Join(fmt.Errorf("store: audit log: %w", err), rows.Close())
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	return out, nil
}

// PurgeResult counts the rows Purge deleted, per table.
type PurgeResult struct {
	Interactions, AgentStates, Audit, Callbacks int64
	Surveys                                     int64 // survey answers (kept as long as interactions)
}

// Purge deletes rows older than the configured retention (relative to now); a
// table with 0 days is kept forever. Segments go with their interaction. Meant to
// run once a day.
func (s *Store) Purge(ctx context.Context, now time.Time) (PurgeResult, error) {
	var res PurgeResult
	r := s.cfg.Retention
	// The writer's cached rollup contributions (contribCache) may be of interactions
	// deleted here: no commit meanwhile, and the next one starts without them.
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	s.purged = true
	for _, p := range []struct {
		days  int
		query string
		n     *int64
	}{
		{r.CallbacksDays, "DELETE FROM callbacks WHERE requested_at < ?", &res.Callbacks},
		{r.InteractionsDays, "DELETE FROM survey_answers WHERE at < ?", &res.Surveys},
		{r.InteractionsDays, "DELETE FROM interactions WHERE created_at < ?", &res.Interactions},
		{r.AgentStatesDays, "DELETE FROM agent_state_log WHERE at < ?", &res.AgentStates},
		// Their 15-minute totals go with them (the count is of log entries only).
		{r.AgentStatesDays, "DELETE FROM report_agent_state_slots WHERE slot < CAST(? AS BIGINT) / " + fmt.Sprint(slotMicros), new(int64)},
		{r.AuditDays, "DELETE FROM audit_log WHERE at < ?", &res.Audit},
	} {
		if p.days == 0 {
			continue
		}
		cutoff := now.Add(-time.Duration(p.days) * 24 * time.Hour)
		out, err := s.db.ExecContext(ctx, s.d.q(p.query), micros(cutoff))
		if err != nil {
			return res, fmt.Errorf("store: purge: %w", err)
		}
		if *p.n, err = out.RowsAffected(); err != nil {
			return res, fmt.Errorf("store: purge: %w", err)
		}
	}
	if res != (PurgeResult{}) {
		s.log.Info().Int64("interactions", res.Interactions).Int64("agent_states", res.AgentStates).
			Int64("audit", res.Audit).Int64("callbacks", res.Callbacks).Int64("surveys", res.Surveys).Msg("store retention purge")
	}
	return res, nil
}
