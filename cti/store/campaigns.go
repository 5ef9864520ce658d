package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Outbound campaigns (schema version 3): campaign definitions, contact lists filled by
// imports, do-not-call lists, attempts, campaign callbacks and safe-harbour lockouts.
//
// Imports are written in chunks, each its own short transaction (a million-row import
// never holds SQLite's write lock for long, so the batched writer keeps flowing), under
// an import record: contacts are visible to readers only once their import is
// "complete" or "partial". An import that fails, is aborted, or stops being updated
// (process killed) is "failed" and its rows are deleted — by Abort, or by the next
// import into the same list. So an import is all-or-nothing, or explicitly partial,
// never a silent half.

// More sentinels of the campaign tables.
var (
	ErrExists   = errors.New("already exists")
	ErrConflict = errors.New("conflicting change")
)

// Import modes and statuses.
const (
	ImportAllOrNothing = "all_or_nothing"
	ImportPartial      = "partial"

	ImportRunning   = "running"
	ImportComplete  = "complete"
	ImportPartialOK = "partial"
	ImportFailed    = "failed"
)

// StaleImport is how long a running import may go without writing before the next
// import into its list declares it dead (failed) and removes its rows.
const StaleImport = 2 * time.Minute

// Campaign is a stored campaign: its definition (JSON, owned by the caller) and
// lifecycle state (queue/dialer State's String() form).
type Campaign struct {
	ID        string
	Name      string
	State     string
	Config    json.RawMessage
	CreatedBy string
	Created   time.Time
	Updated   time.Time
}

// ContactList is a named list of a campaign with the number of visible contacts.
type ContactList struct {
	ID         string
	CampaignID string
	Name       string
	Created    time.Time
	Contacts   int
}

// ListImport is the record of one import into a list.
type ListImport struct {
	ID, ListID, CampaignID, ListName string
	FileName, Mode, Status, Error    string
	By                               string
	Rows, Imported, Rejected         int
	Duplicates                       int
	Started, Updated, Finished       time.Time
}

// ImportSpec says where an import goes.
type ImportSpec struct {
	CampaignID string
	ListName   string // created when the campaign has no list of that name
	FileName   string
	Mode       string // ImportAllOrNothing or ImportPartial
	By         string // who imports
}

// ContactNumber is one number of a contact (E.164).
type ContactNumber struct {
	Number string
	Zone   string // IANA zone of this number ("" = the contact's)
	Label  string // the column it came from
}

// Contact is one list entry.
type Contact struct {
	ID         string // assigned by the store
	ListID     string
	Line       int // line of the file it was imported from
	ExternalID string
	FirstName  string
	LastName   string
	Zone       string
	Fields     map[string]string // custom fields (screen-pop)
	Numbers    []ContactNumber
}

