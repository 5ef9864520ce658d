package tracereplay

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// query parameters whose values are ids (comma-separated lists allowed).
var idQueryKeys = map[string]bool{
	"channel": true, "channelId": true, "otherChannelId": true, "playbackId": true,
	"snoopId": true, "bridgeId": true,
}

// aligner learns the id mapping between a recorded run and another run and compares
// their lines. It is used offline by Compare and online by the replay driver.
type aligner struct {
	rec *Trace
	got []Line
	ids *idMap

	recSeg  []int // per rec line: number of requests before it
	recReqs []int // rec line index of the k-th request
	recResp []int // rec line index of the response to the k-th request (-1 if none)

	recMatched map[int]int // rec line -> got line
	gotMatched map[int]int // got line -> rec line

	// decoded events, by line index
	recEv map[int]decodedEvent
	gotEv map[int]decodedEvent

	passed int
	mism   []Mismatch

	normCache map[string]string
}

// normalize memoizes normalize: the same strings recur in every event.
func (a *aligner) normalize(s string) string {
	if v, ok := a.normCache[s]; ok {
		return v
	}
	if a.normCache == nil {
		a.normCache = map[string]string{}
	}
	v := normalize(s)
	a.normCache[s] = v
	return v
}

func newAligner(rec *Trace) *aligner {
	a := &aligner{rec: rec, ids: newIDMap(), recMatched: map[int]int{}, gotMatched: map[int]int{},
		recEv: map[int]decodedEvent{}, gotEv: map[int]decodedEvent{}}
	a.recSeg, a.recReqs, a.recResp = index(rec.Lines)
	return a
}

// index computes segments, request positions and the response of each request.
func index(lines []Line) (seg, reqs, resp []int) {
	seg = make([]int, len(lines))
	n := 0
	for i := range lines {
		if lines[i].Kind == KindRequest {
			reqs = append(reqs, i)
			resp = append(resp, -1)
			n++
		}
		seg[i] = n
		if lines[i].Kind == KindResponse && n > 0 && resp[n-1] < 0 {
			resp[n-1] = i
		}
	}
	return seg, reqs, resp
}

func (a *aligner) fail(what string, rec, got *Line) {
	m := Mismatch{What: what, Recorded: "(none)", Emulated: "(none)"}
	if rec != nil {
		m.Recorded = rec.Short()
	}
	if got != nil {
		m.Emulated = got.Short()
	}
	a.mism = append(a.mism, m)
}

// bindAll binds pairs already checked by resolve.
func (a *aligner) bindAll(ps []idPair) {
	for _, p := range ps {
		a.ids.bind(p.a, p.b)
	}
}

