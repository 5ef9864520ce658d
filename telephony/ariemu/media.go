package ariemu

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ---- playbacks (fact 14) ----

type playback struct {
	id        string
	media     []string
	idx       int
	target    string
	channel   *channel
	bridge    *bridge
	app       string
	state     string
	timer     *timer
	started   time.Time
	remaining time.Duration
}

type playbackJSON struct {
	ID           string `json:"id"`
	MediaURI     string `json:"media_uri"`
	NextMediaURI string `json:"next_media_uri,omitempty"`
	TargetURI    string `json:"target_uri"`
	Language     string `json:"language"`
	State        string `json:"state"`
}

func (pb *playback) json() playbackJSON {
	j := playbackJSON{ID: pb.id, MediaURI: pb.media[pb.idx], TargetURI: pb.target, Language: "en", State: pb.state}
	if pb.idx+1 < len(pb.media) {
		j.NextMediaURI = pb.media[pb.idx+1]
	}
	return j
}

// soundDurations are the lengths of the standard English prompts.
var soundDurations = map[string]time.Duration{
	"hello-world":        1400 * time.Millisecond,
	"demo-congrats":      20 * time.Second,
	"beep":               425 * time.Millisecond,
	"vm-intro":           3500 * time.Millisecond,
	"silence/1":          time.Second,
	"tt-monkeys":         9 * time.Second,
	"tt-weasels":         4 * time.Second,
	"vm-goodbye":         800 * time.Millisecond,
	"queue-thankyou":     2 * time.Second,
	"queue-youarenext":   1200 * time.Millisecond,
	"queue-thereare":     900 * time.Millisecond,
	"queue-callswaiting": 1500 * time.Millisecond,
	"queue-holdtime":     2 * time.Second,
	"queue-minutes":      700 * time.Millisecond,
	"queue-less-than":    900 * time.Millisecond,
	"pls-hold-while-try": 2 * time.Second,
}

// mediaKind classifies a media URI: ok with its duration, "failed" (unknown sound)
// or "vanish" (unknown scheme).
func (e *Emulator) mediaDuration(uri string) (time.Duration, string) {
	scheme, rest, found := strings.Cut(uri, ":")
	if !found {
		return 0, "vanish"
	}
	switch scheme {
	case "sound":
		if d, ok := soundDurations[rest]; ok {
			return d, "ok"
		}
		return 0, "failed"
	case "recording":
		if r := e.stored[rest]; r != nil {
			return r.duration, "ok"
		}
		return 0, "failed"
	case "number", "digits", "characters":
		return time.Duration(len(rest)) * 600 * time.Millisecond, "ok"
	case "tone":
		return time.Hour, "ok"
	}
	return 0, "vanish"
}

func (e *Emulator) hChannelPlay(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, res, ok := e.stasisChannel(q.p("channelId"), 409)
	if !ok {
		return res
	}
	return e.startPlayback(q, "channel:"+ch.id, ch, nil, ch.app)
}

func (e *Emulator) hBridgePlay(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.bridges[q.p("bridgeId")]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	return e.startPlayback(q, "bridge:"+b.id, nil, b, b.app)
}

func (e *Emulator) startPlayback(q *ariReq, target string, ch *channel, b *bridge, appName string) result {
	media := []string{}
	for _, m := range strings.Split(q.get("media"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			media = append(media, m)
		}
	}
	if len(media) == 0 {
		return fail(500, "Failed to queue media for playback")
	}
	id := q.p("playbackId")
	if id == "" {
		id = q.get("playbackId")
	}
	if id == "" {
		id = uuid.NewString()
	} else if e.playbacks[id] != nil {
		return fail(409, "Playback with given ID already exists")
	}
	pb := &playback{id: id, media: media, target: target, channel: ch, bridge: b, app: appName, state: "queued"}
	e.playbacks[id] = pb
	if b != nil {
		e.helperChannel(b, "Announcer")
	}
	if !e.appActive(appName) {
		e.playMedia(pb)
		if e.playbacks[pb.id] == pb {
			return created(pb.json())
		}
		return created(pb.json())
	}
	resp := pb.json()
	pb.timer = e.after(time.Millisecond, func() { e.playMedia(pb) })
	return created(resp)
}

func (e *Emulator) playbackEvent(pb *playback, typ string) {
	e.emit(pb.app, map[string]any{"type": typ, "playback": pb.json()})
}

// playMedia starts pb.media[pb.idx].
func (e *Emulator) playMedia(pb *playback) {
	if e.playbacks[pb.id] != pb {
		return
	}
	pb.state = "playing"
	e.playbackEvent(pb, "PlaybackStarted")
	d, kind := e.mediaDuration(pb.media[pb.idx])
	switch kind {
	case "failed":
		e.endPlayback(pb, "failed", true)
		return
	case "vanish":
		delete(e.playbacks, pb.id)
		e.refreshMedia()
		return
	}
	pb.started = time.Now()
	pb.remaining = d
	pb.timer = e.after(d, func() { e.mediaDone(pb) })
	e.refreshMedia()
}

