package campaigns

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/lists"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue/dialer"
)

// Store is what the API needs of the store (*store.Store).
type Store interface {
	lists.Importer
	CreateCampaign(ctx context.Context, c store.Campaign) error
	UpdateCampaign(ctx context.Context, c store.Campaign, states ...string) error
	DeleteCampaign(ctx context.Context, id string, states ...string) error
	Campaign(ctx context.Context, id string) (store.Campaign, error)
	Campaigns(ctx context.Context) ([]store.Campaign, error)
	ContactLists(ctx context.Context, campaignID string) ([]store.ContactList, error)
	ListImports(ctx context.Context, campaignID string) ([]store.ListImport, error)
	DNCEntries(ctx context.Context, scope, after string, limit int) ([]store.DNCEntry, error)
	DNCLookup(ctx context.Context, number string) ([]store.DNCEntry, error)
}

// Config tunes the API.
type Config struct {
	MaxUpload     int64         // bytes of one CSV upload; default 512 MiB
	ImportTimeout time.Duration // one upload, end to end; default 15 min
	DefaultRegion string        // for DNC numbers without a country code; default US
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.MaxUpload == 0 {
		c.MaxUpload = 512 << 20
	}
	if c.ImportTimeout == 0 {
		c.ImportTimeout = 15 * time.Minute
	}
	if c.DefaultRegion == "" {
		c.DefaultRegion = "US"
	}
	return c
}

// Validate checks a defaulted config.
func (c Config) Validate() error {
	if c.MaxUpload < 1<<10 || c.ImportTimeout < time.Second {
		return fmt.Errorf("%w: campaigns api: max upload at least 1 KiB, import timeout at least 1s", ErrInvalid)
	}
	if _, err := Normalise("+12125550100", c.DefaultRegion); err != nil || len(c.DefaultRegion) != 2 {
		return fmt.Errorf("%w: campaigns api: default region %q", ErrInvalid, c.DefaultRegion)
	}
	return nil
}

// Params are the API's dependencies.
type Params struct {
	Config Config
	Store  Store
	DNC    *DNC
	Log    zerolog.Logger
	// Audit records who changed what (store.Store.Audit); nil: not audited.
	Audit func(store.AuditEntry) error
	Now   func() time.Time
}

// API serves /api/v1/campaigns and /api/v1/dnc.
type API struct {
	p Params
}

// NewAPI validates the params.
func NewAPI(p Params) (*API, error) {
	p.Config = p.Config.WithDefaults()
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Store == nil || p.DNC == nil {
		return nil, fmt.Errorf("%w: campaigns api: store and DNC are required", ErrInvalid)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &API{p: p}, nil
}

// Register adds the routes (documented in docs/openapi.yaml with x-owner: campaigns).
func (a *API) Register(api *desktop.Server) error {
	routes := []struct {
		method, path string
		role         desktop.Role
		h            http.HandlerFunc
	}{
		{http.MethodGet, "/api/v1/campaigns", desktop.RoleSupervisor, a.list},
		{http.MethodPost, "/api/v1/campaigns", desktop.RoleSupervisor, a.create},
		{http.MethodGet, "/api/v1/campaigns/{id}", desktop.RoleSupervisor, a.get},
		{http.MethodPut, "/api/v1/campaigns/{id}", desktop.RoleSupervisor, a.update},
		{http.MethodDelete, "/api/v1/campaigns/{id}", desktop.RoleSupervisor, a.remove},
		{http.MethodGet, "/api/v1/campaigns/{id}/lists", desktop.RoleSupervisor, a.lists},
		{http.MethodPost, "/api/v1/campaigns/{id}/lists", desktop.RoleSupervisor, a.upload},
		{http.MethodGet, "/api/v1/dnc", desktop.RoleSupervisor, a.dncGet},
		{http.MethodPost, "/api/v1/dnc", desktop.RoleSupervisor, a.dncAdd},
		{http.MethodDelete, "/api/v1/dnc", desktop.RoleAdmin, a.dncRemove},
	}
	for _, r := range routes {
		if err := api.HandleREST(r.method, r.path, r.role, r.h); err != nil {
			return err
		}
	}
	return nil
}

// principal is the authenticated caller (every route here requires a role).
func principal(w http.ResponseWriter, r *http.Request) (desktop.Principal, bool) {
	p, ok := desktop.PrincipalFrom(r.Context())
	if !ok {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeUnauthenticated, "not logged in"))
	}
	return p, ok
}

func shortCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

func (a *API) audit(p desktop.Principal, action, target, detail string) {
	if a.p.Audit == nil {
		return
	}
	if err := a.p.Audit(store.AuditEntry{Actor: p.User, Action: action, Target: target, Detail: detail, At: a.p.Now()}); err != nil {
		a.p.Log.Error().Err(err).Str("action", action).Str("target", target).Msg("audit entry not saved")
	}
}

// storeError maps store sentinels to stable codes.
func (a *API) storeError(w http.ResponseWriter, err error, what string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		desktop.WriteError(w, desktop.Errorf(desktop.CodeNotFound, "no such %s", what))
	case errors.Is(err, store.ErrExists):
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidState, "%s already exists", what))
	case errors.Is(err, store.ErrConflict):
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidState, "%s: %v", what, err))
	case errors.Is(err, store.ErrInvalidRecord):
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "%v", err))
	default:
		a.p.Log.Error().Err(err).Str("what", what).Msg("campaigns api: store error")
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInternal, "store unavailable"))
	}
}

func campaignJSON(c store.Campaign, def Definition) map[string]any {
	return map[string]any{"id": c.ID, "name": c.Name, "state": c.State, "definition": def,
		"created_by": c.CreatedBy, "created": c.Created.UTC(), "updated": c.Updated.UTC()}
}

func decodeDef(c store.Campaign) (Definition, error) {
	var d Definition
	if err := json.Unmarshal(c.Config, &d); err != nil {
		return Definition{}, fmt.Errorf("stored definition of %q: %w", c.ID, err)
	}
	return d, nil
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := shortCtx(r)
	defer cancel()
	cs, err := a.p.Store.Campaigns(ctx)
	if err != nil {
		a.storeError(w, err, "campaigns")
		return
	}
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		d, err := decodeDef(c)
		if err != nil {
			a.storeError(w, err, "campaign")
			return
		}
		out = append(out, campaignJSON(c, d))
	}
	desktop.WriteJSON(w, http.StatusOK, map[string]any{"campaigns": out})
}

func (a *API) readDef(w http.ResponseWriter, r *http.Request) (Definition, bool) {
	var d Definition
	if err := desktop.DecodeJSON(r, 1<<20, &d); err != nil {
		desktop.WriteError(w, err)
		return d, false
	}
	if err := d.Validate(); err != nil {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "%v", err))
		return d, false
	}
	return d, true
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	d, valid := a.readDef(w, r)
	if !valid {
		return
	}
	body, err := json.Marshal(d)
	if err != nil {
		desktop.WriteError(w, err)
		return
	}
	ctx, cancel := shortCtx(r)
	defer cancel()
	c := store.Campaign{ID: d.ID, Name: d.Name, State: dialer.Draft.String(), Config: body, CreatedBy: p.User}
	if err := a.p.Store.CreateCampaign(ctx, c); err != nil {
		a.storeError(w, err, "campaign "+d.ID)
		return
	}
	a.audit(p, "campaign.create", d.ID, d.Name)
	c, err = a.p.Store.Campaign(ctx, d.ID)
	if err != nil {
		a.storeError(w, err, "campaign")
		return
	}
	desktop.WriteJSON(w, http.StatusCreated, campaignJSON(c, d))
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := shortCtx(r)
	defer cancel()
	c, err := a.p.Store.Campaign(ctx, r.PathValue("id"))
	if err != nil {
		a.storeError(w, err, "campaign")
		return
	}
	d, err := decodeDef(c)
	if err != nil {
		a.storeError(w, err, "campaign")
		return
	}
	out := campaignJSON(c, d)
	ls, err := a.p.Store.ContactLists(ctx, c.ID)
	if err != nil {
		a.storeError(w, err, "lists")
		return
	}
	out["lists"] = listsJSON(ls)
	desktop.WriteJSON(w, http.StatusOK, out)
}

// editable: a running campaign's definition is changed by pausing it first.
var editable = []string{dialer.Draft.String(), dialer.Paused.String()}

