package desktop

// RefusalAuditor is implemented by a Handler that wants to hear of the commands the
// server refuses before handing them over (the sender's role is below the
// command's minimum), e.g. to audit an agent trying a supervisor command.
type RefusalAuditor interface {
	CommandRefused(p Principal, cmd Command, reason *Error)
}

// RouteRefusalAuditor is implemented by a Handler that wants to hear of the REST
// requests refused because the caller's role is below the route's minimum (an
// agent trying to start a campaign or create a user). Only requests that would
// change something (not GET) are reported. pattern is the route ("POST
// /api/v1/campaigns/{id}/start"); pathValue reads its wildcards.
type RouteRefusalAuditor interface {
	RouteRefused(p Principal, pattern string, pathValue func(string) string, reason *Error)
}
