package store

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// TestMigrateFromVersion1: a database created by the version-1 schema, with data in
// it, is migrated to the latest version at Open and keeps its data.
func TestMigrateFromVersion1(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		ctx := testCtx(t)
		old, err := open(ctx, cfg, zerolog.Nop(), 1)
		require.NoError(t, err)
		v, err := old.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, v)
		// Rows written as a version-1 ctid wrote them (no recording_name column yet).
		for _, q := range []string{
			"INSERT INTO interactions (id, direction, queue, caller_number, created_at, ended_at, outcome) VALUES ('v1', 'inbound', 'sales', '+15550101', 1000000, 2000000, 'answered')",
			"INSERT INTO interaction_segments (interaction_id, seq, kind, agent, started_at, ended_at) VALUES ('v1', 1, 'talking', 'ann', 1000000, 2000000)",
			"INSERT INTO users (username, role, password_hash, created_at, updated_at) VALUES ('ann', 'agent', 'h', 1, 1)",
		} {
			_, err := old.db.ExecContext(ctx, q)
			require.NoError(t, err)
		}
		_, err = old.db.ExecContext(ctx, "SELECT recording_name FROM interactions")
		require.Error(t, err, "version 1 has no recording_name")
		require.NoError(t, old.Close())

		s, err := Open(ctx, cfg, zerolog.Nop())
		require.NoError(t, err)
		v, err = s.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, LatestSchemaVersion(), v)
		require.GreaterOrEqual(t, v, 3)
		ix, err := s.Interaction(ctx, "v1")
		require.NoError(t, err)
		require.Equal(t, "answered", ix.Outcome)
		require.Empty(t, ix.RecordingName)
		require.Len(t, ix.Segments, 1)
		require.NoError(t, s.SaveDurable(ctx, InteractionClose{ID: "v1", RecordingName: "rec-v1"}))
		require.NoError(t, s.SaveDurable(ctx, Callback{ID: "cb", Queue: "sales", Number: "+15550101", InteractionID: "v1", Status: CallbackPending}))
		u, err := s.User(ctx, "ann")
		require.NoError(t, err)
		require.Equal(t, RoleAgent, u.Role)
		require.NoError(t, s.Close())

		// Reopening at the latest version changes nothing.
		s = mustOpen(t, cfg)
		v, err = s.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, LatestSchemaVersion(), v)
		ix, err = s.Interaction(ctx, "v1")
		require.NoError(t, err)
		require.Equal(t, "rec-v1", ix.RecordingName)
	})
}

// TestSchemaTooNew: an older ctid refuses a database migrated by a newer one.
func TestSchemaTooNew(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		ctx := testCtx(t)
		s, err := Open(ctx, cfg, zerolog.Nop())
		require.NoError(t, err)
		_, err = s.db.ExecContext(ctx, s.d.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"), 99, "future", 1)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		_, err = Open(ctx, cfg, zerolog.Nop())
		require.ErrorIs(t, err, ErrSchemaTooNew)
		require.Contains(t, err.Error(), "99")
	})
}

func TestMigrationFiles(t *testing.T) {
	for _, d := range []dialect{sqliteDialect, postgresDialect} {
		ms, err := loadMigrations(d)
		require.NoError(t, err)
		require.Equal(t, LatestSchemaVersion(), ms[len(ms)-1].version)
		for i := 1; i < len(ms); i++ {
			require.Greater(t, ms[i].version, ms[i-1].version)
		}
		for _, m := range ms {
			require.NotEmpty(t, m.stmts)
			for _, st := range m.stmts {
				require.NotContains(t, st, "{{", "unexpanded token in %d_%s", m.version, m.name)
			}
		}
	}
	require.Equal(t, []string{"CREATE TABLE a (x INT)", "CREATE INDEX b ON a (x)"},
		splitStatements("-- c;omment\nCREATE TABLE a (x INT);\n\n  -- more\nCREATE INDEX b ON a (x);\n"))
	require.Equal(t, "SELECT $1, $2 FROM t WHERE a = $3", postgresDialect.q("SELECT ?, ? FROM t WHERE a = ?"))
}