// ImportCounts are an import's totals, recorded by Finish or Abort.
type ImportCounts struct {
	Rows, Imported, Rejected, Duplicates int
}

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// tx runs f in one transaction, committed when f returns nil.
func (s *Store) tx(ctx context.Context, f func(tx *sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func (c Campaign) check() error {
	if err := checkAll(checkText("campaign id", c.ID, true), checkText("campaign name", c.Name, true),
		checkText("campaign state", c.State, true), checkText("created by", c.CreatedBy, false)); err != nil {
		return err
	}
	if len(c.Config) > 1<<20 || !json.Valid(c.Config) {
		return fmt.Errorf("%w: campaign %q: config must be valid JSON of at most 1 MiB", ErrInvalidRecord, c.ID)
	}
	return nil
}

// CreateCampaign saves a new campaign (committed on return); ErrExists if the id is taken.
func (s *Store) CreateCampaign(ctx context.Context, c Campaign) error {
	if err := c.check(); err != nil {
		return err
	}
	now := s.now()
	if c.Created.IsZero() {
		c.Created = now
	}
	if c.Updated.IsZero() {
		c.Updated = c.Created
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO campaigns (id, name, state, config, created_by, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`), c.ID, c.Name, c.State, string(c.Config), c.CreatedBy,
			micros(c.Created), micros(c.Updated))
		if err != nil {
			return fmt.Errorf("store: create campaign %q: %w", c.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(fmt.Errorf("%w: campaign %q", ErrExists, c.ID), err)
		}
		return nil
	})
}

// UpdateCampaign replaces a campaign's name and config, only while its state is one
// of states (none: any). ErrNotFound, or ErrConflict when the state does not allow it.
func (s *Store) UpdateCampaign(ctx context.Context, c Campaign, states ...string) error {
	if c.State == "" {
		c.State = "-" // not written; satisfies check
	}
	if err := c.check(); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := campaignState(ctx, tx, s.d, c.ID)
		if err != nil {
			return err
		}
		if len(states) > 0 && !contains(states, cur) {
			return fmt.Errorf("%w: campaign %q is %s", ErrConflict, c.ID, cur)
		}
		_, err = tx.ExecContext(ctx, s.d.q("UPDATE campaigns SET name = ?, config = ?, updated_at = ? WHERE id = ?"),
			c.Name, string(c.Config), micros(s.now()), c.ID)
		if err != nil {
			return fmt.Errorf("store: update campaign %q: %w", c.ID, err)
		}
		return nil
	})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func campaignState(ctx context.Context, tx *sql.Tx, d dialect, id string) (string, error) {
	var st string
	err := tx.QueryRowContext(ctx, d.q("SELECT state FROM campaigns WHERE id = ?"), id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: campaign %q", ErrNotFound, id)
	}
	if err != nil {
		return "", fmt.Errorf("store: campaign %q: %w", id, err)
	}
	return st, nil
}

// SetCampaignState moves a campaign from state from to state to (compare and set):
// ErrNotFound, or ErrConflict when it is not in from.
func (s *Store) SetCampaignState(ctx context.Context, id, from, to string) error {
	if err := checkAll(checkText("campaign state", to, true)); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := campaignState(ctx, tx, s.d, id)
		if err != nil {
			return err
		}
		if cur != from {
			return fmt.Errorf("%w: campaign %q is %s, not %s", ErrConflict, id, cur, from)
		}
		_, err = tx.ExecContext(ctx, s.d.q("UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?"), to, micros(s.now()), id)
		if err != nil {
			return fmt.Errorf("store: campaign %q state: %w", id, err)
		}
		return nil
	})
}

// DeleteCampaign removes a campaign with its lists and contacts, only while its
// state is one of states (none: any). Attempts stay as history.
func (s *Store) DeleteCampaign(ctx context.Context, id string, states ...string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := campaignState(ctx, tx, s.d, id)
		if err != nil {
			return err
		}
		if len(states) > 0 && !contains(states, cur) {
			return fmt.Errorf("%w: campaign %q is %s", ErrConflict, id, cur)
		}
		if _, err := tx.ExecContext(ctx, s.d.q("DELETE FROM campaigns WHERE id = ?"), id); err != nil {
			return fmt.Errorf("store: delete campaign %q: %w", id, err)
		}
		return nil
	})
}

const campaignCols = "id, name, state, config, created_by, created_at, updated_at"

func scanCampaign(r rowScanner) (Campaign, error) {
	var (
		c                Campaign
		cfg              string
		created, updated int64
	)
	if err := r.Scan(&c.ID, &c.Name, &c.State, &cfg, &c.CreatedBy, &created, &updated); err != nil {
		return Campaign{}, err
	}
	c.Config = json.RawMessage(cfg)
	c.Created, c.Updated = fromMicros(created), fromMicros(updated)
	return c, nil
}

// Campaign reads one campaign; ErrNotFound if there is none.
func (s *Store) Campaign(ctx context.Context, id string) (Campaign, error) {
	c, err := scanCampaign(s.db.QueryRowContext(ctx, s.d.q("SELECT "+campaignCols+" FROM campaigns WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, fmt.Errorf("%w: campaign %q", ErrNotFound, id)
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("store: campaign %q: %w", id, err)
	}
	return c, nil
}

// Campaigns lists every campaign by id.
func (s *Store) Campaigns(ctx context.Context) ([]Campaign, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+campaignCols+" FROM campaigns ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: campaigns: %w", err)
	}
	out := []Campaign{}
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("store: campaigns: %w", err), rows.Close())
		}
		out = append(out, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: campaigns: %w", err)
	}
	return out, nil
}

// visible is the SQL condition on an import (alias i) whose contacts may be used.
const visible = "i.status IN ('complete', 'partial')"

// ContactLists lists a campaign's lists with their visible contact counts.
func (s *Store) ContactLists(ctx context.Context, campaignID string) ([]ContactList, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT l.id, l.campaign_id, l.name, l.created_at,
    (SELECT COUNT(*) FROM contacts c JOIN list_imports i ON i.id = c.import_id WHERE c.list_id = l.id AND `+visible+`)
FROM contact_lists l WHERE l.campaign_id = ? ORDER BY l.created_at, l.id`), campaignID)
	if err != nil {
		return nil, fmt.Errorf("store: lists of %q: %w", campaignID, err)
	}
	out := []ContactList{}
	for rows.Next() {
		var l ContactList
		var created int64
		if err := rows.Scan(&l.ID, &l.CampaignID, &l.Name, &created, &l.Contacts); err != nil {
			return nil, errors.Join(fmt.Errorf("store: lists of %q: %w", campaignID, err), rows.Close())
		}
		l.Created = fromMicros(created)
		out = append(out, l)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: lists of %q: %w", campaignID, err)
	}
	return out, nil
}

// Import is one import in progress (BeginImport). Not safe for concurrent use.
type Import struct {
	s   *Store
	rec ListImport
	// Full-size multi-row inserts, prepared once per import (compiling a 3000-parameter
	// statement costs about as much as running it).
	contactsStmt, numbersStmt *sql.Stmt
	args                      []any // reused between chunks
}

func (im *Import) closeStmts() error {
	var err error
	for _, st := range []**sql.Stmt{&im.contactsStmt, &im.numbersStmt} {
		if *st != nil {
			err = errors.Join(err, (*st).Close())
			*st = nil
		}
	}
	return err
}

// exec runs query (rows rows) in tx, through the import's prepared statement when the
// chunk is full-size.
func (im *Import) exec(ctx context.Context, tx *sql.Tx, st **sql.Stmt, full bool, query string, args []any) error {
	if !full {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	}
	if *st == nil {
		p, err := im.s.db.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		*st = p
	}
	_, err := tx.StmtContext(ctx, *st).ExecContext(ctx, args...)
	return err
}

// BeginImport records a running import into the campaign's list (created if new).
// Rows of failed or stale imports into that list are removed first. ErrNotFound if
// the campaign does not exist, ErrConflict if another import into the list is running.
func (s *Store) BeginImport(ctx context.Context, spec ImportSpec) (*Import, error) {
	if err := checkAll(checkText("campaign id", spec.CampaignID, true), checkText("list name", spec.ListName, true),
		checkText("file name", spec.FileName, false), checkText("imported by", spec.By, false)); err != nil {
		return nil, err
	}
	if spec.Mode != ImportAllOrNothing && spec.Mode != ImportPartial {
		return nil, fmt.Errorf("%w: import mode %q: want %s or %s", ErrInvalidRecord, spec.Mode, ImportAllOrNothing, ImportPartial)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	listID, err := newID()
	if err != nil {
		return nil, err
	}
	now := s.now()
	rec := ListImport{ID: id, CampaignID: spec.CampaignID, ListName: spec.ListName, FileName: spec.FileName,
		Mode: spec.Mode, Status: ImportRunning, By: spec.By, Started: now, Updated: now}
	var dead []string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := campaignState(ctx, tx, s.d, spec.CampaignID); err != nil {
			return err
		}
		// The upsert locks the list row: concurrent imports into one list serialise here.
		if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO contact_lists (id, campaign_id, name, created_at, updated_at)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (campaign_id, name) DO UPDATE SET updated_at = excluded.updated_at`),
			listID, spec.CampaignID, spec.ListName, micros(now), micros(now)); err != nil {
			return fmt.Errorf("store: list %q: %w", spec.ListName, err)
		}
		if err := tx.QueryRowContext(ctx, s.d.q("SELECT id FROM contact_lists WHERE campaign_id = ? AND name = ?"),
			spec.CampaignID, spec.ListName).Scan(&rec.ListID); err != nil {
			return fmt.Errorf("store: list %q: %w", spec.ListName, err)
		}
		rows, err := tx.QueryContext(ctx, s.d.q(`SELECT id, status, updated_at FROM list_imports
WHERE list_id = ? AND status IN ('running', 'failed')`), rec.ListID)
		if err != nil {
			return fmt.Errorf("store: imports of list %q: %w", spec.ListName, err)
		}
		busy := ""
		for rows.Next() {
			var iid, st string
			var upd int64
			if err := rows.Scan(&iid, &st, &upd); err != nil {
				return errors.Join(err, rows.Close())
			}
			if st == ImportRunning && now.Sub(fromMicros(upd)) < StaleImport {
				busy = iid
				continue
			}
			dead = append(dead, iid)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("store: imports of list %q: %w", spec.ListName, err)
		}
		if busy != "" {
			return fmt.Errorf("%w: import %s into list %q is still running", ErrConflict, busy, spec.ListName)
		}
		for _, iid := range dead {
			if _, err := tx.ExecContext(ctx, s.d.q(`UPDATE list_imports SET status = 'failed',
    error = CASE WHEN error = '' THEN 'abandoned (process stopped during the import)' ELSE error END WHERE id = ?`), iid); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, s.d.q(`INSERT INTO list_imports (id, list_id, file_name, mode, status, created_by, started_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), rec.ID, rec.ListID, rec.FileName, rec.Mode, rec.Status, rec.By, micros(now), micros(now))
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, iid := range dead {
		if err := s.deleteImportRows(ctx, rec.ListID, iid); err != nil {
			return nil, errors.Join(err, s.failImport(ctx, rec.ID, "could not clean a failed import", ImportCounts{}))
		}
	}
	return &Import{s: s, rec: rec}, nil
}

// deleteImportRows removes an import's contacts (and their numbers) in short transactions.
func (s *Store) deleteImportRows(ctx context.Context, listID, importID string) error {
	for {
		res, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM contacts WHERE id IN (SELECT id FROM contacts WHERE list_id = ? AND import_id = ? LIMIT 5000)`), listID, importID)
		if err != nil {
			return fmt.Errorf("store: removing rows of import %s: %w", importID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: removing rows of import %s: %w", importID, err)
		}
		if n == 0 {
			return nil
		}
	}
}

// Record is the import record as begun.
func (im *Import) Record() ListImport { return im.rec }

// Existing calls fn with every number and every external id already in the list
// (for de-duplication). externalID is "" for number rows and number "" for id rows.
func (im *Import) Existing(ctx context.Context, fn func(number, externalID string)) error {
	s := im.s
	for _, q := range []string{
		"SELECT number, '' FROM contact_numbers WHERE list_id = ?",
		"SELECT '', external_id FROM contacts WHERE list_id = ? AND external_id <> '' AND import_id <> ?",
	} {
		args := []any{im.rec.ListID}
		if strings.Contains(q, "import_id") {
			args = append(args, im.rec.ID)
		}
		rows, err := s.db.QueryContext(ctx, s.d.q(q), args...)
		if err != nil {
			return fmt.Errorf("store: existing entries of list %q: %w", im.rec.ListName, err)
		}
		for rows.Next() {
			var n, x string
			if err := rows.Scan(&n, &x); err != nil {
				return errors.Join(fmt.Errorf("store: existing entries: %w", err), rows.Close())
			}
			fn(n, x)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("store: existing entries of list %q: %w", im.rec.ListName, err)
		}
	}
	return nil
}

// Rows per multi-row INSERT (well under both engines' parameter limits).
const (
	contactsPerInsert = 300
	numbersPerInsert  = 500
)

// Add writes contacts (one transaction) into the import; their ids are assigned here.
// ErrConflict if the import is no longer running (declared dead by another import).
func (im *Import) Add(ctx context.Context, cs []Contact) error {
	if len(cs) == 0 {
		return nil
	}
	s := im.s
	now := micros(s.now())
	for i := range cs {
		c := &cs[i]
		if err := checkAll(checkText("external id", c.ExternalID, false), checkText("first name", c.FirstName, false),
			checkText("last name", c.LastName, false), checkText("zone", c.Zone, false)); err != nil {
			return fmt.Errorf("line %d: %w", c.Line, err)
		}
		if len(c.Numbers) == 0 {
			return fmt.Errorf("%w: line %d: contact without a number", ErrInvalidRecord, c.Line)
		}
		c.ID = im.rec.ID + "-" + strconv.Itoa(c.Line)
		c.ListID = im.rec.ListID
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.q("UPDATE list_imports SET updated_at = ? WHERE id = ? AND status = 'running'"), now, im.rec.ID)
		if err != nil {
			return fmt.Errorf("store: import %s: %w", im.rec.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(fmt.Errorf("%w: import %s is no longer running", ErrConflict, im.rec.ID), err)
		}
		for start := 0; start < len(cs); start += contactsPerInsert {
			part := cs[start:min(start+contactsPerInsert, len(cs))]
			full := len(part) == contactsPerInsert
			query := ""
			if !full || im.contactsStmt == nil { // a prepared full-size statement needs no text
				query = s.d.q(multiInsert("INSERT INTO contacts (id, list_id, import_id, line, external_id, first_name, last_name, zone, fields, created_at) VALUES ",
					"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", len(part)))
			}
			args := im.args[:0]
			for _, c := range part {
				fields, err := fieldsJSON(c.Fields)
				if err != nil {
					return fmt.Errorf("%w: line %d: fields: %v", ErrInvalidRecord, c.Line, err)
				}
				args = append(args, c.ID, c.ListID, im.rec.ID, c.Line, c.ExternalID, c.FirstName, c.LastName, c.Zone, fields, now)
			}
			im.args = args
			if err := im.exec(ctx, tx, &im.contactsStmt, full, query, args); err != nil {
				return fmt.Errorf("store: import %s: contacts: %w", im.rec.ID, err)
			}
		}
		args := im.args[:0]
		n := 0
		flush := func() error {
			if n == 0 {
				return nil
			}
			full := n == numbersPerInsert
			query := ""
			if !full || im.numbersStmt == nil {
				query = s.d.q(multiInsert("INSERT INTO contact_numbers (contact_id, idx, list_id, number, zone, label) VALUES ",
					"(?, ?, ?, ?, ?, ?)", n))
			}
			err := im.exec(ctx, tx, &im.numbersStmt, full, query, args)
			args, n = args[:0], 0
			if err != nil {
				return fmt.Errorf("store: import %s: numbers: %w", im.rec.ID, err)
			}
			return nil
		}
		defer func() { im.args = args }()
		for _, c := range cs {
			for j, num := range c.Numbers {
				args = append(args, c.ID, j, c.ListID, num.Number, num.Zone, num.Label)
				n++
				if n == numbersPerInsert {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		return flush()
	})
}

// Finish records the import as complete (nothing rejected) or partial (rows rejected,
// in partial mode), committed on return. Its contacts become visible.
func (im *Import) Finish(ctx context.Context, n ImportCounts) (ListImport, error) {
	if err := im.closeStmts(); err != nil {
		return im.rec, fmt.Errorf("store: import %s: %w", im.rec.ID, err)
	}
	status := ImportComplete
	if n.Rejected > 0 {
		if im.rec.Mode != ImportPartial {
			return im.rec, fmt.Errorf("%w: import %s: %d rows rejected in all-or-nothing mode; abort it", ErrInvalidRecord, im.rec.ID, n.Rejected)
		}
		status = ImportPartialOK
	}
	now := im.s.now()
	err := im.s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, im.s.d.q(`UPDATE list_imports SET status = ?, rows_read = ?, imported = ?, rejected = ?,
    duplicates = ?, updated_at = ?, finished_at = ? WHERE id = ? AND status = 'running'`),
			status, n.Rows, n.Imported, n.Rejected, n.Duplicates, micros(now), micros(now), im.rec.ID)
		if err != nil {
			return fmt.Errorf("store: finish import %s: %w", im.rec.ID, err)
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			return errors.Join(fmt.Errorf("%w: import %s is no longer running", ErrConflict, im.rec.ID), err)
		}
		return nil
	})
	if err != nil {
		return im.rec, err
	}
	im.rec.Status, im.rec.Rows, im.rec.Imported, im.rec.Rejected, im.rec.Duplicates = status, n.Rows, n.Imported, n.Rejected, n.Duplicates
	im.rec.Updated, im.rec.Finished = now, now
	return im.rec, nil
}

// Abort marks the import failed (its rows become invisible at once) and deletes its
// rows. The counts and reason are kept on the import record.
func (im *Import) Abort(ctx context.Context, reason string, n ImportCounts) (ListImport, error) {
	err := errors.Join(im.closeStmts(), im.s.failImport(ctx, im.rec.ID, reason, n))
	if err == nil {
		err = im.s.deleteImportRows(ctx, im.rec.ListID, im.rec.ID)
	}
	im.rec.Status, im.rec.Error = ImportFailed, reason
	im.rec.Rows, im.rec.Rejected, im.rec.Duplicates = n.Rows, n.Rejected, n.Duplicates
	return im.rec, err
}

func (s *Store) failImport(ctx context.Context, id, reason string, n ImportCounts) error {
	if len(reason) > 4096 {
		reason = reason[:4096]
	}
	now := micros(s.now())
	_, err := s.db.ExecContext(ctx, s.d.q(`UPDATE list_imports SET status = 'failed', error = ?, rows_read = ?, imported = 0,
    rejected = ?, duplicates = ?, updated_at = ?, finished_at = ? WHERE id = ?`), reason, n.Rows, n.Rejected, n.Duplicates, now, now, id)
	if err != nil {
		return fmt.Errorf("store: fail import %s: %w", id, err)
	}
	return nil
}

// ListImports lists the imports of a campaign, newest first.
func (s *Store) ListImports(ctx context.Context, campaignID string) ([]ListImport, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT i.id, i.list_id, l.campaign_id, l.name, i.file_name, i.mode, i.status,
    i.error, i.created_by, i.rows_read, i.imported, i.rejected, i.duplicates, i.started_at, i.updated_at, i.finished_at
FROM list_imports i JOIN contact_lists l ON l.id = i.list_id WHERE l.campaign_id = ? ORDER BY i.started_at DESC, i.id`), campaignID)
	if err != nil {
		return nil, fmt.Errorf("store: imports of %q: %w", campaignID, err)
	}
	out := []ListImport{}
	for rows.Next() {
		var (
			r      ListImport
			st, up int64
			fin    sql.NullInt64
		)
		if err := rows.Scan(&r.ID, &r.ListID, &r.CampaignID, &r.ListName, &r.FileName, &r.Mode, &r.Status, &r.Error, &r.By,
			&r.Rows, &r.Imported, &r.Rejected, &r.Duplicates, &st, &up, &fin); err != nil {
			return nil, errors.Join(fmt.Errorf("store: imports of %q: %w", campaignID, err), rows.Close())
		}
		r.Started, r.Updated, r.Finished = fromMicros(st), fromMicros(up), fromNullMicros(fin)
		out = append(out, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: imports of %q: %w", campaignID, err)
	}
	return out, nil
}

// EachContact streams the campaign's visible contacts in dialling order (lists by
// creation, imports by start, then file line), numbers in their order. fn runs while
// the query holds one pooled connection; an error from fn stops the stream.
func (s *Store) EachContact(ctx context.Context, campaignID string, fn func(Contact) error) error {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT c.id, c.list_id, c.line, c.external_id, c.first_name, c.last_name,
    c.zone, c.fields, n.number, n.zone, n.label
FROM contacts c JOIN list_imports i ON i.id = c.import_id JOIN contact_lists l ON l.id = c.list_id
JOIN contact_numbers n ON n.contact_id = c.id
WHERE l.campaign_id = ? AND `+visible+`
ORDER BY l.created_at, l.id, i.started_at, i.id, c.line, n.idx`), campaignID)
	if err != nil {
		return fmt.Errorf("store: contacts of %q: %w", campaignID, err)
	}
	var cur Contact
	emit := func() error {
		if cur.ID == "" {
			return nil
		}
		err := fn(cur)
		cur = Contact{}
		return err
	}
	for rows.Next() {
		var (
			c      Contact
			fields string
			num    ContactNumber
		)
		if err := rows.Scan(&c.ID, &c.ListID, &c.Line, &c.ExternalID, &c.FirstName, &c.LastName, &c.Zone, &fields,
			&num.Number, &num.Zone, &num.Label); err != nil {
			return errors.Join(fmt.Errorf("store: contacts of %q: %w", campaignID, err), rows.Close())
		}
		if c.ID != cur.ID {
			if err := emit(); err != nil {
				return errors.Join(err, rows.Close())
			}
			if err := json.Unmarshal([]byte(fields), &c.Fields); err != nil {
				return errors.Join(fmt.Errorf("store: contact %s fields: %w", c.ID, err), rows.Close())
			}
			cur = c
		}
		cur.Numbers = append(cur.Numbers, num)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("store: contacts of %q: %w", campaignID, err)
	}
	return emit()
}

// ContactByID reads one visible contact with its numbers; ErrNotFound otherwise.
func (s *Store) ContactByID(ctx context.Context, id string) (Contact, error) {
	var (
		c      Contact
		fields string
	)
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT c.id, c.list_id, c.line, c.external_id, c.first_name, c.last_name, c.zone, c.fields
FROM contacts c JOIN list_imports i ON i.id = c.import_id WHERE c.id = ? AND `+visible), id).
		Scan(&c.ID, &c.ListID, &c.Line, &c.ExternalID, &c.FirstName, &c.LastName, &c.Zone, &fields)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, fmt.Errorf("%w: contact %q", ErrNotFound, id)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("store: contact %q: %w", id, err)
	}
	if err := json.Unmarshal([]byte(fields), &c.Fields); err != nil {
		return Contact{}, fmt.Errorf("store: contact %q fields: %w", id, err)
	}
	rows, err := s.db.QueryContext(ctx, s.d.q("SELECT number, zone, label FROM contact_numbers WHERE contact_id = ? ORDER BY idx"), id)
	if err != nil {
		return Contact{}, fmt.Errorf("store: contact %q numbers: %w", id, err)
	}
	for rows.Next() {
		var n ContactNumber
		if err := rows.Scan(&n.Number, &n.Zone, &n.Label); err != nil {
			return Contact{}, errors.Join(fmt.Errorf("store: contact %q numbers: %w", id, err), rows.Close())
		}
		c.Numbers = append(c.Numbers, n)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return Contact{}, fmt.Errorf("store: contact %q numbers: %w", id, err)
	}
	return c, nil
}