func (e *Emulator) mediaDone(pb *playback) {
	if e.playbacks[pb.id] != pb {
		return
	}
	if pb.idx+1 < len(pb.media) {
		pb.state = "continuing"
		e.playbackEvent(pb, "PlaybackContinuing")
		pb.idx++
		e.playMedia(pb)
		return
	}
	e.endPlayback(pb, "done", true)
}

// endPlayback removes pb, with PlaybackFinished in state when notify.
func (e *Emulator) endPlayback(pb *playback, state string, notify bool) {
	if e.playbacks[pb.id] != pb {
		return
	}
	pb.timer.stop()
	delete(e.playbacks, pb.id)
	if notify {
		pb.state = state
		e.playbackEvent(pb, "PlaybackFinished")
	}
	e.refreshMedia()
}

func (e *Emulator) hPlaybackGet(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	pb := e.playbacks[q.p("playbackId")]
	if pb == nil {
		return fail(404, "Playback not found")
	}
	return ok200(pb.json())
}

func (e *Emulator) hPlaybackStop(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	pb := e.playbacks[q.p("playbackId")]
	if pb == nil {
		return fail(404, "Playback not found")
	}
	e.endPlayback(pb, "done", true)
	return noContent()
}

func (e *Emulator) hPlaybackControl(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	pb := e.playbacks[q.p("playbackId")]
	if pb == nil {
		return fail(404, "Playback not found")
	}
	switch q.get("operation") {
	case "pause":
		if pb.state == "playing" {
			pb.timer.stop()
			pb.remaining -= time.Since(pb.started)
			pb.state = "paused"
			e.refreshMedia()
		}
	case "unpause":
		if pb.state == "paused" {
			pb.state = "playing"
			pb.started = time.Now()
			e.playbackEvent(pb, "PlaybackStarted")
			pb.timer = e.after(max(pb.remaining, 0), func() { e.mediaDone(pb) })
			e.refreshMedia()
		}
	case "restart":
		pb.timer.stop()
		pb.idx = 0
		e.playMedia(pb)
	case "reverse", "forward":
	case "":
		return fail(400, "Missing parameter operation")
	default:
		return fail(400, "Invalid operation "+q.get("operation"))
	}
	return noContent()
}

// ---- recordings (facts 36-38) ----

type liveRecording struct {
	name, format string
	target       string
	channel      *channel
	bridge       *bridge
	recorder     *channel
	app          string
	state        string
	started      time.Time
	elapsed      time.Duration
	timer        *timer
}

type storedRecording struct {
	name, format string
	duration     time.Duration
}

func (lr *liveRecording) json(withDuration bool) map[string]any {
	m := map[string]any{"name": lr.name, "format": lr.format, "state": lr.state, "target_uri": lr.target}
	if withDuration {
		m["duration"] = int(math.Round(lr.length().Seconds()))
	}
	return m
}

func (lr *liveRecording) length() time.Duration {
	d := lr.elapsed
	if lr.state == "recording" {
		d += max(time.Since(lr.started), 0)
	}
	return d
}

func (e *Emulator) recordParams(q *ariReq) (string, string, result, bool) {
	name, format := q.get("name"), q.get("format")
	if name == "" {
		return "", "", fail(400, "Recording name is required"), false
	}
	if format == "" {
		return "", "", fail(400, "Format is required"), false
	}
	if format != "wav" && format != "gsm" && format != "ulaw" && format != "alaw" && format != "sln" && format != "wav16" {
		return "", "", fail(422, "Format not supported"), false
	}
	if e.live[name] != nil {
		return "", "", fail(409, "Recording already in progress"), false
	}
	if e.stored[name] != nil && q.get("ifExists") != "overwrite" && q.get("ifExists") != "append" {
		return "", "", fail(422, "Recording already exists"), false
	}
	return name, format, result{}, true
}

func (e *Emulator) hBridgeRecord(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.bridges[q.p("bridgeId")]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	name, format, res, ok := e.recordParams(q)
	if !ok {
		return res
	}
	lr := &liveRecording{name: name, format: format, target: "bridge:" + b.id, bridge: b, app: b.app, state: "queued"}
	e.live[name] = lr
	resp := lr.json(false)
	lr.recorder = e.helperChannel(b, "Recorder")
	e.startRecording(lr, q)
	return created(resp)
}

