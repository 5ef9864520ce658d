package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
)

// refreshTotals recomputes an interaction's segment totals (connected, hold and
// wrap-up time of closed segments, transfers) after its segments changed, in one
// pass over its segments.
func (s *Store) refreshTotals(ctx context.Context, tx *sql.Tx, id string) error {
	return s.exec(ctx, tx, `UPDATE interactions SET (connected_us, hold_us, wrapup_us, transfers) = (SELECT
    COALESCE(SUM(CASE WHEN kind = 'talking' AND ended_at IS NOT NULL THEN ended_at - started_at END), 0),
    COALESCE(SUM(CASE WHEN kind = 'hold' AND ended_at IS NOT NULL THEN ended_at - started_at END), 0),
    COALESCE(SUM(CASE WHEN kind = 'wrapup' AND ended_at IS NOT NULL THEN ended_at - started_at END), 0),
    COUNT(CASE WHEN kind = 'transfer' THEN 1 END)
    FROM interaction_segments WHERE interaction_id = ?)
WHERE id = ?`, id, id)
}

// linkIfNumbered links an inbound interaction saved with its caller number (the first
// save of a call; later saves of the same call carry no number and change nothing here).
func (s *Store) linkIfNumbered(ctx context.Context, tx *sql.Tx, ix Interaction) error {
	if ix.Direction != Inbound || ix.CallerNumber == "" {
		return nil
	}
	return s.linkContacts(ctx, tx, ix.ID)
}

// linkContacts keeps next_contact_at (the creation time of the same number's next
// inbound interaction, for FCR) right when an inbound interaction is saved: the
// number's latest earlier contact now points at it if it pointed later (or nowhere),
// and it points at the first later one (interactions may be saved out of order).
func (s *Store) linkContacts(ctx context.Context, tx *sql.Tx, id string) error {
	var (
		number  string
		created int64
	)
	err := s.queryRow(ctx, tx, `SELECT caller_number, created_at FROM interactions
WHERE id = ? AND direction = 'inbound'`, id).Scan(&number, &created)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && number == "") {
		return nil
	}
	if err != nil {
		return err
	}
	// Only the latest earlier contact can point past this one: the contacts before it
	// already point at it or earlier. Index seeks only, however often the number calls
	// (withheld numbers all share one caller_number).
	var (
		prev, prevQueue          string
		prevCreated, prevFCRCall int64
		prevNext                 sql.NullInt64
	)
	err = s.queryRow(ctx, tx, `SELECT id, queue, created_at, next_contact_at,
    CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END
FROM interactions WHERE direction = 'inbound' AND caller_number = ? AND created_at < ?
ORDER BY created_at DESC LIMIT 1`, number, created).Scan(&prev, &prevQueue, &prevCreated, &prevNext, &prevFCRCall)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case !prevNext.Valid || prevNext.Int64 > created:
		if err := s.exec(ctx, tx, "UPDATE interactions SET next_contact_at = ? WHERE id = ?", created, prev); err != nil {
			return err
		}
		s.contribs.drop(prev) // its FCR contribution moves here, not through withRollup
		// The earlier contact's FCR may change: so may its rollups'.
		oldGap := int64(math.MaxInt64)
		if prevNext.Valid {
			oldGap = prevNext.Int64 - prevCreated
		}
		if err := s.rollupNextContact(ctx, tx, prev, prevQueue, prevCreated, prevFCRCall == 1, oldGap, created-prevCreated); err != nil {
			return err
		}
	}
	return s.exec(ctx, tx, `UPDATE interactions SET next_contact_at = (SELECT MIN(created_at) FROM interactions
    WHERE direction = 'inbound' AND caller_number = ? AND created_at > ?)
WHERE id = ?`, number, created, id)
}
