package cti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/queue"
)

// WallboardConfig configures the live supervisor wallboard: queue.stats and
// wallboard.agents pushed to supervisors, and GET /api/v1/wallboard.
type WallboardConfig struct {
	// Every is how often the wallboard is refreshed (default 1s). A queue's
	// queue.stats goes out when it changed, and at least every Heartbeat.
	Every time.Duration
	// Heartbeat re-sends unchanged stats (default 5s), so a page shows it is live.
	Heartbeat time.Duration
	// Interval is the length of one history interval (default 15m).
	Interval time.Duration
	// History is how far back the per-interval history goes (default 8h); the ring
	// holds History/Interval intervals per queue.
	History time.Duration
	// Formula is the service-level formula shown for queues not listed in Queues.
	Formula queue.SLFormula
	// Queues sets a queue's formula and the threshold shown next to its SL.
	Queues []WallboardQueue
}

// WallboardQueue is one queue's service-level presentation.
type WallboardQueue struct {
	Queue     string
	Formula   queue.SLFormula
	Threshold time.Duration // the queue's SL threshold (display only; 0 = the engine default 20s)
}

// DefaultWallboardConfig returns the defaults.
func DefaultWallboardConfig() WallboardConfig {
	return WallboardConfig{Every: time.Second, Heartbeat: 5 * time.Second, Interval: 15 * time.Minute, History: 8 * time.Hour,
		Formula: queue.SLAbandonsMet}
}

// maxWallboardIntervals bounds the history ring whatever the configuration says.
const maxWallboardIntervals = 2000

// Validate checks c; keys are named as in ctid.yaml (wallboard.*).
func (c WallboardConfig) Validate() error {
	if c.Every < 0 || (c.Every > 0 && c.Every < 50*time.Millisecond) || c.Every > time.Minute {
		return fmt.Errorf("%w: wallboard.every: %q: must be between 50ms and 1m (0 = default 1s)", ErrInvalidConfig, c.Every)
	}
	if c.Heartbeat < 0 {
		return fmt.Errorf("%w: wallboard.heartbeat: %q: must not be negative", ErrInvalidConfig, c.Heartbeat)
	}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Minute) || c.Interval > 24*time.Hour {
		return fmt.Errorf("%w: wallboard.interval: %q: must be between 1m and 24h (0 = default 15m)", ErrInvalidConfig, c.Interval)
	}
	if c.History < 0 || c.History > 7*24*time.Hour {
		return fmt.Errorf("%w: wallboard.history: %q: must be between 0 and 168h", ErrInvalidConfig, c.History)
	}
	w := c.withDefaults()
	if w.History < w.Interval {
		return fmt.Errorf("%w: wallboard.history: %q: must be at least wallboard.interval (%s)", ErrInvalidConfig, w.History, w.Interval)
	}
	if w.History/w.Interval > maxWallboardIntervals {
		return fmt.Errorf("%w: wallboard.history: %q: at most %d intervals of %s", ErrInvalidConfig, w.History, maxWallboardIntervals, w.Interval)
	}
	if c.Formula > queue.SLShortAbandonsNeutral {
		return fmt.Errorf("%w: wallboard.sl_formula: %d: unknown formula", ErrInvalidConfig, c.Formula)
	}
	seen := map[string]bool{}
	for i, q := range c.Queues {
		if q.Queue == "" || seen[q.Queue] {
			return fmt.Errorf("%w: queues[%d].id: %q: the wallboard needs unique queue ids", ErrInvalidConfig, i, q.Queue)
		}
		seen[q.Queue] = true
		if q.Formula > queue.SLShortAbandonsNeutral {
			return fmt.Errorf("%w: queues[%d].sl_formula: %d: unknown formula", ErrInvalidConfig, i, q.Formula)
		}
		if q.Threshold < 0 {
			return fmt.Errorf("%w: queues[%d].service_level: %q: must not be negative", ErrInvalidConfig, i, q.Threshold)
		}
	}
	return nil
}

func (c WallboardConfig) withDefaults() WallboardConfig {
	d := DefaultWallboardConfig()
	if c.Every == 0 {
		c.Every = d.Every
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = d.Heartbeat
	}
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.History == 0 {
		c.History = d.History
	}
	return c
}