func (a *API) update(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	var d Definition
	if err := desktop.DecodeJSON(r, 1<<20, &d); err != nil {
		desktop.WriteError(w, err)
		return
	}
	if d.ID == "" {
		d.ID = id
	}
	if d.ID != id {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "the body's id %q is not the path's %q", d.ID, id))
		return
	}
	if err := d.Validate(); err != nil {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "%v", err))
		return
	}
	body, err := json.Marshal(d)
	if err != nil {
		desktop.WriteError(w, err)
		return
	}
	ctx, cancel := shortCtx(r)
	defer cancel()
	if err := a.p.Store.UpdateCampaign(ctx, store.Campaign{ID: id, Name: d.Name, Config: body}, editable...); err != nil {
		a.storeError(w, err, "campaign "+id+" (only a draft or paused campaign can be changed)")
		return
	}
	a.audit(p, "campaign.update", id, d.Name)
	c, err := a.p.Store.Campaign(ctx, id)
	if err != nil {
		a.storeError(w, err, "campaign")
		return
	}
	desktop.WriteJSON(w, http.StatusOK, campaignJSON(c, d))
}

func (a *API) remove(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	ctx, cancel := shortCtx(r)
	defer cancel()
	if err := a.p.Store.DeleteCampaign(ctx, id, dialer.Draft.String(), dialer.Finished.String(), dialer.Stopped.String()); err != nil {
		a.storeError(w, err, "campaign "+id+" (stop it before deleting it)")
		return
	}
	a.audit(p, "campaign.delete", id, "")
	w.WriteHeader(http.StatusNoContent)
}

func listsJSON(ls []store.ContactList) []map[string]any {
	out := make([]map[string]any, 0, len(ls))
	for _, l := range ls {
		out = append(out, map[string]any{"id": l.ID, "name": l.Name, "contacts": l.Contacts, "created": l.Created.UTC()})
	}
	return out
}

func importJSON(r store.ListImport) map[string]any {
	m := map[string]any{"import_id": r.ID, "list_id": r.ListID, "list": r.ListName, "file_name": r.FileName, "mode": r.Mode,
		"status": r.Status, "rows": r.Rows, "imported": r.Imported, "rejected": r.Rejected, "duplicates": r.Duplicates,
		"by": r.By, "started": r.Started.UTC()}
	if r.Error != "" {
		m["error"] = r.Error
	}
	if !r.Finished.IsZero() {
		m["finished"] = r.Finished.UTC()
	}
	return m
}

func (a *API) lists(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := shortCtx(r)
	defer cancel()
	id := r.PathValue("id")
	if _, err := a.p.Store.Campaign(ctx, id); err != nil {
		a.storeError(w, err, "campaign")
		return
	}
	ls, err := a.p.Store.ContactLists(ctx, id)
	if err != nil {
		a.storeError(w, err, "lists")
		return
	}
	ims, err := a.p.Store.ListImports(ctx, id)
	if err != nil {
		a.storeError(w, err, "imports")
		return
	}
	out := make([]map[string]any, 0, len(ims))
	for _, im := range ims {
		out = append(out, importJSON(im))
	}
	desktop.WriteJSON(w, http.StatusOK, map[string]any{"lists": listsJSON(ls), "imports": out})
}

// csvBody finds the CSV of an upload: a text/csv (or application/octet-stream) body,
// or the "file" part of a multipart/form-data body, streamed either way.
func csvBody(r *http.Request) (io.Reader, string, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, "", desktop.Errorf(desktop.CodeInvalidArgument, "Content-Type must be text/csv or multipart/form-data")
	}
	switch mt {
	case "text/csv", "application/csv", "text/plain", "application/octet-stream":
		if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "utf8" && cs != "us-ascii" {
			return nil, "", desktop.Errorf(desktop.CodeInvalidArgument, "charset %q: the file must be UTF-8 (save it as \"CSV UTF-8\")", cs)
		}
		return r.Body, r.URL.Query().Get("file_name"), nil
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, "", desktop.Errorf(desktop.CodeInvalidArgument, "bad multipart body: %v", err)
		}
		for {
			part, err := mr.NextPart()
			if err != nil {
				return nil, "", desktop.Errorf(desktop.CodeInvalidArgument, "no \"file\" part in the multipart body")
			}
			if part.FormName() == "file" {
				return part, part.FileName(), nil
			}
		}
	}
	return nil, "", desktop.Errorf(desktop.CodeInvalidArgument, "Content-Type %q: want text/csv or multipart/form-data", mt)
}

