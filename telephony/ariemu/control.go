package ariemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// CallSpec describes a simulated inbound caller.
type CallSpec struct {
	App          string            `json:"app,omitempty"`  // default Config.DialplanApp
	Args         []string          `json:"args,omitempty"` // StasisStart args, default ["inbound", Dialled]
	CallerNumber string            `json:"caller_number,omitempty"`
	CallerName   string            `json:"caller_name,omitempty"`
	Dialled      string            `json:"dialled,omitempty"`   // default "s"
	Behaviour    string            `json:"behaviour,omitempty"` // far end once answered, default "talk"
	Patience     time.Duration     `json:"patience,omitempty"`  // caller hangs up after this unless bridged (cause 19 if never answered, else 16); 0 = forever
	DTMF         string            `json:"dtmf,omitempty"`      // digits sent after the answer
	Variables    map[string]string `json:"variables,omitempty"`
}

// InjectCall places a simulated inbound caller into Stasis and returns the id of
// the Stasis (;2) channel once its StasisStart has been sent.
func (e *Emulator) InjectCall(ctx context.Context, spec CallSpec) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", ErrClosed
	}
	appName := spec.App
	if appName == "" {
		appName = e.cfg.DialplanApp
	}
	if !e.appActive(appName) {
		return "", fmt.Errorf("%w: %q", ErrNoApp, appName)
	}
	dialled := spec.Dialled
	if dialled == "" {
		dialled = "s"
	}
	args := spec.Args
	if args == nil {
		args = []string{"inbound", dialled}
	}
	beh := spec.Behaviour
	if beh == "" {
		beh = "talk"
	}
	if !knownBehaviours[beh] {
		return "", fmt.Errorf("%w: unknown behaviour %q", ErrConfig, beh)
	}
	e.localSeq++
	cid := party{Name: spec.CallerName, Number: spec.CallerNumber}
	// StasisStart is sent before InjectCall returns, so the id is usable at once.
	_, ch2 := e.newInboundPair("", "", dialled+"@from-external", dialled, cid, beh, appName, args, spec.Variables, true)
	ch2.dtmfScript = spec.DTMF
	if spec.Patience > 0 {
		ch2.abandon = e.after(spec.Patience, func() {
			if !ch2.gone && ch2.bridge == nil && ch2.state != "Up" {
				e.farEndHangup(ch2, 19)
			} else if !ch2.gone && ch2.bridge == nil {
				e.farEndHangup(ch2, 16)
			}
		})
	}
	return ch2.id, nil
}

// Hangup makes the far end of channelID hang up with the Q.850 cause (0 = 16).
func (e *Emulator) Hangup(channelID string, cause int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.channels[channelID]
	if ch == nil || ch.gone {
		return fmt.Errorf("%w: channel %q", ErrNotFound, channelID)
	}
	if cause == 0 {
		cause = 16
	}
	switch ch.kind {
	case kindSnoop:
		e.endSnoop(ch)
	case kindLocalHalf:
		if ch.peer != nil {
			e.farEndHangup(ch.peer, cause)
		}
	default:
		e.farEndHangup(ch, cause)
	}
	return nil
}

// SendDTMF makes the far end of channelID send digits (ChannelDtmfReceived each).
func (e *Emulator) SendDTMF(channelID, digits string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.channels[channelID]
	if ch == nil || ch.gone {
		return fmt.Errorf("%w: channel %q", ErrNotFound, channelID)
	}
	e.scheduleDTMF(ch, digits, 100*time.Millisecond)
	return nil
}

// DropEventSockets abruptly closes every events WebSocket of app ("" = all) and
// returns how many were closed.
func (e *Emulator) DropEventSockets(appName string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for name, a := range e.apps {
		if appName != "" && name != appName {
			continue
		}
		for s := range a.socks {
			s.shutdown() // the handler closes the connection at once, without a close frame
			n++
		}
	}
	return n
}

// EmitRaw sends raw as one event frame to app's sockets, unfiltered.
func (e *Emulator) EmitRaw(appName string, raw []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.apps[appName]
	if a == nil || len(a.socks) == 0 {
		return fmt.Errorf("%w: app %q has no events WebSocket", ErrNotFound, appName)
	}
	b := append([]byte(nil), raw...)
	for s := range a.socks {
		s.push(b)
	}
	return nil
}

// Requests returns the ARI requests served so far, oldest first: every one, or
// the newest Config.RequestLog of them.
func (e *Emulator) Requests() []RequestRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RequestRecord, 0, len(e.requests))
	out = append(out, e.requests[e.reqNext:]...)
	return append(out, e.requests[:e.reqNext]...)
}

// ChannelIDs lists the channels currently alive (Stasis channels and far ends).
func (e *Emulator) ChannelIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []string{}
	for _, id := range e.chanOrder {
		if ch := e.channels[id]; ch != nil && !ch.gone && ch.kind != kindHelper {
			out = append(out, id)
		}
	}
	return out
}

// ChannelSnapshot is what a test can see of one channel.
type ChannelSnapshot struct {
	ID     string
	State  string
	MOH    bool   // music on hold started on the channel itself
	Bridge string // the bridge it is in, or ""
}

