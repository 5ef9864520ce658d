package desktop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

// Reasons a session ends, passed to Handler.SessionClosed and sent as the close reason.
const (
	ReasonClientClosed = "client_closed"
	ReasonReplaced     = "replaced"      // the same user opened a newer socket
	ReasonSlowConsumer = "slow_consumer" // fell more than websocket.send_buffer events behind
	ReasonLoggedOut    = "logged_out"    // its token was revoked by POST /api/v1/logout
	ReasonTokenExpired = "token_expired"
	ReasonShutdown     = "shutdown"
)

// Close codes sent to the client (4000-4999 are application codes).
const (
	closeReplaced websocket.StatusCode = 4001
	closeAuth     websocket.StatusCode = 4002
)

// Hub owns the per-user event streams: it assigns seq, keeps the resume ring and feeds
// the sessions. Publish and Broadcast never block on a socket.
type Hub struct {
	log       zerolog.Logger
	handler   Handler
	epoch     string
	sendBuf   uint64
	resumeBuf int
	roleOf    func(user string) Role

	mu      sync.Mutex
	streams map[string]*stream
	wg      sync.WaitGroup // live sessions
}

// stream is one user's event sequence.
type stream struct {
	user string
	role Role
	last uint64   // seq of the newest event; 0 = none yet
	ring [][]byte // frames: seq q at (q-1) % size; grows up to size
	size uint64   // websocket.resume_buffer
	cur  *session // the user's live socket, if any

	cbMu sync.Mutex // orders SessionOpened/SessionClosed; taken before Hub.mu
}

// oldest is the first seq still in the ring.
func (st *stream) oldest() uint64 {
	if st.last <= st.size {
		return 1
	}
	return st.last - st.size + 1
}

// put appends the frame of seq st.last.
func (st *stream) put(frame []byte) {
	if uint64(len(st.ring)) < st.size {
		st.ring = append(st.ring, frame)
		return
	}
	st.ring[(st.last-1)%st.size] = frame
}

// at returns the frame of seq q, oldest() <= q <= last.
func (st *stream) at(q uint64) []byte { return st.ring[(q-1)%st.size] }

func newHub(log zerolog.Logger, h Handler, sendBuf, resumeBuf int, roleOf func(string) Role) (*Hub, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return &Hub{log: log, handler: h, epoch: hex.EncodeToString(b[:]), sendBuf: uint64(sendBuf), resumeBuf: resumeBuf,
		roleOf: roleOf, streams: make(map[string]*stream)}, nil
}

// Epoch identifies this process's streams: seq restarts when it changes.
func (h *Hub) Epoch() string { return h.epoch }

func (h *Hub) streamLocked(user string) *stream {
	st, ok := h.streams[user]
	if !ok {
		st = &stream{user: user, role: h.roleOf(user), size: uint64(h.resumeBuf)}
		h.streams[user] = st
	}
	return st
}

func (h *Hub) stream(user string) *stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streamLocked(user)
}

// encodeBody marshals fields plus "event" and returns the object without its leading
// '{', so a frame is `{"seq":N,` + body.
func encodeBody(event string, fields map[string]any) ([]byte, error) {
	m := make(map[string]any, len(fields)+1)
	for k, v := range fields {
		m[k] = v
	}
	delete(m, "seq")
	m["event"] = event
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return b[1:], nil
}

func frameWithSeq(seq uint64, body []byte) []byte {
	f := make([]byte, 0, len(body)+24)
	f = append(f, `{"seq":`...)
	f = strconv.AppendUint(f, seq, 10)
	if len(body) > 1 { // body is at least "}"; empty objects never occur (event is set)
		f = append(f, ',')
	}
	return append(f, body...)
}

// appendLocked adds an event to st and wakes or drops its session.
func (h *Hub) appendLocked(st *stream, body []byte) {
	st.last++
	st.put(frameWithSeq(st.last, body))
	s := st.cur
	if s == nil || s.state != sessLive {
		return
	}
	if st.last-s.cursor > h.sendBuf {
		h.dropLocked(s)
		return
	}
	s.notify()
}

