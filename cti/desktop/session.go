package desktop

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// sessState is a socket's lifecycle: live → closing → closed.
type sessState int

const (
	sessLive sessState = iota
	sessClosing
	sessClosed
)

func (s sessState) String() string {
	switch s {
	case sessLive:
		return "live"
	case sessClosing:
		return "closing"
	case sessClosed:
		return "closed"
	default:
		return "sessState(" + strconv.Itoa(int(s)) + ")"
	}
}

// maxBatch bounds how many events the writer takes per lock.
const maxBatch = 16

// session is one desktop socket: the HTTP handler goroutine reads commands, one writer
// goroutine writes replies and events.
type session struct {
	srv     *Server
	conn    *websocket.Conn
	p       Principal
	tok     tokenKey
	expires time.Time
	cancel  context.CancelFunc
	wake    chan struct{}

	// guarded by Hub.mu
	st       *stream
	state    sessState
	cursor   uint64 // seq of the last event taken by the writer
	paused   bool   // events held back while a snapshot is prepared
	control  [][]byte
	code     websocket.StatusCode
	reason   string
	reported bool // SessionClosed already reported (replaced)
}

func (s *session) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pull takes the next frames to write: control frames (replies, snapshot, notices)
// first, then events after the cursor. done reports a finished graceful close.
func (s *session) pull() (frames [][]byte, done bool, err error) {
	h := s.srv.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.state == sessClosed {
		return nil, true, nil
	}
	if len(s.control) > 0 {
		frames, s.control = s.control, nil
		return frames, false, nil
	}
	st := s.st
	if !s.paused && s.state == sessLive && s.cursor < st.last {
		if s.cursor+1 < st.oldest() {
			h.dropLocked(s)
			return nil, false, errors.New(ReasonSlowConsumer)
		}
		n := min(st.last-s.cursor, maxBatch)
		frames = make([][]byte, 0, n)
		for q := s.cursor + 1; q <= s.cursor+n; q++ {
			frames = append(frames, st.at(q))
		}
		s.cursor += n
		return frames, false, nil
	}
	return nil, s.state == sessClosing, nil
}

