package store

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCampaignCRUD(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		c := Campaign{ID: "spring", Name: "Spring offer", State: "draft", Config: json.RawMessage(`{"mode":"predictive"}`), CreatedBy: "sue"}
		require.NoError(t, s.CreateCampaign(ctx, c))
		require.ErrorIs(t, s.CreateCampaign(ctx, c), ErrExists)
		require.ErrorIs(t, s.CreateCampaign(ctx, Campaign{ID: "x", Name: "x", State: "draft", Config: json.RawMessage(`{bad`)}), ErrInvalidRecord)

		got, err := s.Campaign(ctx, "spring")
		require.NoError(t, err)
		require.Equal(t, "Spring offer", got.Name)
		require.JSONEq(t, `{"mode":"predictive"}`, string(got.Config))
		require.Equal(t, "sue", got.CreatedBy)

		c.Name, c.Config = "Spring offer 2", json.RawMessage(`{"mode":"progressive"}`)
		require.NoError(t, s.UpdateCampaign(ctx, c, "draft", "paused"))
		require.NoError(t, s.SetCampaignState(ctx, "spring", "draft", "running"))
		require.ErrorIs(t, s.SetCampaignState(ctx, "spring", "draft", "running"), ErrConflict)
		require.ErrorIs(t, s.UpdateCampaign(ctx, c, "draft", "paused"), ErrConflict)
		require.ErrorIs(t, s.DeleteCampaign(ctx, "spring", "draft", "finished", "stopped"), ErrConflict)
		require.ErrorIs(t, s.SetCampaignState(ctx, "nope", "draft", "running"), ErrNotFound)

		list, err := s.Campaigns(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, "running", list[0].State)
		require.Equal(t, "Spring offer 2", list[0].Name)

		require.NoError(t, s.SetCampaignState(ctx, "spring", "running", "stopped"))
		require.NoError(t, s.DeleteCampaign(ctx, "spring", "draft", "finished", "stopped"))
		_, err = s.Campaign(ctx, "spring")
		require.ErrorIs(t, err, ErrNotFound)
	})
}

func importContacts(line int, numbers ...string) Contact {
	c := Contact{Line: line, FirstName: "F", LastName: "L", Zone: "Europe/London", Fields: map[string]string{"plan": "gold"}}
	for _, n := range numbers {
		c.Numbers = append(c.Numbers, ContactNumber{Number: n, Zone: "Europe/London", Label: "Phone"})
	}
	return c
}

