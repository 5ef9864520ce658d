package ariemu

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

type bridge struct {
	id, name   string
	typ        string // mixing | holding
	created    time.Time
	createdARI string     // created as ARI writes it (formatted once)
	members    []*channel // join order; includes Announcer/Recorder helpers
	app        string     // app subscribed to the bridge
	quiet      bool       // app unsubscribed: no BridgeDestroyed (fact 21)
	moh        bool
	joins      int
	techName   string // technology as last announced (switches after the enter/leave event)
}

type bridgeJSON struct {
	ID         string   `json:"id"`
	Technology string   `json:"technology"`
	BridgeType string   `json:"bridge_type"`
	Class      string   `json:"bridge_class"`
	Creator    string   `json:"creator"`
	Name       string   `json:"name"`
	Channels   []string `json:"channels"`
	Created    string   `json:"creationtime"`
	VideoMode  string   `json:"video_mode"`
}

func (b *bridge) tech() string {
	if b.techName != "" {
		return b.techName
	}
	return b.wantTech()
}

func (b *bridge) wantTech() string {
	if b.typ == "holding" {
		return "holding_bridge"
	}
	if len(b.members) >= 3 {
		return "softmix"
	}
	return "simple_bridge"
}

func (b *bridge) json() bridgeJSON {
	ids := []string{}
	for _, m := range b.members {
		if m.kind != kindHelper {
			ids = append(ids, m.id)
		}
	}
	return bridgeJSON{ID: b.id, Technology: b.tech(), BridgeType: b.typ, Class: "stasis", Creator: "Stasis",
		Name: b.name, Channels: ids, Created: b.createdARI, VideoMode: "talker"}
}

// BridgeSnapshot is what Bridges() reports.
type BridgeSnapshot struct {
	ID         string   `json:"id"`
	Type       string   `json:"type"`
	Technology string   `json:"technology"`
	Channels   []string `json:"channels"`
}

func (e *Emulator) bridgeEvent(b *bridge, ch *channel, typ string) {
	if ch.app == "" || !ch.subscribed || !e.wants(ch.app, typ) {
		return
	}
	e.emit(ch.app, map[string]any{"type": typ, "bridge": b.json(), "channel": ch.json()})
}

// joinBridge adds ch to b with the events of facts 18 and 19.
func (e *Emulator) joinBridge(b *bridge, ch *channel) {
	if ch.bridge == b {
		return
	}
	if ch.bridge != nil {
		e.leaveBridge(ch, true)
	}
	b.joins++
	ch.joinSeq = b.joins
	b.members = append(b.members, ch)
	ch.bridge = b
	if ch.subscribed && ch.app != "" && b.app == "" {
		b.app = ch.app
	}
	if b.techName == "" {
		b.techName = b.wantTech()
	}
	e.bridgeEvent(b, ch, "ChannelEnteredBridge")
	b.techName = b.wantTech()
	if len(b.members) >= 2 {
		// the newcomer lists the others in join order; the others list newest first.
		var others []string
		for _, m := range b.members {
			if m != ch {
				others = append(others, m.name)
			}
		}
		e.setBridgePeer(ch, strings.Join(others, ","))
		for _, m := range b.members {
			if m == ch {
				continue
			}
			var list []string
			for i := len(b.members) - 1; i >= 0; i-- {
				if o := b.members[i]; o != m {
					list = append(list, o.name)
				}
			}
			e.setBridgePeer(m, strings.Join(list, ","))
		}
	}
	if len(b.members) == 2 {
		other := b.members[0]
		e.updateConnected(ch, other.caller)
		e.updateConnected(other, ch.caller)
	}
	e.refreshMedia()
}

func (e *Emulator) setBridgePeer(ch *channel, v string) {
	ch.vars["BRIDGEPEER"] = v
	if ch.kind != kindHelper {
		e.varset(ch, "BRIDGEPEER", v)
	}
}

func (e *Emulator) updateConnected(ch *channel, p party) {
	if ch.kind == kindHelper || ch.connected == p {
		return
	}
	ch.connected = p
	e.chanEvent(ch, "ChannelConnectedLine", nil)
	if ch.peer != nil && ch.peer.kind == kindLocalHalf {
		ch.calleridUp = true
	}
}

// leaveBridge takes ch out of its bridge. unsubscribe marks the bridge quiet
// (removeChannel or a move, fact 21).
func (e *Emulator) leaveBridge(ch *channel, unsubscribe bool) {
	b := ch.bridge
	if b == nil {
		return
	}
	if ch.vars["BRIDGEPEER"] != "" {
		e.setBridgePeer(ch, "")
	}
	for i, m := range b.members {
		if m == ch {
			b.members = append(b.members[:i], b.members[i+1:]...)
			break
		}
	}
	ch.bridge = nil
	b.quiet = unsubscribe
	e.bridgeEvent(b, ch, "ChannelLeftBridge")
	b.techName = b.wantTech()
	if len(b.members) >= 2 {
		for _, m := range b.members {
			var list []string
			for i := len(b.members) - 1; i >= 0; i-- {
				if o := b.members[i]; o != m {
					list = append(list, o.name)
				}
			}
			e.setBridgePeer(m, strings.Join(list, ","))
		}
	}
	e.refreshMedia()
}

