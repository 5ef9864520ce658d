// Package ariemu is an in-process emulator of Asterisk 20's ARI (REST + events
// WebSocket) with simulated far ends, bridges, playbacks, recordings, snoop and
// ExternalMedia channels that exchange real G.711 RTP. See docs/EMULATOR.md.
package ariemu

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ErrConfig is returned for an invalid configuration.
var ErrConfig = errors.New("ariemu: invalid config")

// ErrClosed is returned by control methods after Close.
var ErrClosed = errors.New("ariemu: emulator closed")

// ErrNotFound is returned by control methods for an unknown channel or app.
var ErrNotFound = errors.New("ariemu: not found")

// ErrNoApp is returned by InjectCall when the target app has no events WebSocket.
var ErrNoApp = errors.New("ariemu: stasis app not active")

// Config configures an Emulator.
type Config struct {
	Users          map[string]string // username -> password; default {"asterisk":"asterisk"}
	DialplanApp    string            // app that from-external routes into; default "ctid"
	AsteriskID     string            // default "52:54:00:12:34:56"
	RTPHost        string            // default "127.0.0.1"
	SeedRecordings bool              // put ceo-test-rec in the stored recordings
	// RequestLog is how many ARI requests Requests keeps, the newest (default
	// 100,000; a long-running emulator such as `make run` keeps fewer).
	RequestLog int
	// ChannelVars is ari.conf's `channelvars`: the variables (or functions such as
	// CALLERID(num)) put on the channel object of every event, as
	// "channelvars":{"NAME":"value"}, an unset one as "" — as Asterisk does.
	ChannelVars []string
	Logger      zerolog.Logger
}

func (c *Config) setDefaults() {
	if len(c.Users) == 0 {
		c.Users = map[string]string{"asterisk": "asterisk"}
	}
	if c.DialplanApp == "" {
		c.DialplanApp = "ctid"
	}
	if c.AsteriskID == "" {
		c.AsteriskID = "52:54:00:12:34:56"
	}
	if c.RTPHost == "" {
		c.RTPHost = "127.0.0.1"
	}
	if c.RequestLog <= 0 {
		c.RequestLog = 100000
	}
}

// Validate checks the configuration (after defaults are applied).
func (c *Config) Validate() error {
	for u := range c.Users {
		if u == "" || strings.Contains(u, ":") {
			return fmt.Errorf("%w: invalid user name %q", ErrConfig, u)
		}
	}
	if strings.ContainsAny(c.DialplanApp, ", ") {
		return fmt.Errorf("%w: DialplanApp %q", ErrConfig, c.DialplanApp)
	}
	for _, v := range c.ChannelVars {
		if v == "" || strings.ContainsAny(v, ", ") {
			return fmt.Errorf("%w: ChannelVars entry %q", ErrConfig, v)
		}
	}
	return nil
}

// Emulator is the ARI emulator. One mutex owns the whole model.
type Emulator struct {
	cfg    Config
	log    zerolog.Logger
	mux    *http.ServeMux
	params map[string][]string // route -> parameters Asterisk defines (read-only)

	mu         sync.Mutex
	closed     bool
	apps       map[string]*app
	channels   map[string]*channel
	chanOrder  []string
	bridges    map[string]*bridge
	playbacks  map[string]*playback
	live       map[string]*liveRecording
	stored     map[string]*storedRecording
	requests   []RequestRecord // a ring of cfg.RequestLog once full; reqNext is the oldest
	reqNext    int
	rtpEnded   []string // ExternalMedia channels gone (a ring once full; rtpEndNext is the oldest): their RTPStats are kept for a while
	rtpEndNext int
	rtpLegs    map[string]*rtpLeg
	media      mediaSet // live channels with an RTP leg (refreshMedia)
	timers     map[*timer]struct{}
	epoch      int64
	seq        int
	localSeq   int
	snoopSeq   int
	rtpSeq     int
	wg         sync.WaitGroup

	faults faultState // fault switches (faults.go)
}