// compareRequest compares the k-th requests and learns ids from them.
func (a *aligner) compareRequest(r, g *Line) {
	ctx := &walkCtx{}
	if r.Method != g.Method || r.Path != g.Path {
		ctx.diffs = append(ctx.diffs, fmt.Sprintf("route: recorded %s %s, emulated %s %s", r.Method, r.Path, g.Method, g.Path))
	}
	rs := strings.Split(strings.Trim(r.RawPath, "/"), "/")
	gs := strings.Split(strings.Trim(g.RawPath, "/"), "/")
	ts := strings.Split(strings.Trim(r.Path, "/"), "/")
	if len(rs) != len(gs) {
		ctx.diffs = append(ctx.diffs, "raw_path differs in length")
	} else {
		for i := range rs {
			isParam := i < len(ts) && len(rs) == len(ts) && strings.HasPrefix(ts[i], "{")
			if isParam {
				ra, err1 := url.PathUnescape(rs[i])
				ga, err2 := url.PathUnescape(gs[i])
				if err1 != nil || err2 != nil {
					ra, ga = rs[i], gs[i]
				}
				if ts[i] == "{applicationName}" || ts[i] == "{recordingName}" {
					if normalize(ra) != normalize(ga) {
						ctx.diffs = append(ctx.diffs, fmt.Sprintf("path %s: recorded %q, emulated %q", ts[i], ra, ga))
					}
					continue
				}
				ctx.pairs = append(ctx.pairs, idPair{ra, ga})
			} else if rs[i] != gs[i] {
				ctx.diffs = append(ctx.diffs, fmt.Sprintf("path segment %d: recorded %q, emulated %q", i, rs[i], gs[i]))
			}
		}
	}
	keys := map[string]bool{}
	for k := range r.Query {
		keys[k] = true
	}
	for k := range g.Query {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		rv, inR := r.Query[k]
		gv, inG := g.Query[k]
		switch {
		case !inR || !inG:
			ctx.diffs = append(ctx.diffs, fmt.Sprintf("query %s: recorded %q (%v), emulated %q (%v)", k, rv, inR, gv, inG))
		case k == "api_key":
		case idQueryKeys[k]:
			rp, gp := strings.Split(rv, ","), strings.Split(gv, ",")
			if len(rp) != len(gp) {
				ctx.diffs = append(ctx.diffs, fmt.Sprintf("query %s: recorded %q, emulated %q", k, rv, gv))
				continue
			}
			for i := range rp {
				ctx.pairs = append(ctx.pairs, idPair{rp[i], gp[i]})
			}
		default:
			if normalize(rv) != normalize(gv) {
				ctx.diffs = append(ctx.diffs, fmt.Sprintf("query %s: recorded %q, emulated %q", k, rv, gv))
			}
		}
	}
	if r.Auth != g.Auth {
		ctx.diffs = append(ctx.diffs, fmt.Sprintf("auth: recorded %q, emulated %q", r.Auth, g.Auth))
	}
	ctx.walk("body", decode(r.Body), decode(g.Body))
	a.finish("request differs", ctx, r, g)
}

// finish binds the ids of a compared pair and records the outcome.
func (a *aligner) finish(what string, ctx *walkCtx, r, g *Line) {
	ps, ok := ctx.resolve(a.ids)
	if !ok {
		ctx.diffs = append(ctx.diffs, "ids contradict the ids learned so far")
	} else {
		a.bindAll(ps)
	}
	if len(ctx.diffs) == 0 {
		a.passed++
		return
	}
	a.fail(what+": "+strings.Join(ctx.diffs, "; "), r, g)
}

// compareResponse compares the responses to the k-th request.
func (a *aligner) compareResponse(req, r, g *Line) {
	ctx := &walkCtx{}
	if req != nil && req.Method == "POST" {
		switch {
		case strings.HasSuffix(req.Path, "/record"):
			ctx.eventType = "record-response"
		case strings.HasSuffix(req.Path, "/play") || strings.HasSuffix(req.Path, "/play/{playbackId}"):
			ctx.eventType = "play-response"
		}
	}
	if r.Status != g.Status {
		a.fail(fmt.Sprintf("status: recorded %d, emulated %d", r.Status, g.Status), r, g)
		return
	}
	a.passed++
	if req != nil {
		if req.Path == "/channels/{channelId}/variable" && req.Method == "GET" && req.Query["variable"] == "UNICASTRTP_LOCAL_PORT" {
			ctx.portValue = true
		}
		// Build, system and config facts of the host are not stable values.
		if req.Path == "/asterisk/info" {
			ctx.valuesUnstable = true
		}
	}
	if ct(r.ContentType) != ct(g.ContentType) {
		ctx.diffs = append(ctx.diffs, fmt.Sprintf("content_type: recorded %q, emulated %q", r.ContentType, g.ContentType))
	}
	if (r.BodyBytes == nil) != (g.BodyBytes == nil) {
		ctx.diffs = append(ctx.diffs, "body_bytes presence differs")
	}
	if (r.Error == "") != (g.Error == "") {
		ctx.diffs = append(ctx.diffs, fmt.Sprintf("handshake error: recorded %q, emulated %q", r.Error, g.Error))
	}
	rb, gb := decode(r.Body), decode(g.Body)
	if ra, ok := rb.([]any); ok {
		if ga, ok := gb.([]any); ok && len(ra) == len(ga) {
			// List endpoints (GET /channels, /bridges, /recordings/stored,
			// /applications) answer in container order, which is not stable:
			// pair the elements as a set.
			gb = a.pairList(ra, ga)
		}
	}
	ctx.walk("body", rb, gb)
	a.finish("response body differs", ctx, r, g)
}

