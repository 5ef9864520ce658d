package cti

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ctid/ctid/cti/campaigns"
	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue/dialer"
)

// Campaign interval reports: GET /api/v1/reports/campaigns and
// /api/v1/reports/campaigns/{id} (docs/openapi.yaml, x-owner: cti), supervisors and
// admins, the same parameters and errors as the queue and agent reports.

var errCampaignDefinition = errors.New("campaign definition unreadable")

// campaignSpec reads what the report needs of a stored campaign's definition: its
// disposition flags (the dialer's defaults when it gives none) and its agents.
func campaignSpec(c store.Campaign) (store.CampaignSpec, error) {
	var d campaigns.Definition
	if err := json.Unmarshal(c.Config, &d); err != nil {
		return store.CampaignSpec{}, fmt.Errorf("%w: %s: %w", errCampaignDefinition, c.ID, err)
	}
	spec := store.CampaignSpec{Campaign: c.ID, Agents: slices.Clone(d.Agents)}
	if len(d.Dispositions) == 0 {
		for _, x := range dialer.DefaultDispositions() {
			spec.Dispositions = append(spec.Dispositions, store.CampaignDisposition{Code: x.Code,
				Final: x.Final || x.BadNum, Callback: x.Callback, DNC: x.DNC, Sale: x.Sale})
		}
		return spec, nil
	}
	for _, x := range d.Dispositions {
		spec.Dispositions = append(spec.Dispositions, store.CampaignDisposition{Code: x.Code,
			Final: x.Final || x.BadNumber, Callback: x.Callback, DNC: x.DNC, Sale: x.Sale})
	}
	return spec, nil
}

