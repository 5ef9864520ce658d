package ariemu

import (
	"time"
)

var startTime = time.Now()

func (e *Emulator) hAsteriskInfo(q *ariReq) result {
	st := ariTime(startTime)
	return ok200(map[string]any{
		"build": map[string]string{"os": "Linux", "kernel": "6.1.0-emu", "machine": "x86_64", "options": "OPTIONAL_API",
			"date": "2026-11-22 12:27:58 UTC", "user": "root"},
		"system": map[string]string{"version": "20.20.1", "entity_id": e.cfg.AsteriskID},
		"config": map[string]any{"name": "", "default_language": "en", "setid": map[string]string{"user": "", "group": ""}},
		"status": map[string]string{"startup_time": st, "last_reload_time": st},
	})
}

func (e *Emulator) hPing(q *ariReq) result {
	return ok200(map[string]string{"asterisk_id": e.cfg.AsteriskID, "ping": "pong", "timestamp": ariTime(time.Now())})
}

var modules = []struct{ name, desc string }{
	{"app_stasis", "Stasis dialplan application"},
	{"bridge_holding", "Holding bridge module"},
	{"bridge_simple", "Simple two channel bridging module"},
	{"bridge_softmix", "Multi-party software based channel mixing"},
	{"chan_rtp", "RTP Media Channel"},
	{"res_ari", "Asterisk RESTful Interface"},
	{"res_ari_applications", "RESTful API module - Stasis application resources"},
	{"res_ari_asterisk", "RESTful API module - Asterisk resources"},
	{"res_ari_bridges", "RESTful API module - Bridge resources"},
	{"res_ari_channels", "RESTful API module - Channel resources"},
	{"res_ari_events", "RESTful API module - WebSocket resource"},
	{"res_ari_model", "ARI Model validators"},
	{"res_ari_playbacks", "RESTful API module - Playback control resources"},
	{"res_ari_recordings", "RESTful API module - Recording resources"},
	{"res_ari_sounds", "RESTful API module - Sound resources"},
	{"res_musiconhold", "Music On Hold Resource"},
	{"res_rtp_asterisk", "Asterisk RTP Stack"},
	{"res_stasis", "Stasis application support"},
	{"res_stasis_answer", "Stasis application answer support"},
	{"res_stasis_playback", "Stasis application playback support"},
	{"res_stasis_recording", "Stasis application recording support"},
	{"res_stasis_snoop", "Stasis application snoop support"},
}

func (e *Emulator) hModules(q *ariReq) result {
	out := []map[string]any{}
	for _, m := range modules {
		out = append(out, map[string]any{"name": m.name + ".so", "description": m.desc, "use_count": 0,
			"status": "Running", "support_level": "core"})
	}
	return ok200(out)
}

func (e *Emulator) hGlobalVarGet(q *ariReq) result {
	if q.get("variable") == "" {
		return fail(400, "Variable name is required")
	}
	return fail(404, "Provided variable was not found")
}

func (e *Emulator) hGlobalVarSet(q *ariReq) result {
	if q.get("variable") == "" {
		return fail(400, "Variable name is required")
	}
	return noContent()
}

func (e *Emulator) hSounds(q *ariReq) result {
	out := []map[string]any{}
	for _, n := range sortedKeys(soundDurations) {
		out = append(out, map[string]any{"id": n, "text": n, "formats": []map[string]string{{"language": "en", "format": "gsm"}}})
	}
	return ok200(out)
}

func (e *Emulator) hEndpoints(q *ariReq) result { return ok200([]any{}) }
func (e *Emulator) hEmptyList(q *ariReq) result { return ok200([]any{}) }

// ---- applications (facts 39, 40, 42) ----

func (e *Emulator) hAppList(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []map[string]any{}
	for _, n := range sortedKeys(e.apps) {
		out = append(out, e.appJSON(e.apps[n]))
	}
	return ok200(out)
}

func (e *Emulator) hAppGet(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.apps[q.p("applicationName")]
	if a == nil {
		return fail(404, "Application not found")
	}
	return ok200(e.appJSON(a))
}

func typeNames(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := []string{}
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		if t, ok := m["type"].(string); ok {
			out = append(out, t)
		}
	}
	return out, true
}

func (e *Emulator) hAppFilter(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.apps[q.p("applicationName")]
	if a == nil {
		return fail(404, "Application not found")
	}
	if len(q.body) == 0 {
		a.allowed, a.disallowed = nil, nil
		return ok200(e.appJSON(a))
	}
	if v, ok := q.body["allowed"]; ok {
		if l, ok := typeNames(v); ok {
			a.allowed = l
		}
	}
	if v, ok := q.body["disallowed"]; ok {
		if l, ok := typeNames(v); ok {
			a.disallowed = l
		}
	}
	return ok200(e.appJSON(a))
}

func (e *Emulator) hAppSubscribe(q *ariReq) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.apps[q.p("applicationName")]
	if a == nil {
		return fail(404, "Application not found")
	}
	if q.get("eventSource") == "" {
		return fail(400, "Missing parameter eventSource")
	}
	return ok200(e.appJSON(a))
}
