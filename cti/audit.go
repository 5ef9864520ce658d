package cti

import (
	"github.com/ctid/ctid/cti/desktop"
)

// CommandRefused audits listen / whisper / barge commands refused by the desktop
// server because the sender's role is too low (an agent trying to listen in), so
// that every such attempt is in the audit log, allowed or not (the desk audits the
// ones it handles).
func (d *Desk) CommandRefused(p desktop.Principal, c desktop.Command, reason *desktop.Error) {
	switch c.Name {
	case "supervisor.listen", "supervisor.whisper", "supervisor.barge":
		d.record(p, c.Name, c.String("agent"), "", reason)
	}
}

var _ desktop.RefusalAuditor = (*Desk)(nil)
