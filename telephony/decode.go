package telephony

import (
	"bytes"
	"encoding/json"

	"github.com/CyCoreSystems/ari/v5"
)

// The event decoder's fast path. ari.DecodeEvent parses every frame twice (once for
// its type, once into the event) and decodeEvent used to parse it a third time for
// the type it reports. Here the type is read by a scan of the frame's top level that
// allocates nothing, and the frame is decoded once, straight into the event type.
// Frames the scan is unsure of, and types not listed here, take the slow path
// (decodeEventSlow), which stays the reference: a test checks that both agree.

// newEventOf makes the empty event a type decodes into, for the types ctid
// subscribes to (the default event filter) that ari/v5 knows.
var newEventOf = map[string]func() ari.Event{
	"StasisStart":            func() ari.Event { return new(ari.StasisStart) },
	"StasisEnd":              func() ari.Event { return new(ari.StasisEnd) },
	"ChannelCreated":         func() ari.Event { return new(ari.ChannelCreated) },
	"ChannelDestroyed":       func() ari.Event { return new(ari.ChannelDestroyed) },
	"ChannelStateChange":     func() ari.Event { return new(ari.ChannelStateChange) },
	"ChannelHangupRequest":   func() ari.Event { return new(ari.ChannelHangupRequest) },
	"ChannelDtmfReceived":    func() ari.Event { return new(ari.ChannelDtmfReceived) },
	"ChannelVarset":          func() ari.Event { return new(ari.ChannelVarset) },
	"ChannelCallerId":        func() ari.Event { return new(ari.ChannelCallerID) },
	"ChannelConnectedLine":   func() ari.Event { return new(ari.ChannelConnectedLine) },
	"ChannelDialplan":        func() ari.Event { return new(ari.ChannelDialplan) },
	"ChannelEnteredBridge":   func() ari.Event { return new(ari.ChannelEnteredBridge) },
	"ChannelLeftBridge":      func() ari.Event { return new(ari.ChannelLeftBridge) },
	"ChannelHold":            func() ari.Event { return new(ari.ChannelHold) },
	"ChannelUnhold":          func() ari.Event { return new(ari.ChannelUnhold) },
	"ChannelTalkingStarted":  func() ari.Event { return new(ari.ChannelTalkingStarted) },
	"ChannelTalkingFinished": func() ari.Event { return new(ari.ChannelTalkingFinished) },
	"BridgeCreated":          func() ari.Event { return new(ari.BridgeCreated) },
	"BridgeDestroyed":        func() ari.Event { return new(ari.BridgeDestroyed) },
	"BridgeMerged":           func() ari.Event { return new(ari.BridgeMerged) },
	"BridgeBlindTransfer":    func() ari.Event { return new(ari.BridgeBlindTransfer) },
	"BridgeAttendedTransfer": func() ari.Event { return new(ari.BridgeAttendedTransfer) },
	"Dial":                   func() ari.Event { return new(ari.Dial) },
	"PlaybackStarted":        func() ari.Event { return new(ari.PlaybackStarted) },
	"PlaybackContinuing":     func() ari.Event { return new(ari.PlaybackContinuing) },
	"PlaybackFinished":       func() ari.Event { return new(ari.PlaybackFinished) },
	"RecordingStarted":       func() ari.Event { return new(ari.RecordingStarted) },
	"RecordingFinished":      func() ari.Event { return new(ari.RecordingFinished) },
	"RecordingFailed":        func() ari.Event { return new(ari.RecordingFailed) },
}

// decodeFast decodes a frame whose type is listed in newEventOf; ok is false when the
// slow path must decide (an unlisted type, a frame the scan is unsure of, any error).
func decodeFast(data []byte) (ev ari.Event, typ string, ok bool) {
	raw, ok := topLevelType(data)
	if !ok {
		return nil, "", false
	}
	mk, known := newEventOf[string(raw)] // looked up without allocating
	if !known {
		return nil, "", false
	}
	e := mk()
	if err := json.Unmarshal(data, e); err != nil {
		return nil, "", false
	}
	return e, e.GetType(), true
}

// topLevelType returns the value of the object's top-level "type" key as
// encoding/json would see it (keys match case-insensitively; the last one wins).
// It answers ok only when sure: a plain string value without escapes, found in a
// well-nested object. Values are skipped, not validated (json.Unmarshal does that).
func topLevelType(data []byte) (typ []byte, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) {
			return nil, false
		}
		if data[i] == '}' && typ == nil { // empty object, or a trailing comma
			return nil, false
		}
		if data[i] != '"' {
			return nil, false
		}
		key, next, plain := scanString(data, i)
		if next < 0 || !plain {
			return nil, false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		if i >= len(data) {
			return nil, false
		}
		if len(key) == 4 && bytes.EqualFold(key, []byte("type")) {
			if data[i] != '"' {
				return nil, false
			}
			v, next, plain := scanString(data, i)
			if next < 0 || !plain || len(v) == 0 {
				return nil, false
			}
			typ, i = v, next
		} else {
			next := skipValue(data, i)
			if next < 0 {
				return nil, false
			}
			i = next
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case ',':
			i++
			continue
		case '}':
			if skipSpace(data, i+1) != len(data) || typ == nil {
				return nil, false
			}
			return typ, true
		}
		return nil, false
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString reads the string starting at data[i] == '"'. It returns its contents,
// the index after the closing quote (-1 if unterminated) and whether it has no
// escapes (contents are then the string itself).
func scanString(data []byte, i int) (s []byte, next int, plain bool) {
	plain = true
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			plain = false
			j++ // the escaped byte
		case '"':
			return data[i+1 : j], j + 1, plain
		}
	}
	return nil, -1, false
}

// skipValue returns the index after the value starting at data[i], or -1.
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		_, next, _ := scanString(data, i)
		return next
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				_, next, _ := scanString(data, j)
				if next < 0 {
					return -1
				}
				j = next - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	// A literal: number, true, false, null.
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			if j == i {
				return -1
			}
			return j
		}
		j++
	}
	return -1
}
