package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func fetch(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// The page and its assets are served from the binary with a strict CSP; nothing
// else is.
func TestAgentHandlerServesThePageAndItsAssets(t *testing.T) {
	h := AgentHandler()
	resp, body := fetch(t, h, "GET", "/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `<script src="/static/console.js" defer></script>`) {
		t.Fatalf("GET / %d %q:\n%.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("CSP %q lacks %q", csp, want)
		}
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers %v", resp.Header)
	}
	for path, ctype := range map[string]string{
		"/static/console.js": "text/javascript", "/static/i18n.js": "text/javascript", "/static/console.css": "text/css",
	} {
		resp, body := fetch(t, h, "GET", path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 1000 {
			t.Fatalf("GET %s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	for _, path := range []string{"/static/", "/static/index.html", "/static/nope.js", "/static/../console.go", "/index.html", "/supervisor"} {
		if resp, _ := fetch(t, h, "GET", path); resp.StatusCode != 404 && resp.StatusCode/100 != 3 {
			t.Fatalf("GET %s: %d, want 404 (or a redirect to a cleaned path)", path, resp.StatusCode)
		}
	}
	if resp, _ := fetch(t, h, "POST", "/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /: %d", resp.StatusCode)
	}
}

// keysOf returns the keys of one language's dictionary in i18n.js.
func keysOf(t *testing.T, src, lang string) []string {
	t.Helper()
	start := strings.Index(src, "\n    "+lang+": {")
	if start < 0 {
		t.Fatalf("no %s dictionary in i18n.js", lang)
	}
	end := strings.Index(src[start:], "\n    }")
	if end < 0 {
		t.Fatalf("unterminated %s dictionary", lang)
	}
	var keys []string
	for _, m := range regexp.MustCompile(`(?m)^\s+"([^"]+)":`).FindAllStringSubmatch(src[start:start+end], -1) {
		keys = append(keys, m[1])
	}
	slices.Sort(keys)
	return keys
}

// Every text the page shows exists in English and Polish.
func TestEveryTextIsTranslated(t *testing.T) {
	read := func(name string) string {
		b, err := agentFiles.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	i18n := read("i18n.js")
	en, pl := keysOf(t, i18n, "en"), keysOf(t, i18n, "pl")
	if len(en) < 50 || !slices.Equal(en, pl) {
		t.Fatalf("English and Polish keys differ:\nen %v\npl %v", en, pl)
	}
	used := map[string]string{}
	for _, m := range regexp.MustCompile(`data-i18n="([^"]+)"`).FindAllStringSubmatch(read("index.html"), -1) {
		used[m[1]] = "index.html"
	}
	for _, m := range regexp.MustCompile(`\bt\("([^"]+)"[,)]`).FindAllStringSubmatch(read("console.js"), -1) {
		used[m[1]] = "console.js"
	}
	if len(used) < 40 {
		t.Fatalf("only %d keys found in use: the patterns no longer match the sources", len(used))
	}
	for k, where := range used {
		if _, ok := slices.BinarySearch(en, k); !ok {
			t.Errorf("%s uses %q, which i18n.js does not define", where, k)
		}
	}
	// Keys built at run time: agent states, not-ready reasons, dispositions.
	for _, k := range []string{"state.ready", "state.not_ready", "state.reserved", "state.talking", "state.on_hold", "state.wrap_up",
		"state.logged_out", "reason.break", "disp.resolved", "call.talking", "call.held", "call.consulting", "call.connecting"} {
		if _, ok := slices.BinarySearch(en, k); !ok {
			t.Errorf("i18n.js lacks %q", k)
		}
	}
}
