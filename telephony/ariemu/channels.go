package ariemu

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type party struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

type dialplan struct {
	Context  string `json:"context"`
	Exten    string `json:"exten"`
	Priority int    `json:"priority"`
	AppName  string `json:"app_name"`
	AppData  string `json:"app_data"`
}

type channelJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	State       string            `json:"state"`
	ProtocolID  string            `json:"protocol_id"`
	Caller      party             `json:"caller"`
	Connected   party             `json:"connected"`
	Accountcode string            `json:"accountcode"`
	Dialplan    dialplan          `json:"dialplan"`
	Created     string            `json:"creationtime"`
	Language    string            `json:"language"`
	Channelvars map[string]string `json:"channelvars,omitempty"`
}

// chanKind says how a channel came to be, which decides its events.
type chanKind int

const (
	kindInbound    chanKind = iota // ;2 half that entered Stasis from the dialplan
	kindOriginated                 // originated into the app (gets ChannelDestroyed)
	kindLocalHalf                  // ;2 half of an originated Local pair (subscribed, not in Stasis)
	kindFarEnd                     // ;1 half of a simulated inbound caller (silent)
	kindDialplan                   // a channel running dialplan only (not in Stasis)
	kindExternal                   // ExternalMedia UnicastRTP
	kindSnoop                      // snoop channel
	kindHelper                     // Announcer / Recorder
)

func (k chanKind) String() string {
	return [...]string{"inbound", "originated", "localhalf", "farend", "dialplan", "external", "snoop", "helper"}[k]
}

type channel struct {
	id, name      string
	state         string
	caller        party
	connected     party
	dp            dialplan
	created       time.Time
	createdARI    string // created as ARI writes it (formatted once: every event carries it)
	vars          map[string]string
	report        map[string]bool
	kind          chanKind
	app           string // subscribed app
	subscribed    bool
	inStasis      bool
	bridge        *bridge
	joinSeq       int
	peer          *channel // other Local half
	behaviour     string
	dialstring    string
	step          string // far end's current dialplan app
	answered      bool
	timers        []*timer
	rtp           *rtpLeg
	snoopOf       *channel
	snoops        []*channel // snoop channels made on this one (snoopsOf)
	spy           string
	whisper       string
	moh           bool
	gone          bool
	created2      bool // created via /channels/create, not dialled yet
	dialTo        *farEnd
	calleridUp    bool   // a connected-line change awaits the ;2 half's ChannelCallerId
	patience      *timer // originate timeout: stopped by the answer
	abandon       *timer // a simulated caller's patience: runs until bridged
	dtmfScript    string
	viaCreate     bool            // made by /channels/create
	emDialed      bool            // ExternalMedia: Dial and Up sent
	pendingReport map[string]bool // report_events variables, reported once answered
	ariVars       []string        // Config.ChannelVars (ari.conf channelvars)
}

// dialplan field is named dp; keep json() readable.
func (ch *channel) json() channelJSON {
	j := channelJSON{
		ID: ch.id, Name: ch.name, State: ch.state, Caller: ch.caller, Connected: ch.connected,
		Dialplan: ch.dp, Created: ch.createdARI, Language: "en",
	}
	for k := range ch.report {
		if j.Channelvars == nil {
			j.Channelvars = map[string]string{}
		}
		j.Channelvars[k] = ch.vars[k]
	}
	for _, k := range ch.ariVars {
		if j.Channelvars == nil {
			j.Channelvars = map[string]string{}
		}
		v, _ := ch.getVar(k) // unset: "" as Asterisk sends it
		j.Channelvars[k] = v
	}
	return j
}

func (ch *channel) addTimer(t *timer) { ch.timers = append(ch.timers, t) }

func (ch *channel) stopTimers() {
	for _, t := range ch.timers {
		t.stop()
	}
	ch.timers = nil
}

func (e *Emulator) newChannel(id, name string, kind chanKind) *channel {
	if id == "" {
		id = e.newChannelID()
	}
	now := time.Now()
	ch := &channel{id: id, name: name, state: "Down", created: now, createdARI: ariTime(now), vars: map[string]string{}, kind: kind, ariVars: e.cfg.ChannelVars}
	e.channels[id] = ch
	e.chanOrder = append(e.chanOrder, id)
	return ch
}

