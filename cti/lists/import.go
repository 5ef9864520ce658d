package lists

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/ctid/ctid/cti/store"
)

// Sink receives an import's contacts (*store.Import).
type Sink interface {
	// Existing calls fn with every number and external id already in the list.
	Existing(ctx context.Context, fn func(number, externalID string)) error
	// Add writes a batch of contacts (one transaction).
	Add(ctx context.Context, cs []store.Contact) error
}

// Problem kinds.
const (
	KindRejected  = "rejected"  // the row is refused (fails an all-or-nothing import)
	KindDuplicate = "duplicate" // the row's numbers (or id) are already in the file or the list: skipped
	KindNote      = "note"      // the row is imported, with a remark (e.g. a repeated number dropped)
)

// Problem is one reported row.
type Problem struct {
	Line   int    `json:"line"`
	Kind   string `json:"kind"`
	Column string `json:"column,omitempty"`
	Reason string `json:"reason"`
}

// Progress is reported after every batch and at the end.
type Progress struct {
	Bytes                                int64 // bytes of the file read so far
	Rows, Imported, Rejected, Duplicates int
}

// Result is what an import did.
type Result struct {
	Rows       int       `json:"rows"`     // data rows read
	Imported   int       `json:"imported"` // contacts kept (0 for a failed import)
	Rejected   int       `json:"rejected"`
	Duplicates int       `json:"duplicates"`
	Problems   []Problem `json:"problems"`
	Truncated  bool      `json:"problems_truncated"` // more problems than MaxReported
}

