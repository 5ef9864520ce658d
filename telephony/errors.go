package telephony

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors for ARI responses. An *APIError matches the sentinel of its status
// with errors.Is.
var (
	ErrBadRequest    = errors.New("ari: bad request")
	ErrUnauthorized  = errors.New("ari: authentication failed")
	ErrNotFound      = errors.New("ari: not found")
	ErrConflict      = errors.New("ari: conflict")
	ErrUnprocessable = errors.New("ari: unprocessable")
	ErrServer        = errors.New("ari: server error")
	// ErrUnavailable means the request never got an answer (connection refused,
	// timeout, cancelled).
	ErrUnavailable = errors.New("ari: unavailable")
	// ErrMalformedEvent ends an events connection that carried a frame ctid cannot
	// decode as an ARI event (binary, not JSON, truncated, a field of the wrong
	// type); the reconnect's resync makes up for whatever event it was.
	ErrMalformedEvent = errors.New("ari: malformed event frame; reconnecting to resync")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("ari: client closed")
)

// APIError is a non-2xx answer from ARI.
type APIError struct {
	Method  string
	URL     string // without credentials
	Status  int
	Message string // Asterisk's {"message":...} (or {"error":...}) when present
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("ari %s %s: %d %s", e.Method, e.URL, e.Status, msg)
}

// Is maps the status to a sentinel.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnprocessable:
		return e.Status == http.StatusUnprocessableEntity
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// StatusOf returns the HTTP status of an ARI error, or 0.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}
