package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSupervisorHandlerServesThePageAndAssets(t *testing.T) {
	mux := http.NewServeMux()
	h := SupervisorHandler()
	for _, p := range SupervisorPaths() {
		mux.Handle("GET "+p, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cases := []struct{ path, ctype, contains string }{
		{"/supervisor", "text/html", `<script src="/static/supervisor.js"`},
		{"/static/supervisor.js", "text/javascript", `"/api/v1/wallboard"`},
		{"/static/supervisor.css", "text/css", ".tiles"},
	}
	for _, c := range cases {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(string(b), c.contains) {
			t.Fatalf("%s: %d %q, body lacks %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Fatalf("%s: CSP %q", c.path, csp)
		}
		// Nothing may load from the internet.
		if strings.Contains(string(b), "http://") && !strings.Contains(string(b), "http://www.w3.org/2000/svg") || strings.Contains(string(b), "https://") {
			t.Fatalf("%s refers to another origin", c.path)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/other.js", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("unknown asset: %d", rec.Code)
	}
}