func (e *Emulator) hBridgeList(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []bridgeJSON{}
	for _, b := range e.sortedBridges() {
		out = append(out, b.json())
	}
	return ok200(out)
}

func (e *Emulator) sortedBridges() []*bridge {
	out := make([]*bridge, 0, len(e.bridges))
	for _, b := range e.bridges {
		out = append(out, b)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].created.Before(out[j-1].created); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (e *Emulator) hBridgeCreate(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := q.p("bridgeId")
	if id == "" {
		id = q.get("bridgeId")
	}
	typ := "mixing"
	for _, t := range strings.Split(q.get("type"), ",") {
		switch strings.TrimSpace(t) {
		case "", "mixing", "dtmf_events", "proxy_media", "video_sfu", "video_single":
		case "holding":
			typ = "holding"
		default:
			return fail(500, "Unable to create bridge. Possible duplicate bridge id '(null)'")
		}
	}
	if id != "" {
		if b := e.bridges[id]; b != nil {
			if q.p("bridgeId") != "" {
				// POST /bridges/{id} on an existing bridge updates it.
				return ok200(b.json())
			}
			return fail(409, fmt.Sprintf("Bridge with id '%s' already exists", id))
		}
	} else {
		id = uuid.NewString()
	}
	now := time.Now()
	b := &bridge{id: id, name: q.get("name"), typ: typ, created: now, createdARI: ariTime(now)}
	b.techName = b.wantTech()
	e.bridges[id] = b
	return ok200(b.json())
}

func (e *Emulator) hBridgeGet(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.bridges[q.p("bridgeId")]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	return ok200(b.json())
}

func (e *Emulator) hBridgeDelete(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.bridges[q.p("bridgeId")]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	e.destroyBridge(b)
	return noContent()
}

func (e *Emulator) destroyBridge(b *bridge) {
	if len(b.members) > 0 {
		hadReal := false
		for _, m := range append([]*channel(nil), b.members...) {
			if m.kind == kindHelper {
				continue
			}
			hadReal = true
			e.leaveBridge(m, false)
		}
		if hadReal {
			b.quiet = true
		}
		for _, m := range append([]*channel(nil), b.members...) {
			m.bridge = nil
			e.removeChannel(m)
		}
		b.members = nil
	}
	for _, pb := range e.playbacks {
		if pb.bridge == b {
			e.endPlayback(pb, "", false)
		}
	}
	for _, lr := range e.live {
		if lr.bridge == b {
			e.finishRecording(lr)
		}
	}
	delete(e.bridges, b.id)
	if !b.quiet && e.wants(b.app, "BridgeDestroyed") {
		e.emit(b.app, map[string]any{"type": "BridgeDestroyed", "bridge": b.json()})
	}
	e.refreshMedia()
}

func (e *Emulator) bridgeChannels(q *ariReq) ([]*channel, result, bool) {
	raw := q.get("channel")
	if raw == "" {
		return nil, fail(400, "Missing parameter channel"), false
	}
	var out []*channel
	for _, id := range strings.Split(raw, ",") {
		ch := e.lookup(strings.TrimSpace(id))
		if ch == nil {
			return nil, fail(400, "Channel not found"), false
		}
		out = append(out, ch)
	}
	return out, result{}, true
}

func (e *Emulator) hBridgeAdd(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.bridges[q.p("bridgeId")]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	chans, res, ok := e.bridgeChannels(q)
	if !ok {
		return res
	}
	for _, ch := range chans {
		if !ch.inStasis {
			if ch.kind == kindExternal {
				// still being answered: Dial and Up now, StasisStart just after the 422.
				e.emDial(ch)
				ch.addTimer(e.after(2*time.Millisecond, func() { e.emEnterStasis(ch) }))
			}
			return fail(422, "Channel not in Stasis application")
		}
	}
	for _, ch := range chans {
		e.joinBridge(b, ch)
	}
	return noContent()
}

func (e *Emulator) hBridgeRemove(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.bridges[q.p("bridgeId")]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	chans, res, ok := e.bridgeChannels(q)
	if !ok {
		return res
	}
	for _, ch := range chans {
		if ch.bridge != b {
			return fail(422, "Channel not in this bridge")
		}
	}
	for _, ch := range chans {
		e.leaveBridge(ch, true)
	}
	return noContent()
}

func (e *Emulator) hBridgeMOH(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.bridges[q.p("bridgeId")]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	b.moh = q.r.Method == "POST"
	e.refreshMedia()
	return noContent()
}

// helperChannel adds an Announcer or Recorder channel to b.
func (e *Emulator) helperChannel(b *bridge, tech string) *channel {
	for _, m := range b.members {
		if m.kind == kindHelper && strings.HasPrefix(m.name, tech+"/") {
			return m
		}
	}
	e.localSeq++
	h := e.newChannel("", fmt.Sprintf("%s/ARI-%08x;2", tech, e.localSeq), kindHelper)
	h.state = "Up"
	h.dp = dialplan{Context: "default", Exten: "s", Priority: 1}
	e.joinBridge(b, h)
	return h
}
