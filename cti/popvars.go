package cti

// The screen-pop carries the caller's Stasis app arguments (k=v after the queue)
// and channel variables. Asterisk puts the variables that ari.conf's `channelvars`
// lists on the channel object of every event (an unset one as ""), so they come
// with StasisStart and cost no ARI request on the offer's path:
//
//	args          the app arguments (map)
//	channel_vars  the channel variables (map; empty when ari.conf lists none)
//	variables     both in one map, as before channel variables were added; an app
//	              argument wins over a channel variable of the same name

// popChannelVars is a copy of the channel variables (never nil).
func (a *callActor) popChannelVars() map[string]string {
	out := make(map[string]string, len(a.chanVars))
	for k, v := range a.chanVars {
		out[k] = v
	}
	return out
}

// popVariables merges the channel variables and the app arguments.
func (a *callActor) popVariables() map[string]string {
	out := a.popChannelVars()
	for k, v := range a.in.vars {
		out[k] = v
	}
	return out
}
