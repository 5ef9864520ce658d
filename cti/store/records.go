package store

import (
	"context"
	"database/sql"
	"fmt"
)

// apply writes one record inside tx. The set of records is closed (Record has
// unexported methods), so the default case is a programming error.
func (s *Store) apply(ctx context.Context, tx *sql.Tx, rec Record) error {
	switch r := rec.(type) {
	case Interaction:
		return s.withRollup(ctx, tx, r.ID, func() error { return s.applyInteraction(ctx, tx, r) })
	case Segment:
		if !segmentInRollups(r.Kind) { // its interaction's contribution stays as it is
			return s.applySegment(ctx, tx, r)
		}
		return s.withRollup(ctx, tx, r.InteractionID, func() error { return s.applySegment(ctx, tx, r) })
	case InteractionClose:
		if r.Ended.IsZero() && r.Outcome == "" && r.Cause == "" { // disposition, notes, recording name only
			return s.applyClose(ctx, tx, r)
		}
		return s.withRollup(ctx, tx, r.ID, func() error { return s.applyClose(ctx, tx, r) })
	case AgentStateEntry:
		return s.applyAgentState(ctx, tx, r) // report_rollup_states.go
	case AuditEntry:
		return s.exec(ctx, tx, "INSERT INTO audit_log (actor, action, target, at, detail) VALUES (?, ?, ?, ?, ?)",
			r.Actor, r.Action, r.Target, micros(r.At), r.Detail)
	case User:
		return s.applyUser(ctx, tx, r)
	case Callback:
		return s.applyCallback(ctx, tx, r)
	case CampaignAttempt: // with its report rollup (report_rollup_campaign.go)
		return s.withAttemptRollup(ctx, tx, r.ID, func() error { return s.applyAttempt(ctx, tx, r) })
	case CampaignCallback:
		return s.applyCampaignCallback(ctx, tx, r)
	case Lockout:
		return s.applyLockout(ctx, tx, r)
	case SurveyAnswer:
		return s.applySurveyAnswer(ctx, tx, r)
	case rollupRecount:
		return s.applyRecount(ctx, tx, r)
	case agentRecount:
		return s.applyAgentRecount(ctx, tx, r)
	}
	return fmt.Errorf("%w: unsupported record type %T", ErrInvalidRecord, rec)
}

// segmentInRollups tells whether a segment of kind k can change what its interaction
// adds to the rollups (readContribs): the agents' offered, ringing, talking, hold,
// wrap-up and transfer segments (readAgentContribs), which are also all that the
// interaction's totals are summed from (refreshTotals). Queued, consultation and
// conference segments change neither, so their records skip withRollup's reads.
func segmentInRollups(k SegmentKind) bool {
	switch k {
	case SegOffered, SegRinging, SegTalking, SegHold, SegWrapUp, SegTransfer:
		return true
	}
	return false
}

// Zero fields never erase what an earlier save or close recorded.
const upsertInteraction = `INSERT INTO interactions (id, call_id, direction, queue, campaign, caller_number,
    caller_name, dialled, created_at, queued_at, answered_at, ended_at, outcome, cause, disposition, notes,
    recording_name)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    call_id        = COALESCE(NULLIF(excluded.call_id, ''), interactions.call_id),
    direction      = excluded.direction,
    queue          = COALESCE(NULLIF(excluded.queue, ''), interactions.queue),
    campaign       = COALESCE(NULLIF(excluded.campaign, ''), interactions.campaign),
    caller_number  = COALESCE(NULLIF(excluded.caller_number, ''), interactions.caller_number),
    caller_name    = COALESCE(NULLIF(excluded.caller_name, ''), interactions.caller_name),
    dialled        = COALESCE(NULLIF(excluded.dialled, ''), interactions.dialled),
    queued_at      = COALESCE(excluded.queued_at, interactions.queued_at),
    answered_at    = COALESCE(excluded.answered_at, interactions.answered_at),
    ended_at       = COALESCE(excluded.ended_at, interactions.ended_at),
    outcome        = COALESCE(NULLIF(excluded.outcome, ''), interactions.outcome),
    cause          = COALESCE(NULLIF(excluded.cause, ''), interactions.cause),
    disposition    = COALESCE(NULLIF(excluded.disposition, ''), interactions.disposition),
    notes          = COALESCE(NULLIF(excluded.notes, ''), interactions.notes),
    recording_name = COALESCE(NULLIF(excluded.recording_name, ''), interactions.recording_name)`

