package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Migrations are migrations/NNNN_name.sql, written once for both engines, with
// {{AUTOID}} standing for the engine's auto-increment key. Where the engines really
// differ, NNNN_name.sqlite.sql or NNNN_name.postgres.sql replaces the neutral file for
// that engine. Each version is applied in its own transaction and recorded in
// schema_migrations.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// pgMigrationLock is the advisory lock key that serialises ctid nodes migrating one
// PostgreSQL database at the same time.
const pgMigrationLock = 0x63746964 // "ctid"

type migration struct {
	version int
	name    string
	stmts   []string
}

func loadMigrations(d dialect) ([]migration, error) { return loadMigrationsFrom(migrationFS, d) }

// loadMigrationsFrom reads fsys's migrations/ directory for dialect d.
func loadMigrationsFrom(fsys fs.FS, d dialect) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMigration, err)
	}
	type files struct{ name, neutral, specific string }
	byVersion := map[int]*files{}
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".sql")
		verStr, rest, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(verStr)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%w: migration file %q: want NNNN_name.sql", ErrMigration, e.Name())
		}
		name, eng, hasEng := strings.Cut(rest, ".")
		f := byVersion[v]
		if f == nil {
			f = &files{name: name}
			byVersion[v] = f
		}
		if f.name != name { // two branches took the same number: never pick one silently
			return nil, fmt.Errorf("%w: migrations %q and %q have the same version %d", ErrMigration, f.name, name, v)
		}
		switch {
		case !hasEng:
			f.neutral = e.Name()
		case eng == d.name:
			f.specific = e.Name()
		case eng == DriverSQLite || eng == DriverPostgres:
		default:
			return nil, fmt.Errorf("%w: migration file %q: unknown engine %q", ErrMigration, e.Name(), eng)
		}
	}
	out := make([]migration, 0, len(byVersion))
	for v, f := range byVersion {
		file := f.neutral
		if f.specific != "" {
			file = f.specific
		}
		if file == "" {
			return nil, fmt.Errorf("%w: migration %d has no file for %s", ErrMigration, v, d.name)
		}
		body, err := fs.ReadFile(fsys, path.Join("migrations", file))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMigration, err)
		}
		text := strings.ReplaceAll(string(body), "{{AUTOID}}", d.autoID)
		out = append(out, migration{version: v, name: f.name, stmts: splitStatements(text)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no migrations", ErrMigration)
	}
	// Versions may have gaps (numbers are handed out to parallel branches ahead of
	// time); each is applied once, in order, whatever the database's highest is.
	return out, nil
}

// splitStatements drops "--" comment lines and splits on ';' (migrations hold no
// string literal containing ';').
func splitStatements(text string) []string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var out []string
	for _, st := range strings.Split(b.String(), ";") {
		if st = strings.TrimSpace(st); st != "" {
			out = append(out, st)
		}
	}
	return out
}

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() int {
	ms, err := loadMigrations(sqliteDialect)
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate applies every migration above the database's version up to target (-1: all).
func migrate(ctx context.Context, db *sql.DB, d dialect, target int, log zerolog.Logger) error {
	return migrateFrom(ctx, migrationFS, db, d, target, log)
}

// migrateFrom is migrate with the migrations of fsys.
func migrateFrom(ctx context.Context, fsys fs.FS, db *sql.DB, d dialect, target int, log zerolog.Logger) (err error) {
	ms, err := loadMigrationsFrom(fsys, d)
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	if target < 0 || target > latest {
		target = latest
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMigration, err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	if d.name == DriverPostgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", pgMigrationLock); err != nil {
			return fmt.Errorf("%w: advisory lock: %v", ErrMigration, err)
		}
		defer func() {
			// Unlock even if ctx is done, so the session does not keep the lock.
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, uerr := conn.ExecContext(uctx, "SELECT pg_advisory_unlock($1)", pgMigrationLock); uerr != nil {
				err = errors.Join(err, fmt.Errorf("%w: advisory unlock: %v", ErrMigration, uerr))
			}
		}()
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)`); err != nil {
		return fmt.Errorf("%w: schema_migrations: %v", ErrMigration, err)
	}
	applied, current, err := appliedVersions(ctx, conn)
	if err != nil {
		return err
	}
	if current > latest {
		return fmt.Errorf("%w: database is at schema version %d, this ctid knows up to %d; upgrade ctid", ErrSchemaTooNew, current, latest)
	}
	for _, m := range ms {
		// A version below the database's highest that is not applied yet (a gap
		// filled by a later build) is applied too.
		if applied[m.version] || m.version > target {
			continue
		}
		if err := applyMigration(ctx, conn, d, m); err != nil {
			return err
		}
		log.Info().Str("engine", d.name).Int("version", m.version).Str("name", m.name).Msg("store schema migrated")
	}
	return nil
}

// appliedVersions reads the versions recorded in schema_migrations and the highest.
func appliedVersions(ctx context.Context, conn *sql.Conn) (map[int]bool, int, error) {
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, 0, fmt.Errorf("%w: reading schema versions: %v", ErrMigration, err)
	}
	applied, highest := map[int]bool{}, 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, 0, errors.Join(fmt.Errorf("%w: reading schema versions: %v", ErrMigration, err), rows.Close())
		}
		applied[v] = true
		highest = max(highest, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, 0, fmt.Errorf("%w: reading schema versions: %v", ErrMigration, err)
	}
	return applied, highest, nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, d dialect, m migration) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: version %d (%s): begin: %v", ErrMigration, m.version, m.name, err)
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	for i, st := range m.stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("%w: version %d (%s), statement %d: %v", ErrMigration, m.version, m.name, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("%w: version %d (%s): recording it: %v", ErrMigration, m.version, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: version %d (%s): commit: %v", ErrMigration, m.version, m.name, err)
	}
	return nil
}