// importConfig builds the import settings from the query: mode, region, delimiter.
func importConfig(q map[string][]string, def Definition) (lists.Config, lists.Mapping, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	cfg := lists.DefaultConfig()
	cfg.DefaultRegion = def.DefaultRegion
	if v := get("region"); v != "" {
		cfg.DefaultRegion = v
	}
	switch get("mode") {
	case "", "all_or_nothing":
	case "partial":
		cfg.Mode = lists.Partial
	default:
		return cfg, lists.Mapping{}, desktop.Errorf(desktop.CodeInvalidArgument, "mode %q: want all_or_nothing (default) or partial", get("mode"))
	}
	switch d := get("delimiter"); d {
	case "", ",":
	case ";", "\t", "|":
		cfg.Comma = rune(d[0])
	case "tab":
		cfg.Comma = '\t'
	default:
		return cfg, lists.Mapping{}, desktop.Errorf(desktop.CodeInvalidArgument, "delimiter %q: want , ; | or tab", d)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, lists.Mapping{}, desktop.Errorf(desktop.CodeInvalidArgument, "%v", err)
	}
	m, err := lists.ParseMapping(strings.Join(q["map"], ","))
	if err != nil {
		return cfg, lists.Mapping{}, desktop.Errorf(desktop.CodeInvalidArgument, "map: %v", err)
	}
	return cfg, m, nil
}

