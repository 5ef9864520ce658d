package tracereplay

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

// ErrConfig is returned for an invalid driver configuration.
var ErrConfig = errors.New("tracereplay: invalid config")

// Config configures a Driver.
type Config struct {
	// BaseURL is the ARI base URL, e.g. server.URL + "/ari".
	BaseURL string
	// User and Password are the ARI credentials (the recordings used user "ceo").
	User, Password string
	// EventGrace is how long, beyond the recorded timing, the driver waits for the
	// events that preceded a request in the recording. Default 1.5 s.
	EventGrace time.Duration
	// GraceBudget caps the total extra waiting of one run, so that a target that
	// never sends some events still finishes in bounded time. Default 12 s.
	GraceBudget time.Duration
	// RequestTimeout bounds each HTTP request and WebSocket handshake. Default 5 s.
	RequestTimeout time.Duration
	// HTTPClient is used for REST and the WebSocket handshakes. Default: a new client.
	HTTPClient *http.Client
	// Logger receives debug lines about the replay.
	Logger zerolog.Logger
}

func (c *Config) setDefaults() {
	if c.EventGrace <= 0 {
		c.EventGrace = 1500 * time.Millisecond
	}
	if c.GraceBudget <= 0 {
		c.GraceBudget = 12 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{}}
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: BaseURL %q must be an http(s) URL", ErrConfig, c.BaseURL)
	}
	if c.User == "" {
		return fmt.Errorf("%w: User is required", ErrConfig)
	}
	return nil
}

// Driver replays recorded scenarios against an ARI server.
type Driver struct {
	cfg       Config
	ownClient bool // the HTTP client was made here: close its idle connections after a run
}

// New returns a Driver.
func New(cfg Config) (*Driver, error) {
	own := cfg.HTTPClient == nil
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Driver{cfg: cfg, ownClient: own}, nil
}

// run is the state of one replay.
type run struct {
	d     *Driver
	rec   *Trace
	start time.Time
	al    *aligner

	mu     sync.Mutex
	lines  []Line
	notify chan struct{}

	wsMu  sync.Mutex
	ws    map[string]*wsConn // by app name
	ports map[string]string  // recorded "127.0.0.1:port" -> ours
	rtp   map[string]*rtpPeer

	budget time.Duration
	// matching state of the online aligner
	scanned   int // number of got lines at the last scan
	scannedTo int // rec line bound of the last scan
	// pacing anchors: recorded and replay start of the previous action.
	prevRec  int64
	prevTime time.Time
}

type wsConn struct {
	app  string
	conn *websocket.Conn
	stop context.CancelFunc
	done chan struct{}
}

var (
	reDwell    = regexp.MustCompile(`^dwell `)
	reRTPPeer  = regexp.MustCompile(`^RTP peer (\S+) listens on (127\.0\.0\.1:\d+)`)
	reCloseWS  = regexp.MustCompile(`^closing the (\S+) websocket`)
	reHostPort = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// Run replays rec: it sends exactly the recorded requests in order (ids substituted),
// waits for the events the recording shows before each request, keeps the recorded
// pauses, opens and closes the events WebSockets, and plays the RTP peer. It returns
// what the target did, as a Trace in the recording's format, for Compare.
func (d *Driver) Run(ctx context.Context, rec *Trace) (*Trace, error) {
	r := &run{
		d: d, rec: rec, start: time.Now(), al: newAligner(rec),
		notify: make(chan struct{}, 1),
		ws:     map[string]*wsConn{}, ports: map[string]string{}, rtp: map[string]*rtpPeer{},
		budget: d.cfg.GraceBudget,
	}
	r.prevTime = r.start
	defer r.closeAll()
	if d.ownClient {
		defer d.cfg.HTTPClient.CloseIdleConnections()
	}
	for i := range rec.Lines {
		if err := ctx.Err(); err != nil {
			return r.trace(), fmt.Errorf("tracereplay: %s: %w", rec.Name, err)
		}
		l := &rec.Lines[i]
		switch l.Kind {
		case KindNote:
			if reDwell.MatchString(l.Text) || reCloseWS.MatchString(l.Text) {
				// A dwell starts once the client has what it waited for: wait for the
				// events before the note, then the next action keeps the recorded
				// gap, which is the dwell. Closing a WebSocket is an action too.
				r.await(ctx, i, l.TMs)
			}
			if err := r.note(i, l); err != nil {
				return r.trace(), err
			}
		case KindRequest:
			r.await(ctx, i, l.TMs)
			r.request(ctx, i, l)
		case KindRTP:
			r.rtpLine(ctx, i, l)
		}
	}
	// trailing events: the recording client waited 1 s at the end.
	r.await(ctx, len(rec.Lines), rec.Lines[len(rec.Lines)-1].TMs)
	return r.trace(), nil
}

func (r *run) trace() *Trace {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Trace{Name: r.rec.Name + " (replay)", Lines: append([]Line(nil), r.lines...)}
}

func (r *run) add(l Line) {
	r.mu.Lock()
	l.TMs = time.Since(r.start).Milliseconds()
	r.lines = append(r.lines, l)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *run) snapshot() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lines[:len(r.lines):len(r.lines)]
}

