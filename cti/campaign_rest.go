package cti

import (
	"context"
	"net/http"
	"time"

	"github.com/ctid/ctid/cti/desktop"
)

// RegisterCampaignREST adds the campaign lifecycle routes (docs/openapi.yaml, x-owner:
// cti): POST /api/v1/campaigns/{id}/start|pause|stop, the REST twins of the
// campaign.start|pause|stop desktop commands, for the supervisors of the campaign's
// teams (admins: all). They answer the campaign's progress after the change.
func (d *Desk) RegisterCampaignREST(api *desktop.Server) error {
	for _, action := range []string{"start", "pause", "stop"} {
		if err := api.HandleREST(http.MethodPost, "/api/v1/campaigns/{id}/"+action, desktop.RoleSupervisor, d.restCampaign(action)); err != nil {
			return err
		}
	}
	return nil
}

func (d *Desk) restCampaign(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := desktop.PrincipalFrom(r.Context())
		if !ok {
			desktop.WriteError(w, desktop.Errorf(desktop.CodeUnauthenticated, "not logged in"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second) // start reads the contacts
		defer cancel()
		id := r.PathValue("id")
		err := d.mayRunCampaign(p, id)
		if err == nil {
			switch action {
			case "start":
				err = d.o.CampaignStart(ctx, id)
			case "pause":
				err = d.o.CampaignPause(ctx, id)
			default:
				err = d.o.CampaignStop(ctx, id)
			}
		}
		d.record(p, "campaign."+action, "", "campaign="+id+" via=rest", err)
		if err != nil {
			desktop.WriteError(w, d.apiError(err))
			return
		}
		st, err := d.o.CampaignStats(ctx, id)
		if err != nil {
			desktop.WriteError(w, d.apiError(err))
			return
		}
		desktop.WriteJSON(w, http.StatusOK, st.fields())
	}
}
