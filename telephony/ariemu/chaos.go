package ariemu

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"

	"github.com/coder/websocket"
)

// EventChaos makes the events WebSocket misbehave the way a corrupting proxy, a
// broken build or a hostile peer would — something a real Asterisk does not do, but
// that ctid must survive: no panic, bounded memory, a clear error, no call left
// behind. Every choice is drawn from a generator seeded with Seed, per socket, so a
// run can be repeated.
type EventChaos struct {
	// Seed seeds the choices (0 is a valid seed).
	Seed uint64
	// Inject, when > 0, sends one junk frame (see ChaosFrame) after every Inject-th
	// event; the events themselves go out unchanged.
	Inject int
	// Corrupt, when > 0, replaces every Corrupt-th event by a damaged copy of it: the
	// event itself is lost to the client, as it would be behind a corrupting link.
	Corrupt int
	// Oversize, when true, makes one of the junk frames larger than any sane read
	// limit (17 MiB), once per setting (not once per socket).
	Oversize bool
}

// chaosCounts counts the frames chaos produced, for tests.
type chaosCounts struct {
	injected, corrupted, oversize int
}

// SetEventChaos switches event chaos on (replacing the current setting) for every
// events socket, open or opened later.
func (e *Emulator) SetEventChaos(c EventChaos) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	e.faults.chaos = &c
	e.faults.chaosGen++
}

// ClearEventChaos switches event chaos off.
func (e *Emulator) ClearEventChaos() {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	e.faults.chaos = nil
	e.faults.chaosGen++
}

// ChaosFrames reports how many junk frames were injected, how many events were
// replaced by damaged copies, and how many oversize frames were sent.
func (e *Emulator) ChaosFrames() (injected, corrupted, oversize int) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	c := e.faults.chaosCount
	return c.injected, c.corrupted, c.oversize
}

// currentChaos returns the chaos setting and its generation (bumped on every change).
func (fs *faultState) currentChaos() (*EventChaos, uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.chaos, fs.chaosGen
}

// takeOversize reports whether the oversize frame of chaos generation gen is still
// to be sent, and marks it sent.
func (fs *faultState) takeOversize(gen uint64) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.chaosGen != gen || fs.oversizeSent == gen {
		return false
	}
	fs.oversizeSent = gen
	return true
}

func (fs *faultState) countChaos(injected, corrupted, oversize int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.chaosCount.injected += injected
	fs.chaosCount.corrupted += corrupted
	fs.chaosCount.oversize += oversize
}

// chaosWriter is one socket's chaos state; only its writer goroutine uses it.
type chaosWriter struct {
	gen uint64
	rng *rand.Rand
	n   int // events written since the setting changed
}

// frame is one WebSocket message to write.
type frame struct {
	typ  websocket.MessageType
	data []byte
}

const (
	msgText   = websocket.MessageText
	msgBinary = websocket.MessageBinary
)

// apply turns one outgoing event into the frames to write under the current chaos
// setting c (nil: the event as it is).
func (w *chaosWriter) apply(fs *faultState, c *EventChaos, gen uint64, ev []byte) []frame {
	if c == nil {
		return []frame{{msgText, ev}}
	}
	if w.rng == nil || w.gen != gen {
		w.gen, w.n = gen, 0
		w.rng = rand.New(rand.NewPCG(c.Seed, gen))
	}
	w.n++
	out := make([]frame, 0, 2)
	corrupted, injected, oversize := 0, 0, 0
	if c.Corrupt > 0 && w.n%c.Corrupt == 0 {
		out = append(out, frame{msgText, damage(w.rng, ev)})
		corrupted++
	} else {
		out = append(out, frame{msgText, ev})
	}
	if c.Inject > 0 && w.n%c.Inject == 0 {
		if c.Oversize && fs.takeOversize(gen) {
			out = append(out, frame{msgText, oversizeFrame()})
			oversize++
		} else {
			typ, junk := ChaosFrame(w.rng, ev)
			out = append(out, frame{typ, junk})
		}
		injected++
	}
	fs.countChaos(injected, corrupted, oversize)
	return out
}

// oversizeFrame is a syntactically plausible event larger than 16 MiB.
func oversizeFrame() []byte {
	const size = 17 << 20
	b := make([]byte, 0, size+64)
	b = append(b, `{"type":"ChannelVarset","variable":"X","value":"`...)
	b = append(b, bytes.Repeat([]byte{'a'}, size)...)
	return append(b, `"}`...)
}

