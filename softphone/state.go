package softphone

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// State is the state of an agent's peer connection as ctid reports it.
type State int

// Session states.
const (
	StateNew          State = iota // created, not negotiated or not yet checking
	StateConnecting                // ICE/DTLS in progress
	StateConnected                 // media can flow
	StateDisconnected              // connectivity lost, ICE may recover (or the browser restarts ICE)
	StateFailed                    // ICE failed: the browser must restart ICE or reconnect
	StateClosed                    // terminal
)

func (s State) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateFailed:
		return "failed"
	case StateClosed:
		return "closed"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// input is the closed set of events the session state machine accepts.
type input int

const (
	inputNew input = iota
	inputConnecting
	inputConnected
	inputDisconnected
	inputFailed
	inputClosed
)

func (i input) String() string {
	switch i {
	case inputNew:
		return "pc-new"
	case inputConnecting:
		return "pc-connecting"
	case inputConnected:
		return "pc-connected"
	case inputDisconnected:
		return "pc-disconnected"
	case inputFailed:
		return "pc-failed"
	case inputClosed:
		return "closed"
	default:
		return fmt.Sprintf("input(%d)", int(i))
	}
}

// inputFromPeerConnectionState maps pion's aggregate state onto an input.
func inputFromPeerConnectionState(s webrtc.PeerConnectionState) (input, bool) {
	switch s {
	case webrtc.PeerConnectionStateNew:
		return inputNew, true
	case webrtc.PeerConnectionStateConnecting:
		return inputConnecting, true
	case webrtc.PeerConnectionStateConnected:
		return inputConnected, true
	case webrtc.PeerConnectionStateDisconnected:
		return inputDisconnected, true
	case webrtc.PeerConnectionStateFailed:
		return inputFailed, true
	case webrtc.PeerConnectionStateClosed:
		return inputClosed, true
	default:
		return 0, false
	}
}

// apply is the one transition function. It returns the next state; a same-state
// input is a no-op, an input the current state does not allow is an error.
func apply(cur State, in input) (State, error) {
	bad := func() (State, error) {
		return cur, fmt.Errorf("%w: %s on %s", ErrInvalidTransition, in, cur)
	}
	if in == inputClosed {
		if cur == StateClosed {
			return cur, nil
		}
		return StateClosed, nil
	}
	switch cur {
	case StateNew:
		switch in {
		case inputNew:
			return cur, nil
		case inputConnecting:
			return StateConnecting, nil
		case inputConnected:
			return StateConnected, nil
		case inputFailed:
			return StateFailed, nil
		default:
			return bad()
		}
	case StateConnecting, StateDisconnected, StateFailed:
		switch in {
		case inputNew:
			return StateNew, nil
		case inputConnecting:
			return StateConnecting, nil
		case inputConnected:
			return StateConnected, nil
		case inputDisconnected:
			return StateDisconnected, nil
		case inputFailed:
			return StateFailed, nil
		default:
			return bad()
		}
	case StateConnected:
		switch in {
		case inputConnected:
			return cur, nil
		case inputConnecting:
			return StateConnecting, nil
		case inputDisconnected:
			return StateDisconnected, nil
		case inputFailed:
			return StateFailed, nil
		default:
			return bad()
		}
	case StateClosed:
		return bad()
	default:
		return bad()
	}
}
