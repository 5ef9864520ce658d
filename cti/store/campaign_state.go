package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// What a campaign needs to resume after a restart (the attempts with their retry
// timers, migration 0006) and the lease that lets one ctid node dial a campaign.

const attemptCols = `id, campaign_id, contact_id, number, agent, interaction_id, outcome, disposition, notes,
    placed_at, answered_at, connected_at, ended_at, retry_at, number_dead`

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// eachAttempt streams the attempts query (selecting attemptCols) to fn.
func (s *Store) eachAttempt(ctx context.Context, query string, args []any, fn func(CampaignAttempt) error) error {
	rows, err := s.db.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			a                       CampaignAttempt
			placed                  int64
			ans, conn, ended, retry sql.NullInt64
			dead                    int
		)
		if err := rows.Scan(&a.ID, &a.CampaignID, &a.ContactID, &a.Number, &a.Agent, &a.InteractionID, &a.Outcome,
			&a.Disposition, &a.Notes, &placed, &ans, &conn, &ended, &retry, &dead); err != nil {
			return errors.Join(err, rows.Close())
		}
		a.Placed, a.Answered, a.Connected, a.Ended = fromMicros(placed), fromNullMicros(ans), fromNullMicros(conn), fromNullMicros(ended)
		a.RetryAt, a.NumberDead = fromNullMicros(retry), dead != 0
		if err := fn(a); err != nil {
			return errors.Join(err, rows.Close())
		}
	}
	return errors.Join(rows.Err(), rows.Close())
}

// EachCampaignAttempt streams every attempt of a campaign, oldest first (resuming a
// campaign reads its whole history without holding it). fn runs while the query
// holds one pooled connection; an error from fn stops the stream.
func (s *Store) EachCampaignAttempt(ctx context.Context, campaignID string, fn func(CampaignAttempt) error) error {
	err := s.eachAttempt(ctx, `SELECT `+attemptCols+` FROM campaign_attempts WHERE campaign_id = ? ORDER BY placed_at, id`,
		[]any{campaignID}, fn)
	if err != nil {
		return fmt.Errorf("store: attempts of %q: %w", campaignID, err)
	}
	return nil
}

// Lease is a campaign's runner lease: only Owner dials the campaign until Expires.
type Lease struct {
	Campaign string
	Owner    string
	Expires  time.Time
	Acquired time.Time
	Renewed  time.Time
}

// ErrLeaseHeld: another node holds the campaign's lease and it has not expired.
var ErrLeaseHeld = errors.New("store: campaign lease held by another node")

// AcquireLease takes or renews the campaign's lease for owner until now+ttl, in one
// conditional statement: it succeeds only when there is no lease, owner already
// holds it, or the holder's lease expired by now. Otherwise it returns ErrLeaseHeld
// (with the holder). The nodes' clocks are assumed within a small fraction of ttl.
func (s *Store) AcquireLease(ctx context.Context, campaignID, owner string, now time.Time, ttl time.Duration) (Lease, error) {
	if err := checkAll(checkText("campaign id", campaignID, true), checkText("lease owner", owner, true)); err != nil {
		return Lease{}, err
	}
	if ttl <= 0 {
		return Lease{}, fmt.Errorf("%w: lease ttl %s", ErrInvalidRecord, ttl)
	}
	exp := now.Add(ttl)
	res, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO campaign_leases (campaign_id, owner, expires_at, acquired_at, renewed_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (campaign_id) DO UPDATE SET
    acquired_at = CASE WHEN campaign_leases.owner = excluded.owner THEN campaign_leases.acquired_at ELSE excluded.acquired_at END,
    owner       = excluded.owner,
    expires_at  = excluded.expires_at,
    renewed_at  = excluded.renewed_at
WHERE campaign_leases.owner = excluded.owner OR campaign_leases.expires_at <= excluded.renewed_at`),
		campaignID, owner, micros(exp), micros(now), micros(now))
	if err != nil {
		return Lease{}, fmt.Errorf("store: lease of %q: %w", campaignID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Lease{}, fmt.Errorf("store: lease of %q: %w", campaignID, err)
	}
	l, err := s.CampaignLease(ctx, campaignID)
	if err != nil {
		return Lease{}, err
	}
	if n == 0 || l.Owner != owner {
		return l, fmt.Errorf("%w: %q by %s until %s", ErrLeaseHeld, campaignID, l.Owner, l.Expires.Format(time.RFC3339Nano))
	}
	return l, nil
}

// TakeOverLease moves the campaign's lease from from (a node's run that is gone) to
// to, at now for ttl; ErrLeaseHeld when from does not hold it (any more).
func (s *Store) TakeOverLease(ctx context.Context, campaignID, from, to string, now time.Time, ttl time.Duration) error {
	if err := checkAll(checkText("campaign id", campaignID, true), checkText("lease owner", from, true),
		checkText("lease owner", to, true)); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: lease ttl %s", ErrInvalidRecord, ttl)
	}
	res, err := s.db.ExecContext(ctx, s.d.q(`UPDATE campaign_leases SET owner = ?, expires_at = ?, acquired_at = ?, renewed_at = ?
WHERE campaign_id = ? AND owner = ?`), to, micros(now.Add(ttl)), micros(now), micros(now), campaignID, from)
	if err != nil {
		return fmt.Errorf("store: taking over the lease of %q: %w", campaignID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: taking over the lease of %q: %w", campaignID, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q is not held by %s", ErrLeaseHeld, campaignID, from)
	}
	return nil
}

// ReleaseLease gives up owner's lease of the campaign (no-op when owner does not
// hold it), so that another node may take it at once.
func (s *Store) ReleaseLease(ctx context.Context, campaignID, owner string) error {
	if _, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM campaign_leases WHERE campaign_id = ? AND owner = ?"), campaignID, owner); err != nil {
		return fmt.Errorf("store: releasing the lease of %q: %w", campaignID, err)
	}
	return nil
}

// CampaignLease reads the campaign's lease (ErrNotFound: none).
func (s *Store) CampaignLease(ctx context.Context, campaignID string) (Lease, error) {
	l := Lease{Campaign: campaignID}
	var exp, acq, ren int64
	err := s.db.QueryRowContext(ctx, s.d.q("SELECT owner, expires_at, acquired_at, renewed_at FROM campaign_leases WHERE campaign_id = ?"),
		campaignID).Scan(&l.Owner, &exp, &acq, &ren)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("%w: lease of %q", ErrNotFound, campaignID)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("store: lease of %q: %w", campaignID, err)
	}
	l.Expires, l.Acquired, l.Renewed = fromMicros(exp), fromMicros(acq), fromMicros(ren)
	return l, nil
}

// multiInsert is head followed by n copies of row, comma-separated.
func multiInsert(head, row string, n int) string {
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+2))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// fieldsJSON is json.Marshal of a contact's custom fields (keys sorted), written
// directly when every key and value is printable ASCII that JSON does not escape
// (most lists), else by encoding/json.
func fieldsJSON(f map[string]string) (string, error) {
	if len(f) == 0 {
		return "{}", nil
	}
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
		}
		return true
	}
	keys := make([]string, 0, len(f))
	n := 2
	for k, v := range f {
		if !plain(k) || !plain(v) {
			b, err := json.Marshal(f)
			return string(b), err
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":"`...)
		b = append(b, f[k]...)
		b = append(b, '"')
	}
	b = append(b, '}')
	return string(b), nil
}
