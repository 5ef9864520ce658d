package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a log sink safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.b.String(), s)
}

// gather returns metric name{label=value} -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf("{%s=%s}", l.GetName(), l.GetValue())
			}
			out[key] = metricValue(mf.GetType(), m)
		}
	}
	return out
}

func metricValue(typ dto.MetricType, m *dto.Metric) float64 {
	if typ == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestSQLiteReadOnlyOrFullAtRuntime: the database turns read-only or full under a
// running ctid (real SQLite errors, from per-connection pragmas on the writer's only
// connection). The store says so once at error level, /readyz's reason and the
// metrics show it, records wait in memory up to store.writer.max_pending, past it
// they are refused with ErrBacklogFull, logged and counted (never silently lost), and
// once the engine recovers every accepted record is written.
func TestSQLiteReadOnlyOrFullAtRuntime(t *testing.T) {
	for _, tc := range []struct {
		name, fault, recover, reason string
	}{
		{"read-only", "PRAGMA query_only = 1", "PRAGMA query_only = 0", "readonly"},
		{"full", "PRAGMA max_page_count = %d", "PRAGMA max_page_count = 1073741823", "full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Path = filepath.Join(t.TempDir(), "ctid.db")
			cfg.MaxOpenConns = 1 // the pragmas below apply to the writer's connection
			cfg.Writer.BatchSize = 4
			cfg.Writer.MaxPending = 8
			logs := &syncBuffer{}
			ctx := testCtx(t)
			s, err := Open(ctx, cfg, zerolog.New(logs))
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close()) })
			reg := prometheus.NewRegistry()
			reg.MustRegister(s.Collector())

			detail := strings.Repeat("x", 8192) // each record needs new pages
			require.NoError(t, s.Audit(AuditEntry{Actor: "sup", Action: "before", At: t0, Detail: detail}))
			require.NoError(t, s.Sync(ctx))

			fault := tc.fault
			if strings.Contains(fault, "%d") {
				var pages int
				require.NoError(t, s.db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages))
				fault = fmt.Sprintf(fault, pages)
			}
			_, err = s.db.ExecContext(ctx, fault)
			require.NoError(t, err)

			accepted, refused := 0, 0
			for i := range 30 {
				err := s.Audit(AuditEntry{Actor: "sup", Action: "during", Target: fmt.Sprint(i), At: t0.Add(time.Duration(i+1) * time.Second), Detail: detail})
				switch {
				case err == nil:
					accepted++
				default:
					require.ErrorIs(t, err, ErrBacklogFull)
					refused++
				}
			}
			require.GreaterOrEqual(t, accepted, cfg.Writer.MaxPending)
			require.LessOrEqual(t, accepted, cfg.Writer.MaxPending+cfg.Writer.BatchSize)
			require.Equal(t, 30-accepted, refused)

			deadline := time.Now().Add(15 * time.Second)
			for s.Stats().FailedAttempts < 3 {
				require.False(t, time.Now().After(deadline), "the writer never retried: %+v", s.Stats())
				time.Sleep(10 * time.Millisecond)
			}
			ok, reason := s.Ready()
			require.False(t, ok)
			require.Contains(t, reason, tc.reason)
			m := gather(t, reg)
			require.Equal(t, float64(accepted), m["ctid_store_pending_records"])
			require.GreaterOrEqual(t, m["ctid_store_write_failures_total"], 3.0)
			require.Equal(t, float64(refused), m["ctid_store_records_dropped_total{reason=backlog_full}"])
			require.Equal(t, 0.0, m["ctid_store_records_dropped_total{reason=rejected}"])
			require.Equal(t, 0.0, m["ctid_store_writable"])
			// Loud once, not once per retry.
			require.Equal(t, 1, logs.count("STORE WRITE FAILED"))
			require.GreaterOrEqual(t, logs.count("STORE BACKLOG FULL"), 1)

			_, err = s.db.ExecContext(ctx, tc.recover)
			require.NoError(t, err)
			require.NoError(t, s.Sync(ctx))
			got, err := s.AuditLog(ctx, t0, t0.Add(time.Hour))
			require.NoError(t, err)
			require.Len(t, got, 1+accepted)
			ok, reason = s.Ready()
			require.True(t, ok, reason)
			m = gather(t, reg)
			require.Equal(t, 0.0, m["ctid_store_pending_records"])
			require.Equal(t, float64(1+accepted), m["ctid_store_records_committed_total"])
			require.Equal(t, 1.0, m["ctid_store_writable"])
			require.Equal(t, 1, logs.count("store writes succeed again"))
		})
	}
}

// PostgreSQL outages (disk full, read-only standby, revoked grant, shutdown) are
// retried with the records kept; only errors about the record itself reject it.
func TestPostgresOutageCodesAreNotPermanent(t *testing.T) {
	for code, want := range map[string]bool{
		"53100": false, // disk_full
		"25006": false, // read_only_sql_transaction
		"42501": false, // insufficient_privilege
		"57P01": false, // admin_shutdown
		"23505": true,  // unique_violation
		"22001": true,  // string_data_right_truncation
		"42P01": true,  // undefined_table
	} {
		err := fmt.Errorf("commit: %w", &pgconn.PgError{Code: code})
		require.Equal(t, want, permanent(err), code)
	}
}
