package cti

import (
	"context"
	"errors"
	"fmt"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony"
)

// RecordOnDemand is the queue policy under which the agent starts and stops the
// recording (call.record.start|stop); under "always" and "on_demand" alike the agent
// may pause and resume it (card numbers: call.record.pause|resume).
const RecordOnDemand = "on_demand"

// recState is where a call's recording is.
type recState int

const (
	recNone    recState = iota // not recording
	recActive                  // recording the bridge
	recPaused                  // paused by the agent
	recStopped                 // stopped by the agent (a start appends to the same file)
)

func (s recState) String() string {
	switch s {
	case recNone:
		return "none"
	case recActive:
		return "recording"
	case recPaused:
		return "paused"
	case recStopped:
		return "stopped"
	}
	return fmt.Sprintf("recState(%d)", int(s))
}

// Recording operations an agent asks for.
const (
	recOpStart  = "start"
	recOpPause  = "pause"
	recOpResume = "resume"
	recOpStop   = "stop"
)

// recordMsg is call.record.<op> from the connected agent.
type recordMsg struct{ agent, op string }

func (m recordMsg) agentName() string { return m.agent }

// recordingControl is what on-demand recording needs of the ARI adapter.
type recordingControl interface {
	bridgeRecorder
	StopRecording(ctx context.Context, name string) error
	PauseRecording(ctx context.Context, name string, pause bool) error
}

// RecordControl runs call.record.start|pause|resume|stop for the agent on the call.
func (o *Orchestrator) RecordControl(ctx context.Context, agent, callID, op string) error {
	switch op {
	case recOpStart, recOpPause, recOpResume, recOpStop:
	default:
		return fmt.Errorf("%w: recording operation %q", ErrBadTarget, op)
	}
	return o.askCall(ctx, callID, recordMsg{agent: agent, op: op})
}

// RegisterRecordingCommands adds the desktop commands call.record.start, .pause,
// .resume and .stop (each with call_id).
func RegisterRecordingCommands(api *desktop.Server) error {
	for _, op := range []string{recOpStart, recOpPause, recOpResume, recOpStop} {
		err := api.RegisterCommand(desktop.CommandSpec{Name: "call.record." + op, MinRole: desktop.RoleAgent, Validate: func(c desktop.Command) error {
			if c.CallID() == "" {
				return desktop.Errorf(desktop.CodeInvalidArgument, "call.record.%s needs call_id", op)
			}
			return nil
		}})
		if err != nil {
			return err
		}
	}
	return nil
}

// recordingPolicy is the queue's policy, with the format defaulted.
func (c Config) recordingPolicy(queue string) QueueRecording {
	for _, r := range c.Recordings {
		if r.Queue == queue {
			if r.Format == "" {
				r.Format = "wav"
			}
			return r
		}
	}
	return QueueRecording{Queue: queue, Policy: RecordNever, Format: "wav"}
}

// recordControl carries out an agent's recording operation on the actor.
func (a *callActor) recordControl(ctx context.Context, op string) error {
	if a.state != stateTalking && a.state != stateHeld {
		return fmt.Errorf("%w: recording %s in state %s", ErrCallState, op, a.state)
	}
	pol := a.o.cfg.recordingPolicy(a.in.queue)
	rc, ok := a.o.ari.(recordingControl)
	if !ok {
		return fmt.Errorf("%w: the ARI adapter cannot record", ErrCallState)
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	name := recordingName(a.id)
	var err error
	next := a.rec
	switch op {
	case recOpStart:
		if pol.Policy != RecordOnDemand {
			return fmt.Errorf("%w: queue %s records %s, not on demand", ErrCallState, a.in.queue, pol.Policy)
		}
		if a.rec == recActive || a.rec == recPaused {
			return fmt.Errorf("%w: already recording (%s)", ErrCallState, a.rec)
		}
		// One file per call: a start after a stop appends to it.
		_, err = rc.Record(octx, telephony.PlayTarget{BridgeID: a.bridge}, telephony.RecordParams{Name: name, Format: pol.Format, IfExists: "append"})
		next = recActive
	case recOpPause, recOpResume:
		want := recActive
		if op == recOpResume {
			want = recPaused
		}
		if a.rec != want {
			return fmt.Errorf("%w: recording %s while %s", ErrCallState, op, a.rec)
		}
		err = rc.PauseRecording(octx, name, op == recOpPause)
		next = recPaused
		if op == recOpResume {
			next = recActive
		}
	case recOpStop:
		if pol.Policy != RecordOnDemand {
			return fmt.Errorf("%w: queue %s records %s; the agent may pause it, not stop it", ErrCallState, a.in.queue, pol.Policy)
		}
		if a.rec != recActive && a.rec != recPaused {
			return fmt.Errorf("%w: not recording (%s)", ErrCallState, a.rec)
		}
		err = rc.StopRecording(octx, name)
		next = recStopped
	}
	if err != nil {
		if errors.Is(err, telephony.ErrNotFound) || errors.Is(err, telephony.ErrConflict) {
			return fmt.Errorf("%w: recording %s: %v", ErrCallState, op, err)
		}
		return fmt.Errorf("recording %s: %w", op, err)
	}
	a.log.Info().Str("recording", name).Str("op", op).Str("from", a.rec.String()).Str("to", next.String()).Msg("call recording")
	if op == recOpStart && a.rec == recNone {
		a.o.record(func(r Records) error {
			return r.CloseInteraction(store.InteractionClose{ID: a.id, RecordingName: name})
		})
	}
	a.rec = next
	a.o.publish(a.agent, "call.recording", map[string]any{"call_id": a.id, "state": next.String(), "recording": name})
	return nil
}