// ChaosFrame builds one junk frame from a real event ev: truncated JSON, a field of
// the wrong type, a known type with its object missing, an unknown type, not JSON
// at all, invalid UTF-8, deep nesting, JSON that is not an object, an empty frame,
// or the event sent as a binary message. Exported so that fuzz targets can seed
// their corpus with what chaos mode sends.
func ChaosFrame(rng *rand.Rand, ev []byte) (websocket.MessageType, []byte) {
	switch rng.IntN(10) {
	case 0:
		return msgText, truncate(rng, ev)
	case 1:
		return msgText, wrongType(rng, ev)
	case 2:
		return msgText, []byte(`{"type":"StasisStart","application":"ctid","timestamp":"2026-01-01T00:00:00.000+0000"}`)
	case 3:
		return msgText, []byte(`{"type":"NoSuchEvent` + strconv.Itoa(rng.IntN(1000)) + `","application":"ctid"}`)
	case 4:
		junk := make([]byte, 1+rng.IntN(256))
		for i := range junk {
			junk[i] = byte(rng.UintN(256))
		}
		return msgText, junk
	case 5:
		return msgText, append([]byte(`{"type":"ChannelVarset","variable":"`), 0xff, 0xfe, '"', '}')
	case 6:
		depth := 1000 + rng.IntN(20000)
		return msgText, append(bytes.Repeat([]byte{'['}, depth), bytes.Repeat([]byte{']'}, depth)...)
	case 7:
		alts := []string{`null`, `[]`, `42`, `"StasisStart"`, `{}`, `{"type":""}`, `{"type":null}`, `{"type":7}`}
		return msgText, []byte(alts[rng.IntN(len(alts))])
	case 8:
		return msgText, nil
	default:
		return msgBinary, ev
	}
}

// damage returns a damaged copy of ev: truncated or with a field of the wrong type.
func damage(rng *rand.Rand, ev []byte) []byte {
	if rng.IntN(2) == 0 {
		return truncate(rng, ev)
	}
	return wrongType(rng, ev)
}

func truncate(rng *rand.Rand, ev []byte) []byte {
	if len(ev) < 2 {
		return []byte{'{'}
	}
	return bytes.Clone(ev[:1+rng.IntN(len(ev)-1)])
}

// wrongType replaces the value of one of the event's top-level fields by a value of
// another JSON type (an object becomes a number, a string becomes an object, ...).
func wrongType(rng *rand.Rand, ev []byte) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(ev, &m); err != nil || len(m) == 0 {
		return []byte(`{"type":{"not":"a string"}}`)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "type" { // keep the type so that the client recognises the event
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return []byte(`{"type":["StasisStart"]}`)
	}
	slices.Sort(keys)
	k := keys[rng.IntN(len(keys))]
	switch v := bytes.TrimSpace(m[k]); {
	case len(v) > 0 && v[0] == '{':
		m[k] = json.RawMessage(`12345`)
	case len(v) > 0 && v[0] == '"':
		m[k] = json.RawMessage(`{"id":false}`)
	default:
		m[k] = json.RawMessage(`"not a ` + k + `"`)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return []byte(`{"type":{"not":"a string"}}`)
	}
	return b
}

// serveChaosControl: POST /_emu/faults/events {"seed":1,"inject":5,"corrupt":0,
// "oversize":false} switches event chaos on; DELETE clears it.
func (e *Emulator) serveChaosControl(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		var body struct {
			Seed     uint64 `json:"seed"`
			Inject   int    `json:"inject"`
			Corrupt  int    `json:"corrupt"`
			Oversize bool   `json:"oversize"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			writeJSON(w, 400, map[string]string{"message": "invalid JSON: " + err.Error()})
			return
		}
		if body.Inject < 0 || body.Corrupt < 0 {
			writeJSON(w, 400, map[string]string{"message": "inject and corrupt must be >= 0"})
			return
		}
		e.SetEventChaos(EventChaos{Seed: body.Seed, Inject: body.Inject, Corrupt: body.Corrupt, Oversize: body.Oversize})
		w.WriteHeader(204)
	case http.MethodDelete:
		e.ClearEventChaos()
		w.WriteHeader(204)
	default:
		writeJSON(w, 405, map[string]string{"message": "Invalid method"})
	}
}
