package cti

import (
	"fmt"
	"strings"

	"github.com/ctid/ctid/cti/desktop"
)

// CommandRefused audits the supervisor and campaign commands the desktop server
// refuses because the sender's role is too low (an agent trying to listen in, set
// a colleague's state or log them out, or start a campaign), so that every such
// attempt is in the audit log, allowed or not (the desk audits the ones it handles,
// including those it refuses by team).
func (d *Desk) CommandRefused(p desktop.Principal, c desktop.Command, reason *desktop.Error) {
	switch {
	case c.Name == "supervisor.set_state":
		d.record(p, c.Name, c.String("agent"), fmt.Sprintf("state=%s reason=%q refused_by=role", c.String("state"), c.String("reason")), reason)
	case strings.HasPrefix(c.Name, "supervisor."):
		d.record(p, c.Name, c.String("agent"), "refused_by=role", reason)
	case strings.HasPrefix(c.Name, "campaign."):
		d.record(p, c.Name, "", "campaign="+c.String("campaign_id")+" refused_by=role", reason)
	}
}

// RouteRefused audits a REST request that would have changed something (a
// campaign started, a user created, a list imported) refused because the caller's
// role is too low.
func (d *Desk) RouteRefused(p desktop.Principal, pattern string, pathValue func(string) string, reason *desktop.Error) {
	method, path, _ := strings.Cut(pattern, " ")
	action, target := "rest "+pattern, ""
	if strings.HasPrefix(path, "/api/v1/campaigns/{id}/") {
		action = "campaign." + strings.TrimPrefix(path, "/api/v1/campaigns/{id}/")
		target = ""
		d.record(p, action, target, "campaign="+pathValue("id")+" via=rest refused_by=role", reason)
		return
	}
	detail := "via=rest refused_by=role method=" + method
	if id := pathValue("id"); id != "" {
		detail += " id=" + id
	}
	if a := pathValue("agent"); a != "" {
		target = a
	}
	d.record(p, action, target, detail, reason)
}

var (
	_ desktop.RefusalAuditor      = (*Desk)(nil)
	_ desktop.RouteRefusalAuditor = (*Desk)(nil)
)
