package cti

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
)

// RegisterREST adds the orchestrator's REST routes (documented in
// docs/openapi.yaml with x-owner: cti): live agents and queues for supervisors,
// interactions and contact history for agents on their own calls.
func (o *Orchestrator) RegisterREST(api *desktop.Server) error {
	routes := []struct {
		method, path string
		role         desktop.Role
		h            http.HandlerFunc
	}{
		{http.MethodGet, "/api/v1/agents", desktop.RoleSupervisor, o.restAgents},
		{http.MethodGet, "/api/v1/queues", desktop.RoleSupervisor, o.restQueues},
		{http.MethodGet, "/api/v1/wallboard", desktop.RoleSupervisor, o.restWallboard},
		{http.MethodGet, "/api/v1/interactions/{id}", desktop.RoleAgent, o.restInteraction},
		{http.MethodGet, "/api/v1/contacts/{number}/interactions", desktop.RoleAgent, o.restHistory},
	}
	for _, r := range routes {
		if err := api.HandleREST(r.method, r.path, r.role, r.h); err != nil {
			return err
		}
	}
	return nil
}

func restCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 5*time.Second)
}

func (o *Orchestrator) restAgents(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := restCtx(r)
	defer cancel()
	s, err := o.Snapshot(ctx)
	if err != nil {
		desktop.WriteError(w, desktop.Errorf("internal", "engine unavailable"))
		return
	}
	out := make([]map[string]any, 0, len(s.Agents))
	names := o.names.get()
	for _, a := range s.Agents {
		queues := make([]string, 0, len(a.Queues))
		for _, q := range a.Queues {
			queues = append(queues, string(q))
		}
		out = append(out, map[string]any{
			"agent": string(a.ID), "name": nameOf(names, string(a.ID)), "state": a.State.String(), "reason": a.Reason, "since": a.Since.UTC(),
			"call_id": publicCallID(string(a.Call)), "queues": queues, "answered": a.Answered,
			"talk_seconds": int(a.TalkTime.Seconds()), "occupancy": a.Occupancy,
		})
	}
	desktop.WriteJSON(w, http.StatusOK, map[string]any{"at": s.At.UTC(), "agents": out})
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func (o *Orchestrator) restQueues(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := restCtx(r)
	defer cancel()
	now := o.now()
	var out []map[string]any
	_, err := o.loop.Do(ctx, func(e *queue.Engine) ([]queue.Decision, error) {
		for _, id := range e.Queues() {
			st, err := e.QueueStats(now, id)
			if err != nil {
				return nil, err
			}
			byState := map[string]int{}
			for s, n := range st.AgentsByState {
				byState[queue.AgentState(s).String()] = n
			}
			sl := map[string]any{}
			for f, v := range st.ServiceLevel {
				if v >= 0 {
					sl[queue.SLFormula(f).String()] = v
				}
			}
			out = append(out, map[string]any{
				"queue": string(id), "open": st.Open, "waiting": st.Waiting, "callbacks": st.Callbacks,
				"longest_wait_seconds": seconds(st.LongestWait), "agents_by_state": byState,
				"offered": st.Entered, "answered": st.Counts.Answered, "abandoned": st.Counts.Abandoned,
				"consults": st.Consults, "consults_answered": st.ConsultsAnswered,
				"service_level": sl, "asa_seconds": seconds(st.ASA), "aht_seconds": seconds(st.AHT),
				"abandon_rate": st.AbandonRate, "occupancy": st.Occupancy, "ewt_seconds": seconds(st.EWT),
			})
		}
		return nil, nil
	})
	if err != nil {
		desktop.WriteError(w, desktop.Errorf("internal", "engine unavailable"))
		return
	}
	desktop.WriteJSON(w, http.StatusOK, map[string]any{"at": now.UTC(), "queues": out})
}

// mayRead: supervisors and admins read any interaction, an agent only those they
// took part in.
func mayRead(p desktop.Principal, ix store.Interaction) bool {
	if p.Role >= desktop.RoleSupervisor {
		return true
	}
	for _, sg := range ix.Segments {
		if sg.Agent == p.User {
			return true
		}
	}
	return false
}

func interactionJSON(ix store.Interaction) map[string]any {
	segs := make([]map[string]any, 0, len(ix.Segments))
	for _, sg := range ix.Segments {
		m := map[string]any{"kind": sg.Kind.String(), "agent": sg.Agent, "start": sg.Start.UTC()}
		if !sg.End.IsZero() {
			m["end"] = sg.End.UTC()
			m["seconds"] = sg.End.Sub(sg.Start).Seconds()
		}
		segs = append(segs, m)
	}
	out := map[string]any{
		"id": ix.ID, "direction": ix.Direction.String(), "queue": ix.Queue, "caller_number": ix.CallerNumber,
		"caller_name": ix.CallerName, "dialled": ix.Dialled, "created": ix.Created.UTC(), "outcome": ix.Outcome,
		"cause": ix.Cause, "disposition": ix.Disposition, "notes": ix.Notes, "segments": segs,
	}
	if !ix.Answered.IsZero() {
		out["answered"] = ix.Answered.UTC()
	}
	if !ix.Ended.IsZero() {
		out["ended"] = ix.Ended.UTC()
	}
	return out
}

func (o *Orchestrator) restInteraction(w http.ResponseWriter, r *http.Request) {
	p, ok := desktop.PrincipalFrom(r.Context())
	if !ok || o.records == nil {
		desktop.WriteError(w, desktop.Errorf("not_found", "no interaction store"))
		return
	}
	ctx, cancel := restCtx(r)
	defer cancel()
	ix, err := o.records.Interaction(ctx, r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		desktop.WriteError(w, desktop.Errorf("not_found", "no such interaction"))
		return
	case err != nil:
		desktop.WriteError(w, desktop.Errorf("internal", "store unavailable"))
		return
	case !mayRead(p, ix):
		desktop.WriteError(w, desktop.Errorf("forbidden", "not one of your interactions"))
		return
	}
	desktop.WriteJSON(w, http.StatusOK, interactionJSON(ix))
}

// restHistory is a number's contact history. Agents see it for the callers of
// their own interactions only (the screen-pop already carries it for the current call).
func (o *Orchestrator) restHistory(w http.ResponseWriter, r *http.Request) {
	p, ok := desktop.PrincipalFrom(r.Context())
	if !ok || o.records == nil {
		desktop.WriteError(w, desktop.Errorf("not_found", "no interaction store"))
		return
	}
	ctx, cancel := restCtx(r)
	defer cancel()
	list, err := o.records.InteractionsByNumber(ctx, r.PathValue("number"), 50)
	if err != nil {
		desktop.WriteError(w, desktop.Errorf("internal", "store unavailable"))
		return
	}
	allowed := p.Role >= desktop.RoleSupervisor
	out := make([]map[string]any, 0, len(list))
	for _, ix := range list {
		allowed = allowed || mayRead(p, ix)
		out = append(out, interactionJSON(ix))
	}
	if !allowed {
		desktop.WriteError(w, desktop.Errorf("forbidden", "not a caller of yours"))
		return
	}
	desktop.WriteJSON(w, http.StatusOK, map[string]any{"number": r.PathValue("number"), "interactions": out})
}
