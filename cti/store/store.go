// Package store keeps what happened to every call: interactions and their segments,
// the agent state log, the audit log, users and callbacks. SQLite (one file, WAL) is
// the embedded default and PostgreSQL the scale-out engine; both run the same
// migrations and the same tests.
//
// Writes go through a batched writer off the call-handling path: Enqueue (and the
// SaveInteraction, AppendSegment, CloseInteraction, LogAgentState, Audit wrappers)
// return at once, or ErrBacklogFull when max_pending records are already waiting
// (logged loudly; nothing is dropped silently). SaveDurable, UpsertUser and Sync return
// only after the records are committed, so what a user was told is saved survives a
// kill -9 the moment after. While the engine fails (disk full, read-only file, database
// down) the writer keeps records in memory, logs every failed attempt at error level
// and retries with back-off; a record the engine refuses outright (constraint or data
// error) is logged with ErrRejected and handed back to a SaveDurable caller.
//
// Times are stored as Unix microseconds UTC and read back in UTC.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/rs/zerolog"
	"modernc.org/sqlite"
)

// dialect is what differs between the engines.
type dialect struct {
	name   string
	autoID string // column type of an auto-increment primary key
	dollar bool   // placeholders are $1, $2, ... instead of ?
}

var (
	sqliteDialect   = dialect{name: DriverSQLite, autoID: "INTEGER PRIMARY KEY AUTOINCREMENT"}
	postgresDialect = dialect{name: DriverPostgres, autoID: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", dollar: true}
)

// q rewrites a query written with ? placeholders for the engine. Queries in this
// package never contain a literal '?'.
func (d dialect) q(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Store is an open storage engine with its writer running. Safe for concurrent use.
type Store struct {
	cfg Config
	log zerolog.Logger
	db  *sql.DB
	d   dialect
	now func() time.Time

	w     writer
	stmts stmtCache // the writer's prepared statements (stmts.go)
	// contribs: what the interactions changed lately add to the rollups now
	// (withRollup; writer goroutine only; contrib_cache.go).
	contribs contribCache
	// lastStates: each agent's latest state log entry (applyAgentState; writer only).
	lastStates lastStateCache
	// purgeMu keeps the retention purge and the writer's commits apart; purged tells
	// the next commit that interactions were deleted (the contribs are stale).
	purgeMu    sync.Mutex
	purged     bool
	stop       chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Open opens the configured engine, applies pending migrations and starts the writer.
func Open(ctx context.Context, cfg Config, log zerolog.Logger) (*Store, error) {
	return open(ctx, cfg, log, -1)
}

// open migrates up to version target (-1: latest).
func open(ctx context.Context, cfg Config, log zerolog.Logger, target int) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var (
		db  *sql.DB
		d   dialect
		err error
	)
	switch cfg.Driver {
	case DriverSQLite:
		d = sqliteDialect
		db, err = openSQLite(ctx, cfg)
	case DriverPostgres:
		d = postgresDialect
		db, err = openPostgres(ctx, cfg)
	default:
		return nil, fmt.Errorf("%w: store.driver: %q", ErrInvalidConfig, cfg.Driver)
	}
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, db, d, target, log); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s := &Store{
		cfg:        cfg,
		log:        log.With().Str("component", "store").Str("engine", d.name).Logger(),
		db:         db,
		d:          d,
		now:        time.Now,
		stop:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	s.w.init()
	go s.run()
	return s, nil
}

func openSQLite(ctx context.Context, cfg Config) (*sql.DB, error) {
	path := cfg.Path
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: store.path: %q: directory %q does not exist or cannot be reached (%v); create it or set store.path to a writable place", ErrOpen, path, dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: store.path: %q: %q is not a directory", ErrOpen, path, dir)
	}
	probe, err := os.CreateTemp(dir, ".ctid-store-probe-*")
	if err != nil {
		return nil, fmt.Errorf("%w: store.path: %q: directory %q is not writable (%v); SQLite needs to create the -wal and -shm files beside the database", ErrOpen, path, dir, err)
	}
	if err := errors.Join(probe.Close(), os.Remove(probe.Name())); err != nil {
		return nil, fmt.Errorf("%w: store.path: %q: directory %q: write probe: %v", ErrOpen, path, dir, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%w: store.path: %q is a directory, not a file", ErrOpen, path)
	}
	// Created 0600 when missing: the file holds personal data.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: store.path: %q: the database file is not writable (%v)", ErrOpen, path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("%w: store.path: %q: %v", ErrOpen, path, err)
	}
	dsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-16384)&_txlock=immediate",
		path, cfg.BusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: store.path: %q: %v", ErrOpen, path, err)
	}
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	// Idle connections are kept (database/sql keeps 2 by default): with more readers
	// at once — screen-pop history reads beside the writer — each extra one was closed
	// on release and opened again (pragmas, schema, every prepared statement again).
	db.SetMaxIdleConns(cfg.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	var mode string
	var fk int
	err = db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	if err == nil {
		err = db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk)
	}
	if err == nil && (!strings.EqualFold(mode, "wal") || fk != 1) {
		err = fmt.Errorf("journal_mode=%s foreign_keys=%d, want wal and 1", mode, fk)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%w: store.path: %q: %v", ErrOpen, path, err), db.Close())
	}
	return db, nil
}

func openPostgres(ctx context.Context, cfg Config) (*sql.DB, error) {
	db, err := sql.Open("pgx", cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("%w: store.dsn: %v", ErrOpen, err)
	}
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("%w: store.dsn: cannot reach PostgreSQL: %v", ErrOpen, err), db.Close())
	}
	return db, nil
}

// Engine is "sqlite" or "postgres".
func (s *Store) Engine() string { return s.d.name }

// SchemaVersion is the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// Close stops taking records, flushes what is queued (for up to
// store.writer.close_timeout), then closes the engine. Records still unsaved are
// logged and reported in the error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.w.mu.Lock()
		s.w.closed = true
		s.w.mu.Unlock()
		close(s.stop)
		<-s.writerDone
		s.closeErr = errors.Join(s.w.drainErr, s.stmts.close(), s.db.Close())
	})
	return s.closeErr
}

// permanent reports whether err means the engine will never accept the records as
// they are (so retrying cannot help), as opposed to an outage (disk full, read-only
// file, lock timeout, connection lost).
func permanent(err error) bool {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidRecord) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 1, // SQLITE_ERROR: bad SQL or missing table
			18, // SQLITE_TOOBIG
			19, // SQLITE_CONSTRAINT
			20, // SQLITE_MISMATCH
			25: // SQLITE_RANGE
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "22"), // data exception
			strings.HasPrefix(pe.Code, "23"),                       // integrity constraint violation
			strings.HasPrefix(pe.Code, "42") && pe.Code != "42501": // syntax error or access rule violation
			// (42501 insufficient_privilege is an outage: a revoked grant comes back)
			return true
		}
	}
	return false
}

func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is NULL for the zero time.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}