// Channel snapshots one live channel.
func (e *Emulator) Channel(id string) (ChannelSnapshot, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.channels[id]
	if ch == nil || ch.gone {
		return ChannelSnapshot{}, false
	}
	s := ChannelSnapshot{ID: ch.id, State: ch.state, MOH: ch.moh}
	if ch.bridge != nil {
		s.Bridge = ch.bridge.id
	}
	return s, true
}

// Bridges snapshots every bridge.
func (e *Emulator) Bridges() []BridgeSnapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []BridgeSnapshot{}
	for _, b := range e.sortedBridges() {
		j := b.json()
		out = append(out, BridgeSnapshot{ID: b.id, Type: b.typ, Technology: j.Technology, Channels: j.Channels})
	}
	return out
}

// ---- the /_emu HTTP twin of the control API ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		w.WriteHeader(500)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b) //nolint:errcheck // client gone
}

func controlError(w http.ResponseWriter, err error) {
	status := 500
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoApp):
		status = 404
	case errors.Is(err, ErrConfig):
		status = 400
	case errors.Is(err, ErrClosed):
		status = 503
	}
	writeJSON(w, status, map[string]string{"message": err.Error()})
}

// serveControl: POST /_emu/calls, POST /_emu/channels/{id}/hangup?cause=N,
// POST /_emu/channels/{id}/dtmf?digits=..., POST /_emu/events/{app}/drop,
// POST /_emu/events/{app}/raw, GET /_emu/requests, /_emu/channels, /_emu/bridges,
// /_emu/rtp/{channelId}, POST /_emu/restart, POST|DELETE /_emu/faults/http (faults.go),
// POST|DELETE /_emu/faults/events (chaos.go).
// Same credentials as ARI.
func (e *Emulator) serveControl(w http.ResponseWriter, r *http.Request) {
	if !e.authOK(r) {
		writeJSON(w, 401, map[string]string{"message": "Authentication required"})
		return
	}
	segs := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/_emu"), "/"), "/")
	route := r.Method + " " + segs[0]
	switch {
	case route == "POST calls" && len(segs) == 1:
		var spec struct {
			CallSpec
			PatienceMS int `json:"patience_ms"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&spec); err != nil {
			writeJSON(w, 400, map[string]string{"message": "invalid JSON: " + err.Error()})
			return
		}
		if spec.PatienceMS > 0 {
			spec.Patience = time.Duration(spec.PatienceMS) * time.Millisecond
		}
		id, err := e.InjectCall(r.Context(), spec.CallSpec)
		if err != nil {
			controlError(w, err)
			return
		}
		writeJSON(w, 200, map[string]string{"channel_id": id})
	case route == "POST channels" && len(segs) == 3 && segs[2] == "hangup":
		cause := 0
		if c := r.URL.Query().Get("cause"); c != "" {
			if _, err := fmt.Sscan(c, &cause); err != nil {
				writeJSON(w, 400, map[string]string{"message": "invalid cause"})
				return
			}
		}
		if err := e.Hangup(segs[1], cause); err != nil {
			controlError(w, err)
			return
		}
		w.WriteHeader(204)
	case route == "POST channels" && len(segs) == 3 && segs[2] == "dtmf":
		if err := e.SendDTMF(segs[1], r.URL.Query().Get("digits")); err != nil {
			controlError(w, err)
			return
		}
		w.WriteHeader(204)
	case route == "GET channels" && len(segs) == 1:
		writeJSON(w, 200, e.ChannelIDs())
	case route == "GET bridges" && len(segs) == 1:
		writeJSON(w, 200, e.Bridges())
	case route == "GET requests" && len(segs) == 1:
		writeJSON(w, 200, e.Requests())
	case route == "GET rtp" && len(segs) == 2:
		sent, recv := e.RTPStats(segs[1])
		writeJSON(w, 200, map[string]int{"sent": sent, "received": recv})
	case route == "POST events" && len(segs) == 3 && segs[2] == "drop":
		app := segs[1]
		if app == "_all" {
			app = ""
		}
		writeJSON(w, 200, map[string]int{"closed": e.DropEventSockets(app)})
	case route == "POST events" && len(segs) == 3 && segs[2] == "raw":
		var raw json.RawMessage
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&raw); err != nil {
			writeJSON(w, 400, map[string]string{"message": "invalid JSON: " + err.Error()})
			return
		}
		if err := e.EmitRaw(segs[1], raw); err != nil {
			controlError(w, err)
			return
		}
		w.WriteHeader(204)
	case route == "POST restart" && len(segs) == 1:
		writeJSON(w, 200, map[string]int{"channels_lost": e.Restart()})
	case segs[0] == "faults" && len(segs) == 2 && segs[1] == "http":
		e.serveFaultControl(w, r)
	case segs[0] == "faults" && len(segs) == 2 && segs[1] == "events":
		e.serveChaosControl(w, r)
	default:
		writeJSON(w, 404, map[string]string{"message": "Resource not found"})
	}
}
