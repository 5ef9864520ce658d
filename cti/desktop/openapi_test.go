package desktop

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
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
