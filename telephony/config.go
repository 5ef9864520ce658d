package telephony

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config configures the ARI adapter. The zero value is not usable; start from
// DefaultConfig and override.
type Config struct {
	// URL is the ARI base URL including the /ari prefix, e.g. http://127.0.0.1:8088/ari.
	URL string
	// WebSocketURL overrides the events URL; derived from URL when empty.
	WebSocketURL string
	Username     string
	Password     string
	// Application is the Stasis application name ctid registers.
	Application string
	// RequestTimeout bounds every REST request.
	RequestTimeout time.Duration
	// DialTimeout bounds the events WebSocket handshake.
	DialTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential reconnect backoff.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// EventFilter is the allow-list sent to PUT /applications/{app}/eventFilter after
	// each connect, with the types subscribed on demand added (SubscribeEvents).
	// Empty means DefaultEventFilter.
	EventFilter []string
	// MaxQueuedEvents bounds the events received but not yet consumed. When a
	// consumer falls that far behind, the adapter drops the WebSocket and resyncs
	// instead of growing without bound or losing events silently.
	MaxQueuedEvents int
}

// DefaultConfig returns the defaults for a local Asterisk.
func DefaultConfig() Config {
	return Config{
		URL:             "http://127.0.0.1:8088/ari",
		Application:     "ctid",
		RequestTimeout:  5 * time.Second,
		DialTimeout:     5 * time.Second,
		ReconnectMin:    250 * time.Millisecond,
		ReconnectMax:    30 * time.Second,
		MaxQueuedEvents: 1 << 20,
	}
}

// DefaultEventFilter lists the event types ctid consumes. Asterisk sends nothing else,
// so event types the ARI library does not know never reach the decoder in normal
// operation (the decoder copes with them anyway).
// defaultEventFilter is what ctid's call, campaign and survey flows consume; every
// other type would cost Asterisk an encode and ctid a decode for nothing (an
// inbound call raised 27 events, 11 of them of types nothing read). Add a type
// here when code starts to consume it.
//
// ChannelVarset is not in it: only outbound campaigns read one (AMDSTATUS), and
// Asterisk's filter matches on the type alone, so subscribing to it for good would
// bring every variable Asterisk sets on every channel (an inbound call answered by
// an agent raised 9 of its 16 events: ctid's own re-adoption marks, BRIDGEPEER,
// the ExternalMedia leg's addresses, ...). A campaign subscribes to it while it
// runs (Client.SubscribeEvents).
var defaultEventFilter = []string{
	"StasisStart", "StasisEnd",
	"ChannelDestroyed", "ChannelDtmfReceived", "ChannelDialplan",
	"Dial",
	"PlaybackFinished",
}

// DefaultEventFilter returns a copy of the event types ctid subscribes to.
func DefaultEventFilter() []string {
	return append([]string(nil), defaultEventFilter...)
}

// ErrInvalidConfig is wrapped by every validation error.
var ErrInvalidConfig = errors.New("invalid ARI configuration")

func invalid(key string, value any, expected string) error {
	return fmt.Errorf("%w: %s: %q: %s", ErrInvalidConfig, key, fmt.Sprint(value), expected)
}

// Validate reports the first problem in c, naming the key, the value and what is
// expected. Keys are named as in ctid's configuration file (asterisk.*).
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || c.URL == "" {
		return invalid("asterisk.url", c.URL, "must be an absolute http(s) URL such as http://127.0.0.1:8088/ari")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("asterisk.url", c.URL, "scheme must be http or https")
	}
	if u.Host == "" {
		return invalid("asterisk.url", c.URL, "must include a host and port")
	}
	if c.WebSocketURL != "" {
		w, err := url.Parse(c.WebSocketURL)
		if err != nil || (w.Scheme != "ws" && w.Scheme != "wss") || w.Host == "" {
			return invalid("asterisk.websocket_url", c.WebSocketURL, "must be a ws:// or wss:// URL")
		}
	}
	if c.Username == "" {
		return invalid("asterisk.username", c.Username, "must not be empty")
	}
	if c.Password == "" {
		return invalid("asterisk.password", "", "must not be empty")
	}
	if c.Application == "" || strings.ContainsAny(c.Application, " ,/?&") {
		return invalid("asterisk.app", c.Application, "must be a non-empty name without spaces, commas, '/', '?' or '&'")
	}
	if c.RequestTimeout <= 0 || c.RequestTimeout > 5*time.Minute {
		return invalid("asterisk.request_timeout", c.RequestTimeout, "must be between 1ms and 5m")
	}
	if c.DialTimeout <= 0 || c.DialTimeout > 5*time.Minute {
		return invalid("asterisk.dial_timeout", c.DialTimeout, "must be between 1ms and 5m")
	}
	if c.ReconnectMin <= 0 {
		return invalid("asterisk.reconnect_min", c.ReconnectMin, "must be positive")
	}
	if c.ReconnectMax < c.ReconnectMin {
		return invalid("asterisk.reconnect_max", c.ReconnectMax, "must be at least asterisk.reconnect_min")
	}
	if c.MaxQueuedEvents < 1000 {
		return invalid("asterisk.max_queued_events", c.MaxQueuedEvents, "must be at least 1000")
	}
	return nil
}

// eventsURL is the WebSocket URL for the events stream, without query.
func (c Config) eventsURL() string {
	if c.WebSocketURL != "" {
		return c.WebSocketURL
	}
	u := strings.TrimRight(c.URL, "/")
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	return u + "/events"
}

// RedactedURL is the base URL safe for logs (no userinfo).
func (c Config) redactedURL() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "<invalid url>"
	}
	u.User = nil
	return u.String()
}