func (s *Store) applyInteraction(ctx context.Context, tx *sql.Tx, ix Interaction) error {
	if err := s.exec(ctx, tx, upsertInteraction, ix.ID, ix.CallID, ix.Direction.String(), ix.Queue, ix.Campaign,
		ix.CallerNumber, ix.CallerName, ix.Dialled, micros(ix.Created), nullMicros(ix.Queued),
		nullMicros(ix.Answered), nullMicros(ix.Ended), ix.Outcome, ix.Cause, ix.Disposition, ix.Notes,
		ix.RecordingName); err != nil {
		return err
	}
	if ix.Segments == nil {
		return s.linkIfNumbered(ctx, tx, ix)
	}
	if err := s.exec(ctx, tx, "DELETE FROM interaction_segments WHERE interaction_id = ?", ix.ID); err != nil {
		return err
	}
	for _, sg := range ix.Segments {
		if err := s.exec(ctx, tx, `INSERT INTO interaction_segments (interaction_id, seq, kind, agent, started_at, ended_at)
VALUES (?, ?, ?, ?, ?, ?)`, ix.ID, sg.Seq, sg.Kind.String(), sg.Agent, micros(sg.Start), nullMicros(sg.End)); err != nil {
			return err
		}
	}
	if err := s.refreshTotals(ctx, tx, ix.ID); err != nil {
		return err
	}
	return s.linkIfNumbered(ctx, tx, ix)
}

func (s *Store) applySegment(ctx context.Context, tx *sql.Tx, sg Segment) error {
	// The foreign key refuses a segment of an unknown interaction.
	if err := s.exec(ctx, tx, `INSERT INTO interaction_segments (interaction_id, seq, kind, agent, started_at, ended_at)
SELECT CAST(? AS TEXT), COALESCE(MAX(seq), 0) + 1, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT)
FROM interaction_segments WHERE interaction_id = ?`,
		sg.InteractionID, sg.Kind.String(), sg.Agent, micros(sg.Start), nullMicros(sg.End), sg.InteractionID); err != nil {
		return err
	}
	switch sg.Kind {
	case SegTalking, SegHold, SegWrapUp, SegTransfer: // what the totals sum (refreshTotals)
		return s.refreshTotals(ctx, tx, sg.InteractionID)
	}
	return nil // a queued, offered, ringing, consultation or conference segment leaves them as they are
}

func (s *Store) applyClose(ctx context.Context, tx *sql.Tx, c InteractionClose) error {
	res, err := s.execResult(ctx, tx, `UPDATE interactions SET
    ended_at       = COALESCE(CAST(? AS BIGINT), ended_at),
    outcome        = COALESCE(NULLIF(CAST(? AS TEXT), ''), outcome),
    cause          = COALESCE(NULLIF(CAST(? AS TEXT), ''), cause),
    disposition    = COALESCE(NULLIF(CAST(? AS TEXT), ''), disposition),
    notes          = COALESCE(NULLIF(CAST(? AS TEXT), ''), notes),
    recording_name = COALESCE(NULLIF(CAST(? AS TEXT), ''), recording_name)
WHERE id = ?`, nullMicros(c.Ended), c.Outcome, c.Cause, c.Disposition, c.Notes, c.RecordingName, c.ID)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: interaction %q", ErrNotFound, c.ID)
	}
	if c.Ended.IsZero() {
		return nil
	}
	closed, err := s.execResult(ctx, tx, "UPDATE interaction_segments SET ended_at = ? WHERE interaction_id = ? AND ended_at IS NULL",
		micros(c.Ended), c.ID)
	if err != nil {
		return err
	}
	n, err = closed.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return nil // every segment was closed already (ctid appends them closed): the totals stand
	}
	return s.refreshTotals(ctx, tx, c.ID) // the totals sum closed segments: some were just closed
}

func (s *Store) applyUser(ctx context.Context, tx *sql.Tx, u User) error {
	if err := s.exec(ctx, tx, `INSERT INTO users (username, role, password_hash, created_at, updated_at, display_name)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (username) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash,
    updated_at = excluded.updated_at, display_name = excluded.display_name`,
		u.Username, u.Role.String(), u.PasswordHash, micros(u.Created), micros(u.Updated), u.DisplayName); err != nil {
		return err
	}
	if err := s.exec(ctx, tx, "DELETE FROM user_teams WHERE username = ?", u.Username); err != nil {
		return err
	}
	for _, t := range u.Teams {
		if err := s.exec(ctx, tx, "INSERT INTO user_teams (username, team) VALUES (?, ?)", u.Username, t); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyCallback(ctx context.Context, tx *sql.Tx, c Callback) error {
	return s.exec(ctx, tx, `INSERT INTO callbacks (id, queue, number, name, interaction_id, status, requested_at,
    due_at, attempts, agent, notes, completed_at, node, arrived_at, priority, skills)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, number = excluded.number, name = excluded.name,
    interaction_id = excluded.interaction_id, status = excluded.status, due_at = excluded.due_at,
    attempts = excluded.attempts, agent = excluded.agent, notes = excluded.notes,
    completed_at = excluded.completed_at, node = COALESCE(NULLIF(excluded.node, ''), callbacks.node),
    arrived_at = COALESCE(excluded.arrived_at, callbacks.arrived_at),
    priority = COALESCE(NULLIF(excluded.priority, 0), callbacks.priority),
    skills = COALESCE(NULLIF(excluded.skills, ''), callbacks.skills)`,
		c.ID, c.Queue, c.Number, c.Name, nullText(c.InteractionID), c.Status.String(), micros(c.Requested),
		micros(c.Due), c.Attempts, c.Agent, c.Notes, nullMicros(c.Completed), c.Node, nullMicros(c.Arrived), c.Priority,
		c.Skills)
}