// ParseSLFormula parses a formula's name (queue.SLFormula's String form).
func ParseSLFormula(s string) (queue.SLFormula, error) {
	for f := queue.SLAbandonsMet; f <= queue.SLShortAbandonsNeutral; f++ {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%w: service-level formula %q: must be abandons-met, answered-only, abandons-against or short-abandons-neutral", ErrInvalidConfig, s)
}

// Broadcaster sends an event to every connected user of a role or above (the
// desktop server). The wallboard pushes through it when the Notifier is one.
type Broadcaster interface {
	Broadcast(role desktop.Role, event string, fields map[string]any)
}

// wbCounts are the cumulative counters an interval is the difference of.
type wbCounts struct {
	offered int
	sl      queue.SLCounts
}

func (a wbCounts) minus(b wbCounts) wbCounts {
	return wbCounts{offered: a.offered - b.offered, sl: queue.SLCounts{
		Answered: a.sl.Answered - b.sl.Answered, AnsweredWithin: a.sl.AnsweredWithin - b.sl.AnsweredWithin,
		Abandoned: a.sl.Abandoned - b.sl.Abandoned, AbandonedWithin: a.sl.AbandonedWithin - b.sl.AbandonedWithin,
		ShortAbandoned: a.sl.ShortAbandoned - b.sl.ShortAbandoned,
	}}
}

// wbInterval is one closed (or the current) history interval of a queue.
type wbInterval struct {
	start  time.Time
	counts wbCounts
}

// wbHistory is one queue's bounded ring of intervals: closed ones, oldest first,
// and the running one as the difference from the counters at its start.
type wbHistory struct {
	closed []wbInterval
	cur    time.Time // start of the running interval (zero: no reading yet)
	base   wbCounts  // counters when the running interval started
	last   wbCounts  // the latest reading
}

// observe takes a reading of the cumulative counters at now. A reading in a later
// interval closes the running one with the counts up to the previous reading (and
// records empty intervals for any the wallboard did not see).
func (h *wbHistory) observe(now time.Time, c wbCounts, interval time.Duration, keep int) {
	start := now.Truncate(interval)
	if h.cur.IsZero() {
		// The engine's counters start with the queue (at ctid's start, as the
		// wallboard does): what they hold so far belongs to this interval.
		h.cur, h.base, h.last = start, wbCounts{}, c
		return
	}
	if start.After(h.cur) {
		h.push(wbInterval{start: h.cur, counts: h.last.minus(h.base)}, keep)
		first := h.cur.Add(interval)
		if oldest := start.Add(-time.Duration(keep) * interval); first.Before(oldest) {
			first = oldest // a gap longer than the ring: only the last intervals matter
		}
		for t := first; t.Before(start); t = t.Add(interval) {
			h.push(wbInterval{start: t}, keep)
		}
		h.cur, h.base = start, h.last
	}
	h.last = c
}

func (h *wbHistory) push(iv wbInterval, keep int) {
	h.closed = append(h.closed, iv)
	if over := len(h.closed) - keep; over > 0 {
		h.closed = append(h.closed[:0], h.closed[over:]...)
	}
}

// running is the interval in progress.
func (h *wbHistory) running() wbInterval {
	return wbInterval{start: h.cur, counts: h.last.minus(h.base)}
}

// wallboard is the state of the wallboard goroutine (it alone touches it).
type wallboard struct {
	cfg      WallboardConfig
	formulas map[string]WallboardQueue
	keep     int
	hist     map[queue.QueueID]*wbHistory
	sent     map[string]string // event key -> last body sent
	sentAt   map[string]time.Time
}

func newWallboard(cfg WallboardConfig) *wallboard {
	cfg = cfg.withDefaults()
	w := &wallboard{cfg: cfg, formulas: map[string]WallboardQueue{}, keep: int(cfg.History / cfg.Interval),
		hist: map[queue.QueueID]*wbHistory{}, sent: map[string]string{}, sentAt: map[string]time.Time{}}
	for _, q := range cfg.Queues {
		w.formulas[q.Queue] = q
	}
	return w
}

// wbReading is what one engine visit copies out.
type wbReading struct {
	at     time.Time
	queues []queue.QueueStats
	snap   queue.Snapshot
	names  map[string]string // agents' display names
}

// WallboardFrame is the wallboard at one moment: per-queue KPIs and the agent grid.
type WallboardFrame struct {
	At      time.Time
	Queues  []WallboardLine
	Agents  []map[string]any
	History map[string][]map[string]any // by queue, oldest first, the running interval last
}

// WallboardLine is one queue's KPIs as sent in queue.stats.
type WallboardLine struct {
	Queue  string
	Fields map[string]any
}

// readWallboard copies the KPIs and the snapshot out of the engine (one loop visit;
// the engine does no more than copy).
func (o *Orchestrator) readWallboard(ctx context.Context) (wbReading, error) {
	now := o.now()
	r := wbReading{at: now}
	_, err := o.loop.Do(ctx, func(e *queue.Engine) ([]queue.Decision, error) {
		for _, id := range e.Queues() {
			st, err := e.QueueStats(now, id)
			if err != nil {
				return nil, err
			}
			r.queues = append(r.queues, st)
		}
		r.snap = e.Snapshot(now)
		return nil, nil
	})
	r.names = o.names.get()
	return r, err
}

// frame folds a reading into the history and renders it.
func (w *wallboard) frame(r wbReading) WallboardFrame {
	f := WallboardFrame{At: r.at, History: map[string][]map[string]any{}}
	for _, st := range r.queues {
		h := w.hist[st.Queue]
		if h == nil {
			h = &wbHistory{}
			w.hist[st.Queue] = h
		}
		h.observe(r.at, wbCounts{offered: st.Entered, sl: st.Counts}, w.cfg.Interval, w.keep)
		pres := w.presentation(string(st.Queue))
		f.Queues = append(f.Queues, WallboardLine{Queue: string(st.Queue), Fields: w.queueFields(st, pres, h.running(), r.snap)})
		var hist []map[string]any
		for _, iv := range h.closed {
			hist = append(hist, intervalFields(iv, pres.Formula, w.cfg.Interval))
		}
		hist = append(hist, intervalFields(h.running(), pres.Formula, w.cfg.Interval))
		f.History[string(st.Queue)] = hist
	}
	f.Agents = agentGrid(r.snap, r.names)
	return f
}

func (w *wallboard) presentation(q string) WallboardQueue {
	p, ok := w.formulas[q]
	if !ok {
		p = WallboardQueue{Queue: q, Formula: w.cfg.Formula}
	}
	if p.Threshold == 0 {
		p.Threshold = 20 * time.Second
	}
	return p
}

// slValue is the SL as a number, or nil when there is nothing to measure.
func slValue(c queue.SLCounts, f queue.SLFormula) any {
	if v, ok := queue.ServiceLevel(c, f); ok {
		return v
	}
	return nil
}

func intervalFields(iv wbInterval, f queue.SLFormula, length time.Duration) map[string]any {
	return map[string]any{
		"start": iv.start.UTC(), "end": iv.start.Add(length).UTC(),
		"offered": iv.counts.offered, "answered": iv.counts.sl.Answered, "abandoned": iv.counts.sl.Abandoned,
		"service_level": slValue(iv.counts.sl, f),
	}
}

func (w *wallboard) queueFields(st queue.QueueStats, p WallboardQueue, cur wbInterval, snap queue.Snapshot) map[string]any {
	byState := map[string]int{}
	for s, n := range st.AgentsByState {
		byState[queue.AgentState(s).String()] = n
	}
	all := map[string]any{}
	for f, v := range st.ServiceLevel {
		if v >= 0 {
			all[queue.SLFormula(f).String()] = v
		}
	}
	var sl any
	if v := st.ServiceLevel[p.Formula]; v >= 0 {
		sl = v
	}
	ringing := 0
	for _, c := range snap.Calls {
		if c.Queue == st.Queue && c.State == queue.CallOffered {
			ringing++
		}
	}
	return map[string]any{
		"queue": string(st.Queue), "open": st.Open,
		"waiting": st.Waiting, "ringing": ringing, "callbacks": st.Callbacks,
		"longest_wait_seconds": st.LongestWait.Seconds(),
		"agents_by_state":      byState,
		"offered":              st.Entered, "answered": st.Counts.Answered, "abandoned": st.Counts.Abandoned,
		"consults": st.Consults, "consults_answered": st.ConsultsAnswered,
		"service_level": sl, "sl_formula": p.Formula.String(), "sl_threshold_seconds": p.Threshold.Seconds(),
		"service_levels": all,
		"asa_seconds":    st.ASA.Seconds(), "aht_seconds": st.AHT.Seconds(),
		"abandon_rate": st.AbandonRate, "occupancy": st.Occupancy, "ewt_seconds": st.EWT.Seconds(),
		"interval": intervalFields(cur, p.Formula, w.cfg.Interval),
	}
}

// agentGrid is one row per agent: state, reason, time in state, current call.
func agentGrid(s queue.Snapshot, names map[string]string) []map[string]any {
	callQueue := map[queue.CallID]string{}
	for _, c := range s.Calls {
		callQueue[c.ID] = string(c.Queue)
	}
	out := make([]map[string]any, 0, len(s.Agents))
	for _, a := range s.Agents {
		queues := make([]string, 0, len(a.Queues))
		for _, q := range a.Queues {
			queues = append(queues, string(q))
		}
		row := map[string]any{
			"agent": string(a.ID), "name": nameOf(names, string(a.ID)), "state": a.State.String(), "reason": a.Reason,
			"time_in_state_seconds": 0.0, "queues": queues, "answered": a.Answered,
			"talk_seconds": a.TalkTime.Seconds(), "occupancy": a.Occupancy,
			"pending_pause": a.PendingPause, "pending_logout": a.PendingLogout,
		}
		if !a.Since.IsZero() {
			row["since"] = a.Since.UTC()
			row["time_in_state_seconds"] = max(0, s.At.Sub(a.Since).Seconds())
		}
		if a.Call != "" {
			row["call_id"] = publicCallID(string(a.Call))
			row["call_queue"] = callQueue[a.Call]
		}
		if !a.WrapUpUntil.IsZero() {
			row["wrapup_until"] = a.WrapUpUntil.UTC()
		}
		out = append(out, row)
	}
	return out
}

// changed reports whether an event with this key and body should go out now
// (it differs from the last one sent, or the heartbeat is due), and remembers it.
func (w *wallboard) changed(key string, body map[string]any, now time.Time) bool {
	b, err := json.Marshal(body)
	if err != nil {
		return true // Broadcast logs the marshalling error
	}
	if w.sent[key] == string(b) && now.Sub(w.sentAt[key]) < w.cfg.Heartbeat {
		return false
	}
	w.sent[key], w.sentAt[key] = string(b), now
	return true
}

// push broadcasts what changed to supervisors.
func (w *wallboard) push(b Broadcaster, f WallboardFrame) {
	at := f.At.UTC()
	for _, q := range f.Queues {
		if w.changed("queue.stats/"+q.Queue, q.Fields, f.At) {
			ev := make(map[string]any, len(q.Fields)+1)
			for k, v := range q.Fields {
				ev[k] = v
			}
			ev["at"] = at
			b.Broadcast(desktop.RoleSupervisor, "queue.stats", ev)
		}
	}
	// Time in state moves every second; the grid goes out when a state changes.
	key := make([]map[string]any, 0, len(f.Agents))
	for _, a := range f.Agents {
		k := make(map[string]any, len(a))
		for n, v := range a {
			if n != "time_in_state_seconds" && n != "occupancy" && n != "talk_seconds" {
				k[n] = v
			}
		}
		key = append(key, k)
	}
	if w.changed("wallboard.agents", map[string]any{"agents": key}, f.At) {
		b.Broadcast(desktop.RoleSupervisor, "wallboard.agents", map[string]any{"at": at, "agents": f.Agents})
	}
}

// wbRequest asks the wallboard goroutine for a fresh frame (REST first paint).
type wbRequest struct {
	reply chan WallboardFrame
}

// runWallboard owns the wallboard state: every Every it reads the engine (one
// loop visit), folds the reading into the history and pushes what changed; it also
// answers snapshot requests. It stops with ctx.
func (o *Orchestrator) runWallboard(ctx context.Context) {
	w := newWallboard(o.cfg.Wallboard)
	b, ok := o.notify.(Broadcaster)
	if !ok {
		o.log.Info().Msg("wallboard: the notifier cannot broadcast; queue.stats is not pushed (REST only)")
	}
	t := time.NewTicker(w.cfg.Every)
	defer t.Stop()
	for {
		var req *wbRequest
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case r := <-o.wbReq:
			req = &r
		}
		rd, err := o.readWallboard(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				o.log.Warn().Err(err).Msg("wallboard: reading the engine")
			}
			if req != nil {
				close(req.reply)
			}
			continue
		}
		f := w.frame(rd)
		if req != nil {
			req.reply <- f // buffered
		}
		if ok {
			w.push(b, f)
		}
	}
}