func (s *session) writeLoop(ctx context.Context) {
	defer s.cancel()
	cfg := s.srv.cfg.WebSocket
	var tick <-chan time.Time
	if cfg.PingInterval > 0 {
		t := time.NewTicker(cfg.PingInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		frames, done, err := s.pull()
		if err != nil {
			return
		}
		for _, f := range frames {
			wctx, cancel := context.WithTimeout(ctx, cfg.WriteTimeout)
			err := s.conn.Write(wctx, websocket.MessageText, f)
			cancel()
			if err != nil {
				return
			}
		}
		if len(frames) > 0 {
			continue
		}
		if done {
			s.srv.hub.mu.Lock()
			code, reason := s.code, s.reason
			s.srv.hub.mu.Unlock()
			if code == 0 {
				code = websocket.StatusNormalClosure
			}
			if err := s.conn.Close(code, reason); err != nil {
				s.srv.log.Debug().Err(err).Str("user", s.p.User).Msg("desktop: close handshake")
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick:
			if !s.srv.now().Before(s.expires) {
				s.srv.hub.mu.Lock()
				s.srv.hub.closeLocked(s, closeAuth, ReasonTokenExpired, noticeFrame("session.closed", map[string]any{"reason": ReasonTokenExpired}))
				s.srv.hub.mu.Unlock()
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, cfg.WriteTimeout)
			err := s.conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

// enqueue adds a control frame (a reply); a client that floods commands without
// reading replies is dropped as a slow consumer.
func (s *session) enqueue(f []byte) {
	h := s.srv.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.state != sessLive {
		return
	}
	s.control = append(s.control, f)
	if uint64(len(s.control)) > h.sendBuf {
		h.dropLocked(s)
		return
	}
	s.notify()
}

func replyOK(id json.RawMessage, res map[string]any) []byte {
	m := make(map[string]any, len(res)+2)
	for k, v := range res {
		m[k] = v
	}
	m["id"] = idValue(id)
	m["ok"] = true
	b, err := json.Marshal(m)
	if err != nil {
		return replyErr(id, Errorf(CodeInternal, "result does not marshal to JSON"))
	}
	return b
}

func idValue(id json.RawMessage) any {
	if len(id) == 0 {
		return nil
	}
	return id
}

func replyErr(id json.RawMessage, e *Error) []byte {
	b, err := json.Marshal(map[string]any{"id": idValue(id), "ok": false, "error": e})
	if err != nil {
		return []byte(`{"id":null,"ok":false,"error":{"code":"internal","message":"reply does not marshal"}}`)
	}
	return b
}

// toError maps a handler error to a stable *Error, hiding unexpected texts.
func (s *session) toError(cmd string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Errorf(CodeInternal, "%s timed out", cmd)
	}
	s.srv.log.Error().Err(err).Str("user", s.p.User).Str("cmd", cmd).Msg("desktop: command failed")
	return Errorf(CodeInternal, "internal error")
}

// handleFrame answers one client frame with exactly one reply.
func (s *session) handleFrame(ctx context.Context, data []byte) {
	cmd, err := DecodeCommand(data)
	if err != nil {
		s.enqueue(replyErr(cmd.ID, s.toError("", err)))
		return
	}
	if !s.srv.now().Before(s.expires) {
		s.enqueue(replyErr(cmd.ID, Errorf(CodeUnauthenticated, "token expired: log in again")))
		s.srv.hub.mu.Lock()
		s.srv.hub.closeLocked(s, closeAuth, ReasonTokenExpired, noticeFrame("session.closed", map[string]any{"reason": ReasonTokenExpired}))
		s.srv.hub.mu.Unlock()
		return
	}
	switch cmd.Name {
	case CmdPing:
		s.enqueue(replyOK(cmd.ID, map[string]any{"time": s.srv.now().UTC().Format(time.RFC3339Nano)}))
		return
	case CmdResume:
		after, epoch, err := resumeArgs(cmd)
		if err != nil {
			s.enqueue(replyErr(cmd.ID, s.toError(cmd.Name, err)))
			return
		}
		s.resume(ctx, true, cmd.ID, true, after, epoch)
		return
	}
	spec, ok := s.srv.commandSpec(cmd.Name)
	if !ok {
		s.enqueue(replyErr(cmd.ID, Errorf(CodeInvalidArgument, "unknown command %q", cmd.Name)))
		return
	}
	if !s.p.Role.AtLeast(spec.MinRole) {
		refusal := Errorf(CodeForbidden, "%s needs the %s role", cmd.Name, spec.MinRole)
		if ra, ok := s.srv.handler.(RefusalAuditor); ok {
			ra.CommandRefused(s.p, cmd, refusal)
		}
		s.enqueue(replyErr(cmd.ID, refusal))
		return
	}
	if spec.Validate != nil {
		if err := spec.Validate(cmd); err != nil {
			s.enqueue(replyErr(cmd.ID, s.toError(cmd.Name, err)))
			return
		}
	}
	cctx, cancel := context.WithTimeout(ctx, s.srv.cfg.WebSocket.CommandTimeout)
	res, err := s.srv.handler.HandleCommand(cctx, s.p, cmd)
	cancel()
	if err != nil {
		s.enqueue(replyErr(cmd.ID, s.toError(cmd.Name, err)))
		return
	}
	s.enqueue(replyOK(cmd.ID, res))
}

func resumeArgs(cmd Command) (uint64, string, error) {
	raw, ok := cmd.Args["after"]
	if !ok {
		return 0, "", badArg("resume: after is required (the last seq received)")
	}
	var after uint64
	if err := json.Unmarshal(raw, &after); err != nil {
		return 0, "", badArg("resume: after must be a non-negative integer")
	}
	epoch, err := argString(cmd, "epoch", false, 64)
	if err != nil {
		return 0, "", err
	}
	return after, epoch, nil
}

// resume positions the session after seq `after`: the missed events are replayed from
// the ring, or, when too far behind (or from another epoch, or no position given), a
// snapshot is sent. The reply (when id is set) precedes the replayed events/snapshot.
func (s *session) resume(ctx context.Context, reply bool, id json.RawMessage, hasAfter bool, after uint64, epoch string) {
	h := s.srv.hub
	h.mu.Lock()
	if s.state != sessLive { // closing: no reply can be delivered any more
		h.mu.Unlock()
		return
	}
	st := s.st
	if hasAfter && (epoch == "" || epoch == h.epoch) && after <= st.last && after+1 >= st.oldest() {
		n := st.last - after
		if reply {
			s.control = append(s.control, replyOK(id, map[string]any{"replayed": n, "snapshot": false, "last_seq": st.last}))
		}
		s.cursor = after
		s.paused = false
		s.notify()
		h.mu.Unlock()
		return
	}
	at := st.last
	s.cursor = at
	s.paused = true
	h.mu.Unlock()

	sctx, cancel := context.WithTimeout(ctx, s.srv.cfg.WebSocket.CommandTimeout)
	snap, err := h.handler.Snapshot(sctx, s.p)
	cancel()
	var frame []byte
	if err == nil {
		snap = withoutKeys(snap, "epoch")
		snap["epoch"] = h.epoch
		var body []byte
		body, err = encodeBody("snapshot", snap)
		frame = frameWithSeq(at, body)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		if reply {
			s.control = append(s.control, replyErr(id, s.toError(CmdResume, err)))
		} else {
			s.srv.log.Error().Err(err).Str("user", s.p.User).Msg("desktop: snapshot failed")
		}
	} else {
		if reply {
			s.control = append(s.control, replyOK(id, map[string]any{"replayed": 0, "snapshot": true, "last_seq": at}))
		}
		s.control = append(s.control, frame)
	}
	s.paused = false
	s.notify()
}

func withoutKeys(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// run serves an accepted socket until it ends.
func (s *session) run(ctx context.Context, hasAfter bool, after uint64, epoch string) {
	h := s.srv.hub
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	defer cancel()
	h.attach(s)
	s.srv.mu.RLock()
	if s.srv.closed { // Shutdown began between the upgrade and attach
		h.mu.Lock()
		h.closeLocked(s, websocket.StatusGoingAway, ReasonShutdown, noticeFrame("session.closed", map[string]any{"reason": ReasonShutdown}))
		h.mu.Unlock()
	}
	s.srv.mu.RUnlock()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(ctx)
	}()
	s.resume(ctx, false, nil, hasAfter, after, epoch)
	reason := ReasonClientClosed
	for {
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st == -1 && ctx.Err() == nil {
				s.srv.log.Debug().Err(err).Str("user", s.p.User).Msg("desktop: read")
			}
			break
		}
		if typ != websocket.MessageText {
			s.enqueue(replyErr(nil, Errorf(CodeInvalidArgument, "binary frames are not accepted; send JSON text")))
			continue
		}
		s.handleFrame(ctx, data)
	}
	cancel()
	<-writerDone
	if err := s.conn.CloseNow(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.srv.log.Debug().Err(err).Msg("desktop: close")
	}
	h.detach(s, reason)
	s.srv.log.Info().Str("user", s.p.User).Str("reason", s.finalReason(reason)).Msg("desktop: session closed")
}

func (s *session) finalReason(def string) string {
	h := s.srv.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.reason != "" {
		return s.reason
	}
	return def
}
