package cti_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ctid/ctid/cti/store"
)

// Every supervisor or campaign action an agent attempts is refused and audited with
// who, what, whom, when and why: on the socket (supervisor.set_state to log a
// colleague out or pause them, campaign.start|pause|stop) and over REST (campaign
// lifecycle, creating a user). A supervisor refused by team is audited too; an
// agent's reads (GET) are refused but not audited.
func TestRefusedAgentActionsAreAudited(t *testing.T) {
	st := newSecStack(t, secOpts{})
	ctx := st.ctx
	boris := openDesk(t, ctx, st.web, loginAs(t, st.web, "boris"))
	sue := openDesk(t, ctx, st.web, loginAs(t, st.web, "sue"))
	start := time.Now()
	attempts := []struct {
		cmd  string
		args map[string]any
	}{
		{"supervisor.set_state", map[string]any{"agent": "anna", "state": "logged_out"}},
		{"supervisor.set_state", map[string]any{"agent": "anna", "state": "not_ready", "reason": "lunch"}},
		{"campaign.start", map[string]any{"campaign_id": "spring"}},
		{"campaign.pause", map[string]any{"campaign_id": "spring"}},
		{"campaign.stop", map[string]any{"campaign_id": "spring"}},
	}
	for _, a := range attempts {
		if r := boris.do(ctx, a.cmd, a.args); errCode(r) != "forbidden" {
			t.Fatalf("agent boris %s %v: %v", a.cmd, a.args, r)
		}
	}
	if r := sue.do(ctx, "supervisor.set_state", map[string]any{"agent": "anna", "state": "ready"}); errCode(r) != "forbidden" {
		t.Fatalf("sue (support) setting anna (sales) ready: %v", r)
	}
	tok := loginAs(t, st.web, "boris")
	post := func(path, body string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.web+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("boris POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
	post("/api/v1/campaigns/spring/start", "{}")
	post("/api/v1/users", `{"username":"mallory","role":"admin","password":"password123"}`)
	if code, _ := getJSON(t, st.web+"/api/v1/agents", tok); code != http.StatusForbidden {
		t.Fatalf("boris GET /api/v1/agents: %d", code)
	}
	end := time.Now()

	type key struct{ actor, action, target string }
	got := map[key][]store.AuditEntry{}
	for _, e := range st.audited() {
		got[key{e.Actor, e.Action, e.Target}] = append(got[key{e.Actor, e.Action, e.Target}], e)
	}
	check := func(k key, n int, details ...string) {
		t.Helper()
		es := got[k]
		if len(es) != n {
			t.Fatalf("audit entries for %+v: %d, want %d (all: %+v)", k, len(es), n, st.audited())
		}
		for _, e := range es {
			if e.At.Before(start) || e.At.After(end) {
				t.Errorf("%+v: at %v, not during the attempts", k, e.At)
			}
			if !strings.Contains(e.Detail, "error=forbidden") {
				t.Errorf("%+v: detail %q lacks the refusal", k, e.Detail)
			}
		}
		for _, d := range details {
			found := false
			for _, e := range es {
				found = found || strings.Contains(e.Detail, d)
			}
			if !found {
				t.Errorf("%+v: no entry with %q in %+v", k, d, es)
			}
		}
	}
	check(key{"boris", "supervisor.set_state", "anna"}, 2, "state=logged_out", `state=not_ready reason="lunch"`, "refused_by=role")
	check(key{"boris", "campaign.start", ""}, 2, "campaign=spring refused_by=role", "via=rest")
	check(key{"boris", "campaign.pause", ""}, 1, "campaign=spring")
	check(key{"boris", "campaign.stop", ""}, 1, "campaign=spring")
	check(key{"boris", "rest POST /api/v1/users", ""}, 1, "via=rest")
	check(key{"sue", "supervisor.set_state", "anna"}, 1, "state=ready", "not in your teams")
	for _, e := range st.audited() {
		if strings.Contains(e.Action, "GET") {
			t.Errorf("a refused read was audited: %+v", e)
		}
	}
}