func (e *Emulator) removeChannel(ch *channel) {
	ch.gone = true
	ch.stopTimers()
	ch.patience.stop()
	ch.abandon.stop()
	e.stopMedia(ch)
	e.media.remove(ch)
	delete(e.channels, ch.id)
	if _, ok := e.rtpLegs[ch.id]; ok {
		e.forgetRTPLater(ch.id)
	}
	for i, id := range e.chanOrder {
		if id == ch.id {
			e.chanOrder = append(e.chanOrder[:i], e.chanOrder[i+1:]...)
			break
		}
	}
	for _, pb := range e.playbacks {
		if pb.channel == ch {
			e.endPlayback(pb, "", false)
		}
	}
	for _, lr := range e.live {
		if lr.channel == ch {
			e.finishRecording(lr)
		}
	}
	if ch.app != "" {
		e.maybeDestroyApp(ch.app)
	}
}

func (e *Emulator) stasisStart(ch *channel, args []string) {
	ch.inStasis = true
	ch.subscribed = true
	if args == nil {
		args = []string{}
	}
	e.chanEvent(ch, "StasisStart", map[string]any{"args": args})
}

var causeText = map[int]string{
	0: "Unknown", 16: "Normal Clearing", 17: "User busy", 18: "No user responding",
	19: "User alerting, no answer", 21: "Call Rejected", 27: "Destination out of order",
	28: "Invalid number format", 34: "Circuit/channel congestion", 38: "Network out of order",
	1: "Unallocated (unassigned) number", 3: "No route to destination",
}

func (e *Emulator) destroyed(ch *channel, cause int) {
	e.chanEvent(ch, "ChannelDestroyed", map[string]any{"cause": cause, "cause_txt": causeText[cause]})
}

// hangupReasons maps the ARI hangup reason to a Q.850 cause.
var hangupReasons = map[string]int{
	"normal": 16, "busy": 17, "congestion": 34, "no_answer": 19, "timeout": 19,
	"rejected": 21, "unallocated": 1, "normal_unspecified": 31, "number_incomplete": 28,
	"codec_mismatch": 58, "interworking": 127, "failure": 38, "answered_elsewhere": 26,
}

// endFromARI hangs a Stasis channel up at ARI's request.
func (e *Emulator) endFromARI(ch *channel, cause int) {
	if ch.gone {
		return
	}
	e.hangupRequest(ch, 32, true)
	e.leaveStasis(ch, cause)
}

// leaveStasis runs what follows a hangup request: bridge exit, StasisEnd and, for
// app-originated channels, STASISSTATUS and ChannelDestroyed (facts 2, 3).
func (e *Emulator) leaveStasis(ch *channel, cause int) {
	if ch.gone {
		return
	}
	ch.gone = true
	e.stopMedia(ch)
	ch.stopTimers()
	ch.patience.stop()
	ch.abandon.stop()
	if ch.bridge != nil {
		e.leaveBridge(ch, false)
	}
	for _, sn := range ch.snoopsOf(e) {
		e.endSnoopSilently(sn)
	}
	if ch.inStasis {
		ch.inStasis = false
		e.chanEvent(ch, "StasisEnd", nil)
	}
	switch ch.kind {
	case kindOriginated, kindExternal:
		if ch.dp.AppName == "Stasis" {
			e.varset(ch, "STASISSTATUS", "SUCCESS")
			if ch.viaCreate {
				ch.dp.AppName, ch.dp.AppData = "", ""
			} else {
				ch.dp.AppName, ch.dp.AppData = "AppDial2", "(Outgoing Line)"
			}
		}
		if half := ch.peer; half != nil && !half.gone && half.kind == kindLocalHalf {
			e.hangupRequest(half, cause, false)
			ch.dp = dialplan{Context: ch.dp.Context, Exten: ch.dp.Exten, Priority: ch.dp.Priority, AppName: "AppDial2", AppData: "(Outgoing Line)"}
			e.destroyed(ch, cause)
			e.removeChannel(ch)
			e.endLocalHalf(half, cause)
			return
		}
		if ch.kind == kindOriginated && ch.peer != nil {
			ch.dp = dialplan{Context: ch.dp.Context, Exten: ch.dp.Exten, Priority: ch.dp.Priority, AppName: "AppDial2", AppData: "(Outgoing Line)"}
		}
		e.destroyed(ch, cause)
	}
	if ch.peer != nil && ch.peer.kind == kindFarEnd {
		e.removeChannel(ch.peer)
	}
	e.removeChannel(ch)
}