func (a *API) upload(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	sctx, scancel := shortCtx(r)
	c, err := a.p.Store.Campaign(sctx, id)
	scancel()
	if err != nil {
		a.storeError(w, err, "campaign")
		return
	}
	def, err := decodeDef(c)
	if err != nil {
		a.storeError(w, err, "campaign")
		return
	}
	q := r.URL.Query()
	cfg, m, err := importConfig(q, def)
	if err != nil {
		desktop.WriteError(w, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.p.Config.MaxUpload)
	body, fileName, err := csvBody(r)
	if err != nil {
		desktop.WriteError(w, err)
		return
	}
	listName := q.Get("list")
	if listName == "" {
		listName = "main"
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.p.Config.ImportTimeout)
	defer cancel()
	spec := store.ImportSpec{CampaignID: id, ListName: listName, FileName: fileName, By: p.User}
	rep, err := lists.Import(ctx, a.p.Store, spec, body, cfg, m, nil)
	out := importJSON(rep.Import)
	out["problems"], out["problems_truncated"] = rep.Problems, rep.Truncated
	out["rows"], out["rejected"], out["duplicates"] = rep.Rows, rep.Rejected, rep.Duplicates
	if err != nil {
		var mbe *http.MaxBytesError
		var e *desktop.Error
		switch {
		case errors.As(err, &mbe):
			e = desktop.Errorf(desktop.CodeInvalidArgument, "the upload is larger than %d bytes; split the file", a.p.Config.MaxUpload)
		case errors.Is(err, store.ErrConflict):
			e = desktop.Errorf(desktop.CodeInvalidState, "%v", err)
		case errors.Is(err, store.ErrNotFound):
			e = desktop.Errorf(desktop.CodeNotFound, "no such campaign")
		case errors.Is(err, lists.ErrEncoding), errors.Is(err, lists.ErrHeader), errors.Is(err, lists.ErrMapping),
			errors.Is(err, lists.ErrLineTooLong), errors.Is(err, lists.ErrTooManyRows), errors.Is(err, lists.ErrRejectedRows),
			errors.Is(err, lists.ErrSyntax), errors.Is(err, lists.ErrInvalidConfig):
			e = desktop.Errorf(desktop.CodeInvalidArgument, "%v", err)
		default:
			a.p.Log.Error().Err(err).Str("campaign", id).Msg("list import failed")
			e = desktop.Errorf(desktop.CodeInternal, "the import failed and nothing was kept (see the log)")
		}
		a.audit(p, "list.import.failed", id, fmt.Sprintf("list %s file %q: %s", listName, fileName, e.Message))
		desktop.WriteJSON(w, httpStatusOf(e.Code), map[string]any{"error": e, "import": out})
		return
	}
	a.audit(p, "list.import", id, fmt.Sprintf("list %s file %q: %s, %d imported, %d rejected, %d duplicates",
		listName, fileName, rep.Import.Status, rep.Imported, rep.Rejected, rep.Duplicates))
	desktop.WriteJSON(w, http.StatusCreated, out)
}

func httpStatusOf(code string) int {
	switch code {
	case desktop.CodeNotFound:
		return http.StatusNotFound
	case desktop.CodeInvalidState:
		return http.StatusConflict
	case desktop.CodeInvalidArgument:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// --- DNC ------------------------------------------------------------------------------

func dncJSON(e store.DNCEntry) map[string]any {
	return map[string]any{"number": e.Number, "campaign_id": e.Scope, "source": e.Source, "added_by": e.AddedBy,
		"reason": e.Reason, "added": e.Added.UTC()}
}

func (a *API) region(q map[string][]string) string {
	if v := q["region"]; len(v) > 0 && v[0] != "" {
		return v[0]
	}
	return a.p.Config.DefaultRegion
}

// dncGet: ?number= looks one number up on every list; otherwise one list
// (?campaign_id=, empty = internal) is paged by number (?after=, ?limit=).
func (a *API) dncGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx, cancel := shortCtx(r)
	defer cancel()
	if raw := q.Get("number"); raw != "" {
		e164, err := Normalise(raw, a.region(q))
		if err != nil {
			desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "%v", err))
			return
		}
		hits, err := a.p.Store.DNCLookup(ctx, e164)
		if err != nil {
			a.storeError(w, err, "dnc")
			return
		}
		out := make([]map[string]any, 0, len(hits))
		for _, e := range hits {
			out = append(out, dncJSON(e))
		}
		desktop.WriteJSON(w, http.StatusOK, map[string]any{"number": e164, "blocked": a.p.DNC.Blocked(q.Get("campaign_id"), e164), "entries": out})
		return
	}
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10_000 {
			desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "limit %q: want 1..10000", v))
			return
		}
		limit = n
	}
	page, err := a.p.Store.DNCEntries(ctx, q.Get("campaign_id"), q.Get("after"), limit)
	if err != nil {
		a.storeError(w, err, "dnc")
		return
	}
	out := make([]map[string]any, 0, len(page))
	for _, e := range page {
		out = append(out, dncJSON(e))
	}
	resp := map[string]any{"campaign_id": q.Get("campaign_id"), "entries": out}
	if len(page) == limit {
		resp["next_after"] = page[len(page)-1].Number
	}
	desktop.WriteJSON(w, http.StatusOK, resp)
}

type dncAddBody struct {
	Number     string   `json:"number"`
	Numbers    []string `json:"numbers"`
	CampaignID string   `json:"campaign_id"`
	Reason     string   `json:"reason"`
	Region     string   `json:"region"`
}

