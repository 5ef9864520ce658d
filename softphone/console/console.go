package console

import (
	"embed"
	"net/http"
)

// agentFiles are the console's assets; the URL /static/<name> is the file
// static/<name>.
//
//go:embed static/index.html static/console.js static/console.css static/i18n.js
var agentFiles embed.FS

// contentSecurityPolicy keeps the page to its own origin: no inline script, no
// third-party anything. connect-src 'self' covers the same-origin WebSocket;
// media-src allows the remote audio MediaStream.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; media-src 'self' blob: mediastream:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// AgentHandler serves the agent console: GET / (and HEAD) is the page,
// GET /static/<file> its assets. Anything else is 404.
func AgentHandler() http.Handler {
	files := http.FileServerFS(agentFiles)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		http.ServeFileFS(w, r, agentFiles, "static/index.html")
	})
	mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("file") {
		case "", "index.html":
			// No directory listing; the page itself lives at /.
			http.NotFound(w, r)
			return
		}
		secure(w)
		files.ServeHTTP(w, r)
	})
	return mux
}

func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "microphone=(self), camera=()")
	// Embedded files carry no modification time: always revalidate, so a new ctid
	// build is picked up at the next load.
	h.Set("Cache-Control", "no-cache")
}
