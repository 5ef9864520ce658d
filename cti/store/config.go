package store

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Engines Config.Driver accepts.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Sentinel errors; everything the package returns wraps one of them (or a context error).
var (
	ErrInvalidConfig = errors.New("invalid configuration")
	ErrOpen          = errors.New("store cannot be opened")
	ErrMigration     = errors.New("store schema migration failed")
	ErrSchemaTooNew  = errors.New("store schema is newer than this ctid")
	ErrBacklogFull   = errors.New("store backlog full: record not queued")
	ErrClosed        = errors.New("store closed")
	ErrInvalidRecord = errors.New("invalid record")
	ErrNotFound      = errors.New("not found")
	ErrRejected      = errors.New("store rejected the record")
)

// Retention is how many days rows are kept, per table; 0 keeps them forever.
type Retention struct {
	InteractionsDays int `mapstructure:"interactions_days"` // interactions and their segments (by creation time)
	AgentStatesDays  int `mapstructure:"agent_states_days"` // agent state log
	AuditDays        int `mapstructure:"audit_days"`        // audit log
	CallbacksDays    int `mapstructure:"callbacks_days"`    // callbacks (by request time)
	// RunAt is the local time of day ("HH:MM", reports.time_zone) of the daily purge; "" is 03:30.
	RunAt string `mapstructure:"run_at"`
}

// WriterConfig tunes the batched writer.
type WriterConfig struct {
	BatchSize     int           `mapstructure:"batch_size"`     // records per transaction
	FlushInterval time.Duration `mapstructure:"flush_interval"` // longest a queued record waits for its batch
	MaxPending    int           `mapstructure:"max_pending"`    // records held in memory before ErrBacklogFull
	WriteTimeout  time.Duration `mapstructure:"write_timeout"`  // bound on one transaction
	RetryMax      time.Duration `mapstructure:"retry_max"`      // longest back-off between retries while the engine fails
	CloseTimeout  time.Duration `mapstructure:"close_timeout"`  // how long Close keeps trying to flush
	// GroupCommit: a durable save (or Sync) wakes the writer at once, but a commit
	// follows the previous one by at least this much (unless a batch is full), so
	// that the durable saves of concurrent calls share a transaction and its fsync
	// instead of costing one each. 0 commits at once.
	GroupCommit time.Duration `mapstructure:"group_commit"`
}

// Config selects and tunes the storage engine (config key prefix "store.").
type Config struct {
	Driver       string        `mapstructure:"driver"`         // "sqlite" (default) or "postgres"
	Path         string        `mapstructure:"path"`           // SQLite file (its directory must exist and be writable)
	DSN          string        `mapstructure:"dsn"`            // PostgreSQL connection string (URL or key=value)
	BusyTimeout  time.Duration `mapstructure:"busy_timeout"`   // SQLite: wait on a locked database
	MaxOpenConns int           `mapstructure:"max_open_conns"` // connection pool bound
	Writer       WriterConfig  `mapstructure:"writer"`
	Retention    Retention     `mapstructure:"retention"`
}

// DefaultConfig is an SQLite file in the working directory, batched every 200 ms.
func DefaultConfig() Config {
	return Config{
		Driver:       DriverSQLite,
		Path:         "ctid.db",
		BusyTimeout:  5 * time.Second,
		MaxOpenConns: 8,
		Writer: WriterConfig{
			BatchSize:     256,
			FlushInterval: 200 * time.Millisecond,
			MaxPending:    100_000,
			WriteTimeout:  30 * time.Second,
			RetryMax:      5 * time.Second,
			CloseTimeout:  10 * time.Second,
			GroupCommit:   20 * time.Millisecond,
		},
		Retention: Retention{InteractionsDays: 0, AgentStatesDays: 400, AuditDays: 0, CallbacksDays: 400,
			RunAt: "03:30"},
	}
}