func TestListImportVisibilityAbortAndStale(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		_, err := s.BeginImport(ctx, ImportSpec{CampaignID: "nope", ListName: "l", Mode: ImportAllOrNothing})
		require.ErrorIs(t, err, ErrNotFound)
		require.NoError(t, s.CreateCampaign(ctx, Campaign{ID: "c1", Name: "c1", State: "draft", Config: json.RawMessage(`{}`)}))

		im, err := s.BeginImport(ctx, ImportSpec{CampaignID: "c1", ListName: "main", FileName: "a.csv", Mode: ImportAllOrNothing, By: "sue"})
		require.NoError(t, err)
		_, err = s.BeginImport(ctx, ImportSpec{CampaignID: "c1", ListName: "main", Mode: ImportAllOrNothing})
		require.ErrorIs(t, err, ErrConflict, "one import per list at a time")

		batch := []Contact{importContacts(2, "+447700900001", "+442079460001"), importContacts(3, "+447700900002")}
		batch[1].ExternalID = "crm-2"
		require.NoError(t, im.Add(ctx, batch))
		lists, err := s.ContactLists(ctx, "c1")
		require.NoError(t, err)
		require.Len(t, lists, 1)
		require.Equal(t, 0, lists[0].Contacts, "a running import is invisible")
		_, err = im.Finish(ctx, ImportCounts{Rows: 2, Imported: 2, Rejected: 1})
		require.ErrorIs(t, err, ErrInvalidRecord, "all-or-nothing cannot finish with rejected rows")
		rec, err := im.Finish(ctx, ImportCounts{Rows: 2, Imported: 2})
		require.NoError(t, err)
		require.Equal(t, ImportComplete, rec.Status)

		var got []Contact
		require.NoError(t, s.EachContact(ctx, "c1", func(c Contact) error { got = append(got, c); return nil }))
		require.Len(t, got, 2)
		require.Equal(t, 2, got[0].Line)
		require.Equal(t, []ContactNumber{{"+447700900001", "Europe/London", "Phone"}, {"+442079460001", "Europe/London", "Phone"}}, got[0].Numbers)
		require.Equal(t, map[string]string{"plan": "gold"}, got[0].Fields)
		one, err := s.ContactByID(ctx, got[1].ID)
		require.NoError(t, err)
		require.Equal(t, "crm-2", one.ExternalID)
		require.Len(t, one.Numbers, 1)

		// A second import sees the list's numbers and ids; aborting it removes its rows.
		im2, err := s.BeginImport(ctx, ImportSpec{CampaignID: "c1", ListName: "main", Mode: ImportPartial})
		require.NoError(t, err)
		seen := map[string]bool{}
		require.NoError(t, im2.Existing(ctx, func(n, x string) { seen[n+x] = true }))
		require.Equal(t, map[string]bool{"+447700900001": true, "+442079460001": true, "+447700900002": true, "crm-2": true}, seen)
		require.NoError(t, im2.Add(ctx, []Contact{importContacts(2, "+447700900003")}))
		rec2, err := im2.Abort(ctx, "client went away", ImportCounts{Rows: 1})
		require.NoError(t, err)
		require.Equal(t, ImportFailed, rec2.Status)
		require.ErrorIs(t, im2.Add(ctx, []Contact{importContacts(3, "+447700900004")}), ErrConflict)

		// A running import that stopped writing (process killed) is cleaned by the next.
		im3, err := s.BeginImport(ctx, ImportSpec{CampaignID: "c1", ListName: "main", Mode: ImportAllOrNothing})
		require.NoError(t, err)
		require.NoError(t, im3.Add(ctx, []Contact{importContacts(2, "+447700900003")}))
		_, err = s.db.ExecContext(ctx, s.d.q("UPDATE list_imports SET updated_at = ? WHERE id = ?"),
			micros(time.Now().Add(-StaleImport-time.Minute)), im3.Record().ID)
		require.NoError(t, err)
		im4, err := s.BeginImport(ctx, ImportSpec{CampaignID: "c1", ListName: "main", Mode: ImportAllOrNothing})
		require.NoError(t, err)
		// The same number again: the dead import's row is gone, so the unique index lets it in.
		require.NoError(t, im4.Add(ctx, []Contact{importContacts(4, "+447700900003")}))
		_, err = im4.Finish(ctx, ImportCounts{Rows: 1, Imported: 1})
		require.NoError(t, err)

		imports, err := s.ListImports(ctx, "c1")
		require.NoError(t, err)
		status := map[string]string{}
		for _, r := range imports {
			status[r.ID] = r.Status
		}
		require.Equal(t, map[string]string{im.Record().ID: ImportComplete, im2.Record().ID: ImportFailed,
			im3.Record().ID: ImportFailed, im4.Record().ID: ImportComplete}, status)
		lists, err = s.ContactLists(ctx, "c1")
		require.NoError(t, err)
		require.Equal(t, 3, lists[0].Contacts)

		// The unique index is the last line of defence against a duplicate in a list.
		im5, err := s.BeginImport(ctx, ImportSpec{CampaignID: "c1", ListName: "main", Mode: ImportAllOrNothing})
		require.NoError(t, err)
		require.Error(t, im5.Add(ctx, []Contact{importContacts(2, "+447700900001")}))
		_, err = im5.Abort(ctx, "duplicate", ImportCounts{})
		require.NoError(t, err)
	})
}

func TestDNCStore(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		n, err := s.AddDNC(ctx,
			DNCEntry{Scope: DNCGlobal, Number: "+447700900001", Source: DNCSourceAPI, AddedBy: "sue", Reason: "complaint"},
			DNCEntry{Scope: "c1", Number: "+447700900001", Source: DNCSourceDisposition, AddedBy: "ann"},
			DNCEntry{Scope: DNCGlobal, Number: "+447700900002", Source: DNCSourceCSV, AddedBy: "sue"})
		require.NoError(t, err)
		require.Equal(t, 3, n)
		n, err = s.AddDNC(ctx, DNCEntry{Scope: DNCGlobal, Number: "+447700900001", Source: DNCSourceCSV, AddedBy: "bob"})
		require.NoError(t, err)
		require.Equal(t, 0, n, "already listed: first entry kept")
		_, err = s.AddDNC(ctx, DNCEntry{Number: "+447700900009", Source: DNCSourceAPI})
		require.ErrorIs(t, err, ErrInvalidRecord, "who added it is required")

		hits, err := s.DNCLookup(ctx, "+447700900001")
		require.NoError(t, err)
		require.Len(t, hits, 2)
		require.Equal(t, "sue", hits[0].AddedBy)
		require.Equal(t, "complaint", hits[0].Reason)
		require.Equal(t, DNCSourceDisposition, hits[1].Source)

		page, err := s.DNCEntries(ctx, DNCGlobal, "", 1)
		require.NoError(t, err)
		require.Len(t, page, 1)
		page, err = s.DNCEntries(ctx, DNCGlobal, page[0].Number, 10)
		require.NoError(t, err)
		require.Len(t, page, 1)
		require.Equal(t, "+447700900002", page[0].Number)

		require.NoError(t, s.RemoveDNC(ctx, DNCGlobal, "+447700900002"))
		require.ErrorIs(t, s.RemoveDNC(ctx, DNCGlobal, "+447700900002"), ErrNotFound)
		all := 0
		require.NoError(t, s.EachDNC(ctx, func(DNCEntry) error { all++; return nil }))
		require.Equal(t, 2, all)
	})
}

