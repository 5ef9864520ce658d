package ariemu

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Far-end behaviours (traces README, "The Asterisk side").
var numberedBehaviours = []string{"talk", "busy", "noanswer", "congestion", "reject", "hangup5", "dtmf", "machine", "ringanswer", "silence"}

var knownBehaviours = map[string]bool{
	"talk": true, "busy": true, "noanswer": true, "congestion": true, "reject": true, "hangup5": true,
	"dtmf": true, "machine": true, "ringanswer": true, "silence": true, "agent": true, "moh": true,
	"milliwatt": true, "echo": true, "s": true,
}

// audibleBehaviours produce audio once answered.
var audibleBehaviours = map[string]bool{
	"talk": true, "machine": true, "ringanswer": true, "hangup5": true, "moh": true, "milliwatt": true, "echo": true, "s": true,
}

// behaviourFor maps a callers-context extension to its behaviour.
func behaviourFor(exten string) (string, bool) {
	if knownBehaviours[exten] {
		return exten, false
	}
	if len(exten) == 7 && strings.HasPrefix(exten, "555000") {
		d := exten[6] - '0'
		if d <= 9 {
			return numberedBehaviours[d], true
		}
	}
	return "talk", false
}

type farEnd struct {
	behaviour string
	numbered  bool
	exten     string
	context   string
}

var callerIDRe = regexp.MustCompile(`^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$`)

func parseCallerID(s string) party {
	if s == "" {
		return party{}
	}
	if m := callerIDRe.FindStringSubmatch(s); m != nil {
		return party{Name: strings.TrimSpace(m[1]), Number: m[2]}
	}
	return party{Number: s}
}

// origVar is one originate variable.
type origVar struct {
	name, value string
	report      bool
}

func originateVars(body map[string]any) []origVar {
	raw, ok := body["variables"].(map[string]any)
	if !ok {
		return nil
	}
	var out []origVar
	for _, k := range sortedKeys(raw) {
		switch v := raw[k].(type) {
		case string:
			out = append(out, origVar{name: k, value: v})
		case map[string]any:
			val, _ := v["value"].(string) //nolint:errcheck // a missing value is ""
			rep, _ := v["report_events"].(bool)
			out = append(out, origVar{name: k, value: val, report: rep})
		default:
			out = append(out, origVar{name: k, value: fmt.Sprint(v)})
		}
	}
	return out
}

func (e *Emulator) hOriginateWithID(q *ariReq) result {
	q.q.Set("channelId", q.p("channelId"))
	return e.hOriginate(q)
}

func (e *Emulator) localName(resource string, half int) string {
	return fmt.Sprintf("Local/%s-%08x;%d", resource, e.localSeq, half)
}

func (e *Emulator) checkIDs(q *ariReq) (result, bool) {
	for _, k := range []string{"channelId", "otherChannelId"} {
		if id := q.get(k); id != "" && e.channels[id] != nil {
			return fail(409, "Channel with given unique ID already exists"), false
		}
	}
	return result{}, true
}