// pairList reorders got so that each element faces the recorded element it matches
// best (ids consistent with the map, fewest differences).
func (a *aligner) pairList(ra, ga []any) []any {
	out := make([]any, len(ra))
	used := make([]bool, len(ga))
	for i, x := range ra {
		bestJ, bestD := -1, 1<<30
		for j, y := range ga {
			if used[j] {
				continue
			}
			c := &walkCtx{}
			c.walk("e", x, y)
			if _, ok := c.resolve(a.ids); !ok {
				continue
			}
			if len(c.diffs) < bestD {
				bestJ, bestD = j, len(c.diffs)
			}
		}
		if bestJ < 0 {
			for j := range ga {
				if !used[j] {
					bestJ = j
					break
				}
			}
		}
		used[bestJ] = true
		out[i] = ga[bestJ]
	}
	return out
}

func ct(s string) string {
	s, _, _ = strings.Cut(s, ";")
	return strings.TrimSpace(strings.ToLower(s))
}

type decodedEvent struct {
	typ   string
	v     any
	owner string // "kind:id" of the object the event belongs to
}

func cachedEvent(cache map[int]decodedEvent, lines []Line, i int) decodedEvent {
	if d, ok := cache[i]; ok {
		return d
	}
	d := decodedEvent{typ: lines[i].EventType(), v: decode(lines[i].Event)}
	if m, ok := d.v.(map[string]any); ok {
		d.owner = eventOwner(m)
	}
	cache[i] = d
	return d
}

// ownerCompatible is a cheap pre-check of bestEvent: the owners' ids must be
// compatible with the ids learned so far.
func (a *aligner) ownerCompatible(r, g decodedEvent) bool {
	rk, rid, okR := strings.Cut(r.owner, ":")
	gk, gid, okG := strings.Cut(g.owner, ":")
	if okR != okG || rk != gk {
		return false
	}
	if rk == "recording" || rk == "application" {
		return true
	}
	return a.ids.compatible(rid, gid)
}

type candidate struct {
	j     int
	diffs []string
	pairs []idPair
	score [3]int
}

// bestEvent finds the got event that corresponds to rec line ri among the unmatched
// got events. strict accepts only exact matches (the online driver uses it to learn
// ids safely); otherwise the closest compatible event is taken.
func (a *aligner) bestEvent(ri int, gotSeg []int, strict bool) (candidate, bool) {
	rd := cachedEvent(a.recEv, a.rec.Lines, ri)
	typ, rv := rd.typ, rd.v
	var best candidate
	found := false
	for j := range a.got {
		if a.got[j].Kind != KindEvent {
			continue
		}
		if _, used := a.gotMatched[j]; used {
			continue
		}
		gd := cachedEvent(a.gotEv, a.got, j)
		if gd.typ != typ || !a.ownerCompatible(rd, gd) {
			continue
		}
		ctx := &walkCtx{eventType: typ, norm: a.normalize}
		ctx.walk("event", rv, gd.v)
		ps, ok := ctx.resolve(a.ids)
		if !ok || (strict && len(ctx.diffs) > 0) {
			continue
		}
		d := a.recSeg[ri] - gotSeg[j]
		if d < 0 {
			d = -d
		}
		c := candidate{j: j, diffs: ctx.diffs, pairs: ps, score: [3]int{len(ctx.diffs), d, j}}
		if !found || less(c.score, best.score) {
			best, found = c, true
		}
	}
	return best, found
}

