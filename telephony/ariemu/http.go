package ariemu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/coder/websocket"
)

// Route is one ARI route the emulator serves: Path is the Swagger template.
type Route struct{ Method, Path string }

// RequestRecord is one ARI request the emulator served.
type RequestRecord struct {
	Method string
	Path   string // route template, e.g. /channels/{channelId}/answer
	Query  url.Values
	Body   map[string]any
	Status int
}

// ariReq is a parsed ARI request.
type ariReq struct {
	r      *http.Request
	params map[string]string // path parameters
	q      url.Values        // query merged with scalar JSON body fields
	body   map[string]any
}

func (q *ariReq) p(name string) string { return q.params[name] }
func (q *ariReq) get(name string) string {
	return q.q.Get(name)
}
func (q *ariReq) has(name string) bool {
	_, ok := q.q[name]
	return ok
}

// result is what a handler answers.
type result struct {
	status int
	body   any    // JSON body; nil = none
	raw    []byte // raw body (with ctype)
	ctype  string
}

func ok200(v any) result   { return result{status: 200, body: v} }
func noContent() result    { return result{status: 204} }
func created(v any) result { return result{status: 201, body: v} }
func fail(status int, msg string) result {
	return result{status: status, body: map[string]string{"message": msg}}
}

type handlerFunc func(*ariReq) result

type routeEntry struct {
	method, path string
	segs         []string
	h            handlerFunc
}

// ariRoutes lists every ARI route with its handler.
func (e *Emulator) ariRoutes() []routeEntry {
	r := []routeEntry{
		{method: "GET", path: "/asterisk/info", h: e.hAsteriskInfo},
		{method: "GET", path: "/asterisk/ping", h: e.hPing},
		{method: "GET", path: "/asterisk/modules", h: e.hModules},
		{method: "GET", path: "/asterisk/variable", h: e.hGlobalVarGet},
		{method: "POST", path: "/asterisk/variable", h: e.hGlobalVarSet},
		{method: "GET", path: "/applications", h: e.hAppList},
		{method: "GET", path: "/applications/{applicationName}", h: e.hAppGet},
		{method: "PUT", path: "/applications/{applicationName}/eventFilter", h: e.hAppFilter},
		{method: "POST", path: "/applications/{applicationName}/subscription", h: e.hAppSubscribe},
		{method: "DELETE", path: "/applications/{applicationName}/subscription", h: e.hAppSubscribe},
		{method: "GET", path: "/channels", h: e.hChannelList},
		{method: "POST", path: "/channels", h: e.hOriginate},
		{method: "POST", path: "/channels/create", h: e.hCreate},
		{method: "POST", path: "/channels/externalMedia", h: e.hExternalMedia},
		{method: "GET", path: "/channels/{channelId}", h: e.hChannelGet},
		{method: "POST", path: "/channels/{channelId}", h: e.hOriginateWithID},
		{method: "DELETE", path: "/channels/{channelId}", h: e.hHangup},
		{method: "POST", path: "/channels/{channelId}/answer", h: e.hAnswer},
		{method: "POST", path: "/channels/{channelId}/ring", h: e.hNoEvent},
		{method: "DELETE", path: "/channels/{channelId}/ring", h: e.hNoEvent},
		{method: "POST", path: "/channels/{channelId}/progress", h: e.hNoEvent},
		{method: "POST", path: "/channels/{channelId}/hold", h: e.hNoEvent},
		{method: "DELETE", path: "/channels/{channelId}/hold", h: e.hNoEvent},
		{method: "POST", path: "/channels/{channelId}/moh", h: e.hChannelMOH},
		{method: "DELETE", path: "/channels/{channelId}/moh", h: e.hChannelMOH},
		{method: "POST", path: "/channels/{channelId}/silence", h: e.hNoEvent},
		{method: "DELETE", path: "/channels/{channelId}/silence", h: e.hNoEvent},
		{method: "POST", path: "/channels/{channelId}/mute", h: e.hMute},
		{method: "DELETE", path: "/channels/{channelId}/mute", h: e.hMute},
		{method: "POST", path: "/channels/{channelId}/dtmf", h: e.hSendDTMF},
		{method: "GET", path: "/channels/{channelId}/variable", h: e.hVarGet},
		{method: "POST", path: "/channels/{channelId}/variable", h: e.hVarSet},
		{method: "GET", path: "/channels/{channelId}/variables", h: e.hVarsGet},
		{method: "POST", path: "/channels/{channelId}/continue", h: e.hContinue},
		{method: "POST", path: "/channels/{channelId}/dial", h: e.hDial},
		{method: "POST", path: "/channels/{channelId}/play", h: e.hChannelPlay},
		{method: "POST", path: "/channels/{channelId}/play/{playbackId}", h: e.hChannelPlay},
		{method: "POST", path: "/channels/{channelId}/record", h: e.hChannelRecord},
		{method: "POST", path: "/channels/{channelId}/snoop", h: e.hSnoop},
		{method: "POST", path: "/channels/{channelId}/snoop/{snoopId}", h: e.hSnoop},
		{method: "GET", path: "/channels/{channelId}/rtp_statistics", h: e.hRTPStats},
		{method: "GET", path: "/bridges", h: e.hBridgeList},
		{method: "POST", path: "/bridges", h: e.hBridgeCreate},
		{method: "GET", path: "/bridges/{bridgeId}", h: e.hBridgeGet},
		{method: "POST", path: "/bridges/{bridgeId}", h: e.hBridgeCreate},
		{method: "DELETE", path: "/bridges/{bridgeId}", h: e.hBridgeDelete},
		{method: "POST", path: "/bridges/{bridgeId}/addChannel", h: e.hBridgeAdd},
		{method: "POST", path: "/bridges/{bridgeId}/removeChannel", h: e.hBridgeRemove},
		{method: "POST", path: "/bridges/{bridgeId}/moh", h: e.hBridgeMOH},
		{method: "DELETE", path: "/bridges/{bridgeId}/moh", h: e.hBridgeMOH},
		{method: "POST", path: "/bridges/{bridgeId}/play", h: e.hBridgePlay},
		{method: "POST", path: "/bridges/{bridgeId}/play/{playbackId}", h: e.hBridgePlay},
		{method: "POST", path: "/bridges/{bridgeId}/record", h: e.hBridgeRecord},
		{method: "GET", path: "/playbacks/{playbackId}", h: e.hPlaybackGet},
		{method: "DELETE", path: "/playbacks/{playbackId}", h: e.hPlaybackStop},
		{method: "POST", path: "/playbacks/{playbackId}/control", h: e.hPlaybackControl},
		{method: "GET", path: "/recordings/live/{recordingName}", h: e.hLiveGet},
		{method: "DELETE", path: "/recordings/live/{recordingName}", h: e.hLiveCancel},
		{method: "POST", path: "/recordings/live/{recordingName}/stop", h: e.hLiveStop},
		{method: "POST", path: "/recordings/live/{recordingName}/pause", h: e.hLivePause},
		{method: "DELETE", path: "/recordings/live/{recordingName}/pause", h: e.hLivePause},
		{method: "POST", path: "/recordings/live/{recordingName}/mute", h: e.hLiveMute},
		{method: "DELETE", path: "/recordings/live/{recordingName}/mute", h: e.hLiveMute},
		{method: "GET", path: "/recordings/stored", h: e.hStoredList},
		{method: "GET", path: "/recordings/stored/{recordingName}", h: e.hStoredGet},
		{method: "DELETE", path: "/recordings/stored/{recordingName}", h: e.hStoredDelete},
		{method: "GET", path: "/recordings/stored/{recordingName}/file", h: e.hStoredFile},
		{method: "GET", path: "/sounds", h: e.hSounds},
		{method: "GET", path: "/endpoints", h: e.hEndpoints},
		{method: "GET", path: "/deviceStates", h: e.hEmptyList},
	}
	for i := range r {
		r[i].segs = strings.Split(strings.Trim(r[i].path, "/"), "/")
	}
	return r
}

