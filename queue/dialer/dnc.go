package dialer

// IsDNC reports whether e164 is on the campaign's own do-not-call list or on the
// lists behind Config.IsDNC (the orchestrator's manual-dial check).
func (d *Dialer) IsDNC(e164 string) bool { return d.isDNC(e164) }
