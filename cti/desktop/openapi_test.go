package desktop

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRoutesMatchOpenAPI(t *testing.T) {
	spec, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, nil)
	if err := CheckOpenAPI(spec, hs.srv.RouteTable(), "desktop"); err != nil {
		t.Fatal(err)
	}
	// a route added through the hook without documentation is caught...
	if err := hs.srv.HandleREST(http.MethodGet, "/api/v1/agents/{agent}", RoleSupervisor, func(http.ResponseWriter, *http.Request) {}); err != nil {
		t.Fatal(err)
	}
	if err := CheckOpenAPI(spec, hs.srv.RouteTable(), "desktop"); !errors.Is(err, ErrOpenAPIMismatch) {
		t.Fatalf("undocumented route: %v", err)
	}
	// ...and so is a documented route nobody registers, or a role that differs
	if err := CheckOpenAPI(spec, []RouteInfo{{http.MethodPost, "/api/v1/login", RoleNone}}, "desktop"); !errors.Is(err, ErrOpenAPIMismatch) {
		t.Fatalf("missing routes: %v", err)
	}
	wrongRole := hs.srv.RouteTable()[:0:0]
	for _, r := range hs.srv.RouteTable() {
		if r.Path == "/api/v1/users" {
			r.MinRole = RoleAgent
		}
		if r.Path != "/api/v1/agents/{agent}" {
			wrongRole = append(wrongRole, r)
		}
	}
	if err := CheckOpenAPI(spec, wrongRole, "desktop"); !errors.Is(err, ErrOpenAPIMismatch) {
		t.Fatalf("wrong role: %v", err)
	}
}

func TestHandleRESTHook(t *testing.T) {
	hs := newHarness(t, nil)
	called := make(chan Principal, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			WriteError(w, Errorf(CodeInternal, "no principal"))
			return
		}
		called <- p
		WriteJSON(w, http.StatusOK, map[string]string{"agent": r.PathValue("agent")})
	}
	if err := hs.srv.HandleREST(http.MethodGet, "/api/v1/agents/{agent}", RoleSupervisor, h); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ m, p string }{
		{http.MethodGet, "/api/v1/agents/{agent}"}, // twice
		{http.MethodGet, "/metrics"},               // outside the API
		{"TRACE", "/api/v1/x"},
		{http.MethodGet, "/api/v1/agents/{a}"}, // conflicts with {agent}: ServeMux would panic
	} {
		if err := hs.srv.HandleREST(bad.m, bad.p, RoleAgent, h); !errors.Is(err, ErrRoute) {
			t.Errorf("%s %s: %v", bad.m, bad.p, err)
		}
	}
	agent, _ := hs.login("alice")
	sup, _ := hs.login("sam")
	if resp := hs.get("/api/v1/agents/bob", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %d", resp.StatusCode)
	}
	if resp := hs.get("/api/v1/agents/bob", agent); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("agent: %d", resp.StatusCode)
	}
	m := decodeBody(t, hs.get("/api/v1/agents/bob", sup))
	if m["agent"] != "bob" {
		t.Fatalf("%v", m)
	}
	if p := <-called; p.User != "sam" || p.Role != RoleSupervisor || len(p.Teams) != 1 || p.Teams[0] != "sales" {
		t.Fatalf("principal %+v", p)
	}
}

func TestAPIDocNamesEveryCommandAndEvent(t *testing.T) {
	doc, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{CmdResume, CmdPing}
	for _, s := range builtinSpecs() {
		names = append(names, s.Name)
	}
	// DESIGN.md's events, plus the session notices and codes of this package
	names = append(names, "agent.state", "call.offered", "call.connected", "call.held", "call.unheld",
		"call.transferred", "call.ended", "wrapup.started", "queue.stats", "campaign.stats", "rtc.answer",
		"rtc.candidate", "error", "snapshot", "session.replaced", "session.closed",
		CodeNotFound, CodeForbidden, CodeInvalidState, CodeInvalidArgument, CodeUnauthenticated, CodeRateLimited, CodeInternal,
		ReasonReplaced, ReasonSlowConsumer, ReasonLoggedOut, ReasonTokenExpired, ReasonShutdown)
	for _, n := range names {
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("docs/API.md does not document `%s`", n)
		}
	}
}

// TestEveryRouteChecksAuthAndRole hits every registered non-public route without a
// token, with an expired token and with each role below its minimum.
func TestEveryRouteChecksAuthAndRole(t *testing.T) {
	hs := newHarness(t, nil)
	tokens := map[Role]string{}
	for role, user := range map[Role]string{RoleAgent: "alice", RoleSupervisor: "sam", RoleAdmin: "root"} {
		tokens[role], _ = hs.login(user)
	}
	expired, _ := hs.login("root")
	hs.clock.Add(11 * time.Hour)
	for role, user := range map[Role]string{RoleAgent: "alice", RoleSupervisor: "sam", RoleAdmin: "root"} {
		tokens[role], _ = hs.login(user) // fresh ones
	}
	hs.clock.Add(time.Hour + time.Second) // the first root token is now expired
	do := func(r RouteInfo, tok string) int {
		path := strings.ReplaceAll(r.Path, "{", "x")
		req, err := http.NewRequest(r.Method, hs.ts.URL+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hs.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	checked := 0
	for _, r := range hs.srv.RouteTable() {
		if r.MinRole == RoleNone {
			continue
		}
		checked++
		if got := do(r, ""); got != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", r.Method, r.Path, got)
		}
		if got := do(r, expired); got != http.StatusUnauthorized {
			t.Errorf("%s %s with an expired token: %d", r.Method, r.Path, got)
		}
		for role := RoleAgent; role < r.MinRole; role++ {
			if got := do(r, tokens[role]); got != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d", r.Method, r.Path, role, got)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d routes checked", checked)
	}
}