// campaignSpecs reads the campaigns named (all when names is empty), in the order
// named (else by id). An unknown name is a not_found error.
func (r *Reports) campaignSpecs(ctx context.Context, names []string) ([]store.CampaignSpec, *desktop.Error, error) {
	all, err := r.st.Campaigns(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]store.Campaign{}
	for _, c := range all {
		byID[c.ID] = c
	}
	if len(names) == 0 {
		for _, c := range all {
			names = append(names, c.ID)
		}
		slices.Sort(names)
	}
	specs := make([]store.CampaignSpec, 0, len(names))
	for _, n := range names {
		c, ok := byID[n]
		if !ok {
			return nil, desktop.Errorf(desktop.CodeNotFound, "no campaign %q", n), nil
		}
		spec, err := campaignSpec(c)
		if err != nil {
			return nil, nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil, nil
}

func (r *Reports) campaignsReport(w http.ResponseWriter, req *http.Request) {
	q, derr := r.parseQuery(req.URL.Query())
	if derr != nil {
		desktop.WriteError(w, derr)
		return
	}
	var names []string
	if id := req.PathValue("id"); id != "" {
		names = []string{id}
	} else {
		for _, v := range req.URL.Query()["campaign"] {
			for name := range strings.SplitSeq(v, ",") {
				if name = strings.TrimSpace(name); name != "" && !slices.Contains(names, name) {
					names = append(names, name)
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
	defer cancel()
	specs, derr, err := r.campaignSpecs(ctx, names)
	switch {
	case derr != nil:
		desktop.WriteError(w, derr)
		return
	case err != nil:
		r.fail(w, err)
		return
	}
	rows, err := r.st.CampaignReport(ctx, q.req, specs)
	if err != nil {
		r.fail(w, err)
		return
	}
	// Disposition codes: each campaign's own set in its order, then any other code met.
	var codes []string
	for _, sp := range specs {
		for _, d := range sp.Dispositions {
			if !slices.Contains(codes, d.Code) {
				codes = append(codes, d.Code)
			}
		}
	}
	var extra []string
	for _, row := range rows {
		for c := range row.Dispositions {
			if !slices.Contains(codes, c) && !slices.Contains(extra, c) {
				extra = append(extra, c)
			}
		}
	}
	slices.Sort(extra)
	codes = append(codes, extra...)
	if q.csv {
		r.writeCampaignCSV(w, rows, codes)
		return
	}
	out := make([]map[string]any, 0, len(rows))
	for i := range rows {
		row := &rows[i]
		m := map[string]any{"campaign": row.Campaign, "start": row.Start.Format(time.RFC3339), "end": row.End.Format(time.RFC3339)}
		for _, c := range campaignColumns {
			m[c.name] = c.val(&row.CampaignKPIs)
		}
		disp := map[string]int{}
		for code, n := range row.Dispositions {
			disp[code] = n
		}
		m["dispositions"] = disp
		out = append(out, m)
	}
	desktop.WriteJSON(w, http.StatusOK, map[string]any{
		"from": q.req.From.In(q.req.Location).Format(time.RFC3339), "to": q.req.To.In(q.req.Location).Format(time.RFC3339),
		"interval": q.req.Interval.String(), "tz": q.req.Location.String(), "rows": out,
	})
}

// campaignColumn is one field of a campaign report row, in JSON and CSV.
type campaignColumn struct {
	name string
	val  func(k *store.CampaignKPIs) any
}

var campaignColumns = []campaignColumn{
	{"attempts", func(k *store.CampaignKPIs) any { return k.Attempts }},
	{"skipped", func(k *store.CampaignKPIs) any { return k.Skipped }},
	{"connects", func(k *store.CampaignKPIs) any { return k.Connects }},
	{"live_answers", func(k *store.CampaignKPIs) any { return k.LiveAnswers }},
	{"abandons", func(k *store.CampaignKPIs) any { return k.Abandons }},
	{"abandon_rate", func(k *store.CampaignKPIs) any { return ratio(k.AbandonRate) }},
	{"abandon_formula", func(k *store.CampaignKPIs) any { return k.AbandonFormula }},
	{"safe_harbour_plays", func(k *store.CampaignKPIs) any { return k.SafeHarbourPlays }},
	{"machine", func(k *store.CampaignKPIs) any { return k.Machine }},
	{"busy", func(k *store.CampaignKPIs) any { return k.Busy }},
	{"no_answer", func(k *store.CampaignKPIs) any { return k.NoAnswer }},
	{"congestion", func(k *store.CampaignKPIs) any { return k.Congestion }},
	{"failed", func(k *store.CampaignKPIs) any { return k.Failed }},
	{"connect_rate", func(k *store.CampaignKPIs) any { return ratio(k.ConnectRate) }},
	{"talk_seconds", func(k *store.CampaignKPIs) any { return secs(k.TalkTime) }},
	{"hold_seconds", func(k *store.CampaignKPIs) any { return secs(k.HoldTime) }},
	{"wrapup_seconds", func(k *store.CampaignKPIs) any { return secs(k.WrapUpTime) }},
	{"aht_seconds", func(k *store.CampaignKPIs) any { return secs(k.AHT) }},
	{"avg_talk_seconds", func(k *store.CampaignKPIs) any { return secs(k.AvgTalk) }},
	{"avg_hold_seconds", func(k *store.CampaignKPIs) any { return secs(k.AvgHold) }},
	{"avg_wrapup_seconds", func(k *store.CampaignKPIs) any { return secs(k.AvgWrapUp) }},
	{"agent_seconds", func(k *store.CampaignKPIs) any { return secs(k.AgentTime) }},
	{"contacts_per_agent_hour", func(k *store.CampaignKPIs) any { return ratio(k.ContactsPerAgentHour) }},
	{"final", func(k *store.CampaignKPIs) any { return k.Final }},
	{"sales", func(k *store.CampaignKPIs) any { return k.Sales }},
	{"conversion", func(k *store.CampaignKPIs) any { return ratio(k.Conversion) }},
	{"callback_dispositions", func(k *store.CampaignKPIs) any { return k.CallbackDispositions }},
	{"dnc_dispositions", func(k *store.CampaignKPIs) any { return k.DNCDispositions }},
	{"callbacks_scheduled", func(k *store.CampaignKPIs) any { return k.CallbacksScheduled }},
	{"callbacks_due", func(k *store.CampaignKPIs) any { return k.CallbacksDue }},
	{"callbacks_kept", func(k *store.CampaignKPIs) any { return k.CallbacksKept }},
	{"dnc_added", func(k *store.CampaignKPIs) any { return k.DNCAdded }},
	{"nps", func(k *store.CampaignKPIs) any { return ratio(k.NPS) }},
	{"nps_answers", func(k *store.CampaignKPIs) any { return k.NPSAnswers }},
	{"csat", func(k *store.CampaignKPIs) any { return ratio(k.CSAT) }},
	{"csat_answers", func(k *store.CampaignKPIs) any { return k.CSATAnswers }},
}

// writeCampaignCSV: one column per disposition code (disposition_<code>) after the
// fixed columns.
func (r *Reports) writeCampaignCSV(w http.ResponseWriter, rows []store.CampaignReportRow, codes []string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ctid-campaign-report.csv"`)
	cw := csv.NewWriter(w)
	header := []string{"campaign", "start", "end"}
	for _, c := range campaignColumns {
		header = append(header, c.name)
	}
	for _, code := range codes {
		header = append(header, csvCell("disposition_"+code))
	}
	err := cw.Write(header)
	for i := range rows {
		if err != nil {
			break
		}
		row := &rows[i]
		rec := []string{csvCell(row.Campaign), row.Start.Format(time.RFC3339), row.End.Format(time.RFC3339)}
		for _, c := range campaignColumns {
			rec = append(rec, csvCell(c.val(&row.CampaignKPIs)))
		}
		for _, code := range codes {
			rec = append(rec, csvCell(row.Dispositions[code]))
		}
		err = cw.Write(rec)
	}
	cw.Flush()
	if err = errors.Join(err, cw.Error()); err != nil {
		r.log.Warn().Err(err).Msg("writing a CSV report (client gone?)")
	}
}