// endLocalHalf finishes the ;2 half after its ;1 went away.
func (e *Emulator) endLocalHalf(half *channel, cause int) {
	if half.gone {
		return
	}
	if half.step == "Playback" {
		e.varset(half, "PLAYBACKSTATUS", "SUCCESS")
	}
	e.hangupRequest(half, 16, true)
	half.dp.AppName, half.dp.AppData = "", ""
	e.destroyed(half, cause)
	e.removeChannel(half)
}

// snoopsOf lists the live snoop channels on ch, oldest first (ch.snoops holds every
// snoop ever made on it, in creation order; the channel map says which still live).
func (ch *channel) snoopsOf(e *Emulator) []*channel {
	var out []*channel
	for _, c := range ch.snoops {
		if e.channels[c.id] == c && c.snoopOf == ch && !c.gone {
			out = append(out, c)
		}
	}
	return out
}

// ---- REST handlers ----

func (e *Emulator) lookup(id string) *channel {
	ch := e.channels[id]
	if ch == nil || ch.gone || ch.kind == kindFarEnd || ch.kind == kindHelper {
		if ch != nil && ch.kind == kindFarEnd {
			return ch
		}
		return nil
	}
	return ch
}

func (e *Emulator) hChannelList(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []channelJSON{}
	for _, stasis := range []bool{true, false} {
		for _, id := range e.chanOrder {
			if ch := e.channels[id]; ch != nil && !ch.gone && ch.kind != kindHelper && ch.inStasis == stasis {
				out = append(out, ch.json())
			}
		}
	}
	return ok200(out)
}

func (e *Emulator) hChannelGet(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.lookup(q.p("channelId"))
	if ch == nil {
		return fail(404, "Channel not found")
	}
	return ok200(ch.json())
}

// stasisChannel finds a channel that must be in Stasis; code is the status for "not in Stasis".
func (e *Emulator) stasisChannel(id string, code int) (*channel, result, bool) {
	ch := e.lookup(id)
	if ch == nil {
		return nil, fail(404, "Channel not found"), false
	}
	if !ch.inStasis {
		return nil, fail(code, "Channel not in Stasis application"), false
	}
	return ch, result{}, true
}

func (e *Emulator) hHangup(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.lookup(q.p("channelId"))
	if ch == nil {
		return fail(404, "Channel not found")
	}
	cause := 16
	if r := q.get("reason"); r != "" {
		c, ok := hangupReasons[r]
		if !ok {
			return fail(400, "Invalid reason for hangup reason provided")
		}
		cause = c
	}
	if rc := q.get("reason_code"); rc != "" {
		c, err := strconv.Atoi(rc)
		if err != nil {
			return fail(400, "Invalid reason for hangup reason provided")
		}
		cause = c
	}
	switch ch.kind {
	case kindSnoop:
		e.hangupRequest(ch, 32, true)
		e.endSnoop(ch)
	case kindFarEnd:
		// the caller's own leg hangs up: the Stasis side sees a far-end hangup.
		if p := ch.peer; p != nil && !p.gone && p.kind == kindInbound {
			e.farEndHangup(p, cause)
		} else {
			e.removeChannel(ch)
		}
	case kindDialplan:
		if ch.peer != nil {
			e.removeChannel(ch.peer)
		}
		e.removeChannel(ch)
	case kindLocalHalf:
		if ch.peer != nil && !ch.peer.gone {
			e.farEndHangup(ch.peer, cause)
		} else {
			e.endLocalHalf(ch, cause)
		}
	default:
		if !ch.inStasis && ch.kind != kindOriginated {
			e.removeChannel(ch)
			break
		}
		e.endFromARI(ch, cause)
	}
	return noContent()
}

func (e *Emulator) hAnswer(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, res, ok := e.stasisChannel(q.p("channelId"), 409)
	if !ok {
		return res
	}
	e.answer(ch)
	return noContent()
}

func (e *Emulator) answer(ch *channel) {
	if ch.state == "Up" {
		return
	}
	e.stateChange(ch, "Up")
	ch.patience.stop()
	if ch.kind == kindInbound && ch.peer != nil && ch.peer.kind == kindFarEnd {
		ch.peer.state = "Up"
		app, data := stepFor(ch.peer.behaviour)
		ch.peer.dp = dialplan{Context: "callers", Exten: ch.peer.behaviour, Priority: 2, AppName: app, AppData: data}
		e.startCallerBehaviour(ch)
	}
	e.refreshMedia()
}

