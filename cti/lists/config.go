// Package lists imports campaign contact lists from CSV: streaming (memory bounded by
// the longest record and the de-duplication sets, never by the file), UTF-8 only,
// header-driven column mapping, phone numbers normalised to E.164 with
// github.com/nyaruka/phonenumbers and a default region, each contact's time zone taken
// from a column or derived from its numbers, de-duplication within the file and against
// the list, and every refused row reported with its line number and reason.
//
// An import is all-or-nothing (the default: one refused row and nothing is kept) or
// explicitly partial (good rows kept, the import recorded as "partial"). Rows go to
// the store in chunks under an import record that makes them visible only when the
// import completes (see store.BeginImport).
package lists

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Sentinel errors: a fatal problem with the file as a whole (no row is kept).
var (
	ErrInvalidConfig = errors.New("lists: invalid import configuration")
	ErrEncoding      = errors.New("the file is not UTF-8 text")
	ErrHeader        = errors.New("the header row cannot be used")
	ErrMapping       = errors.New("the column mapping does not match the header")
	ErrLineTooLong   = errors.New("line too long")
	ErrTooManyRows   = errors.New("too many rows")
	ErrRejectedRows  = errors.New("rows were rejected in an all-or-nothing import")
	ErrRead          = errors.New("the file cannot be read")
	ErrSyntax        = errors.New("CSV syntax error")
)

// Mode is all-or-nothing or partial.
type Mode uint8

// Import modes.
const (
	AllOrNothing Mode = iota // any rejected row: nothing is imported
	Partial                  // rejected rows are reported and skipped; the import is marked partial
)

func (m Mode) String() string {
	switch m {
	case AllOrNothing:
		return "all_or_nothing"
	case Partial:
		return "partial"
	}
	return "unknown"
}

// Config tunes an import.
type Config struct {
	// DefaultRegion is the ISO 3166-1 region of numbers written without a country
	// code (e.g. "GB", "US", "DE").
	DefaultRegion string
	Mode          Mode
	Comma         rune // field separator; default ','
	// MaxLineBytes bounds one physical line (default 1 MiB); MaxRecordBytes one
	// record, quoted newlines included (default 4 MiB).
	MaxLineBytes   int
	MaxRecordBytes int
	MaxRows        int // data rows per import; default 10,000,000
	MaxColumns     int // default 500
	MaxReported    int // problems listed in the result (all are counted); default 1000
	BatchSize      int // contacts per store transaction; default 2000
}

// DefaultConfig imports all-or-nothing with region US.
func DefaultConfig() Config {
	return Config{DefaultRegion: "US", Mode: AllOrNothing}.WithDefaults()
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Comma == 0 {
		c.Comma = ','
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = 1 << 20
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = 4 << 20
	}
	if c.MaxRows == 0 {
		c.MaxRows = 10_000_000
	}
	if c.MaxColumns == 0 {
		c.MaxColumns = 500
	}
	if c.MaxReported == 0 {
		c.MaxReported = 1000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 2000
	}
	return c
}

// Validate checks a defaulted config.
func (c Config) Validate() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(f, a...)) }
	region := strings.ToUpper(c.DefaultRegion)
	if !phonenumbers.GetSupportedRegions()[region] {
		return bad("default region %q: want an ISO 3166-1 code such as GB, US or DE", c.DefaultRegion)
	}
	switch {
	case c.Mode > Partial:
		return bad("mode %d", c.Mode)
	case c.Comma == '"' || c.Comma == '\r' || c.Comma == '\n' || c.Comma == 0xFFFD || c.Comma <= 0:
		return bad("separator %q cannot be used", c.Comma)
	case c.MaxLineBytes < 1024 || c.MaxLineBytes > 64<<20:
		return bad("max line bytes %d: must be between 1 KiB and 64 MiB", c.MaxLineBytes)
	case c.MaxRecordBytes < c.MaxLineBytes || c.MaxRecordBytes > 256<<20:
		return bad("max record bytes %d: must be between max line bytes and 256 MiB", c.MaxRecordBytes)
	case c.MaxRows < 1 || c.MaxColumns < 1 || c.MaxReported < 1 || c.BatchSize < 1 || c.BatchSize > 50_000:
		return bad("limits must be positive (batch size at most 50000)")
	}
	return nil
}