// pace waits until the recorded gap since the previous action has passed, then
// returns the wall-clock deadline for the event wait.
func (r *run) paceTarget(recT int64) time.Time {
	gap := time.Duration(recT-r.prevRec) * time.Millisecond
	if gap < 0 {
		gap = 0
	}
	return r.prevTime.Add(gap)
}

func (r *run) markAction(recT int64) {
	r.prevRec = recT
	r.prevTime = time.Now()
}

// await waits until every recorded event before line upto has a counterpart (or
// the grace runs out) and until the recorded time since the previous action passed.
func (r *run) await(ctx context.Context, upto int, recT int64) {
	target := r.paceTarget(recT)
	deadline := target.Add(min(r.d.cfg.EventGrace, r.budget))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		done := r.matchUpTo(upto)
		now := time.Now()
		if (done && !now.Before(target)) || !now.Before(deadline) {
			if over := now.Sub(target); over > 0 && !done {
				r.budget -= over
				if r.budget < 0 {
					r.budget = 0
				}
			}
			if !done {
				r.d.cfg.Logger.Debug().Str("scenario", r.rec.Name).Int("line", upto).Msg("events still missing, going on")
			}
			r.markAction(recT)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-r.notify:
		case <-tick.C:
		}
	}
}

// matchUpTo matches the recorded events before line upto with what arrived, and
// reports whether all of them are matched.
func (r *run) matchUpTo(upto int) bool {
	snap := r.snapshot()
	if len(snap) == r.scanned && upto == r.scannedTo {
		return r.allMatched(upto)
	}
	r.scanned, r.scannedTo = len(snap), upto
	r.al.got = snap
	gotSeg, _, _ := index(r.al.got)
	all := true
	for i := 0; i < upto && i < len(r.rec.Lines); i++ {
		if r.rec.Lines[i].Kind != KindEvent {
			continue
		}
		if _, ok := r.al.recMatched[i]; ok {
			continue
		}
		c, ok := r.al.bestEvent(i, gotSeg, false)
		if !ok {
			all = false
			continue
		}
		r.al.take(i, c)
	}
	return all
}

func (r *run) allMatched(upto int) bool {
	for i := 0; i < upto && i < len(r.rec.Lines); i++ {
		if r.rec.Lines[i].Kind != KindEvent {
			continue
		}
		if _, ok := r.al.recMatched[i]; !ok {
			return false
		}
	}
	return true
}

func (r *run) note(i int, l *Line) error {
	if len(l.IDs) > 0 {
		// Name the roles with the target's ids learned so far, so that Compare
		// checks the final mapping against the one the requests were sent with.
		r.matchUpTo(i)
		ids := map[string]string{}
		for role, id := range l.IDs {
			if v, ok := r.al.ids.Lookup(id); ok {
				ids[role] = v
			}
		}
		if len(ids) > 0 {
			r.add(Line{Kind: KindNote, Text: "roles learned by the replay", IDs: ids})
		}
	}
	switch {
	case reDwell.MatchString(l.Text):
		// handled in Run: the pause is kept by pacing the next action.
	case reRTPPeer.MatchString(l.Text):
		m := reRTPPeer.FindStringSubmatch(l.Text)
		p, err := newRTPPeer(m[1], time.Now())
		if err != nil {
			return err
		}
		r.wsMu.Lock()
		r.rtp[m[1]] = p
		r.ports[m[2]] = "127.0.0.1:" + strconv.Itoa(p.port())
		r.wsMu.Unlock()
	case reCloseWS.MatchString(l.Text):
		name := reCloseWS.FindStringSubmatch(l.Text)[1]
		r.closeWS(name)
	}
	return nil
}

// closeWS closes the events WebSocket named in a note: "events" is the scenario's
// own app, anything else an app name (with the recorded per-run token).
func (r *run) closeWS(name string) {
	r.wsMu.Lock()
	var victims []*wsConn
	for app, c := range r.ws {
		if (name == "events" && app == r.mainApp()) || (name != "events" && normalize(app) == normalize(name)) {
			victims = append(victims, c)
			delete(r.ws, app)
		}
	}
	r.wsMu.Unlock()
	for _, c := range victims {
		c.close(r.d.cfg.Logger)
	}
}