// hOriginate is POST /channels (facts 1, 6-9).
func (e *Emulator) hOriginate(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	endpoint := q.get("endpoint")
	if endpoint == "" {
		return fail(400, "Endpoint must be specified")
	}
	appName, ext := q.get("app"), q.get("extension")
	if appName == "" && ext == "" {
		return fail(400, "Application or extension must be specified")
	}
	tech, resource, found := strings.Cut(endpoint, "/")
	if !found {
		return fail(400, "Invalid endpoint specified")
	}
	if res, ok := e.checkIDs(q); !ok {
		return res
	}
	timeout := 30 * time.Second
	if t := q.get("timeout"); t != "" {
		if n, err := strconv.Atoi(t); err == nil && n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	vars := originateVars(q.body)
	cid := parseCallerID(q.get("callerId"))
	switch strings.ToLower(tech) {
	case "local":
	case "pjsip", "sip", "iax2", "dahdi":
		// a phone or trunk: one channel whose far end behaves by the number.
		return e.originatePhone(q, tech, resource, appName, cid, vars, timeout)
	default:
		return result{status: 500, body: map[string]string{"error": "Allocation failed"}}
	}
	resource = strings.TrimSuffix(resource, "/n")
	exten, ctx, _ := strings.Cut(resource, "@")
	if ctx == "" {
		ctx = "default"
	}
	e.localSeq++
	if ctx == "from-external" {
		if appName != "" {
			ext = "talk"
		}
		beh, _ := behaviourFor(ext)
		ch1, ch2 := e.newInboundPair(q.get("channelId"), q.get("otherChannelId"), resource, exten, cid, beh, e.cfg.DialplanApp, []string{"inbound", exten}, nil, false)
		for _, v := range vars {
			ch1.vars[v.name] = v.value
		}
		ch2.patience = e.after(timeout, func() {
			if !ch2.gone && ch2.state != "Up" {
				e.farEndHangup(ch2, 19)
			}
		})
		return ok200(ch1.json())
	}
	if appName == "" {
		// both halves run dialplan only: not in Stasis.
		ch1 := e.newChannel(q.get("channelId"), e.localName(resource, 1), kindDialplan)
		ch1.caller, ch1.connected = cid, cid
		ch1.dp = dialplan{Context: ctx, Exten: exten, Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
		ch2 := e.newChannel(q.get("otherChannelId"), e.localName(resource, 2), kindDialplan)
		ch2.state = "Up"
		ch1.state = "Up"
		ch1.peer, ch2.peer = ch2, ch1
		ch2.dp = dialplan{Context: ctx, Exten: exten, Priority: 1}
		ch1.state, ch2.state = "Down", "Ring"
		resp := ch1.json()
		beh, _ := behaviourFor(ext)
		ch1.addTimer(e.after(time.Millisecond, func() {
			ch1.state, ch2.state = "Up", "Up"
			app, data := stepFor(beh)
			ch1.dp = dialplan{Context: q.get("context"), Exten: ext, Priority: 2, AppName: app, AppData: data}
			beh2, _ := behaviourFor(exten)
			app, data = stepFor(beh2)
			ch2.dp = dialplan{Context: ctx, Exten: beh2, Priority: 2, AppName: app, AppData: data}
		}))
		return ok200(resp)
	}
	beh, numbered := behaviourFor(exten)
	leg := e.newChannel(q.get("channelId"), e.localName(resource, 1), kindOriginated)
	leg.app, leg.subscribed = appName, true
	leg.caller, leg.connected = cid, cid
	leg.dp = dialplan{Context: ctx, Exten: exten, Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
	leg.behaviour = beh
	leg.dialstring = resource
	half := e.newChannel(q.get("otherChannelId"), e.localName(resource, 2), kindLocalHalf)
	half.app, half.subscribed = appName, true
	half.state = "Ring"
	half.dp = dialplan{Context: ctx, Exten: exten, Priority: 1}
	half.behaviour = beh
	leg.peer, half.peer = half, leg
	for _, v := range vars {
		switch v.name {
		case "CALLERID(name)":
			leg.caller.Name = v.value
		case "CALLERID(num)", "CALLERID(number)":
			leg.caller.Number = v.value
		default:
			leg.vars[v.name] = v.value
			if v.report {
				if leg.pendingReport == nil {
					leg.pendingReport = map[string]bool{}
				}
				leg.pendingReport[v.name] = true
			}
		}
	}
	resp := leg.json()
	args := splitArgs(q.get("appArgs"))
	appData := joinAppData(appName, q.get("appArgs"))
	fe := farEnd{behaviour: beh, numbered: numbered, exten: exten, context: ctx}
	leg.addTimer(e.after(time.Millisecond, func() {
		if leg.gone {
			return
		}
		for _, v := range vars {
			if !strings.Contains(v.name, "(") {
				half.vars[v.name] = v.value
				e.varset(half, v.name, v.value)
			}
		}
		half.caller = cid
		half.connected = leg.caller
		e.callerID(half)
		e.chanEvent(half, "ChannelConnectedLine", nil)
		e.dialEvent(appName, leg, "", leg.dialstring)
		if fe.numbered {
			e.dialplanEvent(half, ctx, exten, 1, "Goto", "callers,"+beh+",1")
		}
		e.runFarEnd(leg, half, fe, args, appData, timeout)
	}))
	return ok200(resp)
}

// runFarEnd plays the callers-context behaviour of an originated Local pair.
func (e *Emulator) runFarEnd(leg, half *channel, fe farEnd, args []string, appData string, timeout time.Duration) {
	beh := fe.behaviour
	failLeg := func(status string, halfState string, dpApp, dpData string, halfCause int) {
		e.dialplanEvent(half, "callers", beh, 1, dpApp, dpData)
		e.stateChange(half, halfState)
		e.dialEvent(leg.app, leg, status, leg.dialstring)
		e.hangupRequest(half, 0, false)
		e.destroyed(leg, 0)
		e.removeChannel(leg)
		e.hangupRequest(half, 16, true)
		half.dp.AppName, half.dp.AppData = "", ""
		e.destroyed(half, halfCause)
		e.removeChannel(half)
	}
	switch beh {
	case "busy":
		failLeg("BUSY", "Busy", "Busy", "5", 17)
		return
	case "congestion":
		failLeg("CONGESTION", "Busy", "Congestion", "5", 34)
		return
	case "reject":
		e.dialplanEvent(half, "callers", beh, 1, "Hangup", "21")
		e.hangupRequest(half, 16, true)
		e.hangupRequest(leg, 21, false)
		half.dp.AppName, half.dp.AppData = "", ""
		e.destroyed(half, 21)
		e.removeChannel(half)
		e.dialEvent(leg.app, leg, "NOANSWER", leg.dialstring)
		e.destroyed(leg, 21)
		e.removeChannel(leg)
		return
	case "noanswer", "ringanswer":
		e.dialplanEvent(half, "callers", beh, 1, "Ringing", "")
		e.stateChange(leg, "Ringing")
		wait := "120"
		if beh == "ringanswer" {
			wait = "3"
		}
		e.dialplanEvent(half, "callers", beh, 2, "Wait", wait)
		e.dialEvent(leg.app, leg, "RINGING", leg.dialstring)
		leg.addTimer(e.after(timeout, func() {
			if leg.gone || leg.state == "Up" {
				return
			}
			e.hangupRequest(half, 19, false)
			e.destroyed(leg, 19)
			e.removeChannel(leg)
			e.hangupRequest(half, 16, true)
			half.dp.AppName, half.dp.AppData = "", ""
			e.destroyed(half, 19)
			e.removeChannel(half)
		}))
		if beh == "ringanswer" {
			leg.addTimer(e.after(3*time.Second, func() {
				if leg.gone {
					return
				}
				e.dialplanEvent(half, "callers", beh, 3, "Goto", "talk,1")
				leg.behaviour, half.behaviour = "talk", "talk"
				e.answerFarEnd(leg, half, "talk", args, appData)
			}))
		}
		return
	}
	e.answerFarEnd(leg, half, beh, args, appData)
}

// answerFarEnd: the far end answers and the leg enters Stasis (fact 6).
func (e *Emulator) answerFarEnd(leg, half *channel, beh string, args []string, appData string) {
	e.dialplanEvent(half, "callers", beh, 1, "Answer", "")
	if leg.pendingReport != nil {
		leg.report, leg.pendingReport = leg.pendingReport, nil
	}
	e.stateChange(half, "Up")
	e.stateChange(leg, "Up")
	leg.answered = true
	e.dialEvent(leg.app, leg, "ANSWER", leg.dialstring)
	leg.dp = dialplan{Context: leg.dp.Context, Exten: leg.dp.Exten, Priority: 1, AppName: "Stasis", AppData: appData}
	e.varset(leg, "STASISSTATUS", "")
	if !e.appActive(leg.app) {
		e.farEndHangup(leg, 16)
		return
	}
	e.stasisStart(leg, args)
	e.refreshMedia()
	step := func(prio int, app, data string) {
		half.step = app
		up := leg.calleridUp
		if up {
			leg.calleridUp = false
			half.caller = leg.connected
		}
		e.dialplanEvent(half, "callers", beh, prio, app, data)
		if up {
			e.callerID(half)
		}
	}
	leg.addTimer(e.after(500*time.Millisecond, func() {
		if leg.gone {
			return
		}
		switch beh {
		case "talk":
			step(2, "Playback", "demo-congrats")
		case "machine":
			step(2, "Playback", "vm-intro")
		case "silence", "agent":
			step(2, "Wait", "300")
		case "moh":
			step(2, "MusicOnHold", "default")
		case "milliwatt":
			step(2, "Milliwatt", "")
		case "echo":
			step(2, "Echo", "")
		case "dtmf":
			step(2, "Wait", "1")
			leg.addTimer(e.after(time.Second, func() {
				step(3, "SendDTMF", "123#,250")
				e.scheduleDTMF(leg, "123#", 200*time.Millisecond)
			}))
		case "hangup5":
			step(2, "Playback", "hello-world")
			leg.addTimer(e.after(1403*time.Millisecond, func() {
				e.varset(half, "PLAYBACKSTATUS", "SUCCESS")
				step(3, "Wait", "3")
				leg.addTimer(e.after(3*time.Second, func() {
					step(4, "Hangup", "")
					e.farEndHangup(leg, 16)
				}))
			}))
		default:
			step(2, "Wait", "300")
		}
	}))
}

// stepFor is the dialplan application a behaviour settles in after Answer.
func stepFor(beh string) (string, string) {
	switch beh {
	case "talk", "ringanswer":
		return "Playback", "demo-congrats"
	case "machine":
		return "Playback", "vm-intro"
	case "hangup5":
		return "Playback", "hello-world"
	case "dtmf":
		return "Wait", "1"
	case "moh":
		return "MusicOnHold", "default"
	case "milliwatt":
		return "Milliwatt", ""
	case "echo":
		return "Echo", ""
	}
	return "Wait", "300"
}

// scheduleDTMF sends ChannelDtmfReceived for each digit, the first after first,
// then every 350 ms (fact 17).
func (e *Emulator) scheduleDTMF(ch *channel, digits string, first time.Duration) {
	for i, d := range digits {
		digit := string(d)
		ch.addTimer(e.after(first+time.Duration(i)*350*time.Millisecond, func() {
			if !ch.gone {
				e.chanEvent(ch, "ChannelDtmfReceived", map[string]any{"digit": digit, "duration_ms": 100})
			}
		}))
	}
}

// farEndHangup: the other side of the call hangs up ch (a Stasis channel).
func (e *Emulator) farEndHangup(ch *channel, cause int) {
	if ch.gone {
		return
	}
	if half := ch.peer; half != nil && half.kind == kindLocalHalf && !half.gone {
		e.hangupRequest(half, 16, true)
		e.hangupRequest(ch, cause, false)
		half.dp.AppName, half.dp.AppData = "", ""
		e.destroyed(half, cause)
		e.removeChannel(half)
		ch.peer = nil
		if !ch.inStasis {
			e.destroyed(ch, cause)
			e.removeChannel(ch)
			return
		}
		e.leaveStasis(ch, cause)
		return
	}
	e.hangupRequest(ch, cause, false)
	e.leaveStasis(ch, cause)
}

// newInboundPair builds a simulated inbound caller: ;1 is the far end, ;2 enters
// Stasis(app, args...) in state Ring (fact 1).
// vars are set on the ;2 half before it enters Stasis (as dialplan Set() would), so
// that they show in its StasisStart's channelvars when Config.ChannelVars names them.
func (e *Emulator) newInboundPair(id1, id2, resource, exten string, cid party, beh, appName string, args []string, vars map[string]string, now bool) (*channel, *channel) {
	ch1 := e.newChannel(id1, e.localName(resource, 1), kindFarEnd)
	ch1.caller, ch1.connected = cid, cid
	ch1.dp = dialplan{Context: "from-external", Exten: exten, Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
	ch1.behaviour = beh
	ch2 := e.newChannel(id2, e.localName(resource, 2), kindInbound)
	ch2.caller, ch2.connected = cid, cid
	ch2.state = "Ring"
	ch2.app = appName
	ch2.dp = dialplan{Context: "from-external", Exten: exten, Priority: 2, AppName: "Stasis", AppData: appName + "," + strings.Join(args, ",")}
	ch2.behaviour = beh
	for k, v := range vars {
		ch2.vars[k] = v
	}
	ch1.peer, ch2.peer = ch2, ch1
	enter := func() {
		if ch2.gone {
			return
		}
		if !e.appActive(appName) {
			// "Stasis app not active": the dialplan goes on and hangs up (fact 41).
			e.removeChannel(ch1)
			e.removeChannel(ch2)
			return
		}
		e.stasisStart(ch2, args)
	}
	if now {
		enter()
	} else {
		// after the originate's HTTP response, as recorded (fact 1)
		ch2.addTimer(e.after(time.Millisecond, enter))
	}
	return ch1, ch2
}

// startCallerBehaviour runs an inbound caller's behaviour once the app answered.
func (e *Emulator) startCallerBehaviour(ch *channel) {
	switch ch.behaviour {
	case "hangup5":
		ch.addTimer(e.after(4400*time.Millisecond, func() { e.farEndHangup(ch, 16) }))
	case "dtmf":
		e.scheduleDTMF(ch, "123#", 1200*time.Millisecond)
	case "busy":
		ch.addTimer(e.after(10*time.Millisecond, func() { e.farEndHangup(ch, 17) }))
	case "reject":
		ch.addTimer(e.after(10*time.Millisecond, func() { e.farEndHangup(ch, 21) }))
	}
	if ch.dtmfScript != "" {
		e.scheduleDTMF(ch, ch.dtmfScript, 1200*time.Millisecond)
	}
}

// hCreate is POST /channels/create (fact 10).
func (e *Emulator) hCreate(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	endpoint, appName := q.get("endpoint"), q.get("app")
	if endpoint == "" {
		return fail(400, "Endpoint must be specified")
	}
	if appName == "" {
		return fail(400, "Application must be specified")
	}
	tech, resource, found := strings.Cut(endpoint, "/")
	if !found {
		return fail(400, "Invalid endpoint specified")
	}
	if res, ok := e.checkIDs(q); !ok {
		return res
	}
	switch strings.ToLower(tech) {
	case "local":
	case "pjsip", "sip", "iax2", "dahdi":
		resource = strings.SplitN(resource, "@", 2)[0] + "@callers"
	default:
		return result{status: 500, body: map[string]string{"error": "Allocation failed"}}
	}
	resource = strings.TrimSuffix(resource, "/n")
	exten, ctx, _ := strings.Cut(resource, "@")
	beh, _ := behaviourFor(exten)
	e.localSeq++
	leg := e.newChannel(q.get("channelId"), e.localName(resource, 1), kindOriginated)
	leg.app, leg.subscribed = appName, true
	leg.caller = parseCallerID(q.get("callerId"))
	leg.dp = dialplan{Context: ctx, Exten: exten, Priority: 1}
	leg.behaviour = beh
	leg.dialstring = resource
	leg.created2 = true
	leg.viaCreate = true
	resp := leg.json()
	args := splitArgs(q.get("appArgs"))
	leg.addTimer(e.after(time.Millisecond, func() {
		e.dialplanEvent(leg, ctx, exten, 1, "Stasis", joinAppData(appName, q.get("appArgs")))
		e.varset(leg, "STASISSTATUS", "")
		if !e.appActive(appName) {
			e.destroyed(leg, 16)
			e.removeChannel(leg)
			return
		}
		e.stasisStart(leg, args)
	}))
	return ok200(resp)
}

// hDial is POST /channels/{id}/dial for a created channel.
func (e *Emulator) hDial(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, res, ok := e.stasisChannel(q.p("channelId"), 409)
	if !ok {
		return res
	}
	if !ch.created2 {
		return fail(409, "Channel is not in a dialable state")
	}
	ch.created2 = false
	timeout := 30 * time.Second
	if t := q.get("timeout"); t != "" {
		if n, err := strconv.Atoi(t); err == nil && n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	ch.addTimer(e.after(time.Millisecond, func() {
		e.dialEvent(ch.app, ch, "", ch.dialstring)
		answer := func() {
			e.stateChange(ch, "Up")
			ch.answered = true
			e.dialEvent(ch.app, ch, "ANSWER", "")
			e.refreshMedia()
		}
		switch ch.behaviour {
		case "busy":
			e.dialEvent(ch.app, ch, "BUSY", "")
		case "congestion":
			e.dialEvent(ch.app, ch, "CONGESTION", "")
		case "reject":
			e.dialEvent(ch.app, ch, "NOANSWER", "")
		case "noanswer", "ringanswer":
			e.stateChange(ch, "Ringing")
			e.dialEvent(ch.app, ch, "RINGING", "")
			if ch.behaviour == "ringanswer" && timeout > 3*time.Second {
				ch.addTimer(e.after(3*time.Second, func() {
					ch.behaviour = "talk"
					answer()
				}))
			} else {
				ch.addTimer(e.after(timeout, func() { e.dialEvent(ch.app, ch, "NOANSWER", "") }))
			}
		default:
			answer()
		}
	}))
	return noContent()
}

var techNames = map[string]string{"pjsip": "PJSIP", "sip": "SIP", "iax2": "IAX2", "dahdi": "DAHDI"}

// originatePhone originates a SIP/PJSIP/IAX2/DAHDI endpoint: one channel (no Local
// ;2 half) whose far end behaves by the dialled number (555000X digit rule,
// otherwise talk).
func (e *Emulator) originatePhone(q *ariReq, tech, resource, appName string, cid party, vars []origVar, timeout time.Duration) result {
	number, _, _ := strings.Cut(resource, "@")
	device := strings.SplitN(resource, "/", 2)[0]
	if at := strings.Index(device, "@"); at >= 0 {
		device = device[at+1:]
	}
	e.localSeq++
	leg := e.newChannel(q.get("channelId"), fmt.Sprintf("%s/%s-%08x", techNames[strings.ToLower(tech)], device, e.localSeq), kindOriginated)
	leg.caller, leg.connected = cid, cid
	leg.dp = dialplan{Context: "default", Exten: "s", Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
	leg.dialstring = resource
	beh, _ := behaviourFor(number)
	leg.behaviour = beh
	for _, v := range vars {
		switch v.name {
		case "CALLERID(name)":
			leg.caller.Name = v.value
		case "CALLERID(num)", "CALLERID(number)":
			leg.caller.Number = v.value
		default:
			leg.vars[v.name] = v.value
			if v.report {
				if leg.report == nil {
					leg.report = map[string]bool{}
				}
				leg.report[v.name] = true
			}
		}
	}
	if appName == "" {
		leg.kind = kindDialplan
		leg.state = "Up"
		return ok200(leg.json())
	}
	leg.app, leg.subscribed = appName, true
	resp := leg.json()
	args := splitArgs(q.get("appArgs"))
	appData := joinAppData(appName, q.get("appArgs"))
	fail := func(status string, cause int) {
		e.dialEvent(appName, leg, status, leg.dialstring)
		if cause == 21 {
			e.hangupRequest(leg, cause, false)
		}
		e.destroyed(leg, cause)
		e.removeChannel(leg)
	}
	answer := func() {
		e.stateChange(leg, "Up")
		leg.answered = true
		e.dialEvent(appName, leg, "ANSWER", leg.dialstring)
		leg.dp = dialplan{Context: "default", Exten: "s", Priority: 1, AppName: "Stasis", AppData: appData}
		e.varset(leg, "STASISSTATUS", "")
		if !e.appActive(appName) {
			e.farEndHangup(leg, 16)
			return
		}
		e.stasisStart(leg, args)
		e.refreshMedia()
		switch beh {
		case "hangup5":
			leg.addTimer(e.after(4400*time.Millisecond, func() { e.farEndHangup(leg, 16) }))
		case "dtmf":
			e.scheduleDTMF(leg, "123#", 1200*time.Millisecond)
		}
	}
	leg.addTimer(e.after(time.Millisecond, func() {
		e.dialEvent(appName, leg, "", leg.dialstring)
		switch beh {
		case "busy":
			fail("BUSY", 17)
		case "congestion":
			fail("CONGESTION", 34)
		case "reject":
			fail("NOANSWER", 21)
		case "noanswer", "ringanswer":
			e.stateChange(leg, "Ringing")
			e.dialEvent(appName, leg, "RINGING", leg.dialstring)
			leg.addTimer(e.after(timeout, func() {
				if leg.state != "Up" {
					fail("NOANSWER", 19)
				}
			}))
			if beh == "ringanswer" {
				leg.addTimer(e.after(3*time.Second, func() {
					if leg.state != "Up" {
						leg.behaviour = "talk"
						answer()
					}
				}))
			}
		default:
			answer()
		}
	}))
	return ok200(resp)
}