// Wallboard returns a fresh wallboard frame (ErrNotStarted when the orchestrator is
// not running).
func (o *Orchestrator) Wallboard(ctx context.Context) (WallboardFrame, error) {
	r := wbRequest{reply: make(chan WallboardFrame, 1)}
	select {
	case o.wbReq <- r:
	case <-ctx.Done():
		return WallboardFrame{}, fmt.Errorf("%w: wallboard: %w", ErrNotStarted, ctx.Err())
	}
	select {
	case f, ok := <-r.reply:
		if !ok {
			return WallboardFrame{}, fmt.Errorf("%w: wallboard: engine unavailable", ErrNotStarted)
		}
		return f, nil
	case <-ctx.Done():
		return WallboardFrame{}, fmt.Errorf("%w: wallboard: %w", ErrNotStarted, ctx.Err())
	}
}

// restWallboard is GET /api/v1/wallboard: the page's first paint.
func (o *Orchestrator) restWallboard(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := restCtx(r)
	defer cancel()
	f, err := o.Wallboard(ctx)
	if err != nil {
		desktop.WriteError(w, desktop.Errorf("internal", "wallboard unavailable"))
		return
	}
	queues := make([]map[string]any, 0, len(f.Queues))
	for _, q := range f.Queues {
		out := make(map[string]any, len(q.Fields)+1)
		for k, v := range q.Fields {
			out[k] = v
		}
		out["history"] = f.History[q.Queue]
		queues = append(queues, out)
	}
	cfg := o.cfg.Wallboard.withDefaults()
	desktop.WriteJSON(w, http.StatusOK, map[string]any{
		"at": f.At.UTC(), "interval_seconds": cfg.Interval.Seconds(), "history_seconds": cfg.History.Seconds(),
		"queues": queues, "agents": f.Agents,
	})
}