// dncAdd takes JSON {number|numbers, campaign_id, reason, region} or a CSV upload
// (text/csv; the column named like a phone, else the first) with ?campaign_id=,
// ?region=, ?reason=. All numbers are checked first: one bad number and none is added.
func (a *API) dncAdd(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	var (
		body   dncAddBody
		raws   []string
		lines  []int
		source = store.DNCSourceAPI
	)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "Content-Type must be application/json, text/csv or multipart/form-data"))
		return
	}
	if mt == "application/json" {
		if err := desktop.DecodeJSON(r, 1<<20, &body); err != nil {
			desktop.WriteError(w, err)
			return
		}
		if body.Number != "" {
			raws = append(raws, body.Number)
		}
		raws = append(raws, body.Numbers...)
	} else {
		q := r.URL.Query()
		body.CampaignID, body.Reason, body.Region = q.Get("campaign_id"), q.Get("reason"), q.Get("region")
		source = store.DNCSourceCSV
		r.Body = http.MaxBytesReader(w, r.Body, 64<<20)
		in, _, err := csvBody(r)
		if err != nil {
			desktop.WriteError(w, err)
			return
		}
		if raws, lines, err = dncCSV(in); err != nil {
			desktop.WriteError(w, err)
			return
		}
	}
	if len(raws) == 0 || len(raws) > 1_000_000 {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "give 1 to 1000000 numbers"))
		return
	}
	region := body.Region
	if region == "" {
		region = a.p.Config.DefaultRegion
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	if body.CampaignID != "" {
		if _, err := a.p.Store.Campaign(ctx, body.CampaignID); err != nil {
			a.storeError(w, err, "campaign")
			return
		}
	}
	entries := make([]store.DNCEntry, 0, len(raws))
	var problems []lists.Problem
	for i, raw := range raws {
		e164, err := Normalise(raw, region)
		if err != nil {
			line := i + 1
			if lines != nil {
				line = lines[i]
			}
			if len(problems) < 1000 {
				problems = append(problems, lists.Problem{Line: line, Kind: lists.KindRejected, Reason: err.Error()})
			}
			continue
		}
		entries = append(entries, store.DNCEntry{Scope: body.CampaignID, Number: e164, Source: source, AddedBy: p.User, Reason: body.Reason})
	}
	if len(problems) > 0 {
		desktop.WriteJSON(w, http.StatusBadRequest, map[string]any{
			"error":    desktop.Errorf(desktop.CodeInvalidArgument, "%d numbers are not valid phone numbers; nothing was added", len(raws)-len(entries)),
			"problems": problems})
		return
	}
	n, err := a.p.DNC.Add(ctx, entries...)
	if err != nil {
		a.storeError(w, err, "dnc")
		return
	}
	scope := body.CampaignID
	if scope == "" {
		scope = "internal"
	}
	a.audit(p, "dnc.add", scope, fmt.Sprintf("%d numbers (%d new) via %s: %s", len(entries), n, source, body.Reason))
	resp := map[string]any{"campaign_id": body.CampaignID, "received": len(entries), "added": n}
	if len(entries) == 1 {
		resp["number"] = entries[0].Number
	}
	desktop.WriteJSON(w, http.StatusOK, resp)
}

// dncCSV reads numbers from a CSV: the column named like a phone, else the first.
func dncCSV(in io.Reader) ([]string, []int, error) {
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = -1
	col, first := 0, true
	var raws []string
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, desktop.Errorf(desktop.CodeInvalidArgument, "CSV: %v", err)
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			isHeader := false
			for i, h := range rec {
				h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
				if strings.Contains(h, "phone") || strings.Contains(h, "number") || strings.Contains(h, "mobile") {
					col, isHeader = i, true
					break
				}
			}
			if isHeader {
				continue
			}
			if len(rec) > 0 {
				rec[0] = strings.TrimPrefix(rec[0], "\uFEFF")
			}
		}
		if col >= len(rec) || strings.TrimSpace(rec[col]) == "" {
			continue
		}
		if !utf8.ValidString(rec[col]) || bytes.IndexByte([]byte(rec[col]), 0) >= 0 {
			return nil, nil, desktop.Errorf(desktop.CodeInvalidArgument, "line %d is not UTF-8 text", line)
		}
		raws = append(raws, rec[col])
		lines = append(lines, line)
		if len(raws) > 1_000_000 {
			return nil, nil, desktop.Errorf(desktop.CodeInvalidArgument, "more than 1000000 numbers; split the file")
		}
	}
	return raws, lines, nil
}

func (a *API) dncRemove(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	raw := q.Get("number")
	if raw == "" {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "number is required"))
		return
	}
	e164, err := Normalise(raw, a.region(q))
	if err != nil {
		desktop.WriteError(w, desktop.Errorf(desktop.CodeInvalidArgument, "%v", err))
		return
	}
	ctx, cancel := shortCtx(r)
	defer cancel()
	scope := q.Get("campaign_id")
	if err := a.p.DNC.Remove(ctx, scope, e164); err != nil {
		a.storeError(w, err, "do-not-call entry")
		return
	}
	if scope == "" {
		scope = "internal"
	}
	a.audit(p, "dnc.remove", scope, e164+": "+q.Get("reason"))
	w.WriteHeader(http.StatusNoContent)
}
