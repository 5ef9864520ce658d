package ariemu

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/coder/websocket"
)

const timeFormat = "2006-01-02T15:04:05.000-0700"

func ariTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// wsConn is one events WebSocket with its own writer goroutine and an unbounded
// queue: events are never dropped; a client that stops reading for writeTimeout is
// disconnected.
type wsConn struct {
	app    string
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	queue  [][]byte
	signal chan struct{}

	faults *faultState // the emulator's fault switches (event chaos)
	chaos  chaosWriter // owned by writer
}

const writeTimeout = 10 * time.Second

func (s *wsConn) push(b []byte) {
	s.mu.Lock()
	s.queue = append(s.queue, b)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// shutdown ends the socket (the handler and writer goroutines return).
func (s *wsConn) shutdown() { s.cancel() }

func (s *wsConn) writer() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.signal:
		}
		for {
			s.mu.Lock()
			batch := s.queue
			s.queue = nil
			s.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			c, gen := s.faults.currentChaos()
			for _, b := range batch {
				for _, f := range s.chaos.apply(s.faults, c, gen, b) {
					wctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
					err := s.conn.Write(wctx, f.typ, f.data)
					cancel()
					if err != nil {
						s.cancel()
						return
					}
				}
			}
		}
	}
}

// wants reports whether an event of type typ would reach a socket of app appName
// (one is open and the app's event filter lets the type through), so that an event
// nobody receives is not built. Caller holds e.mu.
func (e *Emulator) wants(appName, typ string) bool {
	if appName == "" {
		return false
	}
	a := e.apps[appName]
	return a != nil && len(a.socks) > 0 && a.allows(typ)
}

// emit sends an event to app's sockets, honouring its event filter. Caller holds e.mu.
func (e *Emulator) emit(appName string, ev map[string]any) {
	typ, ok := ev["type"].(string)
	if !ok || !e.wants(appName, typ) {
		return
	}
	a := e.apps[appName]
	ev["timestamp"] = ariTime(time.Now())
	ev["asterisk_id"] = e.cfg.AsteriskID
	ev["application"] = appName
	b, err := json.Marshal(ev)
	if err != nil {
		e.log.Error().Err(err).Str("type", typ).Msg("ariemu: marshal event")
		return
	}
	for s := range a.socks {
		s.push(b)
	}
}

// chanEvent emits a channel event (to the channel's subscribed app).
func (e *Emulator) chanEvent(ch *channel, typ string, extra map[string]any) {
	if ch == nil || ch.app == "" || !ch.subscribed || !e.wants(ch.app, typ) {
		return
	}
	ev := map[string]any{"type": typ, "channel": ch.json()}
	for k, v := range extra {
		ev[k] = v
	}
	e.emit(ch.app, ev)
}

func (e *Emulator) varset(ch *channel, name, value string) {
	e.chanEvent(ch, "ChannelVarset", map[string]any{"variable": name, "value": value})
}

func (e *Emulator) stateChange(ch *channel, state string) {
	ch.state = state
	e.chanEvent(ch, "ChannelStateChange", nil)
}

func (e *Emulator) hangupRequest(ch *channel, cause int, soft bool) {
	extra := map[string]any{"cause": cause}
	if soft {
		extra["soft"] = true
	}
	e.chanEvent(ch, "ChannelHangupRequest", extra)
}

// dial emits a Dial event for peer to app.
func (e *Emulator) dialEvent(appName string, peer *channel, status, dialstring string) {
	if !e.wants(appName, "Dial") {
		return
	}
	e.emit(appName, map[string]any{
		"type":       "Dial",
		"dialstatus": status,
		"forward":    "",
		"dialstring": dialstring,
		"peer":       peer.json(),
	})
}

func (e *Emulator) dialplanEvent(ch *channel, ctx, exten string, prio int, appName, appData string) {
	ch.dp = dialplan{Context: ctx, Exten: exten, Priority: prio, AppName: appName, AppData: appData}
	e.chanEvent(ch, "ChannelDialplan", map[string]any{"dialplan_app": appName, "dialplan_app_data": appData})
}
