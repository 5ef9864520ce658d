package queue

// AgentState is an agent's single state across all queues and campaigns.
type AgentState uint8

// Agent states. One state per agent, shared by every queue the agent serves.
const (
	LoggedOut AgentState = iota // not signed in
	NotReady                    // signed in, paused with a reason
	Ready                       // idle, can be offered a call
	Reserved                    // a call is offered / ringing on the desktop (or a callback/dialer attempt is being set up)
	Talking                     // connected to a call
	OnHold                      // connected, caller on hold
	WrapUp                      // after-call work; ends by timer or wrapup.done
)

func (s AgentState) String() string {
	switch s {
	case LoggedOut:
		return "logged_out"
	case NotReady:
		return "not_ready"
	case Ready:
		return "ready"
	case Reserved:
		return "reserved"
	case Talking:
		return "talking"
	case OnHold:
		return "on_hold"
	case WrapUp:
		return "wrap_up"
	}
	return "unknown"
}

// ParseAgentState parses the String() form of a state.
func ParseAgentState(s string) (AgentState, bool) {
	for st := LoggedOut; st <= WrapUp; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// agentInput is the closed set of inputs of the agent state machine.
type agentInput uint8

const (
	inLogin agentInput = iota
	inReady
	inNotReady
	inLogout
	inOffer
	inAccept
	inReject
	inTimeout
	inWithdraw
	inHold
	inUnhold
	inEnd
	inWrapDone
)

func (i agentInput) String() string {
	switch i {
	case inLogin:
		return "login"
	case inReady:
		return "ready"
	case inNotReady:
		return "not_ready"
	case inLogout:
		return "logout"
	case inOffer:
		return "offer"
	case inAccept:
		return "accept"
	case inReject:
		return "reject"
	case inTimeout:
		return "offer_timeout"
	case inWithdraw:
		return "withdraw"
	case inHold:
		return "hold"
	case inUnhold:
		return "unhold"
	case inEnd:
		return "call_end"
	case inWrapDone:
		return "wrapup_done"
	}
	return "unknown"
}

// transition is the outcome of applying an input.
type transition struct {
	to AgentState
	// pending: the input is remembered and applied when the agent's call work ends
	// (pause or logout requested while busy).
	pending bool
}

// apply is the agent state machine: the one switch that decides every transition.
// ok is false for an input the state does not accept.
func apply(from AgentState, in agentInput) (transition, bool) {
	switch from {
	case LoggedOut:
		if in == inLogin {
			return transition{to: NotReady}, true
		}
	case NotReady:
		switch in {
		case inReady:
			return transition{to: Ready}, true
		case inNotReady:
			return transition{to: NotReady}, true
		case inLogout:
			return transition{to: LoggedOut}, true
		}
	case Ready:
		switch in {
		case inReady:
			return transition{to: Ready}, true
		case inNotReady:
			return transition{to: NotReady}, true
		case inLogout:
			return transition{to: LoggedOut}, true
		case inOffer:
			return transition{to: Reserved}, true
		}
	case Reserved:
		switch in {
		case inAccept:
			return transition{to: Talking}, true
		case inReject, inTimeout, inNotReady:
			return transition{to: NotReady}, true
		case inWithdraw:
			return transition{to: Ready}, true
		case inLogout:
			return transition{to: LoggedOut}, true
		}
	case Talking:
		switch in {
		case inHold:
			return transition{to: OnHold}, true
		case inEnd:
			return transition{to: WrapUp}, true
		case inNotReady, inLogout:
			return transition{to: Talking, pending: true}, true
		}
	case OnHold:
		switch in {
		case inUnhold:
			return transition{to: Talking}, true
		case inEnd:
			return transition{to: WrapUp}, true
		case inNotReady, inLogout:
			return transition{to: OnHold, pending: true}, true
		}
	case WrapUp:
		switch in {
		case inWrapDone, inReady:
			return transition{to: Ready}, true
		case inNotReady, inLogout:
			return transition{to: WrapUp, pending: true}, true
		}
	}
	return transition{}, false
}

// loggedIn reports whether the state counts as signed in.
func (s AgentState) loggedIn() bool { return s != LoggedOut }

// available reports whether the agent counts as serving (not paused, not logged out).
func (s AgentState) available() bool { return s != LoggedOut && s != NotReady }
