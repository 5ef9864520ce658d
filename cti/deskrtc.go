package cti

import (
	"github.com/ctid/ctid/cti/desktop"
)

// rtcConfig answers rtc.config: what the browser needs before it builds its peer
// connection — the STUN/TURN servers of softphone.ice servers (agents outside the
// LAN) in RTCIceServer form, and whether browser audio is enabled at all.
func (d *Desk) rtcConfig() desktop.Result {
	servers := []map[string]any{}
	if d.gw == nil {
		return desktop.Result{"enabled": false, "ice_servers": servers}
	}
	for _, s := range d.gw.ICEServers() {
		e := map[string]any{"urls": s.URLs}
		if s.Username != "" {
			e["username"], e["credential"] = s.Username, s.Credential
		}
		servers = append(servers, e)
	}
	return desktop.Result{"enabled": true, "ice_servers": servers}
}
