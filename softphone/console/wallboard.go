package console

import (
	"bytes"
	"embed"
	"net/http"
	"path"
	"time"
)

// supervisorFiles is the supervisor wallboard page: plain HTML, CSS and JavaScript,
// no build step, nothing loaded from the internet.
//
//go:embed static/supervisor.html static/supervisor.js static/supervisor.css
var supervisorFiles embed.FS

// supervisorPaths maps the URL paths the wallboard serves to its embedded files.
var supervisorPaths = map[string]struct{ file, contentType string }{
	"/supervisor":             {"static/supervisor.html", "text/html; charset=utf-8"},
	"/static/supervisor.html": {"static/supervisor.html", "text/html; charset=utf-8"},
	"/static/supervisor.js":   {"static/supervisor.js", "text/javascript; charset=utf-8"},
	"/static/supervisor.css":  {"static/supervisor.css", "text/css; charset=utf-8"},
}

// SupervisorPaths lists the paths SupervisorHandler serves (register each with GET).
func SupervisorPaths() []string {
	return []string{"/supervisor", "/static/supervisor.html", "/static/supervisor.js", "/static/supervisor.css"}
}

// supervisorStart is the Last-Modified of the embedded files (they change only with
// the binary).
var supervisorStart = time.Now()

// SupervisorHandler serves the supervisor wallboard at /supervisor and its assets
// at /static/supervisor.*. The page logs in through POST /api/v1/login, paints from
// GET /api/v1/wallboard and follows the desktop WebSocket (queue.stats,
// wallboard.agents, campaign.stats).
func SupervisorHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := supervisorPaths[path.Clean(r.URL.Path)]
		if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		body, err := supervisorFiles.ReadFile(f.file)
		if err != nil {
			http.Error(w, "wallboard page missing from this build", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		http.ServeContent(w, r, path.Base(f.file), supervisorStart, bytes.NewReader(body))
	})
}
