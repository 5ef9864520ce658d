package telephony

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

// Client is ctid's ARI adapter: a bounded, cancellable REST client and a
// self-healing events WebSocket that delivers every event in order (see Events).
//
// It keeps ari/v5's data types and decoder but not its native transport, whose
// connect retries forever, whose HTTP calls have no timeout, whose bus drops events
// when a subscriber is slow and crashes on event types it does not know.
type Client struct {
	cfg  Config
	log  zerolog.Logger
	rest *rest
	q    *eventQueue
	out  chan Event

	running atomic.Bool
	closed  atomic.Bool

	connected  atomic.Bool
	reconnects atomic.Uint64
	received   atomic.Uint64
	delivered  atomic.Uint64
	unknown    atomic.Uint64
	malformed  atomic.Uint64

	mu      sync.Mutex
	lastErr error

	// filterMu serialises computing and installing the event filter (at each
	// connect and on each change of the types subscribed on demand), so that the
	// last filter installed is always the current one.
	filterMu sync.Mutex
	extra    map[string]int // event types subscribed on demand → subscribers
	conn     bool           // a session's filter is installed (under filterMu)
}

// Stats is a snapshot of the adapter's counters.
type Stats struct {
	Connected   bool
	Reconnects  uint64 // successful connections after the first
	Received    uint64 // ARI events decoded
	Delivered   uint64 // events handed to the consumer
	Unknown     uint64 // frames of a type ctid does not know (ignored)
	Malformed   uint64 // frames that could not be decoded (ignored)
	Queued      int    // events waiting for the consumer
	LastError   string
	Application string
}

