package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
)

const pgMissing = "PostgreSQL not installed: run `make test-prereqs` (apt-get install -y postgresql)"

// Environment of the child processes the tests re-execute.
const (
	envChild  = "CTID_STORE_TEST_CHILD" // "crash" or "readonly"
	envDriver = "CTID_STORE_TEST_DRIVER"
	envPath   = "CTID_STORE_TEST_PATH"
	envDSN    = "CTID_STORE_TEST_DSN"
	envID     = "CTID_STORE_TEST_ID"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "crash":
		os.Exit(crashChild())
	case "readonly":
		os.Exit(readonlyChild())
	}
	code := m.Run()
	if err := stopPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test PostgreSQL:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// engine is one storage engine the shared suite runs against.
type engine struct {
	name   string
	config func(t *testing.T) Config
}

func engines() []engine {
	return []engine{
		{name: DriverSQLite, config: func(t *testing.T) Config {
			c := testConfig()
			c.Driver = DriverSQLite
			c.Path = filepath.Join(t.TempDir(), "ctid.db")
			return c
		}},
		{name: DriverPostgres, config: func(t *testing.T) Config {
			c := testConfig()
			c.Driver = DriverPostgres
			c.DSN = newPGDatabase(t)
			return c
		}},
	}
}

func testConfig() Config {
	c := DefaultConfig()
	c.Writer.FlushInterval = 10 * time.Millisecond
	c.Writer.RetryMax = 100 * time.Millisecond
	c.Writer.CloseTimeout = 5 * time.Second
	c.Writer.GroupCommit = 0 // the tests save one record after another: no commit to share
	return c
}

// eachEngine runs f as a subtest per engine.
func eachEngine(t *testing.T, f func(t *testing.T, e engine)) {
	t.Helper()
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustOpen(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(testCtx(t), cfg, zerolog.Nop())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// --- a real PostgreSQL server for the package's tests -------------------------------

type pgServer struct {
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan error
	log    string
}

var pgState struct {
	once sync.Once
	srv  *pgServer
	err  error
	dbs  atomic.Int64
}

// pgBinDir finds Debian's newest /usr/lib/postgresql/<ver>/bin.
func pgBinDir() (string, error) { return pgBinDirUnder("/usr/lib/postgresql") }

func pgBinDirUnder(root string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(root, "*", "bin", "initdb"))
	if err != nil || len(matches) == 0 {
		return "", errors.New(pgMissing)
	}
	ver := func(p string) int {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		if err != nil {
			return -1
		}
		return v
	}
	sort.Slice(matches, func(i, j int) bool { return ver(matches[i]) > ver(matches[j]) })
	bin := filepath.Dir(matches[0])
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		return "", errors.New(pgMissing)
	}
	return bin, nil
}

// unprivileged returns the credential to run a child as when the tests run as root
// (initdb and postgres refuse root), or nil.
func unprivileged(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("running as root and no %q user to drop to: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.Join(errors.New("not a TCP address"), l.Close())
	}
	return addr.Port, l.Close()
}

func startPostgres() (*pgServer, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ctid-store-pg-")
	if err != nil {
		return nil, err
	}
	srv := &pgServer{dir: dir, log: filepath.Join(dir, "postgres.log")}
	fail := func(err error) (*pgServer, error) { return nil, errors.Join(err, os.RemoveAll(dir)) }
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w: %s", err, out))
	}
	for attempt := 0; ; attempt++ {
		err := srv.launch(bin, data, cred)
		if err == nil {
			return srv, nil
		}
		if attempt == 2 {
			return fail(err)
		}
	}
}

// launch starts postgres on a fresh random loopback port and waits until it answers.
func (srv *pgServer) launch(bin, data string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(srv.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", srv.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=60", "-c", "shared_buffers=16MB",
		"-c", "logging_collector=off", "-c", "log_min_messages=warning")
	cmd.Dir = srv.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: if the test binary dies, so does the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		// Pdeathsig follows the OS thread that forked: keep this one alive while the server runs.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := errors.Join(<-started, logf.Close()); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	srv.cmd, srv.port, srv.exited = cmd, port, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, srv.dsn("postgres"))
		if err == nil {
			err = errors.Join(conn.Ping(ctx), conn.Close(ctx))
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			logText, rerr := os.ReadFile(srv.log)
			return errors.Join(fmt.Errorf("postgres exited (%v): %s", werr, logText), rerr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("postgres not ready after 30s: %w", err), srv.stop())
		}
	}
}

func (srv *pgServer) dsn(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable connect_timeout=5", srv.port, db)
}

// stop shuts the server down (fast mode) and removes its directory.
func (srv *pgServer) stop() error {
	var err error
	if srv.cmd != nil && srv.cmd.Process != nil {
		if serr := srv.cmd.Process.Signal(syscall.SIGINT); serr != nil && !errors.Is(serr, os.ErrProcessDone) {
			err = serr
		}
		select {
		case <-srv.exited:
		case <-time.After(20 * time.Second):
			err = errors.Join(err, srv.cmd.Process.Kill(), errors.New("postgres did not stop in 20s; killed"))
			<-srv.exited
		}
	}
	return errors.Join(err, os.RemoveAll(srv.dir))
}

func stopPostgres() error {
	if pgState.srv == nil {
		return nil
	}
	return pgState.srv.stop()
}

// newPGDatabase creates an empty database on the shared test server for one test.
func newPGDatabase(t testing.TB) string {
	t.Helper()
	pgState.once.Do(func() { pgState.srv, pgState.err = startPostgres() })
	if pgState.err != nil {
		t.Fatal(pgState.err)
	}
	srv := pgState.srv
	name := fmt.Sprintf("ctid_test_%d", pgState.dbs.Add(1))
	admin := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, srv.dsn("postgres"))
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, sql)
		return errors.Join(err, conn.Close(ctx))
	}
	if err := admin("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if err := admin("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return srv.dsn(name)
}

// childCommand re-executes the test binary as a child running the given role.
func childCommand(t *testing.T, bin, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), envChild+"="+role), env...)
	cmd.Stderr = &strings.Builder{}
	return cmd
}