func TestAttemptsCallbacksLockouts(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		a := CampaignAttempt{ID: "a1", CampaignID: "c1", ContactID: "k1", Number: "+447700900001", Placed: t0}
		require.NoError(t, s.SaveDurable(ctx, a))
		require.NoError(t, s.SaveDurable(ctx, CampaignAttempt{ID: "a1", CampaignID: "c1", ContactID: "k1", Number: "+447700900001",
			Outcome: "answered-human", Agent: "ann", Answered: t0.Add(8 * time.Second), Connected: t0.Add(9 * time.Second)}))
		require.NoError(t, s.SaveDurable(ctx, CampaignAttempt{ID: "a1", CampaignID: "c1", ContactID: "k1", Number: "+447700900001",
			Disposition: "sale", Ended: t0.Add(time.Minute)}))
		require.NoError(t, s.SaveDurable(ctx, CampaignAttempt{ID: "a2", CampaignID: "c1", ContactID: "k2", Number: "+447700900002",
			Placed: t0.Add(time.Second), Outcome: "busy", Ended: t0.Add(5 * time.Second)}))
		got, err := s.CampaignAttempts(ctx, "c1", "k1", 100)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "answered-human", got[0].Outcome)
		require.Equal(t, "sale", got[0].Disposition)
		require.Equal(t, "ann", got[0].Agent)
		require.Equal(t, t0, got[0].Placed)
		require.Equal(t, t0.Add(time.Minute), got[0].Ended)
		all, err := s.CampaignAttempts(ctx, "c1", "", 100)
		require.NoError(t, err)
		require.Len(t, all, 2)

		cb := CampaignCallback{ID: "cb1", CampaignID: "c1", ContactID: "k1", Agent: "ann", Due: t0.Add(24 * time.Hour),
			Zone: "Europe/London", Status: CallbackPending, CreatedBy: "ann"}
		require.NoError(t, s.SaveDurable(ctx, cb))
		require.ErrorIs(t, s.SaveDurable(ctx, CampaignCallback{ID: "cb2", CampaignID: "c1", ContactID: "k1", Status: CallbackPending}), ErrInvalidRecord)
		cbs, err := s.CampaignCallbacks(ctx, "c1", CallbackPending)
		require.NoError(t, err)
		require.Len(t, cbs, 1)
		require.Equal(t, t0.Add(24*time.Hour), cbs[0].Due)
		cb.Status, cb.Completed = CallbackDone, t0.Add(25*time.Hour)
		require.NoError(t, s.SaveDurable(ctx, cb))
		cbs, err = s.CampaignCallbacks(ctx, "c1", CallbackPending)
		require.NoError(t, err)
		require.Empty(t, cbs)

		require.NoError(t, s.SaveDurable(ctx, Lockout{Number: "+447700900001", CampaignID: "c1", Until: t0.Add(72 * time.Hour), Reason: "abandoned"}))
		require.NoError(t, s.SaveDurable(ctx, Lockout{Number: "+447700900001", CampaignID: "c2", Until: t0.Add(time.Hour), Reason: "shorter"}))
		lo, err := s.ActiveLockouts(ctx, t0.Add(71*time.Hour))
		require.NoError(t, err)
		require.Len(t, lo, 1)
		require.Equal(t, t0.Add(72*time.Hour), lo[0].Until, "a shorter lockout never shortens one")
		require.Equal(t, "c1", lo[0].CampaignID)
		lo, err = s.ActiveLockouts(ctx, t0.Add(73*time.Hour))
		require.NoError(t, err)
		require.Empty(t, lo)
	})
}

// TestImportLargeChunksAndRace: full-size multi-row inserts (prepared once per import)
// on both engines, and two imports racing for one list: exactly one runs.
func TestImportLargeChunksAndRace(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		require.NoError(t, s.CreateCampaign(ctx, Campaign{ID: "c1", Name: "c1", State: "draft", Config: json.RawMessage(`{}`)}))
		im, err := s.BeginImport(ctx, ImportSpec{CampaignID: "c1", ListName: "big", Mode: ImportAllOrNothing})
		require.NoError(t, err)
		for b := 0; b < 2; b++ {
			cs := make([]Contact, 0, 700)
			for i := 0; i < 700; i++ {
				n := b*700 + i
				cs = append(cs, importContacts(n+2, fmt.Sprintf("+4474001%05d", n), fmt.Sprintf("+4420794%05d", n)))
			}
			require.NoError(t, im.Add(ctx, cs))
		}
		_, err = im.Finish(ctx, ImportCounts{Rows: 1400, Imported: 1400})
		require.NoError(t, err)
		n, nums := 0, 0
		require.NoError(t, s.EachContact(ctx, "c1", func(c Contact) error { n++; nums += len(c.Numbers); return nil }))
		require.Equal(t, 1400, n)
		require.Equal(t, 2800, nums)

		var wg sync.WaitGroup
		errs := make([]error, 2)
		ims := make([]*Import, 2)
		for i := range 2 {
			wg.Go(func() {
				ims[i], errs[i] = s.BeginImport(ctx, ImportSpec{CampaignID: "c1", ListName: "race", Mode: ImportPartial})
			})
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				_, err := ims[i].Abort(ctx, "test", ImportCounts{})
				require.NoError(t, err)
				continue
			}
			require.ErrorIs(t, err, ErrConflict)
		}
		require.Equal(t, 1, ok, "exactly one of two racing imports runs")
	})
}