// --- do-not-call -------------------------------------------------------------------

// DNCGlobal is the scope of the internal (all campaigns) do-not-call list.
const DNCGlobal = ""

// DNC sources.
const (
	DNCSourceAPI         = "api"
	DNCSourceDisposition = "disposition"
	DNCSourceCSV         = "csv"
)

// DNCEntry is one number on a do-not-call list.
type DNCEntry struct {
	Scope   string // DNCGlobal or a campaign id
	Number  string // E.164
	Source  string // DNCSourceAPI, DNCSourceDisposition, DNCSourceCSV
	AddedBy string
	Reason  string
	Added   time.Time
}

func (e DNCEntry) check() error {
	return checkAll(checkText("dnc scope", e.Scope, false), checkText("dnc number", e.Number, true),
		checkText("dnc source", e.Source, true), checkText("dnc added by", e.AddedBy, true), checkText("dnc reason", e.Reason, false))
}

// AddDNC puts entries on their lists in one transaction, committed on return. A
// number already on the same list keeps its first entry. It returns how many were new.
func (s *Store) AddDNC(ctx context.Context, entries ...DNCEntry) (int, error) {
	now := s.now()
	for i := range entries {
		if err := entries[i].check(); err != nil {
			return 0, err
		}
		if entries[i].Added.IsZero() {
			entries[i].Added = now
		}
	}
	added := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		added = 0
		for _, e := range entries {
			res, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO dnc (scope, number, source, added_by, reason, added_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, number) DO NOTHING`), e.Scope, e.Number, e.Source, e.AddedBy, e.Reason, micros(e.Added))
			if err != nil {
				return fmt.Errorf("store: add dnc: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: add dnc: %w", err)
			}
			added += int(n)
		}
		return nil
	})
	return added, err
}

// RemoveDNC takes a number off one list (committed on return); ErrNotFound if absent.
func (s *Store) RemoveDNC(ctx context.Context, scope, number string) error {
	res, err := s.db.ExecContext(ctx, s.d.q("DELETE FROM dnc WHERE scope = ? AND number = ?"), scope, number)
	if err != nil {
		return fmt.Errorf("store: remove dnc: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: remove dnc: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s on do-not-call list %q", ErrNotFound, number, scope)
	}
	return nil
}

func scanDNC(r rowScanner) (DNCEntry, error) {
	var e DNCEntry
	var at int64
	if err := r.Scan(&e.Scope, &e.Number, &e.Source, &e.AddedBy, &e.Reason, &at); err != nil {
		return DNCEntry{}, err
	}
	e.Added = fromMicros(at)
	return e, nil
}

const dncCols = "scope, number, source, added_by, reason, added_at"

func (s *Store) queryDNC(ctx context.Context, q string, args []any, fn func(DNCEntry) error) error {
	rows, err := s.db.QueryContext(ctx, s.d.q(q), args...)
	if err != nil {
		return fmt.Errorf("store: dnc: %w", err)
	}
	for rows.Next() {
		e, err := scanDNC(rows)
		if err == nil {
			err = fn(e)
		}
		if err != nil {
			return errors.Join(fmt.Errorf("store: dnc: %w", err), rows.Close())
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("store: dnc: %w", err)
	}
	return nil
}

// DNCEntries pages through one list by number: entries after after, at most limit.
func (s *Store) DNCEntries(ctx context.Context, scope, after string, limit int) ([]DNCEntry, error) {
	if limit < 1 || limit > 10_000 {
		return nil, fmt.Errorf("%w: limit %d: must be between 1 and 10000", ErrInvalidRecord, limit)
	}
	out := []DNCEntry{}
	err := s.queryDNC(ctx, "SELECT "+dncCols+" FROM dnc WHERE scope = ? AND number > ? ORDER BY number LIMIT ?",
		[]any{scope, after, limit}, func(e DNCEntry) error { out = append(out, e); return nil })
	return out, err
}

// DNCLookup lists the entries of a number on every list.
func (s *Store) DNCLookup(ctx context.Context, number string) ([]DNCEntry, error) {
	out := []DNCEntry{}
	err := s.queryDNC(ctx, "SELECT "+dncCols+" FROM dnc WHERE number = ? ORDER BY scope", []any{number},
		func(e DNCEntry) error { out = append(out, e); return nil })
	return out, err
}

// EachDNC streams every entry of every list.
func (s *Store) EachDNC(ctx context.Context, fn func(DNCEntry) error) error {
	return s.queryDNC(ctx, "SELECT "+dncCols+" FROM dnc ORDER BY scope, number", nil, fn)
}

// --- attempts, campaign callbacks, lockouts (records through the writer) ------------

// CampaignAttempt is one dial of a campaign. Saving it again updates it: zero fields
// never erase what an earlier save recorded.
type CampaignAttempt struct {
	ID            string
	CampaignID    string
	ContactID     string
	Number        string
	Agent         string
	InteractionID string
	Outcome       string // dialer Outcome String() form, or "abandoned"
	Disposition   string
	Notes         string
	Placed        time.Time
	Answered      time.Time
	Connected     time.Time
	Ended         time.Time
	// RetryAt: when Number may be dialled again after this attempt (zero: not set);
	// NumberDead: Number is never dialled again (migration 0006).
	RetryAt    time.Time
	NumberDead bool
}

func (a CampaignAttempt) prepared(now time.Time) (Record, error) {
	if a.Placed.IsZero() {
		a.Placed = now
	}
	if err := checkAll(checkText("attempt id", a.ID, true), checkText("campaign id", a.CampaignID, true),
		checkText("contact id", a.ContactID, true), checkText("number", a.Number, true), checkText("agent", a.Agent, false),
		checkText("interaction id", a.InteractionID, false), checkText("outcome", a.Outcome, false),
		checkText("disposition", a.Disposition, false), checkText("notes", a.Notes, false)); err != nil {
		return nil, err
	}
	return a, nil
}

func (a CampaignAttempt) describe() string { return "campaign attempt " + a.ID }

// CampaignCallback is a callback promised to a campaign contact.
type CampaignCallback struct {
	ID         string
	CampaignID string
	ContactID  string
	Agent      string // personal callback; "" = shared
	Due        time.Time
	Zone       string // the contact's zone the time was given in
	Status     CallbackStatus
	CreatedBy  string
	Created    time.Time
	Completed  time.Time
}

func (c CampaignCallback) prepared(now time.Time) (Record, error) {
	if c.Created.IsZero() {
		c.Created = now
	}
	if c.Due.IsZero() {
		return nil, fmt.Errorf("%w: campaign callback %q: no due time", ErrInvalidRecord, c.ID)
	}
	if c.Status.String() == "unknown" {
		return nil, fmt.Errorf("%w: campaign callback %q: status %d", ErrInvalidRecord, c.ID, c.Status)
	}
	if err := checkAll(checkText("callback id", c.ID, true), checkText("campaign id", c.CampaignID, true),
		checkText("contact id", c.ContactID, true), checkText("agent", c.Agent, false), checkText("zone", c.Zone, false),
		checkText("created by", c.CreatedBy, false)); err != nil {
		return nil, err
	}
	return c, nil
}

func (c CampaignCallback) describe() string { return "campaign callback " + c.ID }

// Lockout keeps a number from being dialled without a guaranteed agent until Until
// (the 72 h safe-harbour lockout). Saving a shorter lockout never shortens one.
type Lockout struct {
	Number     string
	CampaignID string
	Until      time.Time
	Reason     string
	Created    time.Time
}

func (l Lockout) prepared(now time.Time) (Record, error) {
	if l.Created.IsZero() {
		l.Created = now
	}
	if l.Until.IsZero() {
		return nil, fmt.Errorf("%w: lockout of %q: no end time", ErrInvalidRecord, l.Number)
	}
	if err := checkAll(checkText("number", l.Number, true), checkText("campaign id", l.CampaignID, true),
		checkText("reason", l.Reason, false)); err != nil {
		return nil, err
	}
	return l, nil
}

func (l Lockout) describe() string { return "lockout of a number for campaign " + l.CampaignID }

func (s *Store) applyAttempt(ctx context.Context, tx *sql.Tx, a CampaignAttempt) error {
	return s.exec(ctx, tx, `INSERT INTO campaign_attempts (id, campaign_id, contact_id, number, agent, interaction_id,
    outcome, disposition, notes, placed_at, answered_at, connected_at, ended_at, retry_at, number_dead)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    agent          = COALESCE(NULLIF(excluded.agent, ''), campaign_attempts.agent),
    interaction_id = COALESCE(NULLIF(excluded.interaction_id, ''), campaign_attempts.interaction_id),
    outcome        = COALESCE(NULLIF(excluded.outcome, ''), campaign_attempts.outcome),
    disposition    = COALESCE(NULLIF(excluded.disposition, ''), campaign_attempts.disposition),
    notes          = COALESCE(NULLIF(excluded.notes, ''), campaign_attempts.notes),
    answered_at    = COALESCE(excluded.answered_at, campaign_attempts.answered_at),
    connected_at   = COALESCE(excluded.connected_at, campaign_attempts.connected_at),
    ended_at       = COALESCE(excluded.ended_at, campaign_attempts.ended_at),
    retry_at       = COALESCE(excluded.retry_at, campaign_attempts.retry_at),
    number_dead    = CASE WHEN excluded.number_dead <> 0 THEN 1 ELSE campaign_attempts.number_dead END`,
		a.ID, a.CampaignID, a.ContactID, a.Number, a.Agent, a.InteractionID, a.Outcome, a.Disposition, a.Notes,
		micros(a.Placed), nullMicros(a.Answered), nullMicros(a.Connected), nullMicros(a.Ended), nullMicros(a.RetryAt), boolInt(a.NumberDead))
}

func (s *Store) applyCampaignCallback(ctx context.Context, tx *sql.Tx, c CampaignCallback) error {
	return s.exec(ctx, tx, `INSERT INTO campaign_callbacks (id, campaign_id, contact_id, agent, due_at, zone, status,
    created_by, created_at, completed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET agent = excluded.agent, due_at = excluded.due_at, zone = excluded.zone,
    status = excluded.status, completed_at = excluded.completed_at`,
		c.ID, c.CampaignID, c.ContactID, c.Agent, micros(c.Due), c.Zone, c.Status.String(), c.CreatedBy,
		micros(c.Created), nullMicros(c.Completed))
}

func (s *Store) applyLockout(ctx context.Context, tx *sql.Tx, l Lockout) error {
	return s.exec(ctx, tx, `INSERT INTO number_lockouts (number, campaign_id, until_at, reason, created_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (number) DO UPDATE SET
    campaign_id = CASE WHEN excluded.until_at > number_lockouts.until_at THEN excluded.campaign_id ELSE number_lockouts.campaign_id END,
    reason      = CASE WHEN excluded.until_at > number_lockouts.until_at THEN excluded.reason ELSE number_lockouts.reason END,
    until_at    = CASE WHEN excluded.until_at > number_lockouts.until_at THEN excluded.until_at ELSE number_lockouts.until_at END`,
		l.Number, l.CampaignID, micros(l.Until), l.Reason, micros(l.Created))
}

// CampaignAttempts lists a campaign's attempts oldest first (contactID "" = all),
// at most limit (1..10000).
func (s *Store) CampaignAttempts(ctx context.Context, campaignID, contactID string, limit int) ([]CampaignAttempt, error) {
	if limit < 1 || limit > 10_000 {
		return nil, fmt.Errorf("%w: limit %d: must be between 1 and 10000", ErrInvalidRecord, limit)
	}
	out := []CampaignAttempt{}
	err := s.eachAttempt(ctx, `SELECT `+attemptCols+` FROM campaign_attempts
WHERE campaign_id = ? AND (CAST(? AS TEXT) = '' OR contact_id = ?) ORDER BY placed_at, id LIMIT ?`,
		[]any{campaignID, contactID, contactID, limit}, func(a CampaignAttempt) error {
			out = append(out, a)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: attempts of %q: %w", campaignID, err)
	}
	return out, nil
}

// CampaignCallbacks lists a campaign's callbacks in status, by due time.
func (s *Store) CampaignCallbacks(ctx context.Context, campaignID string, status CallbackStatus) ([]CampaignCallback, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT id, campaign_id, contact_id, agent, due_at, zone, status, created_by,
    created_at, completed_at FROM campaign_callbacks WHERE campaign_id = ? AND status = ? ORDER BY due_at, id`),
		campaignID, status.String())
	if err != nil {
		return nil, fmt.Errorf("store: callbacks of %q: %w", campaignID, err)
	}
	out := []CampaignCallback{}
	for rows.Next() {
		var (
			c            CampaignCallback
			st           string
			due, created int64
			done         sql.NullInt64
		)
		if err := rows.Scan(&c.ID, &c.CampaignID, &c.ContactID, &c.Agent, &due, &c.Zone, &st, &c.CreatedBy, &created, &done); err != nil {
			return nil, errors.Join(fmt.Errorf("store: callbacks of %q: %w", campaignID, err), rows.Close())
		}
		if c.Status, err = ParseCallbackStatus(st); err != nil {
			return nil, errors.Join(err, rows.Close())
		}
		c.Due, c.Created, c.Completed = fromMicros(due), fromMicros(created), fromNullMicros(done)
		out = append(out, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: callbacks of %q: %w", campaignID, err)
	}
	return out, nil
}

// ActiveLockouts lists the lockouts still in force at now.
func (s *Store) ActiveLockouts(ctx context.Context, now time.Time) ([]Lockout, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT number, campaign_id, until_at, reason, created_at FROM number_lockouts
WHERE until_at > ? ORDER BY number`), micros(now))
	if err != nil {
		return nil, fmt.Errorf("store: lockouts: %w", err)
	}
	out := []Lockout{}
	for rows.Next() {
		var l Lockout
		var until, created int64
		if err := rows.Scan(&l.Number, &l.CampaignID, &until, &l.Reason, &created); err != nil {
			return nil, errors.Join(fmt.Errorf("store: lockouts: %w", err), rows.Close())
		}
		l.Until, l.Created = fromMicros(until), fromMicros(created)
		out = append(out, l)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: lockouts: %w", err)
	}
	return out, nil
}