// TestMigrationOverrides: an engine-specific file replaces the neutral one for that
// engine only; bad names are errors, gaps are not (numbers are handed out to
// parallel branches ahead of time).
func TestMigrationOverrides(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0001_a.sql":          {Data: []byte("CREATE TABLE t (id {{AUTOID}});")},
		"migrations/0002_b.sql":          {Data: []byte("CREATE INDEX neutral ON t (id);")},
		"migrations/0002_b.postgres.sql": {Data: []byte("CREATE INDEX pg ON t USING brin (id);")},
	}
	lite, err := loadMigrationsFrom(fsys, sqliteDialect)
	require.NoError(t, err)
	require.Equal(t, []string{"CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)"}, lite[0].stmts)
	require.Equal(t, []string{"CREATE INDEX neutral ON t (id)"}, lite[1].stmts)
	pg, err := loadMigrationsFrom(fsys, postgresDialect)
	require.NoError(t, err)
	require.Equal(t, []string{"CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY)"}, pg[0].stmts)
	require.Equal(t, []string{"CREATE INDEX pg ON t USING brin (id)"}, pg[1].stmts)

	for name, bad := range map[string]fstest.MapFS{
		"bad name":          {"migrations/first.sql": {Data: []byte("SELECT 1;")}},
		"bad engine":        {"migrations/0001_a.mysql.sql": {Data: []byte("SELECT 1;")}},
		"only other engine": {"migrations/0001_a.postgres.sql": {Data: []byte("SELECT 1;")}},
	} {
		_, err := loadMigrationsFrom(bad, sqliteDialect)
		require.ErrorIs(t, err, ErrMigration, name)
	}
	gap, err := loadMigrationsFrom(fstest.MapFS{"migrations/0001_a.sql": {Data: []byte("SELECT 1;")},
		"migrations/0009_c.sql": {Data: []byte("SELECT 2;")}}, sqliteDialect)
	require.NoError(t, err)
	require.Len(t, gap, 2)
	require.Equal(t, 9, gap[1].version)
}

// TestMigrationGapFilledLater: a database migrated by a build with versions 1 and 3
// gets version 2 when a later build has it (a branch's migration merged after
// another's with a higher number), and nothing is applied twice.
func TestMigrationGapFilledLater(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		ctx := testCtx(t)
		s, err := Open(ctx, cfg, zerolog.Nop())
		require.NoError(t, err)
		require.NoError(t, s.Close())
		base := LatestSchemaVersion()
		early := fstest.MapFS{}
		ms, err := fs.ReadDir(migrationFS, "migrations")
		require.NoError(t, err)
		for _, m := range ms {
			body, err := fs.ReadFile(migrationFS, "migrations/"+m.Name())
			require.NoError(t, err)
			early["migrations/"+m.Name()] = &fstest.MapFile{Data: body}
		}
		early[fmt.Sprintf("migrations/%04d_late.sql", base+2)] = &fstest.MapFile{Data: []byte("CREATE TABLE gap_late (x INT);")}
		s = mustOpen(t, cfg)
		require.NoError(t, migrateFrom(ctx, early, s.db, s.d, -1, zerolog.Nop()))
		full := fstest.MapFS{}
		for k, v := range early {
			full[k] = v
		}
		full[fmt.Sprintf("migrations/%04d_filled.sql", base+1)] = &fstest.MapFile{Data: []byte("CREATE TABLE gap_filled (x INT);")}
		require.NoError(t, migrateFrom(ctx, full, s.db, s.d, -1, zerolog.Nop()))
		require.NoError(t, migrateFrom(ctx, full, s.db, s.d, -1, zerolog.Nop())) // nothing left to apply
		for _, tbl := range []string{"gap_late", "gap_filled"} {
			_, err := s.db.ExecContext(ctx, "SELECT x FROM "+tbl)
			require.NoError(t, err, tbl)
		}
		var n int
		require.NoError(t, s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n))
		known, err := loadMigrations(s.d)
		require.NoError(t, err)
		require.Equal(t, len(known)+2, n)
	})
}

