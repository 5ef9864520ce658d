package store

import (
	"context"
	"database/sql"
	"errors"
)

// refreshTotals recomputes an interaction's segment totals (connected, hold and
// wrap-up time of closed segments, transfers) after its segments changed.
func (s *Store) refreshTotals(ctx context.Context, tx *sql.Tx, id string) error {
	return s.exec(ctx, tx, `UPDATE interactions SET
    connected_us = COALESCE((SELECT SUM(ended_at - started_at) FROM interaction_segments
        WHERE interaction_id = ? AND kind = 'talking' AND ended_at IS NOT NULL), 0),
    hold_us = COALESCE((SELECT SUM(ended_at - started_at) FROM interaction_segments
        WHERE interaction_id = ? AND kind = 'hold' AND ended_at IS NOT NULL), 0),
    wrapup_us = COALESCE((SELECT SUM(ended_at - started_at) FROM interaction_segments
        WHERE interaction_id = ? AND kind = 'wrapup' AND ended_at IS NOT NULL), 0),
    transfers = (SELECT COUNT(*) FROM interaction_segments WHERE interaction_id = ? AND kind = 'transfer')
WHERE id = ?`, id, id, id, id, id)
}

// linkContacts keeps next_contact_at (the creation time of the same number's next
// inbound interaction, for FCR) right when an inbound interaction is saved: earlier
// contacts of the number whose next contact is later (or none) now point at it, and it
// points at the first later one (interactions may be saved out of order).
func (s *Store) linkContacts(ctx context.Context, tx *sql.Tx, id string) error {
	var (
		number  string
		created int64
	)
	err := tx.QueryRowContext(ctx, s.d.q(`SELECT caller_number, created_at FROM interactions
WHERE id = ? AND direction = 'inbound'`), id).Scan(&number, &created)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && number == "") {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.exec(ctx, tx, `UPDATE interactions SET next_contact_at = ?
WHERE direction = 'inbound' AND caller_number = ? AND created_at < ?
    AND (next_contact_at IS NULL OR next_contact_at > ?)`, created, number, created, created); err != nil {
		return err
	}
	return s.exec(ctx, tx, `UPDATE interactions SET next_contact_at = (SELECT MIN(created_at) FROM interactions
    WHERE direction = 'inbound' AND caller_number = ? AND created_at > ?)
WHERE id = ?`, number, created, id)
}
