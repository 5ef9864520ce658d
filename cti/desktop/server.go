package desktop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

// Result is merged into a command's ok reply ("id" and "ok" are reserved).
type Result = map[string]any

// Handler is what the orchestrator implements. HandleCommand is called from the
// session's reader goroutine, one command at a time per socket, with a validated
// command the principal's role allows; return an *Error for a stable code. Snapshot
// returns the user's full current state (agent state, calls, queues...) for a socket
// that connects or is too far behind to resume. SessionOpened/SessionClosed bracket
// each user's live socket (a newer socket first closes the older one with reason
// "replaced"); they are called in order per user and must not block for long.
type Handler interface {
	HandleCommand(ctx context.Context, p Principal, cmd Command) (Result, error)
	Snapshot(ctx context.Context, p Principal) (map[string]any, error)
	SessionOpened(p Principal)
	SessionClosed(p Principal, reason string)
}

// RouteInfo describes one REST route; MinRole RoleNone means public.
type RouteInfo struct {
	Method  string
	Path    string
	MinRole Role
}

// Server is the desktop API: REST under /api/v1 and the desktop WebSocket.
type Server struct {
	cfg     Config
	handler Handler
	log     zerolog.Logger
	hub     *Hub
	users   *directory
	// userStore persists users created over the API (nil: memory only); under mu.
	userStore UserStore
	// tokenStore keeps logins across restarts (nil: memory only); under mu.
	tokenStore TokenStore
	tokens     *tokens
	ipLim      *limiter
	userLim    *limiter
	now        func() time.Time

	baseCtx    context.Context
	baseCancel context.CancelFunc

	mu       sync.RWMutex
	mux      *http.ServeMux
	routes   []RouteInfo
	commands map[string]CommandSpec
	closed   bool
}

// Errors of server setup.
var (
	ErrRoute   = errors.New("bad route")
	ErrCommand = errors.New("bad command spec")
)

// NewServer builds the desktop API around the orchestrator's Handler.
func NewServer(cfg Config, h Handler, log zerolog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("desktop: nil Handler")
	}
	users, err := newDirectory(cfg.Auth.Users, cfg.Auth.BcryptCost)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, handler: h, log: log, users: users, tokens: newTokens(),
		ipLim:    newLimiter(cfg.Auth.LoginRate.PerIP, cfg.Auth.LoginRate.Window),
		userLim:  newLimiter(cfg.Auth.LoginRate.PerUser, cfg.Auth.LoginRate.Window),
		now:      time.Now,
		mux:      http.NewServeMux(),
		commands: make(map[string]CommandSpec),
	}
	s.hub, err = newHub(log, h, cfg.WebSocket.SendBuffer, cfg.WebSocket.ResumeBuffer, func(user string) Role {
		if u, ok := users.get(user); ok {
			return u.role
		}
		return RoleAgent
	})
	if err != nil {
		return nil, err
	}
	s.baseCtx, s.baseCancel = context.WithCancel(context.Background())
	for _, c := range builtinSpecs() {
		if err := s.RegisterCommand(c); err != nil {
			return nil, err
		}
	}
	s.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, Errorf(CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	builtin := []struct {
		method, path string
		role         Role
		h            http.HandlerFunc
	}{
		{http.MethodPost, "/api/v1/login", RoleNone, s.login},
		{http.MethodPost, "/api/v1/logout", RoleAgent, s.logout},
		{http.MethodGet, "/api/v1/me", RoleAgent, s.me},
		{http.MethodGet, "/api/v1/users", RoleAdmin, s.listUsers},
		{http.MethodPost, "/api/v1/users", RoleAdmin, s.createUser},
		{http.MethodGet, "/api/v1/ws", RoleAgent, s.serveWS},
	}
	for _, b := range builtin {
		if err := s.HandleREST(b.method, b.path, b.role, b.h); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Hub is where the orchestrator publishes events.
func (s *Server) Hub() *Hub { return s.hub }

// Publish is Hub().Publish.
func (s *Server) Publish(user, event string, fields map[string]any) {
	s.hub.Publish(user, event, fields)
}

// Broadcast is Hub().Broadcast.
func (s *Server) Broadcast(role Role, event string, fields map[string]any) {
	s.hub.Broadcast(role, event, fields)
}

// Routes mounts the whole API (every route registered now or later through
// HandleREST) under /api/v1/ on mux.
func (s *Server) Routes(mux *http.ServeMux) { mux.Handle("/api/v1/", s) }

// ServeHTTP serves /api/v1/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	mux := s.mux
	s.mu.RUnlock()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	mux.ServeHTTP(w, r)
}

// HandleREST registers a REST route (path under /api/v1/, Go ServeMux pattern syntax
// such as /api/v1/agents/{agent}) behind authentication and a minimum role (RoleNone:
// public). The handler finds the caller with PrincipalFrom(r.Context()). Every route
// must be documented in docs/openapi.yaml (a test checks).
func (s *Server) HandleREST(method, p string, min Role, h http.HandlerFunc) (err error) {
	if !strings.HasPrefix(p, "/api/v1/") || strings.ContainsAny(p, " \t") {
		return fmt.Errorf("%w: %s %q: path must start with /api/v1/", ErrRoute, method, p)
	}
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return fmt.Errorf("%w: %s %q: method must be GET, POST, PUT, PATCH or DELETE", ErrRoute, method, p)
	}
	if h == nil {
		return fmt.Errorf("%w: %s %s: nil handler", ErrRoute, method, p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.routes {
		if r.Method == method && r.Path == p {
			return fmt.Errorf("%w: %s %s registered twice", ErrRoute, method, p)
		}
	}
	defer func() { // ServeMux panics on conflicting patterns
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %s %s: %v", ErrRoute, method, p, v)
		}
	}()
	var hh http.Handler = h
	if min != RoleNone {
		hh = s.requireRole(min, h, p == "/api/v1/ws")
	}
	s.mux.Handle(method+" "+p, hh)
	s.routes = append(s.routes, RouteInfo{Method: method, Path: p, MinRole: min})
	return nil
}

// RouteTable lists every registered route.
func (s *Server) RouteTable() []RouteInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.routes)
}