// hNoEvent serves ring, progress, hold and silence: no events (fact 12).
func (e *Emulator) hNoEvent(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, res, ok := e.stasisChannel(q.p("channelId"), 409); !ok {
		return res
	}
	return noContent()
}

func (e *Emulator) hChannelMOH(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, res, ok := e.stasisChannel(q.p("channelId"), 409)
	if !ok {
		return res
	}
	ch.moh = q.r.Method == "POST"
	e.refreshMedia()
	return noContent()
}

func (e *Emulator) hMute(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, res, ok := e.stasisChannel(q.p("channelId"), 409)
	if !ok {
		return res
	}
	switch q.get("direction") {
	case "":
		return fail(400, "Direction is required")
	case "in", "out", "both":
		return noContent()
	default:
		return fail(400, "Invalid direction specified")
	}
}

func (e *Emulator) hSendDTMF(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, res, ok := e.stasisChannel(q.p("channelId"), 409)
	if !ok {
		return res
	}
	if q.get("dtmf") == "" {
		return fail(400, "DTMF is required")
	}
	return noContent()
}

// getVar evaluates a variable or function on ch.
func (ch *channel) getVar(name string) (string, bool) {
	switch name {
	case "CALLERID(name)":
		return ch.caller.Name, true
	case "CALLERID(num)", "CALLERID(number)":
		return ch.caller.Number, true
	case "CALLERID(all)":
		return fmt.Sprintf("\"%s\" <%s>", ch.caller.Name, ch.caller.Number), true
	case "CHANNEL(name)":
		return ch.name, true
	case "CHANNEL(state)":
		return ch.state, true
	case "CHANNEL(language)":
		return "en", true
	case "UNIQUEID", "CHANNEL(uniqueid)":
		return ch.id, true
	case "CONNECTEDLINE(name)":
		return ch.connected.Name, true
	case "CONNECTEDLINE(num)":
		return ch.connected.Number, true
	}
	v, ok := ch.vars[name]
	return v, ok
}

// setVar sets a variable, emitting what Asterisk emits (fact 15).
func (e *Emulator) setVar(ch *channel, name, value string) {
	switch name {
	case "CALLERID(name)":
		ch.caller.Name = value
		e.callerID(ch)
		return
	case "CALLERID(num)", "CALLERID(number)":
		ch.caller.Number = value
		e.callerID(ch)
		return
	case "CONNECTEDLINE(name)":
		ch.connected.Name = value
		e.chanEvent(ch, "ChannelConnectedLine", nil)
		return
	case "CONNECTEDLINE(num)":
		ch.connected.Number = value
		e.chanEvent(ch, "ChannelConnectedLine", nil)
		return
	}
	ch.vars[name] = value
	e.varset(ch, name, value)
}

func (e *Emulator) callerID(ch *channel) {
	e.chanEvent(ch, "ChannelCallerId", map[string]any{
		"caller_presentation": 0, "caller_presentation_txt": "Presentation Allowed, Not Screened",
	})
}

func (e *Emulator) hVarGet(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.lookup(q.p("channelId"))
	if ch == nil {
		return fail(404, "Provided channel was not found")
	}
	name := q.get("variable")
	if name == "" {
		return fail(400, "Variable name is required")
	}
	v, ok := ch.getVar(name)
	if !ok {
		return fail(404, "Provided variable was not found")
	}
	return ok200(map[string]string{"value": v})
}

func (e *Emulator) hVarsGet(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.lookup(q.p("channelId"))
	if ch == nil {
		return fail(404, "Provided channel was not found")
	}
	list := q.get("variables")
	if list == "" {
		return fail(400, "Variable names are required")
	}
	out := map[string]string{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if v, ok := ch.getVar(name); ok {
			out[name] = v
		} else {
			out[name] = ""
		}
	}
	return ok200(map[string]any{"variables": out})
}

func (e *Emulator) hVarSet(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.lookup(q.p("channelId"))
	if ch == nil {
		return fail(404, "Channel not found")
	}
	name := q.get("variable")
	if name == "" {
		return fail(400, "Variable name is required")
	}
	e.setVar(ch, name, q.get("value"))
	return noContent()
}

