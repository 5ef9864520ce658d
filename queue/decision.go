package queue

import "time"

// DecisionKind says what the orchestrator must do.
type DecisionKind uint8

// Decision kinds.
const (
	// DecOfferCall: ring Agent's desktop with Call (the screen-pop). The agent is Reserved.
	DecOfferCall DecisionKind = iota + 1
	// DecWithdrawOffer: stop ringing Agent for Call (another agent won, the caller left,
	// the offer timed out, or the agent paused). Reason says which.
	DecWithdrawOffer
	// DecAnnounce: play Position / EWT to Call (EWT < 0: unknown).
	DecAnnounce
	// DecOverflow: Call leaves Queue for Target (Reason: max-wait, full, empty). With
	// TargetQueue the engine has already moved the call into that queue.
	DecOverflow
	// DecClosedAction: Call arrived while Queue is closed; apply Target.
	DecClosedAction
	// DecOfferCallback: ask the caller (DTMF 1) whether they want a keep-your-place callback.
	DecOfferCallback
	// DecOriginateCallback: originate to Number on behalf of Call and connect Agent
	// (the agent is Reserved; report OfferAccepted when connected, CallbackFailed if not).
	DecOriginateCallback
	// DecAgentState: Agent changed state (State, Reason) — for desktops and wallboards.
	DecAgentState
	// DecWrapUpStarted: Agent entered wrap-up for Call, ending at Deadline (zero: manual).
	DecWrapUpStarted
	// DecCallbackDropped: a callback for Call failed too often and was dropped.
	DecCallbackDropped
)

func (k DecisionKind) String() string {
	switch k {
	case DecOfferCall:
		return "offer_call"
	case DecWithdrawOffer:
		return "withdraw_offer"
	case DecAnnounce:
		return "announce"
	case DecOverflow:
		return "overflow"
	case DecClosedAction:
		return "closed_action"
	case DecOfferCallback:
		return "offer_callback"
	case DecOriginateCallback:
		return "originate_callback"
	case DecAgentState:
		return "agent_state"
	case DecWrapUpStarted:
		return "wrapup_started"
	case DecCallbackDropped:
		return "callback_dropped"
	}
	return "unknown"
}

// Decision is one thing the orchestrator must do. It is a flat value (no interface
// boxing) so the hot path does not allocate; Kind says which fields are meaningful,
// and the As* accessors return the typed view.
type Decision struct {
	Kind     DecisionKind
	Call     CallID
	Agent    AgentID
	Queue    QueueID
	Position int           // Announce
	EWT      time.Duration // Announce (-1: unknown)
	Target   Target        // Overflow, ClosedAction
	Number   string        // OriginateCallback
	Reason   string        // WithdrawOffer, Overflow, AgentState
	State    AgentState    // AgentState
	Deadline time.Time     // OfferCall (offer timeout), WrapUpStarted
}

// OfferCall is the typed view of DecOfferCall.
type OfferCall struct {
	Call     CallID
	Agent    AgentID
	Queue    QueueID
	Deadline time.Time
}

// WithdrawOffer is the typed view of DecWithdrawOffer.
type WithdrawOffer struct {
	Call   CallID
	Agent  AgentID
	Reason string
}

// Announce is the typed view of DecAnnounce.
type Announce struct {
	Call     CallID
	Position int
	EWT      time.Duration
}

// Overflow is the typed view of DecOverflow.
type Overflow struct {
	Call   CallID
	From   QueueID
	Target Target
	Reason string
}

// OriginateCallback is the typed view of DecOriginateCallback.
type OriginateCallback struct {
	Call   CallID
	Number string
	Agent  AgentID
	Queue  QueueID
}

// AsOfferCall returns the typed view when d is an offer.
func (d Decision) AsOfferCall() (OfferCall, bool) {
	return OfferCall{Call: d.Call, Agent: d.Agent, Queue: d.Queue, Deadline: d.Deadline}, d.Kind == DecOfferCall
}

// AsWithdrawOffer returns the typed view when d is a withdraw.
func (d Decision) AsWithdrawOffer() (WithdrawOffer, bool) {
	return WithdrawOffer{Call: d.Call, Agent: d.Agent, Reason: d.Reason}, d.Kind == DecWithdrawOffer
}

// AsAnnounce returns the typed view when d is an announcement.
func (d Decision) AsAnnounce() (Announce, bool) {
	return Announce{Call: d.Call, Position: d.Position, EWT: d.EWT}, d.Kind == DecAnnounce
}

// AsOverflow returns the typed view when d is an overflow.
func (d Decision) AsOverflow() (Overflow, bool) {
	return Overflow{Call: d.Call, From: d.Queue, Target: d.Target, Reason: d.Reason}, d.Kind == DecOverflow
}

// AsOriginateCallback returns the typed view when d is a callback origination.
func (d Decision) AsOriginateCallback() (OriginateCallback, bool) {
	return OriginateCallback{Call: d.Call, Number: d.Number, Agent: d.Agent, Queue: d.Queue}, d.Kind == DecOriginateCallback
}