// RegisterCommand adds (or replaces) a WebSocket command; the built-in ones are
// DESIGN.md's contract. Commands "resume" and "ping" are reserved.
func (s *Server) RegisterCommand(c CommandSpec) error {
	if c.Name == "" || c.Name == CmdResume || c.Name == CmdPing || len(c.Name) > 64 {
		return fmt.Errorf("%w: name %q", ErrCommand, c.Name)
	}
	if c.MinRole < RoleAgent || c.MinRole > RoleAdmin {
		return fmt.Errorf("%w: %s: min role %s", ErrCommand, c.Name, c.MinRole)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands[c.Name] = c
	return nil
}

func (s *Server) commandSpec(name string) (CommandSpec, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.commands[name]
	return c, ok
}

// AddUser provisions a user at run time (e.g. loaded from the store).
func (s *Server) AddUser(u UserConfig) error {
	if err := checkHashFormat(u.PasswordHash); err != nil {
		return err
	}
	return s.users.add(u)
}

// Users lists the users (without hashes).
func (s *Server) Users() []User { return s.users.list() }

// Shutdown closes every socket (reason "shutdown", code 1001) and waits for them until
// ctx is done, then cuts the rest. New sockets are refused from the start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.hub.closeWhere(func(*session) bool { return true }, websocket.StatusGoingAway, ReasonShutdown)
	err := s.hub.wait(ctx)
	s.baseCancel()
	if err != nil {
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return errors.Join(err, s.hub.wait(wctx))
	}
	return nil
}

type ctxKey struct{}

type authInfo struct {
	p       Principal
	tok     tokenKey
	expires time.Time
}

// PrincipalFrom returns the authenticated caller of a REST handler.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	a, ok := ctx.Value(ctxKey{}).(authInfo)
	return a.p, ok
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"response does not marshal"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // the client may be gone; nothing to do about it
}

// WriteError writes {"error":{"code","message"}} with the code's status; an error
// that is not an *Error becomes a 500 "internal" without its text.
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = Errorf(CodeInternal, "internal error")
	}
	if e.Code == CodeUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ctid"`)
	}
	WriteJSON(w, httpStatus(e.Code), map[string]any{"error": e})
}