// New checks cfg and returns an unstarted client. It reads no environment variables.
func New(cfg Config, log zerolog.Logger) (*Client, error) {
	if cfg.MaxQueuedEvents == 0 {
		cfg.MaxQueuedEvents = DefaultConfig().MaxQueuedEvents
	}
	if len(cfg.EventFilter) == 0 {
		cfg.EventFilter = DefaultEventFilter()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Client{
		cfg:  cfg,
		log:  log.With().Str("component", "ari").Str("ari_url", cfg.redactedURL()).Str("app", cfg.Application).Logger(),
		rest: newREST(cfg),
		q:    newEventQueue(cfg.MaxQueuedEvents),
		out:  make(chan Event),
	}, nil
}

// Application is the Stasis application name.
func (c *Client) Application() string { return c.cfg.Application }

// Ready reports whether the events WebSocket is connected.
func (c *Client) Ready() bool { return c.connected.Load() }

// Events is the ordered event stream; it is fed while Run runs. There is one
// consumer.
func (c *Client) Events() <-chan Event { return c.out }

// Stats returns the counters.
func (c *Client) Stats() Stats {
	s := Stats{
		Connected:   c.connected.Load(),
		Reconnects:  c.reconnects.Load(),
		Received:    c.received.Load(),
		Delivered:   c.delivered.Load(),
		Unknown:     c.unknown.Load(),
		Malformed:   c.malformed.Load(),
		Queued:      c.q.len(),
		Application: c.cfg.Application,
	}
	c.mu.Lock()
	if c.lastErr != nil {
		s.LastError = c.lastErr.Error()
	}
	c.mu.Unlock()
	return s
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// ErrAlreadyRunning is returned by a second concurrent Run.
var ErrAlreadyRunning = errors.New("ari: client already running")

// Run connects and keeps the events WebSocket up until ctx ends, reconnecting with
// capped exponential backoff and jitter. It returns nil when ctx ends.
func (c *Client) Run(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if !c.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer c.running.Store(false)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { c.pump(ctx) })
	defer wg.Wait()

	attempt := 0
	everConnected := false
	for {
		start := time.Now()
		connected, err := c.session(ctx, everConnected)
		if connected {
			everConnected = true
		}
		if ctx.Err() != nil {
			return nil
		}
		c.setErr(err)
		if connected {
			c.log.Warn().Err(err).Msg("ARI events connection lost; reconnecting")
			if time.Since(start) > 10*time.Second {
				attempt = 0
			}
		} else {
			ev := c.log.Warn()
			if errors.Is(err, ErrUnauthorized) {
				ev = c.log.Error()
			}
			ev.Err(err).Int("attempt", attempt+1).Msg("ARI connect failed")
		}
		d := backoff(c.cfg.ReconnectMin, c.cfg.ReconnectMax, attempt)
		attempt++
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff returns min*2^attempt capped at max, with ±25% jitter.
func backoff(minD, maxD time.Duration, attempt int) time.Duration {
	d := minD
	for i := 0; i < attempt && d < maxD; i++ {
		d *= 2
	}
	if d > maxD {
		d = maxD
	}
	j := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return d + j
}

// pump hands queued events to the consumer in order.
func (c *Client) pump(ctx context.Context) {
	for {
		e, err := c.q.pop(ctx)
		if err != nil {
			return
		}
		select {
		case c.out <- e:
			c.delivered.Add(1)
		case <-ctx.Done():
			return
		}
	}
}

var errSlowConsumer = errors.New("event consumer too slow: queue full")

// session runs one connection: dial, install the event filter, resync, then read
// until the connection fails or ctx ends. connected reports whether the handshake
// succeeded.
func (c *Client) session(ctx context.Context, reconnect bool) (connected bool, err error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return false, err
	}
	defer conn.CloseNow() //nolint:errcheck // best effort on a failed or finished connection
	conn.SetReadLimit(16 << 20)

	if err := c.installFilter(ctx); err != nil {
		// Asterisk before 16.17/18.3 has no filters; ctid copes with any event.
		c.log.Warn().Err(err).Msg("could not install the ARI event filter; continuing without it")
	}
	defer c.sessionOver()
	rs, err := c.resync(ctx)
	if err != nil {
		return true, fmt.Errorf("resync after connect: %w", err)
	}
	rs.Reconnect = reconnect
	if reconnect {
		c.reconnects.Add(1)
	}
	// Ready before the Connected event goes out, so that a consumer reacting to it
	// sees the adapter connected.
	c.connected.Store(true)
	c.setErr(nil)
	c.q.pushForce(Event{Kind: KindConnected, Resync: rs, Received: time.Now()})
	c.log.Info().Bool("reconnect", reconnect).Int("channels", len(rs.Channels)).Int("bridges", len(rs.Bridges)).
		Msg("ARI events connected")
	defer func() {
		c.connected.Store(false)
		if ctx.Err() == nil {
			c.q.pushForce(Event{Kind: KindDisconnected, Err: err, Received: time.Now()})
		}
	}()

	// Each frame is read into scratch (grown once, then reused) and copied out at its
	// exact size: conn.Read's io.ReadAll grows a fresh buffer from 512 bytes for every
	// event, about three allocations and twice the bytes of a 1–2 KB event.
	var scratch bytes.Buffer
	for {
		typ, data, rerr := readFrame(ctx, conn, &scratch)
		if rerr != nil {
			if ctx.Err() != nil {
				conn.Close(websocket.StatusNormalClosure, "ctid shutting down") //nolint:errcheck // closing anyway
				return true, nil
			}
			return true, fmt.Errorf("%w: read events: %w", ErrUnavailable, rerr)
		}
		if typ != websocket.MessageText {
			// Asterisk sends every event as a text message.
			c.malformed.Add(1)
			return true, fmt.Errorf("%w: %s (%d bytes)", ErrMalformedEvent, typ, len(data))
		}
		ev, evType, derr := decodeOwnedEvent(data, time.Now()) // readFrame returns a fresh buffer
		switch {
		case errors.Is(derr, errUnknownType):
			c.unknown.Add(1)
			c.log.Debug().Str("event_type", evType).Msg("ignoring ARI event of a type ctid does not handle")
			continue
		case derr != nil:
			// A frame that cannot be decoded may have been an event ctid needed
			// (a hang-up, a StasisEnd): the stream can no longer be trusted, so the
			// connection is dropped and the reconnect's resync reconciles every call
			// with what Asterisk has. Reconnects back off as after any other drop.
			c.malformed.Add(1)
			return true, fmt.Errorf("%w: type %q, %d bytes: %w", ErrMalformedEvent, evType, len(data), derr)
		}
		c.received.Add(1)
		if !c.q.push(ev) {
			return true, errSlowConsumer
		}
	}
}

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	u := c.cfg.eventsURL() + "?" + url.Values{"app": {c.cfg.Application}}.Encode()
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.cfg.Username+":"+c.cfg.Password)))
	conn, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{
		HTTPHeader: h,
		HTTPClient: &http.Client{Transport: &http.Transport{Proxy: nil}},
	})
	if err != nil {
		if resp != nil {
			if resp.Body != nil {
				resp.Body.Close() //nolint:errcheck // nothing to read
			}
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				return nil, fmt.Errorf("%w: %s answered %d: check asterisk.username/password and ari.conf",
					ErrUnauthorized, c.cfg.eventsURL(), resp.StatusCode)
			}
			return nil, fmt.Errorf("%w: %s answered %d to the events WebSocket handshake",
				ErrUnavailable, c.cfg.eventsURL(), resp.StatusCode)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, c.cfg.eventsURL(), stripURL(err))
	}
	return conn, nil
}

