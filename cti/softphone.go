package cti

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/ctid/ctid/softphone"
)

// ErrNoAudioPath means the agent has no browser softphone connected.
var ErrNoAudioPath = errors.New("cti: agent has no softphone connection")

// AgentMedia adapts the softphone gateway to the orchestrator: each logged-in
// agent's browser keeps one softphone.Session, registered here by the desktop layer
// when it negotiates (rtc.offer).
type AgentMedia struct {
	mu       sync.Mutex
	sessions map[string]*softphone.Session
}

// NewAgentMedia returns an empty registry.
func NewAgentMedia() *AgentMedia {
	return &AgentMedia{sessions: map[string]*softphone.Session{}}
}

// SetSession registers (or, with nil, removes) an agent's softphone session and
// returns the previous one.
func (m *AgentMedia) SetSession(agent string, s *softphone.Session) *softphone.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.sessions[agent]
	if s == nil {
		delete(m.sessions, agent)
	} else {
		m.sessions[agent] = s
	}
	return old
}

func (m *AgentMedia) session(agent string) (*softphone.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[agent]
	if s == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoAudioPath, agent)
	}
	return s, nil
}

// AttachCall allocates the call's RTP port on the agent's session and makes it the
// one the browser hears.
func (m *AgentMedia) AttachCall(ctx context.Context, agent, callID string) (string, error) {
	s, err := m.session(agent)
	if err != nil {
		return "", err
	}
	leg, err := s.AttachCall(ctx, callID)
	if err != nil {
		return "", err
	}
	if err := s.Activate(callID); err != nil {
		return "", err
	}
	return leg.LocalAddr.String(), nil
}

// latchLeg tells the media gateway where Asterisk sends a leg's RTP from, read
// from the ExternalMedia channel's UNICASTRTP_LOCAL_ADDRESS and _PORT: Asterisk puts
// them in the externalMedia response's channelvars (the recorded traces show it) and
// in events' channelvars when ari.conf lists them. Taking them from the response
// means the gateway knows the address before the first packet, whatever ari.conf
// says (a gateway with every leg on one socket needs it). Idempotent.
func (a *callActor) latchLeg(agent, key string, vars map[string]string) {
	host, port := vars["UNICASTRTP_LOCAL_ADDRESS"], vars["UNICASTRTP_LOCAL_PORT"]
	if host == "" || port == "" || a.o.media == nil {
		return
	}
	if err := a.o.media.SetRemote(agent, key, net.JoinHostPort(host, port)); err != nil {
		a.log.Warn().Err(err).Str("leg", key).Msg("softphone remote address")
	}
}

// SetRemote latches Asterisk's RTP address for the call's leg.
func (m *AgentMedia) SetRemote(agent, callID, addr string) error {
	s, err := m.session(agent)
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("softphone remote %q: %w", addr, err)
	}
	return s.SetRemote(callID, ap)
}

// DetachCall releases the call's port.
func (m *AgentMedia) DetachCall(ctx context.Context, agent, callID string) error {
	s, err := m.session(agent)
	if err != nil {
		return err
	}
	_, err = s.DetachCall(ctx, callID)
	return err
}