// DecodeJSON reads a JSON request body (Content-Type application/json, at most max
// bytes, unknown fields refused) into v; the error is an *Error.
func DecodeJSON(r *http.Request, max int64, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return Errorf(CodeInvalidArgument, "Content-Type must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeInvalidArgument, "bad JSON body: %v", err)
	}
	return nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// tokenFrom takes the token from the Authorization header, else the cookie, else
// (WebSocket only) ?access_token=.
func (s *Server) tokenFrom(r *http.Request, allowQuery bool) string {
	if t := bearer(r); t != "" {
		return t
	}
	if c, err := r.Cookie(s.cfg.Auth.Cookie.Name); err == nil && c.Value != "" {
		return c.Value
	}
	if allowQuery {
		return r.URL.Query().Get("access_token")
	}
	return ""
}

func (s *Server) authenticate(r *http.Request, allowQuery bool) (authInfo, error) {
	tok := s.tokenFrom(r, allowQuery)
	if tok == "" {
		return authInfo{}, Errorf(CodeUnauthenticated, "log in first: Authorization: Bearer <token>")
	}
	k, rec, ok := s.tokens.check(tok, s.now())
	if !ok {
		return authInfo{}, Errorf(CodeUnauthenticated, "token is invalid, expired or revoked: log in again")
	}
	u, ok := s.users.get(rec.user)
	if !ok {
		return authInfo{}, Errorf(CodeUnauthenticated, "user no longer exists")
	}
	return authInfo{p: u.principal(), tok: k, expires: rec.expires}, nil
}

func (s *Server) requireRole(min Role, h http.HandlerFunc, allowQuery bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.authenticate(r, allowQuery)
		if err != nil {
			WriteError(w, err)
			return
		}
		if !a.p.Role.AtLeast(min) {
			refusal := Errorf(CodeForbidden, "needs the %s role", min)
			if ra, ok := s.handler.(RouteRefusalAuditor); ok && r.Method != http.MethodGet {
				ra.RouteRefused(a.p, r.Pattern, r.PathValue, refusal)
			}
			WriteError(w, refusal)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, a)))
	})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type loginReq struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginReq
	if err := DecodeJSON(r, 4096, &req); err != nil {
		WriteError(w, err)
		return
	}
	now := s.now()
	ip := clientIP(r)
	if !s.ipLim.allow(ip, now) || !s.userLim.allow(req.Username, now) {
		s.log.Warn().Str("ip", ip).Str("user", req.Username).Msg("desktop: login rate limited")
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, s.cfg.Auth.LoginRate.Window.Seconds()/float64(s.cfg.Auth.LoginRate.PerUser)))))
		WriteError(w, Errorf(CodeRateLimited, "too many login attempts: wait and try again"))
		return
	}
	u, ok := s.users.authenticate(req.Username, req.Password)
	if !ok {
		s.log.Warn().Str("ip", ip).Str("user", req.Username).Msg("desktop: login failed")
		WriteError(w, Errorf(CodeUnauthenticated, "wrong username or password"))
		return
	}
	tok, exp, err := s.tokens.issue(u.Username, now, s.cfg.Auth.TokenTTL)
	if err != nil {
		s.log.Error().Err(err).Msg("desktop: issue token")
		WriteError(w, err)
		return
	}
	s.keepToken(r.Context(), tok, u.Username, exp, now)
	http.SetCookie(w, &http.Cookie{
		Name: s.cfg.Auth.Cookie.Name, Value: tok, Path: s.cfg.Auth.Cookie.Path, Expires: exp,
		MaxAge: int(s.cfg.Auth.TokenTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || s.cfg.Auth.Cookie.Secure,
	})
	s.log.Info().Str("ip", ip).Str("user", u.Username).Msg("desktop: login")
	WriteJSON(w, http.StatusOK, map[string]any{"token": tok, "expires_at": exp.UTC().Format(time.RFC3339), "user": u.User})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	a, ok := r.Context().Value(ctxKey{}).(authInfo)
	if !ok {
		WriteError(w, Errorf(CodeUnauthenticated, "log in first"))
		return
	}
	s.tokens.revoke(a.tok)
	s.forgetToken(r.Context(), a.tok, a.p.User)
	s.hub.closeWhere(func(ss *session) bool { return ss.tok == a.tok }, closeAuth, ReasonLoggedOut)
	http.SetCookie(w, &http.Cookie{Name: s.cfg.Auth.Cookie.Name, Value: "", Path: s.cfg.Auth.Cookie.Path, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || s.cfg.Auth.Cookie.Secure})
	s.log.Info().Str("user", a.p.User).Msg("desktop: logout")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context()) // requireRole put it there
	u, ok := s.users.get(p.User)
	if !ok {
		WriteError(w, Errorf(CodeNotFound, "user %s no longer exists", p.User))
		return
	}
	WriteJSON(w, http.StatusOK, u.User)
}

