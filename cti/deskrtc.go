package cti

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/softphone"
)

// ReasonNoAudio is the not-ready reason of an agent whose console lost its audio
// path (ICE failed) while ready: no call is offered there until they are Ready again.
const ReasonNoAudio = "no_audio"

// rtcConfig answers rtc.config: what the browser needs before it builds its peer
// connection — the STUN/TURN servers of softphone.ice servers (agents outside the
// LAN) in RTCIceServer form, and whether browser audio is enabled at all.
func (d *Desk) rtcConfig() desktop.Result {
	servers := []map[string]any{}
	if d.gw == nil {
		return desktop.Result{"enabled": false, "ice_servers": servers}
	}
	for _, s := range d.gw.ICEServers() {
		e := map[string]any{"urls": s.URLs}
		if s.Username != "" {
			e["username"], e["credential"] = s.Username, s.Credential
		}
		servers = append(servers, e)
	}
	return desktop.Result{"enabled": true, "ice_servers": servers}
}

// audioPath refuses Ready to a browser-softphone agent whose console has no audio
// path to ctid — no peer connection negotiated, or ICE failed (a firewall, a NAT
// without TURN): a call offered there could be accepted but never heard. A
// connection still being set up (or briefly disconnected) passes; once ICE fails
// the console says so and the agent retries. Agents on desk phones (PJSIP devices)
// and a ctid without browser audio are not concerned. When one of the agent's
// queues has offer_without_audio, Ready is allowed anyway and the engine is told the
// audio is down: only those queues offer to the agent until it comes back.
func (d *Desk) audioPath(ctx context.Context, agent string) error {
	if d.gw == nil || d.o.cfg.deviceOf(agent) != DeviceWebRTC {
		return nil
	}
	pathErr := d.audioPathErr(agent)
	lenient := false
	err := d.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		ok, err := e.OffersWithoutAudio(queue.AgentID(agent))
		if err != nil {
			return nil, err
		}
		lenient = ok
		if pathErr != nil && !ok {
			return nil, nil
		}
		return e.AgentAudio(now, queue.AgentID(agent), pathErr == nil)
	})
	if err != nil && !errors.Is(err, queue.ErrUnknownAgent) {
		return err
	}
	if pathErr != nil && !lenient {
		return pathErr
	}
	return nil
}

func (d *Desk) audioPathErr(agent string) error {
	s, err := d.media.session(agent)
	if err != nil {
		return fmt.Errorf("%w: the console's audio is not connected yet", err)
	}
	if st := s.State(); st == softphone.StateFailed || st == softphone.StateClosed {
		return fmt.Errorf("%w: %s: the console's audio connection %s (ICE): calls could not be heard", ErrNoAudioPath, agent, st)
	}
	return nil
}

// audioLost marks the agent's audio down in the engine (queues without
// offer_without_audio skip them from now on, also after a call in progress ends)
// and pauses a ready (or ringing) agent whose current softphone session's ICE
// failed, unless one of their queues has offer_without_audio: a call offered there
// could be accepted but never heard. The ringing offer goes to the next agent. An
// agent on a call is left alone (the browser restarts ICE; the call's own audio
// shows the agent what is wrong). Runs on the session's event goroutine; sessions
// replaced by a newer console are ignored.
func (d *Desk) audioLost(agent string, s *softphone.Session) {
	if cur, err := d.media.session(agent); err != nil || cur != s {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.o.cfg.OpTimeout)
	defer cancel()
	paused := false
	err := d.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		id := queue.AgentID(agent)
		lenient, err := e.OffersWithoutAudio(id)
		if err != nil {
			return nil, err
		}
		ds, err := e.AgentAudio(now, id, false)
		if err != nil {
			return nil, err
		}
		ds = slices.Clone(ds) // the engine reuses its decision buffer on the next call
		if lenient {
			return ds, nil
		}
		for _, a := range e.Snapshot(now).Agents {
			if a.ID == id && (a.State == queue.Ready || a.State == queue.Reserved) {
				paused = true
				more, err := e.AgentNotReady(now, a.ID, ReasonNoAudio)
				return append(ds, more...), err
			}
		}
		return ds, nil
	})
	if err != nil {
		if !errors.Is(err, queue.ErrUnknownAgent) { // a supervisor
			d.log.Error().Err(err).Str("agent", agent).Msg("pausing an agent without an audio path")
		}
		return
	}
	if paused {
		d.log.Warn().Str("agent", agent).Msg("console audio failed (ICE): agent set not ready (no_audio)")
	}
}

// audioBack tells the engine the agent's current softphone session is connected:
// every queue may offer to them again.
func (d *Desk) audioBack(agent string, s *softphone.Session) {
	if cur, err := d.media.session(agent); err != nil || cur != s {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.o.cfg.OpTimeout)
	defer cancel()
	err := d.o.engine(ctx, func(e *queue.Engine, now time.Time) ([]queue.Decision, error) {
		return e.AgentAudio(now, queue.AgentID(agent), true)
	})
	if err != nil && !errors.Is(err, queue.ErrUnknownAgent) {
		d.log.Error().Err(err).Str("agent", agent).Msg("marking an agent's audio back")
	}
}
