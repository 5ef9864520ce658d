package cti

import (
	"context"
	"strings"
	"sync"

	"github.com/ctid/ctid/softphone"
)

// peerBook remembers the DTLS fingerprint of the browser peer connection each
// softphone session was negotiated with. A console that is reloaded or reopened
// brings a new peer connection (a new fingerprint), which the session's pion peer
// connection cannot take over: it needs a new session. The zero value is ready.
type peerBook struct {
	mu  sync.Mutex
	fps map[*softphone.Session]string
}

// newPeer reports whether offer comes from a different browser peer connection
// than the one s serves (or s is closed), and records offer's fingerprint for s
// when s has none yet.
func (b *peerBook) newPeer(s *softphone.Session, offer string) bool {
	if s.State() == softphone.StateClosed {
		return true
	}
	fp := offerFingerprint(offer)
	if fp == "" {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	prev, ok := b.fps[s]
	if !ok {
		b.set(s, fp)
		return false
	}
	return prev != fp
}

func (b *peerBook) remember(s *softphone.Session, offer string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.set(s, offerFingerprint(offer))
}

func (b *peerBook) forget(s *softphone.Session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.fps, s)
}

func (b *peerBook) set(s *softphone.Session, fp string) {
	if b.fps == nil {
		b.fps = map[*softphone.Session]string{}
	}
	b.fps[s] = fp
}

// offerFingerprint is the SDP's first a=fingerprint value ("" when absent).
func offerFingerprint(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=fingerprint:"); ok {
			return strings.ToUpper(strings.TrimSpace(v))
		}
	}
	return ""
}

// handOver moves the calls still in progress from the agent's previous session to
// the new one, keeping their RTP ports (the ExternalMedia channels carry on), the
// active call last so that it stays the one the agent hears; then closes old.
func (d *Desk) handOver(ctx context.Context, agent string, old, s *softphone.Session) {
	legs := old.Legs() // the active one first
	for i := len(legs) - 1; i >= 0; i-- {
		if _, err := s.TakeCall(ctx, old, legs[i].CallID); err != nil {
			d.log.Warn().Err(err).Str("agent", agent).Str("call_id", legs[i].CallID).Msg("moving a call's audio to the new softphone session")
		}
	}
	d.peers.forget(old)
	if err := old.Close(); err != nil {
		d.log.Warn().Err(err).Str("agent", agent).Msg("closing the previous softphone session")
	}
}
