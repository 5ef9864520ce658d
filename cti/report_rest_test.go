package cti_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
)

// noDesk is a desktop.Handler for servers that only serve REST in a test.
type noDesk struct{}

func (noDesk) HandleCommand(context.Context, desktop.Principal, desktop.Command) (desktop.Result, error) {
	return desktop.Result{}, desktop.Errorf(desktop.CodeInvalidArgument, "no commands here")
}
func (noDesk) Snapshot(context.Context, desktop.Principal) (map[string]any, error) {
	return map[string]any{}, nil
}
func (noDesk) SessionOpened(desktop.Principal)         {}
func (noDesk) SessionClosed(desktop.Principal, string) {}

type reportEnv struct {
	base   string
	tokens map[string]string
}

func newReportEnv(t *testing.T) reportEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	sc.Writer.FlushInterval = 10 * time.Millisecond
	st, err := store.Open(ctx, sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	loc, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	d := func(h, m, s int) time.Time { return time.Date(2026, 12, 1, h, m, s, 0, loc) }
	for _, ix := range []store.Interaction{
		// Answered after 15 s by anna: talk 100 s, wrap-up 20 s.
		{ID: "a", Direction: store.Inbound, Queue: "sales", CallerNumber: "+48500", Created: d(9, 0, 0),
			Answered: d(9, 0, 15), Ended: d(9, 1, 55), Outcome: "answered", Segments: []store.Segment{
				{Kind: store.SegRinging, Agent: "anna", Start: d(9, 0, 10), End: d(9, 0, 15)},
				{Kind: store.SegTalking, Agent: "anna", Start: d(9, 0, 15), End: d(9, 1, 55)},
				{Kind: store.SegWrapUp, Agent: "anna", Start: d(9, 1, 55), End: d(9, 2, 15)}}},
		// Abandoned after 40 s.
		{ID: "b", Direction: store.Inbound, Queue: "sales", CallerNumber: "+48600", Created: d(9, 30, 0),
			Ended: d(9, 30, 40), Outcome: "abandoned", Segments: []store.Segment{}},
	} {
		if err := st.SaveDurable(ctx, ix); err != nil {
			t.Fatal(err)
		}
	}
	campaignFixture(ctx, t, st, d)
	rep, err := cti.NewReports(cti.ReportsParams{
		Config: cti.ReportsConfig{TimeZone: "Europe/Warsaw", FCRDays: 7,
			Queues: []cti.ReportQueue{
				{Queue: "sales", Formula: "answered-only", Members: []string{"anna"}},
				{Queue: "support", Members: []string{"boris"}},
			},
			Agents: []string{"anna", "boris"}},
		Store: st, Log: zerolog.Nop(),
		Now: func() time.Time { return time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := desktop.HashPassword("pw-secret", 4)
	if err != nil {
		t.Fatal(err)
	}
	dc := desktop.DefaultConfig()
	dc.Auth.Users = []desktop.UserConfig{
		{Username: "anna", Role: "agent", PasswordHash: hash},
		{Username: "sam", Role: "supervisor", PasswordHash: hash, Teams: []string{"sales"}},
		{Username: "sue", Role: "supervisor", PasswordHash: hash, Teams: []string{"support"}},
		{Username: "ada", Role: "admin", PasswordHash: hash},
	}
	api, err := desktop.NewServer(dc, noDesk{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.RegisterREST(api); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	env := reportEnv{base: web.URL, tokens: map[string]string{}}
	for _, u := range []string{"anna", "sam", "sue", "ada"} {
		env.tokens[u] = login(t, web.URL, u, "pw-secret")
	}
	return env
}

func (e reportEnv) get(t *testing.T, user, path string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.tokens[user])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func TestReportsREST(t *testing.T) {
	env := newReportEnv(t)
	const day = "from=2026-12-01&to=2026-12-02&interval=day"

	// A supervisor's queue report as JSON, in the call centre's time zone.
	code, _, body := env.get(t, "sam", "/api/v1/reports/queues?"+day+"&queue=sales")
	if code != http.StatusOK {
		t.Fatalf("queues: %d %s", code, body)
	}
	var out struct {
		From, To, Interval, TZ string
		Rows                   []map[string]any
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if out.From != "2026-12-01T00:00:00+01:00" || out.To != "2026-12-02T00:00:00+01:00" || out.Interval != "day" || out.TZ != "Europe/Warsaw" || len(out.Rows) != 1 {
		t.Fatalf("queue report: %s", body)
	}
	row := out.Rows[0]
	want := map[string]any{"queue": "sales", "start": "2026-12-01T00:00:00+01:00", "end": "2026-12-02T00:00:00+01:00",
		"offered": 2.0, "answered": 1.0, "abandoned": 1.0, "short_abandoned": 0.0,
		"service_level": 1.0, "sl_formula": "answered-only", "sl_threshold_seconds": 20.0, // answered in 15 s
		"abandon_rate": 0.5, "asa_seconds": 15.0, "aht_seconds": 120.0, "avg_talk_seconds": 100.0,
		"avg_wrapup_seconds": 20.0, "longest_wait_seconds": 40.0, "fcr": 1.0, "fcr_calls": 1.0, "nps": nil, "csat": nil}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("queue row %s = %v, want %v", k, row[k], v)
		}
	}

	// CSV export: a header row, then the row; formula-like text is defused.
	code, ctype, body := env.get(t, "sam", "/api/v1/reports/agents?"+day+"&agent=anna&format=csv")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/csv") {
		t.Fatalf("csv: %d %s %s", code, ctype, body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("csv: %v %q", err, body)
	}
	cells := map[string]string{}
	for i, h := range recs[0] {
		cells[h] = recs[1][i]
	}
	if recs[0][0] != "agent" || recs[0][1] != "start" || cells["agent"] != "anna" || cells["offered"] != "1" ||
		cells["answered"] != "1" || cells["aht_seconds"] != "120" || cells["nps"] != "" || cells["start"] != "2026-12-01T00:00:00+01:00" {
		t.Fatalf("csv agent row: %v", cells)
	}
	if _, ok := cells["service_level"]; ok {
		t.Fatal("agent CSV has queue-only columns")
	}

	// An agent reads their own report, not someone else's, and no queue report.
	code, _, body = env.get(t, "anna", "/api/v1/reports/agents?"+day)
	if code != http.StatusOK || !strings.Contains(string(body), `"agent":"anna"`) {
		t.Fatalf("own agent report: %d %s", code, body)
	}
	for _, c := range []struct {
		user, path string
		status     int
		code, msg  string
	}{
		{"anna", "/api/v1/reports/agents?agent=boris", 403, "forbidden", "own report"},
		{"anna", "/api/v1/reports/queues", 403, "forbidden", "supervisor"},
		{"sue", "/api/v1/reports/queues?queue=sales", 403, "forbidden", "teams"},
		{"sam", "/api/v1/reports/queues?queue=nosuch", 404, "not_found", "nosuch"},
		{"sam", "/api/v1/reports/agents?agent=nobody", 404, "not_found", "nobody"},
		{"ada", "/api/v1/reports/queues?from=2016-01-01&to=2026-01-01&interval=15m", 400, "invalid_argument", "limit of 31 days for 15m"},
		{"ada", "/api/v1/reports/queues?from=2016-01-01&to=2026-01-01&interval=day", 400, "invalid_argument", "limit of 366 days"},
		{"ada", "/api/v1/reports/queues?from=2026-13-45", 400, "invalid_argument", "from"},
		{"ada", "/api/v1/reports/queues?from=2026-12-02&to=2026-12-01", 400, "invalid_argument", "before"},
		{"ada", "/api/v1/reports/queues?tz=Mars/Olympus", 400, "invalid_argument", "tz"},
		{"ada", "/api/v1/reports/queues?interval=week", 400, "invalid_argument", "interval"},
		{"ada", "/api/v1/reports/queues?format=xml", 400, "invalid_argument", "format"},
	} {
		code, _, body := env.get(t, c.user, c.path)
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(body, &e); err != nil || code != c.status || e.Error.Code != c.code || !strings.Contains(e.Error.Message, c.msg) {
			t.Errorf("%s %s: %d %s; want %d %s containing %q", c.user, c.path, code, body, c.status, c.code, c.msg)
		}
	}

	// An admin's default report: every queue, today in hours (24 rows each).
	code, _, body = env.get(t, "ada", "/api/v1/reports/queues")
	if err := json.Unmarshal(body, &out); code != http.StatusOK || err != nil || len(out.Rows) != 48 || out.Interval != "hour" {
		t.Fatalf("default report: %d %v rows=%d", code, err, len(out.Rows))
	}
}
