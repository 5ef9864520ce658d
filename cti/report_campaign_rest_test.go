package cti_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/cti/store"
)

// campaignFixture: campaign "winter" (dispositions sale and callback, agent carl, not a configured agent) and
// "spring" (the default dispositions) on 2026-12-01, local time d.
func campaignFixture(ctx context.Context, t *testing.T, st *store.Store, d func(h, m, s int) time.Time) {
	t.Helper()
	for _, c := range []store.Campaign{
		{ID: "winter", Name: "Winter", State: "running", Config: json.RawMessage(`{"id":"winter","name":"Winter","agents":["carl"],
"dispositions":[{"code":"sale","final":true,"sale":true},{"code":"callback","callback":true}]}`)},
		{ID: "spring", Name: "Spring", State: "draft", Config: json.RawMessage(`{"id":"spring","name":"Spring"}`)},
	} {
		if err := st.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var zero time.Time
	for _, a := range []store.CampaignAttempt{
		{ID: "w1", ContactID: "c1", Outcome: "", Disposition: "sale", Agent: "carl", Placed: d(9, 0, 0), Answered: d(9, 0, 4), Connected: d(9, 0, 5)},
		{ID: "w2", ContactID: "c2", Outcome: "abandoned", Placed: d(9, 10, 0), Answered: d(9, 10, 2)},
		{ID: "w3", ContactID: "c3", Outcome: "busy", Placed: d(9, 20, 0), Answered: zero},
		{ID: "w4", ContactID: "c4", Outcome: "", Disposition: "odd", Agent: "carl", Placed: d(9, 30, 0), Answered: d(9, 30, 4), Connected: d(9, 30, 5)},
	} {
		a.CampaignID, a.Number, a.InteractionID = "winter", "+44207946000"+a.ID[1:], "x"+a.ID
		if err := st.SaveDurable(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, ix := range []store.Interaction{
		{ID: "xw1", Direction: store.Outbound, Campaign: "winter", Created: d(9, 0, 0), Segments: []store.Segment{
			{Kind: store.SegTalking, Agent: "carl", Start: d(9, 0, 5), End: d(9, 2, 5)},
			{Kind: store.SegWrapUp, Agent: "carl", Start: d(9, 2, 5), End: d(9, 2, 25)}}},
		{ID: "xw2", Direction: store.Outbound, Campaign: "winter", Created: d(9, 10, 0), Cause: "safe-harbour message played", Segments: []store.Segment{}},
		{ID: "xw4", Direction: store.Outbound, Campaign: "winter", Created: d(9, 30, 0), Segments: []store.Segment{
			{Kind: store.SegTalking, Agent: "carl", Start: d(9, 30, 5), End: d(9, 31, 5)}}},
	} {
		if err := st.SaveDurable(ctx, ix); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCampaignReportsREST(t *testing.T) {
	env := newReportEnv(t)
	const day = "from=2026-12-01&to=2026-12-02&interval=day"

	code, _, body := env.get(t, "sam", "/api/v1/reports/campaigns/winter?"+day)
	if code != http.StatusOK {
		t.Fatalf("campaign report: %d %s", code, body)
	}
	var out struct {
		From, To, Interval, TZ string
		Rows                   []map[string]any
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Rows) != 1 || out.TZ != "Europe/Warsaw" {
		t.Fatalf("campaign report: %v %s", err, body)
	}
	row := out.Rows[0]
	// 4 attempts: 2 connected (w1, w4), 1 abandoned (w2, its message played), 1 busy;
	// talk 120 + 60 s, wrap-up 20 s over 2 connects; one sale of 2 connects.
	want := map[string]any{"campaign": "winter", "start": "2026-12-01T00:00:00+01:00", "end": "2026-12-02T00:00:00+01:00",
		"attempts": 4.0, "skipped": 0.0, "connects": 2.0, "live_answers": 3.0, "abandons": 1.0,
		"abandon_formula": "abandoned/(connected+abandoned)", "safe_harbour_plays": 1.0, "machine": 0.0, "busy": 1.0,
		"no_answer": 0.0, "congestion": 0.0, "failed": 0.0, "connect_rate": 0.5, "talk_seconds": 180.0, "hold_seconds": 0.0,
		"wrapup_seconds": 20.0, "aht_seconds": 100.0, "avg_talk_seconds": 90.0, "avg_wrapup_seconds": 10.0,
		"agent_seconds": 0.0, "contacts_per_agent_hour": nil, "final": 1.0, "sales": 1.0, "conversion": 0.5,
		"callbacks_scheduled": 0.0, "dnc_added": 0.0, "nps": nil, "csat": nil}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("campaign row %s = %v, want %v", k, row[k], v)
		}
	}
	if r, ok := row["abandon_rate"].(float64); !ok || math.Abs(r-1.0/3) > 1e-9 {
		t.Errorf("abandon_rate %v", row["abandon_rate"])
	}
	if disp, ok := row["dispositions"].(map[string]any); !ok || len(disp) != 2 || disp["sale"] != 1.0 || disp["odd"] != 1.0 {
		t.Errorf("dispositions %v", row["dispositions"])
	}

	// CSV: the campaign's codes, then codes met outside its set.
	code, ctype, body := env.get(t, "ada", "/api/v1/reports/campaigns?"+day+"&campaign=winter&format=csv")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/csv") {
		t.Fatalf("csv: %d %s %s", code, ctype, body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("csv: %v %q", err, body)
	}
	n := len(recs[0])
	if recs[0][0] != "campaign" || strings.Join(recs[0][n-3:], ",") != "disposition_sale,disposition_callback,disposition_odd" ||
		strings.Join(recs[1][n-3:], ",") != "1,0,1" || recs[1][0] != "winter" {
		t.Fatalf("csv campaign report: %q", recs)
	}
	cells := map[string]string{}
	for i, h := range recs[0] {
		cells[h] = recs[1][i]
	}
	if cells["attempts"] != "4" || cells["aht_seconds"] != "100" || cells["contacts_per_agent_hour"] != "" {
		t.Fatalf("csv cells %v", cells)
	}

	// Every campaign by id, hourly by default.
	code, _, body = env.get(t, "ada", "/api/v1/reports/campaigns?from=2026-12-01")
	if err := json.Unmarshal(body, &out); code != http.StatusOK || err != nil || len(out.Rows) != 48 ||
		out.Rows[0]["campaign"] != "spring" || out.Rows[24]["campaign"] != "winter" {
		t.Fatalf("all campaigns: %d %v %d rows", code, err, len(out.Rows))
	}

	for _, c := range []struct {
		user, path string
		status     int
		code, msg  string
	}{
		{"anna", "/api/v1/reports/campaigns", 403, "forbidden", "supervisor"},
		{"sam", "/api/v1/reports/campaigns/nosuch", 404, "not_found", "nosuch"},
		{"sam", "/api/v1/reports/campaigns?campaign=winter,nosuch", 404, "not_found", "nosuch"},
		{"ada", "/api/v1/reports/campaigns?from=2016-01-01&to=2026-01-01&interval=15m", 400, "invalid_argument", "limit of 31 days for 15m"},
		{"ada", "/api/v1/reports/campaigns/winter?from=2016-01-01&to=2026-01-01&interval=day", 400, "invalid_argument", "limit of 366 days"},
		{"ada", "/api/v1/reports/campaigns?from=2026-13-45", 400, "invalid_argument", "from"},
		{"ada", "/api/v1/reports/campaigns?tz=Mars/Olympus", 400, "invalid_argument", "tz"},
		{"ada", "/api/v1/reports/campaigns?format=xml", 400, "invalid_argument", "format"},
	} {
		code, _, body := env.get(t, c.user, c.path)
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(body, &e); err != nil || code != c.status || e.Error.Code != c.code || !strings.Contains(e.Error.Message, c.msg) {
			t.Errorf("%s %s: %d %s; want %d %s containing %q", c.user, c.path, code, body, c.status, c.code, c.msg)
		}
	}
}

// The campaign report counts safe-harbour plays by the causes the campaign call flow
// gives (campaign_flow.go): a cause renamed there must be renamed in the store too.
func TestSafeHarbourCausesMatchTheCallFlow(t *testing.T) {
	src, err := os.ReadFile("campaign_flow.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range store.SafeHarbourCauses() {
		if !strings.Contains(string(src), `"`+c+`"`) {
			t.Errorf("campaign_flow.go never gives the cause %q", c)
		}
	}
}