// Parse reads the CSV from r and writes the contacts to sink in batches. In
// all-or-nothing mode writing stops at the first rejected row but the whole file is
// still read, so that every problem is reported; the error then wraps
// ErrRejectedRows and the caller must abort the import. A fatal problem (encoding,
// header, mapping, line length, syntax, read error) returns its sentinel with the
// line number. progress may be nil.
func Parse(ctx context.Context, r io.Reader, cfg Config, m Mapping, sink Sink, progress func(Progress)) (Result, error) {
	cfg = cfg.WithDefaults()
	res := Result{Problems: []Problem{}}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	g := &guard{r: r, maxLine: cfg.MaxLineBytes, maxRecord: int64(cfg.MaxRecordBytes), line: 1}
	cr := csv.NewReader(bufio.NewReaderSize(g, 64<<10))
	cr.Comma = cfg.Comma
	cr.FieldsPerRecord = -1
	p := &parser{cfg: cfg, res: &res, zones: newZones(), seed: maphash.MakeSeed(),
		numbers: map[uint64]int32{}, ids: map[uint64]int32{}, region: strings.ToUpper(cfg.DefaultRegion)}

	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return res, fmt.Errorf("%w: the file is empty (expected a header row naming the columns)", ErrHeader)
		}
		return res, p.fatal(err, g, cr)
	}
	g.recordStart = cr.InputOffset()
	if err := p.mapHeader(header, m); err != nil {
		return res, err
	}
	if err := sink.Existing(ctx, func(number, id string) {
		if number != "" {
			if k, ok := numberKey(number); ok {
				p.numbers[k] = 0
			}
		}
		if id != "" {
			p.ids[maphash.String(p.seed, id)] = 0
		}
	}); err != nil {
		return res, err
	}

	batch := make([]store.Contact, 0, cfg.BatchSize)
	writing := true
	report := func() {
		if progress != nil {
			progress(Progress{Bytes: g.n, Rows: res.Rows, Imported: res.Imported, Rejected: res.Rejected, Duplicates: res.Duplicates})
		}
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if writing {
			if err := sink.Add(ctx, batch); err != nil {
				return err
			}
			res.Imported += len(batch)
		}
		batch = batch[:0]
		report()
		return nil
	}
	// Numbers are normalised by workers (libphonenumber's validation is the costly
	// part); rows are then taken in file order on this goroutine. At most
	// 2×workers chunks are in flight, so memory stays bounded.
	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	work := make(chan *chunk)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			nz := p.normaliser()
			for ch := range work {
				for i := range ch.rows {
					ch.norms[i] = nz.row(ch.rows[i].rec)
				}
				close(ch.done)
			}
		})
	}
	stopWorkers := sync.OnceFunc(func() { close(work); wg.Wait() })
	defer stopWorkers()
	var pending []*chunk
	cur := newChunk(chunkRows)
	take := func() error { // the oldest chunk, in order
		ch := pending[0]
		pending = pending[1:]
		select {
		case <-ch.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		for i, in := range ch.rows {
			c, ok := p.row(in.rec, in.line, ch.norms[i])
			if !ok {
				if cfg.Mode == AllOrNothing && writing && res.Rejected > 0 {
					writing = false // keep reading to report every problem, write nothing more
					batch = batch[:0]
				}
				continue
			}
			if writing {
				batch = append(batch, c)
			}
			if len(batch) >= cfg.BatchSize {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if !writing {
			report()
		}
		return nil
	}
	dispatch := func() error {
		if len(cur.rows) == 0 {
			return nil
		}
		if len(pending) >= 2*workers {
			if err := take(); err != nil {
				return err
			}
		}
		select {
		case work <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
		pending = append(pending, cur)
		cur = newChunk(chunkRows)
		return nil
	}
	finish := func() error {
		if err := dispatch(); err != nil {
			return err
		}
		for len(pending) > 0 {
			if err := take(); err != nil {
				return err
			}
		}
		return nil
	}
	var fatal error
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fatal = p.fatal(err, g, cr)
			break
		}
		line, _ := cr.FieldPos(0)
		end := cr.InputOffset()
		if end-g.recordStart > int64(cfg.MaxRecordBytes) {
			fatal = fmt.Errorf("%w: the record starting at line %d is longer than %d bytes", ErrLineTooLong, line, cfg.MaxRecordBytes)
			break
		}
		g.recordStart = end
		if fatal = p.checkUTF8(rec, cr); fatal != nil {
			break
		}
		if p.blank(rec) {
			continue
		}
		res.Rows++
		if res.Rows > cfg.MaxRows {
			fatal = fmt.Errorf("%w: line %d: more than %d data rows; split the file", ErrTooManyRows, line, cfg.MaxRows)
			break
		}
		cur.add(rec, line)
		if len(cur.rows) == chunkRows {
			if err := dispatch(); err != nil {
				return res, err
			}
		}
	}
	if fatal != nil {
		writing = false // the import fails: report the rows read so far, write nothing more
		batch = batch[:0]
	}
	if err := finish(); err != nil {
		return res, err
	}
	if fatal != nil {
		return res, fatal
	}
	if err := flush(); err != nil {
		return res, err
	}
	report()
	if cfg.Mode == AllOrNothing && res.Rejected > 0 {
		first := p.firstReject
		return res, fmt.Errorf("%w: %d of %d rows rejected (first: line %d: %s); nothing was imported — fix the file, or import with partial mode to keep the good rows",
			ErrRejectedRows, res.Rejected, res.Rows, first.Line, first.Reason)
	}
	return res, nil
}

type parser struct {
	cfg    Config
	res    *Result
	zones  *zones
	region string
	seed   maphash.Seed
	header []string

	phones                   []int // column indexes
	first, last, zone, extID int   // -1: absent
	fields                   []int

	numbers     map[uint64]int32 // E.164 as an integer → first line (0: already in the list)
	inRow       []uint64         // row's numbers (reused)
	ids         map[uint64]int32 // external id hash → first line
	firstReject Problem
}

func normName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// phoneLike names the columns used when no phone column is mapped.
func phoneLike(name string) bool {
	n := strings.NewReplacer("_", "", " ", "", "-", "").Replace(normName(name))
	for _, w := range []string{"phone", "mobile", "tel", "cell", "msisdn"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return n == "number" || n == "phonenumber"
}

func (p *parser) mapHeader(header []string, m Mapping) error {
	if len(header) > p.cfg.MaxColumns {
		return fmt.Errorf("%w: %d columns, at most %d", ErrHeader, len(header), p.cfg.MaxColumns)
	}
	idx := map[string]int{}
	for i, h := range header {
		if !utf8.ValidString(h) {
			return fmt.Errorf("%w: line 1 (header), column %d is not valid UTF-8; save the file as \"CSV UTF-8\"", ErrEncoding, i+1)
		}
		h = strings.TrimSpace(h)
		p.header = append(p.header, h)
		n := normName(h)
		if n == "" {
			continue
		}
		if _, dup := idx[n]; dup {
			return fmt.Errorf("%w: column %q appears twice in the header", ErrHeader, h)
		}
		idx[n] = i
	}
	names := make([]string, 0, len(p.header))
	for _, h := range p.header {
		names = append(names, strconv.Quote(h))
	}
	find := func(what, col string) (int, error) {
		if col == "" {
			return -1, nil
		}
		i, ok := idx[normName(col)]
		if !ok {
			return -1, fmt.Errorf("%w: %s column %q is not in the header (columns: %s)", ErrMapping, what, col, strings.Join(names, ", "))
		}
		return i, nil
	}
	used := map[int]bool{}
	for _, col := range m.Phones {
		i, err := find("phone", col)
		if err != nil {
			return err
		}
		if !used[i] {
			p.phones = append(p.phones, i)
			used[i] = true
		}
	}
	if len(m.Phones) == 0 {
		for i, h := range p.header {
			if phoneLike(h) {
				p.phones = append(p.phones, i)
				used[i] = true
			}
		}
	}
	if len(p.phones) == 0 {
		return fmt.Errorf("%w: no phone column: the header has %s; name one with a mapping such as phone=<column>", ErrMapping, strings.Join(names, ", "))
	}
	var err error
	for _, f := range []struct {
		what, col string
		dst       *int
	}{{"first name", m.FirstName, &p.first}, {"last name", m.LastName, &p.last}, {"zone", m.Zone, &p.zone}, {"external id", m.ExternalID, &p.extID}} {
		if *f.dst, err = find(f.what, f.col); err != nil {
			return err
		}
		if *f.dst >= 0 {
			if used[*f.dst] {
				return fmt.Errorf("%w: column %q is mapped twice", ErrMapping, f.col)
			}
			used[*f.dst] = true
		}
	}
	// Without an explicit mapping, the usual names are recognised.
	auto := func(dst *int, set string, names ...string) {
		if *dst >= 0 || set != "" {
			return
		}
		for _, n := range names {
			if i, ok := idx[n]; ok && !used[i] {
				*dst, used[i] = i, true
				return
			}
		}
	}
	auto(&p.first, m.FirstName, "first_name", "firstname", "first name", "given name")
	auto(&p.last, m.LastName, "last_name", "lastname", "last name", "surname", "family name")
	auto(&p.zone, m.Zone, "zone", "timezone", "time_zone", "time zone", "tz")
	auto(&p.extID, m.ExternalID, "external_id", "externalid", "external id", "id", "crm_id")
	if m.Fields != nil {
		for _, col := range m.Fields {
			i, err := find("field", col)
			if err != nil {
				return err
			}
			p.fields = append(p.fields, i)
		}
	} else {
		for i, h := range p.header {
			if !used[i] && h != "" {
				p.fields = append(p.fields, i)
			}
		}
	}
	return nil
}

func (p *parser) blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func (p *parser) problem(pr Problem) {
	switch pr.Kind {
	case KindRejected:
		if p.res.Rejected == 0 {
			p.firstReject = pr
		}
		p.res.Rejected++
	case KindDuplicate:
		p.res.Duplicates++
	}
	if len(p.res.Problems) < p.cfg.MaxReported {
		p.res.Problems = append(p.res.Problems, pr)
	} else {
		p.res.Truncated = true
	}
}

// numberKey turns an E.164 number into an integer key (no leading zero after '+',
// at most 15 digits, so the mapping is one to one).
func numberKey(e164 string) (uint64, bool) {
	if len(e164) < 2 || e164[0] != '+' {
		return 0, false
	}
	v, err := strconv.ParseUint(e164[1:], 10, 64)
	return v, err == nil
}

func (p *parser) cell(rec []string, i int) string {
	if i < 0 || i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// chunkRows is how many rows go to a worker at once.
const chunkRows = 512

type rowIn struct {
	rec  []string
	line int
}

// norm is one phone cell normalised: e164 "" and reason "" for an empty cell.
type norm struct {
	e164, zone, reason string
	key                uint64
}

type chunk struct {
	rows  []rowIn
	norms [][]norm
	done  chan struct{}
}

func newChunk(n int) *chunk {
	return &chunk{rows: make([]rowIn, 0, n), done: make(chan struct{})}
}

func (c *chunk) add(rec []string, line int) {
	c.rows = append(c.rows, rowIn{rec: rec, line: line})
	c.norms = append(c.norms, nil)
}

// normaliser turns a row's phone cells into E.164 (one per worker goroutine).
type normaliser struct {
	phones []int
	region string
	zones  *zones
	valid  validator
	pn     phonenumbers.PhoneNumber
	// fast path (fast.go): fpn's fields point at cc and nn
	fast fastRegions
	fpn  phonenumbers.PhoneNumber
	cc   int32
	nn   uint64
	buf  []byte
	e164 []byte
}

func (p *parser) normaliser() *normaliser {
	return &normaliser{phones: p.phones, region: p.region, zones: newZones(), valid: validator{}}
}

// fastParse reads a plain number without phonenumbers.Parse (fast.go): the number
// (nz.fpn) and its E.164 form, or nil to parse it with the library.
func (nz *normaliser) fastParse(raw string) (*phonenumbers.PhoneNumber, string) {
	cc, nsn, ok := nz.fast.region(nz.region).parse(raw, nz.buf, nz.fast.ofCC)
	if cap(nsn) > cap(nz.buf) {
		nz.buf = nsn[:0]
	}
	if !ok {
		return nil, ""
	}
	nn, err := strconv.ParseUint(string(nsn), 10, 64)
	if err != nil {
		return nil, ""
	}
	nz.cc, nz.nn = cc, nn
	nz.fpn.CountryCode, nz.fpn.NationalNumber = &nz.cc, &nz.nn
	nz.e164 = strconv.AppendInt(append(nz.e164[:0], '+'), int64(cc), 10)
	nz.e164 = append(nz.e164, nsn...)
	return &nz.fpn, string(nz.e164)
}

func (nz *normaliser) row(rec []string) []norm {
	out := make([]norm, len(nz.phones))
	for j, i := range nz.phones {
		if i >= len(rec) {
			continue
		}
		raw := strings.TrimSpace(rec[i])
		if raw == "" {
			continue
		}
		pn, e164 := nz.fastParse(raw)
		if pn == nil {
			if err := phonenumbers.ParseToNumber(raw, nz.region, &nz.pn); err != nil {
				out[j].reason = fmt.Sprintf("%q is not a phone number (%v)", raw, err)
				continue
			}
			pn = &nz.pn
		}
		if !nz.valid.valid(pn, nz.region) {
			out[j].reason = fmt.Sprintf("%q is not a valid phone number (default region %s)", raw, nz.region)
			continue
		}
		if e164 == "" {
			e164 = phonenumbers.Format(pn, phonenumbers.E164)
		}
		key, ok := numberKey(e164)
		if !ok {
			out[j].reason = fmt.Sprintf("%q does not normalise to E.164", raw)
			continue
		}
		out[j].e164, out[j].key = e164, key
		if tzs, err := phonenumbers.GetTimezonesForPrefix(e164); err == nil { // GetTimezonesForNumber without its Format
			out[j].zone = nz.zones.pick(tzs)
		}
	}
	return out
}

func (p *parser) checkUTF8(rec []string, cr *csv.Reader) error {
	for i, f := range rec {
		if !utf8.ValidString(f) {
			l, col := cr.FieldPos(i)
			return fmt.Errorf("%w: line %d, column %d holds bytes that are not UTF-8 (e.g. Latin-1 or Windows-1252); save the file as \"CSV UTF-8\"", ErrEncoding, l, col)
		}
	}
	return nil
}

// row turns one record (with its normalised numbers) into a contact; ok false when
// it is rejected or a duplicate (reported).
func (p *parser) row(rec []string, line int, norms []norm) (store.Contact, bool) {
	reject := func(col, f string, a ...any) (store.Contact, bool) {
		p.problem(Problem{Line: line, Kind: KindRejected, Column: col, Reason: fmt.Sprintf(f, a...)})
		return store.Contact{}, false
	}
	if len(rec) != len(p.header) {
		return reject("", "%d fields, the header has %d", len(rec), len(p.header))
	}
	c := store.Contact{Line: line, FirstName: p.cell(rec, p.first), LastName: p.cell(rec, p.last), ExternalID: p.cell(rec, p.extID)}
	if z := p.cell(rec, p.zone); z != "" {
		if !p.zones.valid(z) {
			return reject(p.header[p.zone], "time zone %q is not an IANA zone name (e.g. Europe/London)", z)
		}
		c.Zone = z
	}
	found := false
	for j, n := range norms {
		if n.reason != "" {
			return reject(p.header[p.phones[j]], "%s", n.reason)
		}
		found = found || n.e164 != ""
	}
	if !found {
		cols := make([]string, 0, len(p.phones))
		for _, i := range p.phones {
			cols = append(cols, strconv.Quote(p.header[i]))
		}
		return reject("", "no phone number (columns %s are empty)", strings.Join(cols, ", "))
	}
	if c.ExternalID != "" {
		if first, dup := p.ids[maphash.String(p.seed, c.ExternalID)]; dup {
			p.problem(Problem{Line: line, Kind: KindDuplicate, Column: p.header[p.extID], Reason: dupReason("external id "+strconv.Quote(c.ExternalID), first)})
			return store.Contact{}, false
		}
	}
	var dropped []string
	inRow := p.inRow[:0] // a row has a handful of numbers: a slice beats a map
	for j, n := range norms {
		if n.e164 == "" || slices.Contains(inRow, n.key) {
			continue // empty, or the same number twice in the row
		}
		if first, dup := p.numbers[n.key]; dup {
			dropped = append(dropped, dupReason(n.e164, first))
			continue
		}
		inRow = append(inRow, n.key)
		zone := n.zone
		if c.Zone != "" && p.zone >= 0 {
			zone = "" // the zone column applies to every number
		}
		c.Numbers = append(c.Numbers, store.ContactNumber{Number: n.e164, Zone: zone, Label: p.header[p.phones[j]]})
	}
	if len(c.Numbers) == 0 {
		p.problem(Problem{Line: line, Kind: KindDuplicate, Reason: strings.Join(dropped, "; ")})
		return store.Contact{}, false
	}
	p.inRow = inRow
	for _, k := range inRow {
		p.numbers[k] = int32(line)
	}
	if len(dropped) > 0 {
		p.problem(Problem{Line: line, Kind: KindNote, Reason: "imported without " + strings.Join(dropped, "; ")})
	}
	if c.ExternalID != "" {
		p.ids[maphash.String(p.seed, c.ExternalID)] = int32(line)
	}
	if c.Zone == "" {
		for _, n := range c.Numbers {
			if n.Zone != "" {
				c.Zone = n.Zone
				break
			}
		}
	}
	for _, i := range p.fields {
		if v := p.cell(rec, i); v != "" {
			if c.Fields == nil {
				c.Fields = make(map[string]string, len(p.fields))
			}
			c.Fields[p.header[i]] = v
		}
	}
	return c, true
}

func dupReason(what string, first int32) string {
	if first == 0 {
		return what + " is already in the list"
	}
	return fmt.Sprintf("%s is already on line %d", what, first)
}

// fatal turns a reader error into the import's error, naming the line.
func (p *parser) fatal(err error, g *guard, cr *csv.Reader) error {
	var ge *guardError
	if errors.As(err, &ge) {
		return ge.err
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: line %d, column %d: %v (a quoted field must end with a quote; quotes inside are doubled)", ErrSyntax, pe.StartLine, pe.Column, pe.Err)
	}
	return fmt.Errorf("%w: near line %d: %w", ErrRead, g.line, err)
}

// guard sits under the CSV reader: it strips a UTF-8 byte-order mark, refuses UTF-16
// and NUL bytes, counts lines and bytes, and refuses a line longer than maxLine
// before it is buffered.
type guard struct {
	r           io.Reader
	maxLine     int
	maxRecord   int64
	started     bool
	line        int   // physical line of the next byte
	col         int   // bytes since the last newline
	n           int64 // bytes passed on
	recordStart int64 // the CSV reader's offset at the end of the last record
	err         error
}

type guardError struct{ err error }

func (e *guardError) Error() string { return e.err.Error() }
func (e *guardError) Unwrap() error { return e.err }

func (g *guard) Read(b []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if !g.started {
		g.started = true
		head := make([]byte, 3)
		k, err := io.ReadFull(g.r, head)
		head = head[:k]
		switch {
		case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
			head = head[3:]
		case bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
			g.err = &guardError{fmt.Errorf("%w: it starts with a UTF-16 byte-order mark; save it as \"CSV UTF-8\"", ErrEncoding)}
			return 0, g.err
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			g.err = &guardError{fmt.Errorf("%w: %v", ErrRead, err)}
			return 0, g.err
		}
		if len(head) > 0 {
			g.r = io.MultiReader(bytes.NewReader(head), g.r)
		}
	}
	n, err := g.r.Read(b)
	for i := 0; i < n; i++ {
		switch b[i] {
		case '\n':
			g.line++
			g.col = 0
			continue
		case 0:
			g.err = &guardError{fmt.Errorf("%w: line %d holds a NUL byte (UTF-16 or a binary file?); save it as \"CSV UTF-8\"", ErrEncoding, g.line)}
			return 0, g.err
		}
		g.col++
		// The CSV reader reads ahead by at most its 64 KiB buffer.
		if g.n+int64(i)-g.recordStart > g.maxRecord+128<<10 {
			g.err = &guardError{fmt.Errorf("%w: the record ending near line %d is longer than %d bytes (an unclosed quote?)", ErrLineTooLong, g.line, g.maxRecord)}
			return 0, g.err
		}
		if g.col > g.maxLine {
			g.err = &guardError{fmt.Errorf("%w: line %d is longer than %d bytes; is this a CSV file with line breaks?", ErrLineTooLong, g.line, g.maxLine)}
			return 0, g.err
		}
	}
	g.n += int64(n)
	return n, err
}