func (r *run) mainApp() string {
	for _, l := range r.rec.Lines {
		if l.Kind == KindRequest && l.Path == "/events" && l.Query["app"] != "" {
			return l.Query["app"]
		}
	}
	return "cti"
}

func (c *wsConn) close(log zerolog.Logger) {
	if err := c.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		log.Debug().Err(err).Str("app", c.app).Msg("events websocket close")
		if nerr := c.conn.CloseNow(); nerr != nil {
			log.Debug().Err(nerr).Str("app", c.app).Msg("events websocket close now")
		}
	}
	c.stop()
	<-c.done
}

func (r *run) closeAll() {
	r.wsMu.Lock()
	conns := make([]*wsConn, 0, len(r.ws))
	for _, c := range r.ws {
		conns = append(conns, c)
	}
	r.ws = map[string]*wsConn{}
	peers := make([]*rtpPeer, 0, len(r.rtp))
	for _, p := range r.rtp {
		peers = append(peers, p)
	}
	r.rtp = map[string]*rtpPeer{}
	r.wsMu.Unlock()
	for _, c := range conns {
		c.close(r.d.cfg.Logger)
	}
	for _, p := range peers {
		if err := p.close(); err != nil {
			r.d.cfg.Logger.Debug().Err(err).Msg("rtp peer close")
		}
	}
}

// mapID maps one recorded id to the target's id (unchanged when unknown: the ids
// the client chose are reused verbatim, the target being fresh).
func (r *run) mapID(s string) string {
	if v, ok := r.al.ids.Lookup(s); ok {
		return v
	}
	return s
}

func (r *run) mapPorts(s string) string {
	r.wsMu.Lock()
	defer r.wsMu.Unlock()
	return reHostPort.ReplaceAllStringFunc(s, func(hp string) string {
		if v, ok := r.ports[hp]; ok {
			return v
		}
		return hp
	})
}

func (r *run) mapValue(v any) any {
	switch x := v.(type) {
	case string:
		return r.mapPorts(r.mapID(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = r.mapValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.mapValue(e)
		}
		return out
	}
	return v
}

// build makes the request line to send from the recorded one.
func (r *run) build(l *Line) Line {
	out := Line{Kind: KindRequest, Method: l.Method, Path: l.Path, Auth: l.Auth, Query: map[string]string{}}
	segs := strings.Split(l.RawPath, "/")
	for i, s := range segs {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			continue
		}
		if m := r.mapID(u); m != u {
			segs[i] = url.PathEscape(m)
		}
	}
	out.RawPath = strings.Join(segs, "/")
	for k, v := range l.Query {
		switch {
		case k == "api_key":
			out.Query[k] = v
		case idQueryKeys[k]:
			parts := strings.Split(v, ",")
			for i := range parts {
				parts[i] = r.mapID(parts[i])
			}
			out.Query[k] = strings.Join(parts, ",")
		default:
			out.Query[k] = r.mapPorts(r.mapID(v))
		}
	}
	if len(l.Body) > 0 && string(l.Body) != "null" {
		if b, err := json.Marshal(r.mapValue(decode(l.Body))); err == nil {
			out.Body = b
		}
	} else {
		out.Body = json.RawMessage("null")
	}
	return out
}

func (r *run) encodeQuery(q map[string]string, auth string) string {
	v := url.Values{}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := q[k]
		if k == "api_key" {
			pw := r.d.cfg.Password
			if auth == "wrong" {
				pw += "-wrong"
			}
			val = r.d.cfg.User + ":" + pw
		}
		v.Set(k, val)
	}
	return v.Encode()
}

func (r *run) authHeader(q map[string]string, auth string) http.Header {
	h := http.Header{}
	if _, viaKey := q["api_key"]; viaKey || auth == "none" || auth == "api_key" {
		return h
	}
	pw := r.d.cfg.Password
	if auth == "wrong" {
		pw += "-wrong"
	}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(r.d.cfg.User+":"+pw)))
	return h
}

func (r *run) request(ctx context.Context, recIdx int, l *Line) {
	req := r.build(l)
	r.add(req)
	var resp Line
	if l.Method == http.MethodGet && l.Path == "/events" {
		resp = r.openWS(ctx, &req)
	} else {
		resp = r.doHTTP(ctx, &req)
	}
	r.add(resp)
	// learn ids from the request and its response (by recorded request ordinal).
	k := r.al.recSeg[recIdx] - 1
	r.al.compareRequest(l, &req)
	if k >= 0 && k < len(r.al.recResp) && r.al.recResp[k] >= 0 {
		r.al.compareResponse(l, &r.rec.Lines[r.al.recResp[k]], &resp)
	}
}