// resync lists the channels and bridges that belong to the application now.
func (c *Client) resync(ctx context.Context) (*Resync, error) {
	app, err := c.GetApplication(ctx, c.cfg.Application)
	if err != nil {
		return nil, err
	}
	rs := &Resync{}
	if len(app.ChannelIDs) > 0 {
		var all []json.RawMessage
		if err := c.rest.do(ctx, "GET", "/channels", nil, nil, &all); err != nil {
			return nil, err
		}
		want := setOf(app.ChannelIDs)
		rs.StasisArgs = map[string][]string{}
		for _, raw := range all {
			var ch ari.ChannelData
			var loc struct {
				Dialplan struct {
					AppName string `json:"app_name"`
					AppData string `json:"app_data"`
				} `json:"dialplan"`
			}
			if err := json.Unmarshal(raw, &ch); err != nil {
				return nil, fmt.Errorf("%w: GET /channels: %w", errMalformed, err)
			}
			if !want[ch.ID] {
				continue
			}
			rs.Channels = append(rs.Channels, ch)
			if err := json.Unmarshal(raw, &loc); err == nil && loc.Dialplan.AppName == "Stasis" {
				if parts := strings.Split(loc.Dialplan.AppData, ","); len(parts) > 1 {
					rs.StasisArgs[ch.ID] = parts[1:]
				}
			}
		}
	}
	if len(app.BridgeIDs) > 0 {
		all, err := c.Bridges(ctx)
		if err != nil {
			return nil, err
		}
		want := setOf(app.BridgeIDs)
		for _, b := range all {
			if want[b.ID] {
				rs.Bridges = append(rs.Bridges, b)
			}
		}
	}
	return rs, nil
}

// Close releases idle HTTP connections. Stop Run by cancelling its context.
func (c *Client) Close() {
	c.closed.Store(true)
	c.rest.close()
}

func setOf(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// readFrame reads the next message into scratch and returns its type and a copy of
// it, sized to fit, which the caller owns. The connection's read limit applies as with conn.Read.
func readFrame(ctx context.Context, conn *websocket.Conn, scratch *bytes.Buffer) (websocket.MessageType, []byte, error) {
	typ, r, err := conn.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	scratch.Reset()
	if _, err := scratch.ReadFrom(r); err != nil {
		return 0, nil, err
	}
	return typ, bytes.Clone(scratch.Bytes()), nil
}

// installFilter installs the configured filter plus the types subscribed on demand,
// at a connect.
func (c *Client) installFilter(ctx context.Context) error {
	c.filterMu.Lock()
	defer c.filterMu.Unlock()
	c.conn = true
	return c.SetEventFilter(ctx, c.filterLocked())
}

func (c *Client) sessionOver() {
	c.filterMu.Lock()
	c.conn = false
	c.filterMu.Unlock()
}

func (c *Client) filterLocked() []string {
	out := append([]string(nil), c.cfg.EventFilter...)
	for t, n := range c.extra {
		if n > 0 && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out[len(c.cfg.EventFilter):])
	return out
}

// SubscribeEvents adds an event type to the filter until a matching
// UnsubscribeEvents (subscriptions are counted): Asterisk filters by type alone, so
// a type only one feature reads (ChannelVarset: a campaign's AMDSTATUS) is asked
// for only while that feature needs it. The filter is changed at once when the
// events WebSocket is up (an error then means the current connection may not get
// the type yet) and installed with it at every connect.
func (c *Client) SubscribeEvents(ctx context.Context, typ string) error {
	return c.changeExtra(ctx, typ, +1)
}

// UnsubscribeEvents releases a SubscribeEvents.
func (c *Client) UnsubscribeEvents(ctx context.Context, typ string) error {
	return c.changeExtra(ctx, typ, -1)
}

func (c *Client) changeExtra(ctx context.Context, typ string, d int) error {
	c.filterMu.Lock()
	defer c.filterMu.Unlock()
	if c.extra == nil {
		c.extra = map[string]int{}
	}
	before := c.extra[typ] > 0
	c.extra[typ] = max(0, c.extra[typ]+d)
	if c.extra[typ] == 0 {
		delete(c.extra, typ)
	}
	if before == (c.extra[typ] > 0) || !c.conn || slices.Contains(c.cfg.EventFilter, typ) {
		return nil
	}
	if err := c.SetEventFilter(ctx, c.filterLocked()); err != nil {
		return fmt.Errorf("ari: event filter change for %s: %w", typ, err)
	}
	return nil
}
