package softphone

import "errors"

// Sentinel errors. Every error the package returns wraps one of these (test with
// errors.Is).
var (
	// ErrInvalidConfig is wrapped by every Config.Validate error.
	ErrInvalidConfig = errors.New("softphone: invalid configuration")
	// ErrInvalidOffer means the browser's SDP could not be parsed or applied.
	ErrInvalidOffer = errors.New("softphone: invalid SDP offer")
	// ErrNoAudio means the offer has no usable audio section.
	ErrNoAudio = errors.New("softphone: offer has no audio")
	// ErrNoCommonCodec means the offer's audio section does not offer PCMU.
	ErrNoCommonCodec = errors.New("softphone: offer does not support PCMU")
	// ErrInvalidCandidate means a remote ICE candidate was rejected.
	ErrInvalidCandidate = errors.New("softphone: invalid ICE candidate")
	// ErrPortsExhausted means every UDP port of the media range is in use.
	ErrPortsExhausted = errors.New("softphone: media port range exhausted")
	// ErrCallAttached means the call already has a leg on this session.
	ErrCallAttached = errors.New("softphone: call already attached")
	// ErrNoSuchCall means the call has no leg on this session.
	ErrNoSuchCall = errors.New("softphone: call not attached")
	// ErrInvalidAddress means an address passed to SetRemote is not usable.
	ErrInvalidAddress = errors.New("softphone: invalid address")
	// ErrClosed is returned after Session.Close or Gateway.Close.
	ErrClosed = errors.New("softphone: closed")
	// ErrInvalidTransition is returned (and logged) when the session state machine
	// is asked for a transition it does not allow.
	ErrInvalidTransition = errors.New("softphone: invalid state transition")
	// ErrInternal wraps unexpected failures of the WebRTC stack or the OS.
	ErrInternal = errors.New("softphone: internal error")
)
