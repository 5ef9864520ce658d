package telephony

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// RequiredModules are the Asterisk modules ctid relies on, with what each is for.
var RequiredModules = map[string]string{
	"res_ari.so":              "the ARI HTTP interface",
	"res_ari_applications.so": "application event filters",
	"res_ari_asterisk.so":     "module and version checks",
	"res_ari_bridges.so":      "bridges for queueing and talking",
	"res_ari_channels.so":     "channel control",
	"res_ari_events.so":       "the events WebSocket",
	"res_ari_playbacks.so":    "announcements",
	"res_ari_recordings.so":   "call recording",
	"res_stasis.so":           "Stasis applications",
	"res_stasis_answer.so":    "answering calls",
	"res_stasis_playback.so":  "playing prompts",
	"res_stasis_recording.so": "recording bridges",
	"res_stasis_snoop.so":     "supervisor listen and whisper",
	"app_stasis.so":           "the Stasis() dialplan application",
	"chan_rtp.so":             "ExternalMedia (browser softphone audio)",
	"res_musiconhold.so":      "music on hold for queued and held callers",
	"bridge_simple.so":        "two-party bridges",
	"bridge_softmix.so":       "conferences, supervisor barge",
	"bridge_holding.so":       "holding bridges for waiting callers",
}

// CheckResult is one line of `ctid check`.
type CheckResult struct {
	Name   string
	OK     bool
	Detail string
}

// Check verifies the wiring without disturbing calls: ARI answers with these
// credentials, the modules ctid needs are loaded, and the Stasis application can
// register (an events WebSocket is opened and closed again). It returns every
// result; the caller decides on the exit code.
func (c *Client) Check(ctx context.Context) []CheckResult {
	var out []CheckResult
	add := func(name string, err error, okDetail string) bool {
		r := CheckResult{Name: name, OK: err == nil, Detail: okDetail}
		if err != nil {
			r.Detail = err.Error()
		}
		out = append(out, r)
		return err == nil
	}

	info, err := c.Info(ctx)
	detail := ""
	if err == nil {
		detail = fmt.Sprintf("Asterisk %s on %s", info.SystemInfo.Version, c.cfg.redactedURL())
	}
	if !add("ARI reachable and credentials accepted", err, detail) {
		return out
	}

	mods, err := c.Modules(ctx)
	if add("module list readable", err, fmt.Sprintf("%d modules", len(mods))) {
		loaded := map[string]bool{}
		for _, m := range mods {
			loaded[m.Name] = strings.EqualFold(m.Status, "Running")
		}
		names := make([]string, 0, len(RequiredModules))
		for n := range RequiredModules {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			var merr error
			if !loaded[n] {
				merr = fmt.Errorf("not loaded: needed for %s (load it in modules.conf)", RequiredModules[n])
			}
			add("module "+n, merr, "running")
		}
	}

	conn, err := c.dial(ctx)
	if add("Stasis application "+c.cfg.Application+" can register", err, "events WebSocket accepted") {
		_, aerr := c.GetApplication(ctx, c.cfg.Application)
		add("application "+c.cfg.Application+" visible in ARI", aerr, "GET /applications/"+c.cfg.Application+" answered")
		if cerr := conn.CloseNow(); cerr != nil {
			c.log.Debug().Err(cerr).Msg("closing check WebSocket")
		}
	}
	return out
}
