package ariemu

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// HTTPFault makes the ARI side (REST routes and the events WebSocket handshake)
// misbehave the way an overloaded or restarting Asterisk does, until cleared. The
// control API under /_emu is never affected.
type HTTPFault struct {
	// Status, when not 0, answers every ARI request with this status and a JSON
	// {"message"} body (e.g. 500, 503).
	Status int
	// Hang holds every ARI request without an answer until the fault is cleared,
	// the client gives up, or MaxHang passes (then Status, or 504).
	Hang bool
	// MaxHang bounds a hung request (default 60 s) so that nothing waits forever.
	MaxHang time.Duration
}

// faultState is the emulator's fault switch; it has its own lock so that a hung
// request never holds the model's mutex.
type faultState struct {
	mu      sync.Mutex
	http    *HTTPFault
	release chan struct{} // closed when the current fault is cleared
	served  int           // requests answered by a fault

	chaos      *EventChaos // event chaos (chaos.go), nil when off
	chaosGen   uint64      // bumped on every chaos change
	chaosCount chaosCounts
	// oversizeSent is the chaos generation whose oversize frame went out.
	oversizeSent uint64
}

// SetHTTPFault switches an HTTP fault on (replacing the current one).
func (e *Emulator) SetHTTPFault(f HTTPFault) {
	if f.MaxHang <= 0 {
		f.MaxHang = time.Minute
	}
	fs := &e.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.release != nil {
		close(fs.release)
	}
	fs.http = &f
	fs.release = make(chan struct{})
}

// ClearHTTPFault switches the HTTP fault off; hung requests are then served
// normally.
func (e *Emulator) ClearHTTPFault() {
	fs := &e.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.release != nil {
		close(fs.release)
	}
	fs.http, fs.release = nil, nil
}

// FaultedRequests counts the ARI requests a fault answered or held.
func (e *Emulator) FaultedRequests() int {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	return e.faults.served
}

// httpFault applies the current fault to an ARI request; it reports whether the
// request was answered (true) or must be served normally (false).
func (e *Emulator) httpFault(w http.ResponseWriter, r *http.Request) bool {
	fs := &e.faults
	fs.mu.Lock()
	f, release := fs.http, fs.release
	if f != nil {
		fs.served++
	}
	fs.mu.Unlock()
	if f == nil {
		return false
	}
	if f.Hang {
		t := time.NewTimer(f.MaxHang)
		defer t.Stop()
		select {
		case <-release:
			return false // cleared (or replaced): serve it as it is now
		case <-r.Context().Done():
			return true // the client gave up; nobody reads an answer
		case <-t.C:
			status := f.Status
			if status == 0 {
				status = http.StatusGatewayTimeout
			}
			writeResult(w, fail(status, "Emulated fault: request held too long"))
			return true
		}
	}
	if f.Status != 0 {
		writeResult(w, fail(f.Status, "Emulated fault"))
		return true
	}
	return false
}

// Restart emulates Asterisk restarting (or crashing and coming back): every events
// WebSocket is cut, and every channel, bridge, playback and live recording vanishes
// without an event, as they do when the process dies. The emulator then serves
// again at once, empty; hold it down for a while with SetHTTPFault. RTP counters
// (RTPStats) survive. It returns how many channels were lost.
func (e *Emulator) Restart() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0
	}
	for _, a := range e.apps {
		for s := range a.socks {
			s.shutdown()
			delete(a.socks, s)
		}
	}
	e.apps = map[string]*app{}
	for t := range e.timers {
		t.stop()
	}
	e.timers = map[*timer]struct{}{}
	lost := 0
	for _, ch := range e.channels {
		if !ch.gone && ch.kind != kindHelper {
			lost++
		}
		ch.gone = true
		e.stopMedia(ch)
	}
	e.channels = map[string]*channel{}
	e.media = mediaSet{}
	e.chanOrder = nil
	e.bridges = map[string]*bridge{}
	e.playbacks = map[string]*playback{}
	e.live = map[string]*liveRecording{}
	return lost
}

// serveFaultControl: POST /_emu/faults/http {"status":500,"hang":false,"max_hang_ms":0}
// switches the HTTP fault on; DELETE clears it.
func (e *Emulator) serveFaultControl(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		var body struct {
			Status    int  `json:"status"`
			Hang      bool `json:"hang"`
			MaxHangMS int  `json:"max_hang_ms"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			writeJSON(w, 400, map[string]string{"message": "invalid JSON: " + err.Error()})
			return
		}
		if body.Status != 0 && (body.Status < 400 || body.Status > 599) {
			writeJSON(w, 400, map[string]string{"message": "status must be 4xx or 5xx"})
			return
		}
		e.SetHTTPFault(HTTPFault{Status: body.Status, Hang: body.Hang, MaxHang: time.Duration(body.MaxHangMS) * time.Millisecond})
		w.WriteHeader(204)
	case http.MethodDelete:
		e.ClearHTTPFault()
		w.WriteHeader(204)
	default:
		writeJSON(w, 405, map[string]string{"message": "Invalid method"})
	}
}
