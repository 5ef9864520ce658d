package telephony

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const maxResponseBytes = 16 << 20

// maxARIConns bounds the adapter's HTTP connections to ARI (open and idle).
const maxARIConns = 64

// rest is the bounded, cancellable HTTP side of the ARI adapter.
type rest struct {
	base     string // no trailing slash
	user     string
	password string
	timeout  time.Duration
	http     *http.Client
}

func newREST(cfg Config) *rest {
	tr := &http.Transport{
		Proxy:               nil, // ARI is local or on a trusted network; never through HTTP_PROXY
		MaxIdleConns:        maxARIConns,
		MaxIdleConnsPerHost: maxARIConns,
		// No more connections than the idle pool keeps: a request beyond them waits
		// for one to be free instead of dialling a connection that would be closed
		// as soon as it is done. Under a burst (a backlog of calls, a slow PBX) the
		// adapter otherwise opened and closed ~3 connections per call (TIME_WAIT
		// count in BenchmarkStandaloneEmulatorThroughput, loaded box), each a TCP
		// handshake, two goroutines and 8 KB of buffers here and a session in
		// Asterisk, whose http.conf sessionlimit (100 by default) bounds them anyway.
		MaxConnsPerHost: maxARIConns,
		IdleConnTimeout: 90 * time.Second,
	}
	return &rest{
		base:     strings.TrimRight(cfg.URL, "/"),
		user:     cfg.Username,
		password: cfg.Password,
		timeout:  cfg.RequestTimeout,
		http:     &http.Client{Transport: tr},
	}
}

func (r *rest) close() { r.http.CloseIdleConnections() }

// do sends one request. query parameters go in the URL as Asterisk documents them;
// body (if not nil) is sent as JSON. out (if not nil) receives a 2xx JSON body.
func (r *rest) do(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	full := r.base + path
	if len(query) > 0 {
		full += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("ari %s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, full, rd)
	if err != nil {
		return fmt.Errorf("ari %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(r.user, r.password)
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("ari %s %s%s: %w: %w", method, r.base, path, ErrUnavailable, stripURL(err))
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("ari %s %s%s: read body: %w: %w", method, r.base, path, ErrUnavailable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: method, URL: r.base + path, Status: resp.StatusCode, Message: errorMessage(data)}
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ari %s %s: decode %d response: %w", method, path, resp.StatusCode, err)
	}
	return nil
}

// stripURL removes the *url.Error wrapper so that the URL is not printed twice; the
// URL never carries credentials here (basic auth goes in a header).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func errorMessage(data []byte) string {
	var m struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(data, &m) == nil {
		if m.Message != "" {
			return m.Message
		}
		if m.Error != "" {
			return m.Error
		}
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