func (s *Server) listUsers(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]any{"users": s.users.list()})
}

type createUserReq struct {
	Username    string   `json:"username"`
	DisplayName string   `json:"display_name"`
	Role        string   `json:"role"`
	Password    string   `json:"password"`
	Teams       []string `json:"teams"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var req createUserReq
	if err := DecodeJSON(r, s.cfg.MaxBodyBytes, &req); err != nil {
		WriteError(w, err)
		return
	}
	if !usernameRe.MatchString(req.Username) {
		WriteError(w, Errorf(CodeInvalidArgument, "username must be 1-64 characters: letters, digits, '.', '_', '@', '-'"))
		return
	}
	if _, err := ParseRole(req.Role); err != nil {
		WriteError(w, Errorf(CodeInvalidArgument, "role must be agent, supervisor or admin"))
		return
	}
	for _, t := range req.Teams {
		if t == "" || len(t) > 64 {
			WriteError(w, Errorf(CodeInvalidArgument, "teams entries must be 1-64 characters"))
			return
		}
	}
	hash, err := HashPassword(req.Password, s.cfg.Auth.BcryptCost)
	if err != nil {
		WriteError(w, Errorf(CodeInvalidArgument, "%v", err))
		return
	}
	uc := UserConfig{Username: req.Username, DisplayName: req.DisplayName, Role: req.Role, PasswordHash: hash, Teams: req.Teams}
	if err := s.users.add(uc); err != nil {
		if errors.Is(err, ErrUserExists) {
			WriteError(w, Errorf(CodeInvalidState, "user %s already exists", req.Username))
			return
		}
		WriteError(w, Errorf(CodeInvalidArgument, "%v", err))
		return
	}
	if err := s.saveUser(r.Context(), uc); err != nil {
		s.log.Error().Err(err).Str("user", req.Username).Msg("desktop: user not created: the store refused it")
		WriteError(w, Errorf(CodeInternal, "the user could not be saved"))
		return
	}
	p, _ := PrincipalFrom(r.Context())
	s.log.Info().Str("by", p.User).Str("user", req.Username).Str("role", req.Role).Msg("desktop: user created")
	u, _ := s.users.get(req.Username)
	WriteJSON(w, http.StatusCreated, u.User)
}

// originAllowed: no Origin (non-browser client), the socket's own host, or a
// configured origin pattern.
func (s *Server) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, pat := range s.cfg.WebSocket.AllowedOrigins {
		pu, err := url.Parse(pat)
		if err != nil || !strings.EqualFold(pu.Scheme, u.Scheme) {
			continue
		}
		if ok, err := path.Match(strings.ToLower(pu.Host), strings.ToLower(u.Host)); err == nil && ok {
			return true
		}
	}
	return false
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	a, ok := r.Context().Value(ctxKey{}).(authInfo)
	if !ok {
		WriteError(w, Errorf(CodeUnauthenticated, "log in first"))
		return
	}
	if !s.originAllowed(r) {
		s.log.Warn().Str("origin", r.Header.Get("Origin")).Str("user", a.p.User).Msg("desktop: WebSocket origin refused")
		WriteError(w, Errorf(CodeForbidden, "origin not allowed"))
		return
	}
	q := r.URL.Query()
	var after uint64
	hasAfter := q.Has("after")
	if hasAfter {
		v, err := strconv.ParseUint(q.Get("after"), 10, 64)
		if err != nil {
			WriteError(w, Errorf(CodeInvalidArgument, "after must be a non-negative integer"))
			return
		}
		after = v
	}
	epoch := q.Get("epoch")
	s.mu.RLock()
	closed := s.closed
	if !closed {
		s.hub.wg.Add(1)
	}
	s.mu.RUnlock()
	if closed {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"error": Errorf(CodeInternal, "shutting down")})
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // Origin checked above
	if err != nil {
		s.hub.wg.Done()
		s.log.Debug().Err(err).Msg("desktop: WebSocket accept")
		return
	}
	conn.SetReadLimit(s.cfg.WebSocket.MaxFrameBytes)
	sess := &session{srv: s, conn: conn, p: a.p, tok: a.tok, expires: a.expires, wake: make(chan struct{}, 1)}
	s.log.Info().Str("user", a.p.User).Stringer("role", a.p.Role).Msg("desktop: session opened")
	sess.run(s.baseCtx, hasAfter, after, epoch)
}
