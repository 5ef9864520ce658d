package cti

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony"
)

// Recording policies of a queue.
const (
	RecordNever  = "never"
	RecordAlways = "always"
)

// QueueRecording is a queue's call recording policy: "never" (default) or "always"
// (the call's bridge is recorded from the moment an agent is connected until the
// call ends). The recording's name is stored on the interaction.
type QueueRecording struct {
	Queue  string
	Policy string
	Format string // Asterisk recording format; default wav
}

func validateRecordings(rs []QueueRecording) error {
	seen := map[string]bool{}
	for i, r := range rs {
		if r.Queue == "" || seen[r.Queue] {
			return fmt.Errorf("%w: queues[%d].recording: queue %q: one policy per queue", ErrInvalidConfig, i, r.Queue)
		}
		seen[r.Queue] = true
		switch r.Policy {
		case RecordNever, RecordAlways, RecordOnDemand:
		default:
			return fmt.Errorf("%w: queues[%d].recording: %q: must be never, always or on_demand", ErrInvalidConfig, i, r.Policy)
		}
		switch r.Format {
		case "", "wav", "wav16", "gsm", "ulaw", "alaw", "sln":
		default:
			return fmt.Errorf("%w: queues[%d].recording_format: %q: must be wav, wav16, gsm, ulaw, alaw or sln", ErrInvalidConfig, i, r.Format)
		}
	}
	return nil
}

func (c Config) recordingOf(queue string) (QueueRecording, bool) {
	for _, r := range c.Recordings {
		if r.Queue == queue && r.Policy == RecordAlways {
			if r.Format == "" {
				r.Format = "wav"
			}
			return r, true
		}
	}
	return QueueRecording{}, false
}

// bridgeRecorder is what recording needs of the ARI adapter (*telephony.Client).
type bridgeRecorder interface {
	Record(ctx context.Context, t telephony.PlayTarget, p telephony.RecordParams) (*ari.LiveRecordingData, error)
}

// recordingName is the stored recording of an interaction.
func recordingName(interactionID string) string { return "ctid-" + interactionID }

// startRecording records the call's bridge when its queue's policy says so. A
// recording already running (an agent connected again after a transfer) is kept. A
// failure is logged and the call goes on unrecorded.
func (a *callActor) startRecording(ctx context.Context) {
	pol, ok := a.o.cfg.recordingOf(a.in.queue)
	if !ok || a.bridge == "" {
		return
	}
	rec, ok := a.o.ari.(bridgeRecorder)
	if !ok {
		a.log.Error().Msg("queue policy says record, but the ARI adapter cannot record")
		return
	}
	octx, cancel := a.opCtx(ctx)
	defer cancel()
	name := recordingName(a.id)
	_, err := rec.Record(octx, telephony.PlayTarget{BridgeID: a.bridge}, telephony.RecordParams{Name: name, Format: pol.Format})
	switch {
	case errors.Is(err, telephony.ErrConflict):
		a.rec = recActive
		return // already recording this call
	case err != nil:
		a.log.Error().Err(err).Str("recording", name).Msg("call recording did not start; the call goes on unrecorded")
		return
	}
	a.rec = recActive
	a.log.Info().Str("recording", name).Msg("call recording started")
	a.o.record(func(r Records) error {
		return r.CloseInteraction(store.InteractionClose{ID: a.id, RecordingName: name})
	})
}

// recordingFiles is what streaming recordings needs of the ARI adapter.
type recordingFiles interface {
	StoredRecordingFile(ctx context.Context, name string) (io.ReadCloser, string, error)
}

// auditor is the store's audit log (optional).
type auditor interface {
	Audit(store.AuditEntry) error
}

// RegisterRecordingREST adds GET /api/v1/recordings/{id} (docs/openapi.yaml, x-owner: cti).
func (o *Orchestrator) RegisterRecordingREST(api *desktop.Server) error {
	return api.HandleREST(http.MethodGet, "/api/v1/recordings/{id}", desktop.RoleSupervisor, o.restRecording)
}

// restRecording streams an interaction's recording from Asterisk. Supervisors hear
// the calls of their teams' queues, admins all; every listen goes to the audit log.
func (o *Orchestrator) restRecording(w http.ResponseWriter, r *http.Request) {
	p, ok := desktop.PrincipalFrom(r.Context())
	if !ok || o.records == nil {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeNotFound, "no interaction store"))
		return
	}
	id := r.PathValue("id")
	ctx, cancel := restCtx(r)
	ix, err := o.records.Interaction(ctx, id)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		desktop.WriteError(w, desktop.Errorf(desktop.CodeNotFound, "no such interaction"))
		return
	case err != nil:
		o.log.Error().Err(err).Str("interaction_id", id).Msg("recording: reading the interaction")
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInternal, "store unavailable"))
		return
	case p.Role < desktop.RoleAdmin && !slices.Contains(p.Teams, ix.Queue):
		desktop.WriteError(w, desktop.Errorf(desktop.CodeForbidden, "queue %s is not in your teams", ix.Queue))
		return
	case ix.RecordingName == "":
		desktop.WriteError(w, desktop.Errorf(desktop.CodeNotFound, "this interaction was not recorded"))
		return
	}
	files, ok := o.ari.(recordingFiles)
	if !ok {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeNotFound, "recordings cannot be fetched from this telephony adapter"))
		return
	}
	sctx, scancel := context.WithTimeout(r.Context(), 30*time.Minute)
	defer scancel()
	body, ctype, err := files.StoredRecordingFile(sctx, ix.RecordingName)
	switch {
	case errors.Is(err, telephony.ErrNotFound):
		desktop.WriteError(w, desktop.Errorf(desktop.CodeNotFound, "recording %s is not stored (the call may still be in progress)", ix.RecordingName))
		return
	case err != nil:
		o.log.Error().Err(err).Str("recording", ix.RecordingName).Msg("recording: fetching from Asterisk")
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInternal, "Asterisk did not deliver the recording"))
		return
	}
	defer func() {
		if err := body.Close(); err != nil {
			o.log.Debug().Err(err).Msg("recording: closing the ARI body")
		}
	}()
	if a, ok := o.records.(auditor); ok {
		if err := a.Audit(store.AuditEntry{Actor: p.User, Action: "recording.listen", Target: id, Detail: ix.RecordingName}); err != nil {
			o.log.Error().Err(err).Msg("recording: audit entry not queued")
		}
	}
	if ctype == "" || strings.ContainsAny(ctype, "\r\n") {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '_'
		}
		return r
	}, ix.RecordingName)+`"`)
	if _, err := io.Copy(w, body); err != nil {
		o.log.Warn().Err(err).Str("recording", ix.RecordingName).Msg("recording: streaming stopped (client gone?)")
	}
}