// Publish appends an event to user's stream (seq assigned here, rising by one) and
// hands it to the user's live socket. It never blocks on a socket: a session more than
// websocket.send_buffer events behind is disconnected (reason slow_consumer) and
// resumes later. Fields must marshal to JSON; "seq" and "event" are reserved.
func (h *Hub) Publish(user string, event string, fields map[string]any) {
	body, err := encodeBody(event, fields)
	if err != nil {
		h.log.Error().Err(err).Str("user", user).Str("event", event).Msg("desktop: event dropped: fields do not marshal to JSON")
		return
	}
	h.mu.Lock()
	h.appendLocked(h.streamLocked(user), body)
	h.mu.Unlock()
}

// Broadcast publishes an event to every user whose role includes role (admins get
// supervisor broadcasts) and who has a stream, i.e. has connected since ctid started
// (a user who connects later starts from a snapshot anyway). Each user's copy gets
// that user's next seq.
func (h *Hub) Broadcast(role Role, event string, fields map[string]any) {
	body, err := encodeBody(event, fields)
	if err != nil {
		h.log.Error().Err(err).Stringer("role", role).Str("event", event).Msg("desktop: broadcast dropped: fields do not marshal to JSON")
		return
	}
	h.mu.Lock()
	for _, st := range h.streams {
		if st.role.AtLeast(role) {
			h.appendLocked(st, body)
		}
	}
	h.mu.Unlock()
}

// dropLocked disconnects a slow session at once: its context is cancelled, which
// aborts a blocked write.
func (h *Hub) dropLocked(s *session) {
	if s.state != sessLive {
		return
	}
	s.state = sessClosing
	s.reason = ReasonSlowConsumer
	s.cancel()
}

// closeLocked ends a session gracefully: pending frames, then notice (if any), then a
// close frame with code and reason.
func (h *Hub) closeLocked(s *session, code websocket.StatusCode, reason string, notice []byte) {
	if s.state != sessLive {
		return
	}
	s.state = sessClosing
	s.code, s.reason = code, reason
	if notice != nil {
		s.control = append(s.control, notice)
	}
	s.notify()
}

func noticeFrame(event string, fields map[string]any) []byte {
	m := map[string]any{"event": event}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil { // fields are our own strings
		return []byte(`{"event":"` + event + `"}`)
	}
	return b
}

// attach makes s the user's live session; an older one is told and closed.
func (h *Hub) attach(s *session) {
	st := h.stream(s.p.User)
	st.cbMu.Lock()
	defer st.cbMu.Unlock()
	h.mu.Lock()
	old := st.cur
	st.cur = s
	s.st = st
	s.cursor = st.last
	s.paused = true
	if old != nil {
		old.reported = true
		h.closeLocked(old, closeReplaced, ReasonReplaced, noticeFrame("session.replaced",
			map[string]any{"reason": ReasonReplaced, "message": "this desktop was opened in another window"}))
	}
	h.mu.Unlock()
	if old != nil {
		h.handler.SessionClosed(old.p, ReasonReplaced)
	}
	h.handler.SessionOpened(s.p)
}

// detach removes s; SessionClosed is reported once, unless a newer session took over.
func (h *Hub) detach(s *session, reason string) {
	st := s.st
	st.cbMu.Lock()
	defer st.cbMu.Unlock()
	h.mu.Lock()
	s.state = sessClosed
	report := st.cur == s && !s.reported
	if st.cur == s {
		st.cur = nil
	}
	if s.reason != "" {
		reason = s.reason
	}
	h.mu.Unlock()
	if report {
		h.handler.SessionClosed(s.p, reason)
	}
}

// closeWhere closes every live session matching pred.
func (h *Hub) closeWhere(pred func(*session) bool, code websocket.StatusCode, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, st := range h.streams {
		if s := st.cur; s != nil && pred(s) {
			h.closeLocked(s, code, reason, noticeFrame("session.closed", map[string]any{"reason": reason}))
		}
	}
}

// wait blocks until every session has ended or ctx is done.
func (h *Hub) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
