package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// DeskToken is a live desktop login as kept across restarts: the SHA-256 of the
// token (never the token itself), its user and when it expires.
type DeskToken struct {
	Hash     [sha256.Size]byte
	Username string
	Expires  time.Time
}

// SaveDeskToken keeps a new login, and deletes the logins expired by now.
func (s *Store) SaveDeskToken(ctx context.Context, t DeskToken, now time.Time) error {
	if err := checkText("username", t.Username, true); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM desk_tokens WHERE expires_at <= ?"), micros(now)); err != nil {
		return fmt.Errorf("store: expired desktop logins: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO desk_tokens (token_hash, username, expires_at) VALUES (?, ?, ?)
ON CONFLICT (token_hash) DO UPDATE SET username = excluded.username, expires_at = excluded.expires_at`),
		hex.EncodeToString(t.Hash[:]), t.Username, micros(t.Expires)); err != nil {
		return fmt.Errorf("store: desktop login of %q: %w", t.Username, err)
	}
	return nil
}

// DeleteDeskToken forgets a login (logout); no error when it is not kept.
func (s *Store) DeleteDeskToken(ctx context.Context, hash [sha256.Size]byte) error {
	if _, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM desk_tokens WHERE token_hash = ?"), hex.EncodeToString(hash[:])); err != nil {
		return fmt.Errorf("store: deleting a desktop login: %w", err)
	}
	return nil
}

// DeskTokens reads the logins still live at now.
func (s *Store) DeskTokens(ctx context.Context, now time.Time) ([]DeskToken, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q("SELECT token_hash, username, expires_at FROM desk_tokens WHERE expires_at > ? ORDER BY expires_at"), micros(now))
	if err != nil {
		return nil, fmt.Errorf("store: desktop logins: %w", err)
	}
	var out []DeskToken
	for rows.Next() {
		var (
			h   string
			t   DeskToken
			exp int64
		)
		if err := rows.Scan(&h, &t.Username, &exp); err != nil {
			return nil, errors.Join(fmt.Errorf("store: desktop logins: %w", err), rows.Close())
		}
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, errors.Join(fmt.Errorf("%w: desktop login hash %q", ErrInvalidRecord, h), rows.Close())
		}
		copy(t.Hash[:], b)
		t.Expires = fromMicros(exp)
		out = append(out, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: desktop logins: %w", err)
	}
	return out, nil
}