// New builds an Emulator.
func New(cfg Config) (*Emulator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Emulator{
		params:    ariParams(),
		cfg:       cfg,
		log:       cfg.Logger,
		apps:      map[string]*app{},
		channels:  map[string]*channel{},
		bridges:   map[string]*bridge{},
		playbacks: map[string]*playback{},
		live:      map[string]*liveRecording{},
		stored:    map[string]*storedRecording{},
		timers:    map[*timer]struct{}{},
		rtpLegs:   map[string]*rtpLeg{},
		epoch:     time.Now().Unix(),
		seq:       100,
		localSeq:  0x80,
	}
	if cfg.SeedRecordings {
		e.stored["ceo-test-rec"] = &storedRecording{name: "ceo-test-rec", format: "wav", duration: 2 * time.Second}
	}
	e.mux = e.routes()
	return e, nil
}

// Close stops every timer, RTP socket and WebSocket. It is idempotent.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for t := range e.timers {
		t.stop()
	}
	e.timers = map[*timer]struct{}{}
	for _, ch := range e.channels {
		e.stopMedia(ch)
	}
	for _, a := range e.apps {
		for s := range a.socks {
			s.shutdown()
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// timer is a scheduled model action; fn runs with e.mu held.
type timer struct {
	t       *time.Timer
	stopped bool
}

func (t *timer) stop() {
	if t == nil {
		return
	}
	t.stopped = true
	t.t.Stop()
}

// after schedules fn (run under e.mu) after d. Caller holds e.mu.
func (e *Emulator) after(d time.Duration, fn func()) *timer {
	t := &timer{}
	e.timers[t] = struct{}{}
	t.t = time.AfterFunc(d, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed || t.stopped {
			return
		}
		t.stopped = true
		delete(e.timers, t)
		fn()
	})
	return t
}

func (e *Emulator) newChannelID() string {
	e.seq++
	return fmt.Sprintf("%d.%d", e.epoch, e.seq)
}

// app is a Stasis application: created by its first events WebSocket.
type app struct {
	name       string
	socks      map[*wsConn]struct{}
	allowed    []string
	disallowed []string
}

func (a *app) allows(typ string) bool {
	for _, d := range a.disallowed {
		if d == typ {
			return false
		}
	}
	if len(a.allowed) == 0 {
		return true
	}
	for _, x := range a.allowed {
		if x == typ {
			return true
		}
	}
	return false
}

// appActive reports whether app has at least one WebSocket.
func (e *Emulator) appActive(name string) bool {
	a := e.apps[name]
	return a != nil && len(a.socks) > 0
}

// maybeDestroyApp removes an app with no WebSocket and no channels (fact 42).
func (e *Emulator) maybeDestroyApp(name string) {
	a := e.apps[name]
	if a == nil || len(a.socks) > 0 {
		return
	}
	for _, ch := range e.channels {
		if ch.app == name && ch.inStasis {
			return
		}
	}
	delete(e.apps, name)
}

func (e *Emulator) appJSON(a *app) map[string]any {
	chans := []string{}
	for _, id := range e.chanOrder {
		ch := e.channels[id]
		if ch != nil && ch.app == a.name && ch.inStasis {
			chans = append(chans, id)
		}
	}
	brs := []string{}
	for _, b := range e.bridges {
		if b.app == a.name {
			brs = append(brs, b.id)
		}
	}
	typeList := func(l []string) []map[string]string {
		out := []map[string]string{}
		for _, t := range l {
			out = append(out, map[string]string{"type": t})
		}
		return out
	}
	return map[string]any{
		"name":              a.name,
		"channel_ids":       chans,
		"bridge_ids":        brs,
		"endpoint_ids":      []string{},
		"device_names":      []string{},
		"events_allowed":    typeList(a.allowed),
		"events_disallowed": typeList(a.disallowed),
	}
}