func (r *run) doHTTP(ctx context.Context, req *Line) Line {
	resp := Line{Kind: KindResponse}
	ctx, cancel := context.WithTimeout(ctx, r.d.cfg.RequestTimeout)
	defer cancel()
	u := strings.TrimRight(r.d.cfg.BaseURL, "/") + req.RawPath
	if q := r.encodeQuery(req.Query, req.Auth); q != "" {
		u += "?" + q
	}
	var body io.Reader
	if len(req.Body) > 0 && string(req.Body) != "null" {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u, body)
	if err != nil {
		resp.Error = err.Error()
		return resp
	}
	hr.Header = r.authHeader(req.Query, req.Auth)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	res, err := r.d.cfg.HTTPClient.Do(hr)
	if err != nil {
		resp.Error = err.Error()
		return resp
	}
	defer func() {
		if cerr := res.Body.Close(); cerr != nil {
			r.d.cfg.Logger.Debug().Err(cerr).Msg("close body")
		}
	}()
	data, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		resp.Error = err.Error()
	}
	resp.Status = res.StatusCode
	fillBody(&resp, res.Header.Get("Content-Type"), data)
	return resp
}

// fillBody records a response body as the recording client did.
func fillBody(resp *Line, contentType string, data []byte) {
	resp.ContentType = contentType
	switch {
	case len(data) == 0:
		resp.Body = json.RawMessage("null")
	case strings.Contains(contentType, "json") && json.Valid(data):
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err == nil {
			resp.Body = buf.Bytes()
		} else {
			resp.Body = data
		}
	case strings.HasPrefix(contentType, "text/"):
		b, err := json.Marshal(string(data))
		if err == nil {
			resp.Body = b
		}
	default:
		n := len(data)
		resp.BodyBytes = &n
		resp.Body = json.RawMessage("null")
	}
}

func (r *run) openWS(ctx context.Context, req *Line) Line {
	resp := Line{Kind: KindResponse}
	hctx, cancel := context.WithTimeout(ctx, r.d.cfg.RequestTimeout)
	defer cancel()
	u := strings.TrimRight(r.d.cfg.BaseURL, "/") + req.RawPath
	if q := r.encodeQuery(req.Query, req.Auth); q != "" {
		u += "?" + q
	}
	u = "ws" + strings.TrimPrefix(u, "http")
	conn, res, err := websocket.Dial(hctx, u, &websocket.DialOptions{
		HTTPClient: r.d.cfg.HTTPClient,
		HTTPHeader: r.authHeader(req.Query, req.Auth),
	})
	if err != nil {
		resp.Error = err.Error()
		if res != nil {
			resp.Status = res.StatusCode
			var data []byte
			if res.Body != nil {
				var rerr error
				if data, rerr = io.ReadAll(io.LimitReader(res.Body, 1<<16)); rerr != nil {
					resp.Error += "; reading body: " + rerr.Error()
				}
			}
			fillBody(&resp, res.Header.Get("Content-Type"), data)
		}
		return resp
	}
	conn.SetReadLimit(4 << 20)
	resp.Status = http.StatusSwitchingProtocols
	resp.Body = json.RawMessage("null")
	rctx, stop := context.WithCancel(context.Background())
	c := &wsConn{app: req.Query["app"], conn: conn, stop: stop, done: make(chan struct{})}
	go r.readWS(rctx, c)
	r.wsMu.Lock()
	old := r.ws[c.app]
	r.ws[c.app] = c
	r.wsMu.Unlock()
	if old != nil {
		old.close(r.d.cfg.Logger)
	}
	return resp
}

func (r *run) readWS(ctx context.Context, c *wsConn) {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			r.add(Line{Kind: KindNote, Text: "malformed event: " + string(data)})
			continue
		}
		r.add(Line{Kind: KindEvent, Event: buf.Bytes()})
	}
}

func (r *run) rtpLine(ctx context.Context, recIdx int, l *Line) {
	r.wsMu.Lock()
	p := r.rtp[l.Label]
	r.wsMu.Unlock()
	if l.Dir == "out" {
		startRec := l.TMs - l.WindowMs
		r.await(ctx, recIdx, startRec)
		if p == nil {
			r.add(Line{Kind: KindRTP, Dir: "out", Label: l.Label})
			return
		}
		r.add(p.send(ctx, l.Packets, l.Markers > 0))
		r.markAction(l.TMs)
		return
	}
	target := r.paceTarget(l.TMs)
	if p == nil {
		r.add(Line{Kind: KindRTP, Dir: "in", Label: l.Label})
		return
	}
	window := time.Duration(l.WindowMs) * time.Millisecond
	if l.Packets > 0 && l.WindowMs < 200 {
		// "first RTP packet arrived": the client waited for it.
		p.waitFirst(ctx, 2*time.Second)
		window = 0
	} else if wait := time.Until(target); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	r.add(p.summary(time.Now(), window))
	r.markAction(l.TMs)
}