// TestPostgresMissingMessage: without Debian's binaries the PostgreSQL tests fail
// with the instruction to install them.
func TestPostgresMissingMessage(t *testing.T) {
	_, err := pgBinDirUnder(t.TempDir())
	require.EqualError(t, err, pgMissing)
	bin, err := pgBinDir()
	require.NoError(t, err, "this machine must have PostgreSQL for the suite")
	require.FileExists(t, filepath.Join(bin, "postgres"))
}

// --- store.path problems --------------------------------------------------------------

func TestSQLitePathMissingDirectory(t *testing.T) {
	cfg := testConfig()
	cfg.Path = filepath.Join(t.TempDir(), "no", "such", "dir", "ctid.db")
	_, err := Open(testCtx(t), cfg, zerolog.Nop())
	require.ErrorIs(t, err, ErrOpen)
	require.Contains(t, err.Error(), "store.path")
	require.Contains(t, err.Error(), "does not exist")

	cfg.Path = t.TempDir() // a directory, not a file
	_, err = Open(testCtx(t), cfg, zerolog.Nop())
	require.ErrorIs(t, err, ErrOpen)
	require.Contains(t, err.Error(), "store.path")
}

// readonlyChild runs (as an unprivileged user when the tests run as root) Open on a
// file in a read-only directory and prints the error.
func readonlyChild() int {
	cfg := testConfig()
	cfg.Path = os.Getenv(envPath)
	s, err := Open(context.Background(), cfg, zerolog.Nop())
	if err == nil {
		fmt.Println("OPENED")
		if cerr := s.Close(); cerr != nil {
			fmt.Println(cerr)
		}
		return 0
	}
	fmt.Println(err)
	return 0
}

// TestSQLitePathReadOnly: a read-only directory or file is a clear store.path error.
// Root ignores file modes, so as root the check runs in a child process as "nobody".
func TestSQLitePathReadOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
		prep func(t *testing.T, dir string) string
	}{
		{"directory", "is not writable", func(t *testing.T, dir string) string {
			require.NoError(t, os.Chmod(dir, 0o555))
			return filepath.Join(dir, "ctid.db")
		}},
		{"file", "is not writable", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "ctid.db")
			require.NoError(t, os.WriteFile(p, nil, 0o444))
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, err := os.MkdirTemp("", "ctid-store-ro-")
			require.NoError(t, err)
			t.Cleanup(func() {
				require.NoError(t, os.Chmod(base, 0o755))
				require.NoError(t, os.RemoveAll(base))
			})
			require.NoError(t, os.Chmod(base, 0o755))
			dir := filepath.Join(base, "data")
			require.NoError(t, os.Mkdir(dir, 0o777))
			require.NoError(t, os.Chmod(dir, 0o777))
			path := tc.prep(t, dir)
			t.Cleanup(func() { require.NoError(t, os.Chmod(dir, 0o755)) })

			cred, err := unprivileged("nobody")
			require.NoError(t, err)
			var msg string
			if cred == nil {
				cfg := testConfig()
				cfg.Path = path
				_, err := Open(testCtx(t), cfg, zerolog.Nop())
				require.ErrorIs(t, err, ErrOpen)
				msg = err.Error()
			} else {
				// The test binary sits in a root-only build directory: give nobody a copy.
				bin := filepath.Join(base, "store.test")
				copyFile(t, os.Args[0], bin)
				cmd := childCommand(t, bin, "readonly", envPath+"="+path)
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
				cmd.Dir = base
				out, err := cmd.Output()
				require.NoError(t, err, "stderr: %s", cmd.Stderr)
				msg = string(out)
			}
			require.NotContains(t, msg, "OPENED")
			require.Contains(t, msg, "store.path")
			require.Contains(t, msg, tc.want)
			require.True(t, strings.Contains(msg, path), msg)
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer func() { require.NoError(t, in.Close()) }()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}