func invalid(key string, val any, want string) error {
	return fmt.Errorf("%w: %s: %v: %s", ErrInvalidConfig, key, val, want)
}

// Validate checks every field; errors name the key, the value and what is expected.
func (c Config) Validate() error {
	switch c.Driver {
	case DriverSQLite:
		if strings.TrimSpace(c.Path) == "" {
			return invalid("store.path", `""`, "must name the SQLite file, e.g. /var/lib/ctid/ctid.db")
		}
		if strings.ContainsAny(c.Path, "?#\x00") || strings.HasPrefix(c.Path, "file:") || c.Path == ":memory:" {
			return invalid("store.path", fmt.Sprintf("%q", c.Path), "must be a plain file path (no '?', '#', 'file:' or ':memory:')")
		}
		if c.BusyTimeout <= 0 || c.BusyTimeout > time.Minute {
			return invalid("store.busy_timeout", c.BusyTimeout, "must be between 1ms and 1m")
		}
	case DriverPostgres:
		if strings.TrimSpace(c.DSN) == "" {
			return invalid("store.dsn", `""`, "must be a PostgreSQL connection string, e.g. postgres://ctid@db/ctid")
		}
		if _, err := pgx.ParseConfig(c.DSN); err != nil {
			// pgx redacts the password in its parse errors; the DSN itself is not echoed.
			return invalid("store.dsn", "(redacted)", "must be a valid PostgreSQL connection string: "+err.Error())
		}
	default:
		return invalid("store.driver", fmt.Sprintf("%q", c.Driver), `must be "sqlite" or "postgres"`)
	}
	if c.MaxOpenConns < 1 || c.MaxOpenConns > 1000 {
		return invalid("store.max_open_conns", c.MaxOpenConns, "must be between 1 and 1000")
	}
	w := c.Writer
	if w.BatchSize < 1 || w.BatchSize > 10_000 {
		return invalid("store.writer.batch_size", w.BatchSize, "must be between 1 and 10000")
	}
	if w.FlushInterval <= 0 || w.FlushInterval > time.Minute {
		return invalid("store.writer.flush_interval", w.FlushInterval, "must be between 1ms and 1m")
	}
	if w.MaxPending < w.BatchSize || w.MaxPending > 10_000_000 {
		return invalid("store.writer.max_pending", w.MaxPending, "must be at least store.writer.batch_size and at most 10000000")
	}
	if w.GroupCommit < 0 || w.GroupCommit > time.Second {
		return invalid("store.writer.group_commit", w.GroupCommit, "must be between 0 and 1s")
	}
	if w.WriteTimeout <= 0 || w.WriteTimeout > 10*time.Minute {
		return invalid("store.writer.write_timeout", w.WriteTimeout, "must be between 1ms and 10m")
	}
	if w.RetryMax <= 0 || w.RetryMax > 10*time.Minute {
		return invalid("store.writer.retry_max", w.RetryMax, "must be between 1ms and 10m")
	}
	if w.CloseTimeout <= 0 || w.CloseTimeout > 10*time.Minute {
		return invalid("store.writer.close_timeout", w.CloseTimeout, "must be between 1ms and 10m")
	}
	for _, r := range []struct {
		key  string
		days int
	}{
		{"store.retention.interactions_days", c.Retention.InteractionsDays},
		{"store.retention.agent_states_days", c.Retention.AgentStatesDays},
		{"store.retention.audit_days", c.Retention.AuditDays},
		{"store.retention.callbacks_days", c.Retention.CallbacksDays},
	} {
		if r.days < 0 || r.days > 36500 {
			return invalid(r.key, r.days, "must be between 0 (keep forever) and 36500")
		}
	}
	if _, err := time.Parse("15:04", c.Retention.RunAt); err != nil && c.Retention.RunAt != "" {
		return invalid("store.retention.run_at", fmt.Sprintf("%q", c.Retention.RunAt), "must be a time of day HH:MM, e.g. 03:30")
	}
	return nil
}
