package store

import (
	"context"
	"errors"
	"fmt"
)

// Users reads every user with their teams, sorted by username (for ctid to load
// the users created over the admin API or `ctid user add` at start).
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q("SELECT username FROM users ORDER BY username"))
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, errors.Join(fmt.Errorf("store: users: %w", err), rows.Close())
		}
		names = append(names, n)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	out := make([]User, 0, len(names))
	for _, n := range names {
		u, err := s.User(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
