package telephony

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// EventKind tells ARI events from the adapter's own connection events.
type EventKind int

const (
	// KindARI is an event Asterisk sent; ARI holds the typed event.
	KindARI EventKind = iota
	// KindConnected is emitted after every (re)connect, before any ARI event from
	// the new connection. Resync holds what is in the application now: Asterisk
	// buffers nothing while the WebSocket is down, so upper layers re-adopt calls
	// from it.
	KindConnected
	// KindDisconnected is emitted when a connection that was up is lost.
	KindDisconnected
)

func (k EventKind) String() string {
	switch k {
	case KindARI:
		return "ari"
	case KindConnected:
		return "connected"
	case KindDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one item of the adapter's ordered event stream.
type Event struct {
	Kind EventKind
	// Type is the ARI event type (KindARI only).
	Type string
	// ARI is the decoded event, one of the ari/v5 event structs (*ari.StasisStart,
	// *ari.ChannelHangupRequest, ...). Never nil for KindARI.
	ARI ari.Event
	// Raw is the frame as received (KindARI only).
	Raw      json.RawMessage
	Received time.Time
	// Resync is set for KindConnected.
	Resync *Resync
	// Err is the reason for KindDisconnected.
	Err error
}

// Resync is the state of the application right after a (re)connect.
type Resync struct {
	Reconnect bool // false for the first connection
	Channels  []ari.ChannelData
	Bridges   []ari.BridgeData
	// StasisArgs has, for each listed channel that Asterisk reports in the Stasis
	// application (dialplan app_name "Stasis", app_data "<app>,<arg>,..."), its
	// arguments without the application name: what its StasisStart carried.
	// (ari/v5's channel type has no app_name/app_data.)
	StasisArgs map[string][]string
}

var (
	errMalformed   = errors.New("malformed ARI event")
	errUnknownType = errors.New("unknown ARI event type")
)

// decodeEvent turns one frame into an Event. It never panics: the ari/v5 decoder
// returns a nil event for types it does not know (Asterisk 20 sends several), which
// its own client would hand to its bus and crash on; here that is errUnknownType.
func decodeEvent(data []byte, now time.Time) (ev Event, typ string, err error) {
	if e, t, ok := decodeFast(data); ok { // one parse (decode.go)
		return Event{Kind: KindARI, Type: t, ARI: e, Raw: bytes.Clone(data), Received: now}, t, nil
	}
	return decodeEventSlow(data, now)
}

// decodeOwnedEvent is decodeEvent for a frame the caller hands over (the reader's
// fresh buffer): Raw keeps it instead of a copy.
func decodeOwnedEvent(data []byte, now time.Time) (ev Event, typ string, err error) {
	if e, t, ok := decodeFast(data); ok {
		return Event{Kind: KindARI, Type: t, ARI: e, Raw: data, Received: now}, t, nil
	}
	return decodeEventSlow(data, now)
}

// decodeEventSlow is the reference decoder: every frame, three parses.
func decodeEventSlow(data []byte, now time.Time) (ev Event, typ string, err error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Event{}, "", fmt.Errorf("%w: %w", errMalformed, err)
	}
	if head.Type == "" {
		return Event{}, "", fmt.Errorf("%w: no type", errMalformed)
	}
	defer func() {
		if r := recover(); r != nil {
			ev, err = Event{}, fmt.Errorf("%w: %s: decoder panic: %v", errMalformed, head.Type, r)
		}
	}()
	decoded, derr := ari.DecodeEvent(data)
	switch {
	case decoded == nil && derr == nil:
		return Event{}, head.Type, errUnknownType
	case decoded == nil:
		// ari/v5 answers "unhandled type" for types it does not know.
		return Event{}, head.Type, fmt.Errorf("%w: %w", errUnknownType, derr)
	case derr != nil:
		return Event{}, head.Type, fmt.Errorf("%w: %s: %w", errMalformed, head.Type, derr)
	}
	raw := make(json.RawMessage, len(data))
	copy(raw, data)
	return Event{Kind: KindARI, Type: head.Type, ARI: decoded, Raw: raw, Received: now}, head.Type, nil
}

// eventQueue is an ordered FIFO between the WebSocket reader and the consumer. It
// never drops: when it holds max items, push reports false and the reader treats the
// consumer as too slow (drop the WebSocket, resync on reconnect).
type eventQueue struct {
	mu     sync.Mutex
	items  []Event
	head   int
	max    int
	notify chan struct{}
}

func newEventQueue(max int) *eventQueue {
	return &eventQueue{max: max, notify: make(chan struct{}, 1)}
}

func (q *eventQueue) push(e Event) bool {
	q.mu.Lock()
	if len(q.items)-q.head >= q.max {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, e)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// pushForce adds an adapter event even when the queue is full (bounded: at most a
// couple per reconnect).
func (q *eventQueue) pushForce(e Event) {
	q.mu.Lock()
	q.items = append(q.items, e)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *eventQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

func (q *eventQueue) pop(ctx context.Context) (Event, error) {
	for {
		q.mu.Lock()
		if q.head < len(q.items) {
			e := q.items[q.head]
			q.items[q.head] = Event{}
			q.head++
			if q.head == len(q.items) {
				q.items = q.items[:0]
				q.head = 0
			} else if q.head > 4096 && q.head*2 > len(q.items) {
				n := copy(q.items, q.items[q.head:])
				clear(q.items[n:])
				q.items = q.items[:n]
				q.head = 0
			}
			q.mu.Unlock()
			return e, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-q.notify:
		}
	}
}