func (e *Emulator) hChannelRecord(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, res, ok := e.stasisChannel(q.p("channelId"), 409)
	if !ok {
		return res
	}
	name, format, res, ok := e.recordParams(q)
	if !ok {
		return res
	}
	lr := &liveRecording{name: name, format: format, target: "channel:" + ch.id, channel: ch, app: ch.app, state: "queued"}
	if ch.bridge != nil {
		resp := lr.json(false)
		lr.state = "failed"
		m := lr.json(false)
		m["cause"] = "Cannot record channel while in bridge"
		e.after(time.Millisecond, func() { e.emit(lr.app, map[string]any{"type": "RecordingFailed", "recording": m}) })
		return created(resp)
	}
	e.live[name] = lr
	e.startRecording(lr, q)
	return created(lr.json(false))
}

func (e *Emulator) startRecording(lr *liveRecording, q *ariReq) {
	lr.state = "recording"
	lr.started = time.Now()
	var beep time.Duration
	if q.get("beep") == "true" {
		// the beep plays first (~0.9 s) and is not part of the recording.
		beep = 890 * time.Millisecond
		lr.started = lr.started.Add(beep)
	}
	e.emit(lr.app, map[string]any{"type": "RecordingStarted", "recording": lr.json(false)})
	if s := q.get("maxDurationSeconds"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			lr.timer = e.after(beep+time.Duration(n)*time.Second, func() { e.finishRecording(lr) })
		}
	}
}

// finishRecording stops lr, stores it and sends RecordingFinished.
func (e *Emulator) finishRecording(lr *liveRecording) {
	if e.live[lr.name] != lr {
		return
	}
	lr.timer.stop()
	d := lr.length()
	lr.elapsed, lr.state = d, "done"
	delete(e.live, lr.name)
	e.stored[lr.name] = &storedRecording{name: lr.name, format: lr.format, duration: d.Round(time.Second)}
	e.emit(lr.app, map[string]any{"type": "RecordingFinished", "recording": lr.json(true)})
	if lr.recorder != nil && !lr.recorder.gone {
		if lr.recorder.bridge != nil {
			e.leaveBridge(lr.recorder, false)
		}
		e.removeChannel(lr.recorder)
	}
}

func (e *Emulator) liveRec(q *ariReq) (*liveRecording, result, bool) {
	lr := e.live[q.p("recordingName")]
	if lr == nil {
		return nil, fail(404, "Recording not found"), false
	}
	return lr, result{}, true
}

func (e *Emulator) hLiveGet(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	lr, res, ok := e.liveRec(q)
	if !ok {
		return res
	}
	return ok200(lr.json(false))
}

func (e *Emulator) hLiveStop(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	lr, res, ok := e.liveRec(q)
	if !ok {
		return res
	}
	e.finishRecording(lr)
	return noContent()
}

func (e *Emulator) hLiveCancel(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	lr, res, ok := e.liveRec(q)
	if !ok {
		return res
	}
	e.finishRecording(lr)
	delete(e.stored, lr.name)
	return noContent()
}

func (e *Emulator) hLivePause(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	lr, res, ok := e.liveRec(q)
	if !ok {
		return res
	}
	if q.r.Method == "POST" && lr.state == "recording" {
		lr.elapsed += max(time.Since(lr.started), 0)
		lr.state = "paused"
	} else if q.r.Method == "DELETE" && lr.state == "paused" {
		lr.started = time.Now()
		lr.state = "recording"
	}
	return noContent()
}

func (e *Emulator) hLiveMute(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, res, ok := e.liveRec(q); !ok {
		return res
	}
	return noContent()
}

func (e *Emulator) hStoredList(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []map[string]string{}
	for _, n := range sortedKeys(e.stored) {
		out = append(out, map[string]string{"name": n, "format": e.stored[n].format})
	}
	return ok200(out)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (e *Emulator) hStoredGet(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.stored[q.p("recordingName")]
	if r == nil {
		return fail(404, "Recording not found")
	}
	return ok200(map[string]string{"name": r.name, "format": r.format})
}

func (e *Emulator) hStoredDelete(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stored[q.p("recordingName")] == nil {
		return fail(404, "Recording not found")
	}
	delete(e.stored, q.p("recordingName"))
	return noContent()
}

func (e *Emulator) hStoredFile(q *ariReq) result {
	e.mu.Lock()
	r := e.stored[q.p("recordingName")]
	var d time.Duration
	if r != nil {
		d = r.duration
	}
	e.mu.Unlock()
	if r == nil {
		return fail(404, "Recording not found")
	}
	return result{status: 200, raw: wavFile(d), ctype: "audio/wav"}
}

// wavFile is a silent 8 kHz 16-bit mono WAV of length d (a 2 s file is 32044 bytes).
func wavFile(d time.Duration) []byte {
	n := int(d.Seconds()*8000) * 2
	b := make([]byte, 44+n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 8000)
	binary.LittleEndian.PutUint32(b[28:], 16000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	return b
}