// Routes lists every ARI route the emulator serves (plus GET /events).
func Routes() []Route {
	e := &Emulator{}
	out := []Route{{Method: "GET", Path: "/events"}}
	for _, r := range e.ariRoutes() {
		out = append(out, Route{Method: r.method, Path: r.path})
	}
	return out
}

func matchSegs(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			if segs[i] == "" {
				return nil, false
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

func (e *Emulator) routes() *http.ServeMux {
	mux := http.NewServeMux()
	table := e.ariRoutes()
	mux.HandleFunc("/ari/", func(w http.ResponseWriter, r *http.Request) { e.serveARI(w, r, table) })
	mux.HandleFunc("/_emu/", e.serveControl)
	return mux
}

// ServeHTTP serves /ari/... (ARI) and /_emu/... (control API).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

func (e *Emulator) authOK(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		key := r.URL.Query().Get("api_key")
		if key == "" {
			return false
		}
		u, p, found := strings.Cut(key, ":")
		if !found {
			return false
		}
		user, pass = u, p
	}
	want, known := e.cfg.Users[user]
	return known && want == pass
}

func writeResult(w http.ResponseWriter, res result) {
	switch {
	case res.raw != nil:
		w.Header().Set("Content-Type", res.ctype)
		w.WriteHeader(res.status)
		_, _ = w.Write(res.raw) //nolint:errcheck // client gone: nothing to do
	case res.body != nil:
		b, err := json.Marshal(res.body)
		if err != nil {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.status)
		_, _ = w.Write(b) //nolint:errcheck // client gone: nothing to do
	default:
		w.WriteHeader(res.status)
	}
}

func (e *Emulator) serveARI(w http.ResponseWriter, r *http.Request, table []routeEntry) {
	path := strings.TrimPrefix(r.URL.Path, "/ari")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if e.httpFault(w, r) {
		return
	}
	if !e.authOK(r) {
		e.record(r.Method, path, r.URL.Query(), nil, 401)
		writeResult(w, fail(401, "Authentication required"))
		return
	}
	if path == "/events" || path == "/events/" {
		e.serveEvents(w, r)
		return
	}
	var pathMatched bool
	for _, rt := range table {
		params, ok := matchSegs(rt.segs, segs)
		if !ok {
			continue
		}
		pathMatched = true
		if rt.method != r.Method {
			continue
		}
		req := &ariReq{r: r, params: params, q: url.Values{}}
		for k, v := range r.URL.Query() {
			if k == "api_key" {
				continue
			}
			if !slices.Contains(e.params[rt.method+" "+rt.path], k) {
				// Stricter than Asterisk, which ignores it: a client bug should show.
				e.record(r.Method, rt.path, r.URL.Query(), nil, 400)
				writeResult(w, fail(400, "Unknown parameter "+k+" (not in Asterisk's ARI description)"))
				return
			}
			req.q[k] = v
		}
		if r.Body != nil {
			data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err == nil && len(strings.TrimSpace(string(data))) > 0 {
				var m map[string]any
				if json.Unmarshal(data, &m) != nil {
					e.record(r.Method, rt.path, req.q, nil, 400)
					writeResult(w, fail(400, "Invalid JSON body"))
					return
				}
				req.body = m
				for k, v := range m {
					if _, inQuery := req.q[k]; inQuery {
						continue
					}
					switch x := v.(type) {
					case string:
						req.q.Set(k, x)
					case float64, bool:
						req.q.Set(k, fmt.Sprint(x))
					}
				}
			}
		}
		res := rt.h(req)
		e.record(r.Method, rt.path, req.q, req.body, res.status)
		writeResult(w, res)
		return
	}
	if pathMatched {
		e.record(r.Method, path, r.URL.Query(), nil, 405)
		writeResult(w, fail(405, "Invalid method"))
		return
	}
	e.record(r.Method, path, r.URL.Query(), nil, 404)
	writeResult(w, fail(404, "Resource not found"))
}

func (e *Emulator) record(method, path string, q url.Values, body map[string]any, status int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := RequestRecord{Method: method, Path: path, Query: q, Body: body, Status: status}
	if len(e.requests) < e.cfg.RequestLog {
		e.requests = append(e.requests, rec)
		return
	}
	e.requests[e.reqNext] = rec // full: the oldest record makes room
	e.reqNext = (e.reqNext + 1) % len(e.requests)
}

// serveEvents is the events WebSocket (/ari/events?app=...).
func (e *Emulator) serveEvents(w http.ResponseWriter, r *http.Request) {
	names := []string{}
	for _, a := range strings.Split(r.URL.Query().Get("app"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			names = append(names, a)
		}
	}
	if len(names) == 0 {
		e.record(r.Method, "/events", r.URL.Query(), nil, 400)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(400)
		_, _ = io.WriteString(w, "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n<title>400 Bad Request</title>\r\n</head><body>\r\n<h1>Bad Request</h1>\r\n<p>HTTP request is missing param: [app]</p>\r\n<hr />\r\n<address>Asterisk-CEO-Test</address>\r\n</body></html>\r\n") //nolint:errcheck // best effort
		return
	}
	// Register the sockets before the 101 goes out: a client may originate a call
	// the moment its handshake completes, and that call must find the app active.
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		writeResult(w, fail(503, "Shutting down"))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	var socks []*wsConn
	for _, name := range names {
		a := e.apps[name]
		if a == nil {
			a = &app{name: name, socks: map[*wsConn]struct{}{}}
			e.apps[name] = a
		}
		s := &wsConn{app: name, ctx: ctx, cancel: cancel, signal: make(chan struct{}, 1), faults: &e.faults}
		a.socks[s] = struct{}{}
		socks = append(socks, s)
	}
	e.wg.Add(len(socks) + 1)
	e.mu.Unlock()
	unregister := func() {
		cancel()
		e.mu.Lock()
		for _, s := range socks {
			if a := e.apps[s.app]; a != nil {
				delete(a.socks, s)
				e.maybeDestroyApp(s.app)
			}
		}
		e.mu.Unlock()
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		unregister()
		e.wg.Add(-len(socks) - 1)
		return
	}
	conn.SetReadLimit(1 << 20)
	e.record(r.Method, "/events", r.URL.Query(), nil, 101)
	e.mu.Lock()
	for _, s := range socks {
		s.conn = conn
	}
	e.mu.Unlock()
	defer e.wg.Done()
	for _, s := range socks {
		go func() {
			defer e.wg.Done()
			s.writer()
		}()
	}
	readCtx := conn.CloseRead(ctx)
	<-readCtx.Done()
	unregister()
	_ = conn.CloseNow() //nolint:errcheck // already closing
}
