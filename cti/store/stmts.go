package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxPrepared bounds the statement cache: the writer's statements are a fixed set,
// plus a few built from column names; anything beyond the bound is simply not cached.
const maxPrepared = 256

// stmtCache keeps the writer's statements prepared, so the driver does not parse the
// SQL of every Exec again (in the call-throughput benchmark that parsing was a quarter
// of ctid's CPU). A statement seen inside a transaction is only noted there; it is
// prepared after the commit, outside any transaction, so a pool of one connection can
// never wait on itself.
type stmtCache struct {
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt // by query as written (before the dialect's placeholders)
	pending map[string]struct{}  // seen, not prepared yet
	closed  bool
}

// lookup returns the prepared statement for query, or notes query for prepareNoted.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st
	}
	if c.pending == nil {
		c.pending = map[string]struct{}{}
	}
	if len(c.stmts)+len(c.pending) < maxPrepared {
		c.pending[query] = struct{}{}
	}
	return nil
}

// exec runs query in tx, through its prepared statement when there is one.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	if st := s.stmts.lookup(query); st != nil {
		_, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		return err
	}
	_, err := tx.ExecContext(ctx, s.d.q(query), args...)
	return err
}

// execResult is exec for a caller that needs the result (rows affected).
func (s *Store) execResult(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.stmts.lookup(query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, s.d.q(query), args...)
}

// queryRow is QueryRowContext in tx through the prepared statement when there is one
// (the writer's rollup reads run several times per record).
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.stmts.lookup(query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, s.d.q(query), args...)
}

// query is QueryContext in tx through the prepared statement when there is one.
func (s *Store) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := s.stmts.lookup(query); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, s.d.q(query), args...)
}

// readStmt returns the prepared statement for a read outside any transaction,
// preparing it on first use (a reader holds no connection while it prepares, so
// this never waits on itself). On a failure to prepare it returns nil and the
// caller runs the query unprepared.
func (s *Store) readStmt(ctx context.Context, query string) *sql.Stmt {
	c := &s.stmts
	c.mu.Lock()
	st, ok := c.stmts[query]
	full := c.closed || len(c.stmts)+len(c.pending) >= maxPrepared
	c.mu.Unlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	st, err := s.db.PrepareContext(ctx, s.d.q(query))
	if err != nil {
		s.log.Debug().Err(err).Msg("store: preparing a read failed; it runs unprepared")
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[query]; ok || c.closed { // another reader was first, or closing
		_ = st.Close() //nolint:errcheck // a duplicate; the kept one serves
		return prev
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = st
	return st
}

// dbQuery runs a read outside any transaction through its prepared statement.
func (s *Store) dbQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.readStmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, s.d.q(query), args...)
}

// prepareNoted prepares the statements noted since the last call. It runs on the
// writer goroutine between transactions. A statement that fails to prepare (say the
// database is unreachable) stays unprepared and is noted again when next used.
func (s *Store) prepareNoted(ctx context.Context) {
	c := &s.stmts
	c.mu.Lock()
	queries := make([]string, 0, len(c.pending))
	for q := range c.pending {
		queries = append(queries, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, q := range queries {
		st, err := s.db.PrepareContext(ctx, s.d.q(q))
		if err != nil {
			s.log.Debug().Err(err).Msg("store: preparing a statement failed; it runs unprepared")
			continue
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			_ = st.Close() //nolint:errcheck // closing: the database goes next
			return
		}
		if c.stmts == nil {
			c.stmts = map[string]*sql.Stmt{}
		}
		c.stmts[q] = st
		c.mu.Unlock()
	}
}

// close closes every prepared statement; later lookups prepare nothing.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	c.stmts, c.pending = nil, nil
	return errors.Join(errs...)
}
