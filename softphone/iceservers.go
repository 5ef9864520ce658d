package softphone

import "slices"

// ICEServers returns the configured STUN/TURN servers (softphone.ice.servers), the
// ones the agents' browsers should use too when they are outside the LAN.
func (g *Gateway) ICEServers() []ICEServer {
	out := make([]ICEServer, 0, len(g.cfg.ICE.Servers))
	for _, s := range g.cfg.ICE.Servers {
		s.URLs = slices.Clone(s.URLs)
		out = append(out, s)
	}
	return out
}
