package cti_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/campaigns"
	"github.com/ctid/ctid/cti/store"
)

func openCampaignStore(t *testing.T) *store.Store {
	t.Helper()
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	db, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// The store-backed runner side: definitions become runner configs whose manual dials
// go through the DNC check, a do_not_call disposition lands on the internal list,
// every attempt step, callback and lockout is written, contacts closed by a final
// disposition are not loaded again, and a finished campaign cannot run again.
func TestStoreCampaignsRecordsAndChecks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := openCampaignStore(t)
	def := campaigns.Definition{ID: "c1", Name: "Renewals", Mode: "progressive", Endpoint: "PJSIP/{number}@trunk",
		Agents: []string{"anna"}, DefaultRegion: "GB"}
	body, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCampaign(ctx, store.Campaign{ID: "c1", Name: "Renewals", State: "draft", Config: body}); err != nil {
		t.Fatal(err)
	}
	im, err := db.BeginImport(ctx, store.ImportSpec{CampaignID: "c1", ListName: "main", Mode: store.ImportAllOrNothing})
	if err != nil {
		t.Fatal(err)
	}
	var cs []store.Contact
	for i, n := range []string{"+442079460201", "+442079460202", "+442079460203"} {
		cs = append(cs, store.Contact{Line: i + 2, FirstName: "C", LastName: n[len(n)-1:], Zone: "Europe/London",
			Numbers: []store.ContactNumber{{Number: n}}})
	}
	if err := im.Add(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Finish(ctx, store.ImportCounts{Rows: 3, Imported: 3}); err != nil {
		t.Fatal(err)
	}
	dnc, err := campaigns.LoadDNC(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dnc.Add(ctx, store.DNCEntry{Number: "+442079460299", Source: store.DNCSourceAPI, AddedBy: "sam"}); err != nil {
		t.Fatal(err)
	}
	sc, err := cti.NewStoreCampaigns(cti.StoreCampaignsParams{Store: db, DNC: dnc, Log: zerolog.Nop(),
		Now: func() time.Time { return time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	d, err := sc.LoadCampaign(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != "draft" || len(d.Agents) != 1 || d.Config.Dialer.IsDNC == nil || !d.Config.Dialer.IsDNC("+442079460299") {
		t.Fatalf("def %+v", d)
	}
	// national form, on the internal list: refused as do-not-call
	if _, err := d.Config.CheckDial("020 7946 0299"); !errors.Is(err, cti.ErrDoNotCall) {
		t.Fatalf("CheckDial of a DNC number: %v", err)
	}
	if _, err := d.Config.CheckDial("12"); !errors.Is(err, cti.ErrCallState) {
		t.Fatalf("CheckDial of a non-number: %v", err)
	}
	if n, err := d.Config.CheckDial("020 7946 0201"); err != nil || n != "+442079460201" {
		t.Fatalf("CheckDial: %q %v", n, err)
	}
	if err := d.Config.OnDNC("anna", "+442079460202", "do_not_call"); err != nil {
		t.Fatal(err)
	}
	if !dnc.Blocked("other-campaign", "+442079460202") {
		t.Fatal("a do_not_call disposition is not on the internal list")
	}

	contacts, err := sc.CampaignContacts(ctx, "c1")
	if err != nil || len(contacts) != 3 {
		t.Fatalf("contacts %d %v", len(contacts), err)
	}
	idOf := map[string]string{}
	for _, c := range contacts {
		idOf[c.Numbers[0]] = c.ID
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	due := at.Add(24 * time.Hour)
	steps := []cti.AttemptRecord{
		{Event: cti.AttemptRejected, Contact: "x", Reason: "bad number"}, // no attempt row
		{Event: cti.AttemptDialled, Attempt: "a1", Contact: idOf["+442079460201"], Number: "+442079460201", Agent: "anna", CallID: "k1", At: at},
		{Event: cti.AttemptAnswered, Attempt: "a1", CallID: "k1", Contact: idOf["+442079460201"], Number: "+442079460201", At: at.Add(5 * time.Second)},
		{Event: cti.AttemptConnected, Attempt: "a1", CallID: "k1", Contact: idOf["+442079460201"], Number: "+442079460201", Agent: "anna", At: at.Add(6 * time.Second)},
		{Event: cti.AttemptDisposition, Attempt: "a1", CallID: "k1", Contact: idOf["+442079460201"], Number: "+442079460201", Agent: "anna", Disposition: "sale", At: at.Add(time.Minute)},
		{Event: cti.AttemptDialled, Attempt: "a2", Contact: idOf["+442079460202"], Number: "+442079460202", At: at},
		{Event: cti.AttemptSafeHarbour, Attempt: "a2", Contact: idOf["+442079460202"], Number: "+442079460202", At: at.Add(8 * time.Second)},
		{Event: cti.AttemptDialled, Attempt: "a3", Contact: idOf["+442079460203"], Number: "+442079460203", Agent: "anna", At: at},
		{Event: cti.AttemptDisposition, Attempt: "a3", Contact: idOf["+442079460203"], Number: "+442079460203", Agent: "anna",
			Disposition: "callback", CallbackAt: due, CallbackAgent: "anna", At: at.Add(time.Minute)},
	}
	for _, r := range steps {
		r.Campaign = "c1"
		if err := sc.RecordAttempt(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	as, err := db.CampaignAttempts(ctx, "c1", "", 100)
	if err != nil || len(as) != 3 {
		t.Fatalf("attempts %+v %v", as, err)
	}
	byID := map[string]store.CampaignAttempt{}
	for _, a := range as {
		byID[a.ID] = a
	}
	if a := byID["k1"]; a.Disposition != "sale" || a.Agent != "anna" || a.InteractionID != "k1" || a.Answered.IsZero() || a.Connected.IsZero() {
		t.Errorf("k1 (a1 by its call id) %+v", a)
	}
	if a := byID["a2"]; a.Outcome != "abandoned" || a.Ended.IsZero() {
		t.Errorf("a2 %+v", a)
	}
	lk, err := db.ActiveLockouts(ctx, at)
	if err != nil || len(lk) != 1 || lk[0].Number != "+442079460202" || !lk[0].Until.Equal(at.Add(8*time.Second+72*time.Hour)) {
		t.Errorf("lockouts %+v %v", lk, err)
	}
	cbs, err := db.CampaignCallbacks(ctx, "c1", store.CallbackPending)
	if err != nil || len(cbs) != 1 || cbs[0].Agent != "anna" || !cbs[0].Due.Equal(due) || cbs[0].ContactID != idOf["+442079460203"] {
		t.Errorf("callbacks %+v %v", cbs, err)
	}
	// a restart loads only the contacts not closed by a final disposition
	contacts, err = sc.CampaignContacts(ctx, "c1")
	if err != nil || len(contacts) != 2 {
		t.Fatalf("contacts after a sale: %+v %v", contacts, err)
	}
	for _, c := range contacts {
		switch c.ID {
		case idOf["+442079460201"]:
			t.Errorf("the sold contact is loaded again")
		case idOf["+442079460202"]: // abandoned: one attempt, locked out
			if len(c.History) != 1 || c.History[0].Attempts != 1 || !c.History[0].LockedUntil.Equal(at.Add(8*time.Second+72*time.Hour)) {
				t.Errorf("history of the abandoned contact %+v", c.History)
			}
		case idOf["+442079460203"]: // the promised callback comes back
			if len(c.History) != 1 || c.History[0].Attempts != 1 || !c.CallbackAt.Equal(due) || c.CallbackAgent != "anna" {
				t.Errorf("history of the callback contact %+v %s %s", c.History, c.CallbackAt, c.CallbackAgent)
			}
		}
	}

	if err := sc.CampaignState(ctx, "c1", "running"); err != nil {
		t.Fatal(err)
	}
	if ids, err := sc.ActiveCampaigns(ctx); err != nil || len(ids) != 1 || ids[0] != "c1" {
		t.Fatalf("active %v %v", ids, err)
	}
	if err := sc.CampaignState(ctx, "c1", "finished"); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.LoadCampaign(ctx, "c1"); !errors.Is(err, cti.ErrCampaignOver) {
		t.Fatalf("loading a finished campaign: %v", err)
	}
}
