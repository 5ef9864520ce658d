package desktop

// RefusalAuditor is implemented by a Handler that wants to hear of the commands the
// server refuses before handing them over (the sender's role is below the
// command's minimum), e.g. to audit an agent trying a supervisor command.
type RefusalAuditor interface {
	CommandRefused(p Principal, cmd Command, reason *Error)
}
