package cti

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// ServerConfig configures ctid's HTTP listener.
type ServerConfig struct {
	Listen          string        // host:port
	ShutdownTimeout time.Duration // how long in-flight requests may take after SIGTERM
	ReadHeaderTime  time.Duration
	// TLSCertFile and TLSKeyFile (PEM) switch the listener to HTTPS (TLS 1.2+).
	TLSCertFile string
	TLSKeyFile  string
}

// DefaultServerConfig listens on loopback only.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{Listen: "127.0.0.1:8080", ShutdownTimeout: 10 * time.Second, ReadHeaderTime: 10 * time.Second}
}

// ErrInvalidConfig is wrapped by validation errors.
var ErrInvalidConfig = errors.New("invalid configuration")

// Validate checks the listener settings.
func (c ServerConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("%w: server.listen: %q: must be host:port, e.g. 127.0.0.1:8080", ErrInvalidConfig, c.Listen)
	}
	if c.ShutdownTimeout <= 0 || c.ShutdownTimeout > 10*time.Minute {
		return fmt.Errorf("%w: server.shutdown_timeout: %q: must be between 1ms and 10m", ErrInvalidConfig, c.ShutdownTimeout)
	}
	if c.ReadHeaderTime <= 0 {
		return fmt.Errorf("%w: server.read_header_timeout: %q: must be positive", ErrInvalidConfig, c.ReadHeaderTime)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("%w: server.tls: cert_file %q and key_file %q: set both or neither", ErrInvalidConfig, c.TLSCertFile, c.TLSKeyFile)
	}
	if c.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			return fmt.Errorf("%w: server.tls: cannot load %s / %s: %w", ErrInvalidConfig, c.TLSCertFile, c.TLSKeyFile, err)
		}
	}
	return nil
}

// ReadyFunc reports whether a dependency is ready, and why not.
type ReadyFunc func() (ok bool, reason string)

// ServerParams are the server's dependencies.
type ServerParams struct {
	Config   ServerConfig
	Log      zerolog.Logger
	Gatherer prometheus.Gatherer
	// Ready lists the named readiness checks of /readyz (e.g. "ari").
	Ready map[string]ReadyFunc
	// Mount adds routes (the desktop API) to the server's mux.
	Mount func(mux *http.ServeMux)
	// Pages serves the embedded web pages at GET / and GET /static/ (nil: a
	// placeholder page at /).
	Pages http.Handler
}

// Server is ctid's HTTP front: health, readiness and metrics now; the desktop API
// mounts here as it is built.
type Server struct {
	p   ServerParams
	mux *http.ServeMux
	srv *http.Server
}

// NewServer validates the config and builds the routes.
func NewServer(p ServerParams) (*Server, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Gatherer == nil {
		return nil, fmt.Errorf("%w: metrics gatherer is required", ErrInvalidConfig)
	}
	s := &Server{p: p, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n")) //nolint:errcheck // client gone is not our problem
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if p.Pages != nil {
		s.mux.Handle("GET /{$}", p.Pages)
		s.mux.Handle("GET /static/", p.Pages)
	} else {
		s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(indexPage)) //nolint:errcheck // client gone
		})
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(p.Gatherer, promhttp.HandlerOpts{}))
	if p.Mount != nil {
		p.Mount(s.mux)
	}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: p.Config.ReadHeaderTime}
	if p.Config.TLSCertFile != "" {
		s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// Handler exposes the routes (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	status := http.StatusOK
	body := ""
	for name, f := range s.p.Ready {
		ok, reason := f()
		if !ok {
			status = http.StatusServiceUnavailable
			body += name + ": not ready: " + reason + "\n"
		} else {
			body += name + ": ok\n"
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body)) //nolint:errcheck // client gone
}

// Serve listens and serves until ctx ends, then shuts down gracefully: it stops
// accepting and lets in-flight requests finish within ShutdownTimeout. ready, if
// not nil, receives the bound address once listening.
func (s *Server) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.p.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (server.listen): %w", s.p.Config.Listen, err)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	if s.p.Config.TLSCertFile != "" {
		go func() { errc <- s.srv.ServeTLS(ln, s.p.Config.TLSCertFile, s.p.Config.TLSKeyFile) }()
	} else {
		go func() { errc <- s.srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.p.Config.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

// indexPage greets whoever opens ctid's URL until the agent console is served here.
const indexPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ctid</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5;color:#1b1b1b}code{background:#eee;padding:0 .2em}</style>
</head><body>
<h1>ctid is running</h1>
<p>The agent console and the supervisor wallboard are not served yet. Desktops use the
API: <code>POST /api/v1/login</code>, then the WebSocket <code>/api/v1/ws</code>
(see docs/API.md and docs/openapi.yaml in the source).</p>
<ul>
<li><a href="/healthz">/healthz</a> — the process is alive</li>
<li><a href="/readyz">/readyz</a> — Asterisk (ARI) and the store are reachable</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics</li>
</ul>
</body></html>
`