func (e *Emulator) hContinue(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, res, ok := e.stasisChannel(q.p("channelId"), 409)
	if !ok {
		return res
	}
	// StasisEnd, then the next dialplan priority hangs the call up (fact 16).
	ch.inStasis = false
	e.chanEvent(ch, "StasisEnd", nil)
	ch.subscribed = ch.kind != kindInbound
	ch.addTimer(e.after(5*time.Millisecond, func() {
		if ch.gone {
			return
		}
		if ch.bridge != nil {
			e.leaveBridge(ch, false)
		}
		if ch.kind == kindOriginated || ch.kind == kindExternal {
			e.hangupRequest(ch, 16, false)
			e.destroyed(ch, 16)
		}
		if ch.peer != nil && ch.peer.kind == kindFarEnd {
			e.removeChannel(ch.peer)
		}
		e.removeChannel(ch)
	}))
	return noContent()
}

func (e *Emulator) hRTPStats(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lookup(q.p("channelId")) == nil {
		return fail(404, "Channel not found")
	}
	return fail(404, "RTP info not found")
}

// ---- snoop ----

func (e *Emulator) hSnoop(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	target := e.lookup(q.p("channelId"))
	if target == nil {
		return fail(404, "Channel not found")
	}
	spy, whisper := q.get("spy"), q.get("whisper")
	if spy == "" {
		spy = "none"
	}
	if whisper == "" {
		whisper = "none"
	}
	valid := map[string]bool{"none": true, "in": true, "out": true, "both": true}
	if !valid[spy] {
		return fail(400, "Invalid direction specified for spy")
	}
	if !valid[whisper] {
		return fail(400, "Invalid direction specified for whisper")
	}
	appName := q.get("app")
	if appName == "" {
		return fail(400, "Application name is required")
	}
	if spy == "none" && whisper == "none" {
		return fail(400, "Direction must be specified for at least spy or whisper")
	}
	id := q.get("snoopId")
	if id == "" {
		id = q.p("snoopId")
	}
	if id != "" && e.channels[id] != nil {
		return fail(409, "Channel with given unique ID already exists")
	}
	e.snoopSeq++
	sn := e.newChannel(id, fmt.Sprintf("Snoop/%s-%08x", target.id, e.snoopSeq), kindSnoop)
	sn.state = "Up"
	sn.snoopOf = target
	target.snoops = append(target.snoops, sn)
	sn.spy, sn.whisper = spy, whisper
	sn.app = appName
	sn.subscribed = true
	sn.dp = dialplan{Context: "default", Exten: "s", Priority: 1}
	resp := sn.json()
	args := splitArgs(q.get("appArgs"))
	sn.addTimer(e.after(time.Millisecond, func() {
		if sn.gone {
			return
		}
		if !e.appActive(appName) {
			e.removeChannel(sn)
			return
		}
		sn.dp.AppName, sn.dp.AppData = "Stasis", joinAppData(appName, q.get("appArgs"))
		e.stasisStart(sn, args)
		e.rebridgePeers(target)
		e.refreshMedia()
	}))
	return ok200(resp)
}

// rebridgePeers re-announces BRIDGEPEER on the members of ch's bridge (what a snoop
// hook attaching to or detaching from a bridged channel causes).
func (e *Emulator) rebridgePeers(ch *channel) {
	b := ch.bridge
	if b == nil || len(b.members) < 2 {
		return
	}
	for _, m := range b.members {
		if v := m.vars["BRIDGEPEER"]; v != "" {
			e.varset(m, "BRIDGEPEER", v)
		}
	}
}

// endSnoop ends a snoop hung up through ARI (fact 34).
func (e *Emulator) endSnoop(sn *channel) {
	target := sn.snoopOf
	sn.gone = true
	e.stopMedia(sn)
	if sn.bridge != nil {
		e.leaveBridge(sn, false)
	}
	if sn.inStasis {
		sn.inStasis = false
		e.chanEvent(sn, "StasisEnd", nil)
	}
	e.removeChannel(sn)
	if target != nil && !target.gone {
		e.rebridgePeers(target)
	}
	e.refreshMedia()
}

// endSnoopSilently ends a snoop whose snooped channel went away: no hangup request.
func (e *Emulator) endSnoopSilently(sn *channel) {
	sn.gone = true
	e.stopMedia(sn)
	if sn.bridge != nil {
		e.leaveBridge(sn, false)
	}
	if sn.inStasis {
		sn.inStasis = false
		e.chanEvent(sn, "StasisEnd", nil)
	}
	e.removeChannel(sn)
}

func splitArgs(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func joinAppData(app, args string) string {
	if args == "" {
		return app
	}
	return app + "," + args
}
