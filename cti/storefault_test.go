package cti_test

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// lockStore takes SQLite's write lock from another connection (as a stuck writer, a
// backup holding the file, or a full/read-only disk would stop ctid's writes): every
// write of ctid's store fails after its busy timeout until release.
func lockStore(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO audit_log (actor, action, at) VALUES ('lock', 'lock', 0)"); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		if err := errors.Join(tx.Rollback(), db.Close()); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(release)
	return release
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// callThrough runs one inbound call from arrival to the agent hanging up.
func callThrough(t *testing.T, w *world, agent string) string {
	t.Helper()
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234567", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agent, "call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	if err := w.orch.Accept(w.ctx, agent, caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agent, "call.connected", func(e map[string]any) bool { return e["call_id"] == caller })
	if err := w.orch.Hangup(w.ctx, agent, caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agent, "call.ended", func(e map[string]any) bool { return e["call_id"] == caller })
	waitFor(t, "the caller to be hung up", func() bool { _, ok := w.emu.Channel(caller); return !ok })
	return caller
}

// The store stops accepting writes under a running ctid: calls keep being handled,
// /readyz names the store and its error, the metrics show the records waiting in
// memory and the failures; past store.writer.max_pending records are refused and
// counted (ctid_store_records_dropped_total), never silently lost; once the store
// is writable again every record that was held is written (the call's interaction
// is complete) and /readyz is green.
func TestStoreOutageCallsContinueRecordsWrittenOnRecovery(t *testing.T) {
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	sc.BusyTimeout = 50 * time.Millisecond
	sc.Writer.BatchSize = 4
	sc.Writer.FlushInterval = 20 * time.Millisecond
	sc.Writer.RetryMax = 200 * time.Millisecond
	sc.Writer.MaxPending = 60
	w := newWorldStore(t, salesConfig("anna", "boris"), cti.DefaultConfig(), sc)
	reg := prometheus.NewRegistry()
	reg.MustRegister(w.store.Collector())
	srv, err := cti.NewServer(cti.ServerParams{Config: cti.DefaultServerConfig(), Log: zerolog.Nop(), Gatherer: reg,
		Ready: map[string]cti.ReadyFunc{"store": w.store.Ready}})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(web.Close)
	metric := func(name string) float64 {
		t.Helper()
		_, body := httpGet(t, web.URL+"/metrics")
		for line := range strings.Lines(body) {
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				var v float64
				if _, err := fmt.Sscan(rest, &v); err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
		t.Fatalf("metric %s missing: %s", name, body)
		return 0
	}
	if code, body := httpGet(t, web.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz before the outage: %d %s", code, body)
	}

	release := lockStore(t, sc.Path)
	w.ready(t, "anna")
	w.desk.wait(t, "anna", "agent.state", func(e map[string]any) bool { return e["state"] == queue.Ready.String() })
	c1 := callThrough(t, w, "anna")
	waitFor(t, "/readyz to name the failing store", func() bool {
		code, body := httpGet(t, web.URL+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "store: not ready: store writes failing") &&
			strings.Contains(body, "locked")
	})
	if metric("ctid_store_writable") != 0 || metric("ctid_store_pending_records") < 5 || metric("ctid_store_write_failures_total") < 1 {
		t.Fatalf("metrics during the outage: writable %v pending %v failures %v", metric("ctid_store_writable"),
			metric("ctid_store_pending_records"), metric("ctid_store_write_failures_total"))
	}
	// Fill the memory bound; a further call is still handled, its records refused and counted.
	for i := 0; ; i++ {
		err := w.store.Audit(store.AuditEntry{Actor: "filler", Action: "fill", Target: fmt.Sprint(i)})
		if errors.Is(err, store.ErrBacklogFull) {
			break
		}
		if err != nil || i > sc.Writer.MaxPending+sc.Writer.BatchSize {
			t.Fatalf("filling the backlog: %v after %d", err, i)
		}
	}
	w.ready(t, "boris")
	callThrough(t, w, "boris")
	dropped := metric(`ctid_store_records_dropped_total{reason="backlog_full"}`)
	if dropped < 2 || uint64(dropped) != w.store.Stats().BacklogFull {
		t.Fatalf("dropped records %v (stats %+v)", dropped, w.store.Stats())
	}

	release()
	ix := w.interaction(t, c1) // Sync: every held record is written
	if ix.Outcome != "answered" || ix.Answered.IsZero() || ix.Ended.IsZero() {
		t.Fatalf("interaction held during the outage: %+v", ix)
	}
	talk := false
	for _, sg := range ix.Segments {
		talk = talk || (sg.Kind == store.SegTalking && sg.Agent == "anna")
	}
	if !talk {
		t.Fatalf("segments %+v", ix.Segments)
	}
	waitFor(t, "/readyz green again", func() bool { code, _ := httpGet(t, web.URL+"/readyz"); return code == http.StatusOK })
	if metric("ctid_store_writable") != 1 || metric("ctid_store_pending_records") != 0 {
		t.Fatalf("metrics after recovery: writable %v pending %v", metric("ctid_store_writable"), metric("ctid_store_pending_records"))
	}
}