func less(x, y [3]int) bool {
	for i := range x {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

func (a *aligner) take(ri int, c candidate) {
	a.bindAll(c.pairs)
	a.recMatched[ri] = c.j
	a.gotMatched[c.j] = ri
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Compare compares a recorded run with another run of the same scenario (a second
// recording or a replay against the emulator) and reports every difference that the
// traces' README does not document as run-to-run variation.
func Compare(rec, got *Trace) *Report {
	a := newAligner(rec)
	a.got = got.Lines
	gotSeg, gotReqs, gotResp := index(got.Lines)
	gotTimes := got.Lines

	// notes with ids name the same roles in both recordings.
	gotRoles := map[string]string{}
	for _, l := range got.Lines {
		if l.Kind == KindNote {
			for role, id := range l.IDs {
				gotRoles[role] = id
			}
		}
	}
	rtpSeen := map[string]int{}
	gotRTP := map[string][]int{}
	for j, l := range got.Lines {
		if l.Kind == KindRTP {
			k := l.Dir + "/" + l.Label
			gotRTP[k] = append(gotRTP[k], j)
		}
	}
	for i := range rec.Lines {
		r := &rec.Lines[i]
		switch r.Kind {
		case KindNote:
			for role, id := range r.IDs {
				if gid, ok := gotRoles[role]; ok && !a.ids.bind(id, gid) {
					a.fail("role "+role+" maps to a different id than learned", r, nil)
				}
			}
		case KindRequest:
			k := a.recSeg[i] - 1
			if k >= len(gotReqs) {
				a.fail("request not made", r, nil)
				continue
			}
			a.compareRequest(r, &got.Lines[gotReqs[k]])
		case KindResponse:
			k := a.recSeg[i] - 1
			if k < 0 || a.recResp[k] != i {
				continue
			}
			var gl *Line
			if k < len(gotResp) && gotResp[k] >= 0 {
				gl = &got.Lines[gotResp[k]]
			}
			if gl == nil {
				a.fail("no response", r, nil)
				continue
			}
			a.compareResponse(&rec.Lines[a.recReqs[k]], r, gl)
		case KindEvent:
			c, ok := a.bestEvent(i, gotSeg, false)
			if !ok {
				a.fail("event missing", r, nil)
				continue
			}
			a.take(i, c)
			g := &got.Lines[c.j]
			if len(c.diffs) > 0 {
				a.fail(r.EventType()+" fields differ: "+strings.Join(c.diffs, "; "), r, g)
			} else {
				a.passed++
			}
			if msg := a.crossing(i, c.j, a.recSeg[i], gotSeg[c.j], got.Lines, gotReqs); msg != "" {
				a.fail(msg, r, g)
			}
			if msg := a.timing(i, c.j, gotTimes); msg != "" {
				a.fail(msg, r, g)
			}
		case KindRTP:
			k := r.Dir + "/" + r.Label
			n := rtpSeen[k]
			rtpSeen[k]++
			if n >= len(gotRTP[k]) {
				a.fail("RTP window missing", r, nil)
				continue
			}
			g := &got.Lines[gotRTP[k][n]]
			if d := compareRTP(r, g); len(d) > 0 {
				a.fail("RTP differs: "+strings.Join(d, "; "), r, g)
			} else {
				a.passed++
			}
		}
	}
	for k := len(a.recReqs); k < len(gotReqs); k++ {
		a.fail("extra request", nil, &got.Lines[gotReqs[k]])
	}
	for j := range got.Lines {
		if got.Lines[j].Kind != KindEvent {
			continue
		}
		if _, ok := a.gotMatched[j]; !ok {
			a.fail("unexpected event", nil, &got.Lines[j])
		}
	}
	a.checkOrder(got)
	return &Report{Scenario: rec.Name, Passed: a.passed, Mismatches: a.mism}
}

// checkOrder checks, per channel (or playback, recording, bridge), that the matched
// events come in the recorded order.
func (a *aligner) checkOrder(got *Trace) {
	byOwner := map[string][]int{}
	var owners []string
	for i := range a.rec.Lines {
		if _, ok := a.recMatched[i]; !ok {
			continue
		}
		ev, ok := decode(a.rec.Lines[i].Event).(map[string]any)
		if !ok {
			continue
		}
		o := eventOwner(ev)
		if _, seen := byOwner[o]; !seen {
			owners = append(owners, o)
		}
		byOwner[o] = append(byOwner[o], i)
	}
	for _, o := range owners {
		seq := byOwner[o]
		ok := true
		for x := 1; x < len(seq); x++ {
			if a.recMatched[seq[x]] < a.recMatched[seq[x-1]] && !congestionRace(&a.rec.Lines[seq[x-1]], &a.rec.Lines[seq[x]]) {
				a.fail(fmt.Sprintf("event order of %s differs: %s before %s", o,
					a.rec.Lines[seq[x]].EventType(), a.rec.Lines[seq[x-1]].EventType()),
					&a.rec.Lines[seq[x-1]], &got.Lines[a.recMatched[seq[x]]])
				ok = false
				break
			}
		}
		if ok && len(seq) > 1 {
			a.passed++
		}
	}
}

// RTPTolerance is the packet-count tolerance of an RTP window.
const RTPTolerance = 5

func compareRTP(r, g *Line) []string {
	var d []string
	if diff := r.Packets - g.Packets; diff > RTPTolerance || diff < -RTPTolerance {
		d = append(d, fmt.Sprintf("packets: recorded %d, emulated %d (±%d)", r.Packets, g.Packets, RTPTolerance))
	}
	if (r.Packets == 0) != (g.Packets == 0) {
		d = append(d, fmt.Sprintf("audio presence: recorded %d packets, emulated %d", r.Packets, g.Packets))
	}
	if r.Packets > 0 && g.Packets > 0 {
		if r.PayloadType != g.PayloadType {
			d = append(d, fmt.Sprintf("payload_type: recorded %d, emulated %d", r.PayloadType, g.PayloadType))
		}
		if r.PayloadBytes != g.PayloadBytes {
			d = append(d, fmt.Sprintf("payload_bytes: recorded %d, emulated %d", r.PayloadBytes, g.PayloadBytes))
		}
	}
	if r.Packets > 1 && g.Packets > 1 && r.TSStep != g.TSStep {
		d = append(d, fmt.Sprintf("ts_step: recorded %d, emulated %d", r.TSStep, g.TSStep))
	}
	for _, f := range []struct {
		name string
		a, b int
	}{
		{"markers", r.Markers, g.Markers}, {"seq_gaps", r.SeqGaps, g.SeqGaps},
		{"ssrc_changes", r.SSRCChanges, g.SSRCChanges}, {"other_sizes", r.OtherSizes, g.OtherSizes},
		{"other_payload_types", r.OtherPayloadTypes, g.OtherPayloadTypes},
	} {
		if f.a != f.b {
			d = append(d, fmt.Sprintf("%s: recorded %d, emulated %d", f.name, f.a, f.b))
		}
	}
	return d
}

// congestionRace reports whether two events of one channel are the documented
// congestion race (README: "For congestion, the ;2 half's ChannelHangupRequest
// showed state Busy in one run and Ring in the other"): the ChannelStateChange to
// Busy and the ChannelHangupRequest of that half may come in either order.
func congestionRace(x, y *Line) bool {
	tx, ty := x.EventType(), y.EventType()
	if !(tx == "ChannelStateChange" && ty == "ChannelHangupRequest") && !(tx == "ChannelHangupRequest" && ty == "ChannelStateChange") {
		return false
	}
	for _, l := range []*Line{x, y} {
		ev, ok := decode(l.Event).(map[string]any)
		if !ok {
			return false
		}
		ch, ok := ev["channel"].(map[string]any)
		if !ok {
			return false
		}
		if st, _ := ch["state"].(string); st != "Busy" && st != "Ring" {
			return false
		}
	}
	return true
}

// Tolerance of the anchor check in crossing.
const (
	anchorSlack = 200 // ms, plus anchorShare of the recorded offset
	anchorShare = 0.05
)

// crossing checks the request an event arrived after. Events of different channels
// interleave differently (README, "What varies"), and an event driven by a timer
// (a far end's behaviour) lands after whichever request the client happened to be
// sending, so an event may arrive after another request than recorded when
//   - none of the requests it crossed names its own object (a request that does,
//     e.g. the addChannel that causes a ChannelEnteredBridge, orders it), and
//   - its time after some request before it in both runs agrees (the same timer).
func (a *aligner) crossing(i, j, kA, kB int, got []Line, gotReqs []int) string {
	if kA == kB {
		return ""
	}
	msg := fmt.Sprintf("%s arrived after request %d, recorded after request %d", a.rec.Lines[i].EventType(), kB, kA)
	for k := min(kA, kB) + 1; k <= max(kA, kB); k++ {
		if a.namedBy(i, k) {
			return msg + " (crossing a request that names it)"
		}
	}
	for c := min(kA, kB); c >= 1; c-- {
		if c > len(gotReqs) || c > len(a.recReqs) {
			continue
		}
		offRec := a.rec.Lines[i].TMs - a.rec.Lines[a.recReqs[c-1]].TMs
		offGot := got[j].TMs - got[gotReqs[c-1]].TMs
		tol := float64(anchorSlack) + anchorShare*float64(offRec)
		if d := float64(offGot - offRec); d <= tol && d >= -tol {
			return ""
		}
	}
	return msg
}

// namedBy reports whether the k-th request (1-based) of the recording names the
// object rec line i belongs to (in its path or query) and was not refused.
func (a *aligner) namedBy(i, k int) bool {
	if k < 1 || k > len(a.recReqs) {
		return false
	}
	d := cachedEvent(a.recEv, a.rec.Lines, i)
	_, id, ok := strings.Cut(d.owner, ":")
	if !ok || id == "" {
		return false
	}
	if r := a.recResp[k-1]; r >= 0 && a.rec.Lines[r].Status >= 400 {
		// A refused request changed nothing, so it orders no event; had an event
		// really come to the other side of it, its response would differ (e.g. the
		// early addChannel of an ExternalMedia leg is 422 only before its StasisStart),
		// and the response comparison says so.
		return false
	}
	req := &a.rec.Lines[a.recReqs[k-1]]
	if strings.Contains(req.RawPath, id) {
		return true
	}
	for _, v := range req.Query {
		if strings.Contains(v, id) {
			return true
		}
	}
	return false
}

// Timing tolerance of time-driven events (README: "Durations repeat to within a few
// ms"; the far ends' ringing, no-answer, hangup5 and patience timers). Only events
// recorded at least timingFloor after the request before them are checked, with a
// generous tolerance for loaded test machines.
const (
	timingFloor = 1000 // ms
	timingSlack = 500  // ms, plus timingShare of the recorded delay
	timingShare = 0.15
)

// timing compares the delay of an event after the request before it.
func (a *aligner) timing(i, j int, got []Line) string {
	k := a.recSeg[i]
	if k < 1 {
		return ""
	}
	recDelay := a.rec.Lines[i].TMs - a.rec.Lines[a.recReqs[k-1]].TMs
	if recDelay < timingFloor {
		return ""
	}
	// the got request with the same ordinal
	n := 0
	var gotReqT int64 = -1
	for x := range got {
		if got[x].Kind == KindRequest {
			n++
			if n == k {
				gotReqT = got[x].TMs
				break
			}
		}
	}
	if gotReqT < 0 {
		return ""
	}
	gotDelay := got[j].TMs - gotReqT
	tol := float64(timingSlack) + timingShare*float64(recDelay)
	if diff := float64(gotDelay - recDelay); diff > tol || diff < -tol {
		return fmt.Sprintf("%s came %d ms after request %d, recorded %d ms (±%.0f)", a.rec.Lines[i].EventType(), gotDelay, k, recDelay, tol)
	}
	return ""
}