// Mapping says which header columns hold what (names compared case-insensitively,
// surrounding spaces ignored).
type Mapping struct {
	Phones     []string // tried in this order; empty: every column named like a phone
	FirstName  string
	LastName   string
	Zone       string // IANA zone column (e.g. Europe/London); empty: derived from the numbers
	ExternalID string
	// Fields are the custom columns kept for the screen-pop; nil: every column not
	// mapped above.
	Fields []string
}

// ParseMapping reads "phone=Mobile,phone=Home,first_name=First,last_name=Last,
// zone=TZ,external_id=CRM ID,field=Plan" (keys may repeat for phone and field).
func ParseMapping(spec string) (Mapping, error) {
	var m Mapping
	if strings.TrimSpace(spec) == "" {
		return m, nil
	}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || v == "" {
			return Mapping{}, fmt.Errorf("%w: %q: want key=Column", ErrMapping, part)
		}
		set := func(dst *string) error {
			if *dst != "" {
				return fmt.Errorf("%w: %s given twice", ErrMapping, k)
			}
			*dst = v
			return nil
		}
		var err error
		switch k {
		case "phone", "phones", "number":
			m.Phones = append(m.Phones, v)
		case "first_name", "firstname":
			err = set(&m.FirstName)
		case "last_name", "lastname":
			err = set(&m.LastName)
		case "zone", "timezone", "time_zone":
			err = set(&m.Zone)
		case "external_id", "id":
			err = set(&m.ExternalID)
		case "field", "fields":
			m.Fields = append(m.Fields, v)
		default:
			err = fmt.Errorf("%w: unknown key %q (phone, first_name, last_name, zone, external_id, field)", ErrMapping, k)
		}
		if err != nil {
			return Mapping{}, err
		}
	}
	return m, nil
}

// zones caches zone lookups (per import; the parser is single-goroutine).
type zones struct {
	locs  map[string]*time.Location // nil value: not a usable zone
	picks map[string]string
	year  int
}

func newZones() *zones {
	return &zones{locs: map[string]*time.Location{}, picks: map[string]string{}, year: time.Now().Year()}
}

func (z *zones) loc(name string) *time.Location {
	if l, seen := z.locs[name]; seen {
		return l
	}
	var l *time.Location
	if name != "" && name != "Local" && name != phonenumbers.UNKNOWN_TIMEZONE {
		if x, err := time.LoadLocation(name); err == nil {
			l = x
		}
	}
	z.locs[name] = l
	return l
}

func (z *zones) valid(name string) bool { return z.loc(name) != nil }

// pick chooses the zone of a number from libphonenumber's candidates: the only one, or
// — when all candidates keep the same UTC offset every day of the year (UK mobiles:
// London, Guernsey, Isle of Man) — the last by name, since any gives the same calling
// window. "" when they differ (the campaign's default zone applies, or a zone column).
func (z *zones) pick(cands []string) string {
	key := strings.Join(cands, "|")
	if p, seen := z.picks[key]; seen {
		return p
	}
	pick := ""
	var locs []*time.Location
	for _, c := range cands {
		l := z.loc(c)
		if l == nil {
			locs = nil
			break
		}
		locs = append(locs, l)
		if c > pick {
			pick = c
		}
	}
	if len(locs) == 0 {
		pick = ""
	}
	for day := 0; pick != "" && day < 366; day++ {
		at := time.Date(z.year, 1, 1+day, 12, 0, 0, 0, time.UTC)
		_, off0 := at.In(locs[0]).Zone()
		for _, l := range locs[1:] {
			if _, off := at.In(l).Zone(); off != off0 {
				pick = ""
				break
			}
		}
	}
	z.picks[key] = pick
	return pick
}
