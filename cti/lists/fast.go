package lists

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// The fast path of phone-number parsing. libphonenumber's Parse runs several regular
// expressions on every cell (the extension search alone is a fifth of an import's
// CPU time). Most list cells are plain numbers: digits with spaces, dashes, dots or
// parentheses, in E.164 (+44 7400 000000) or in the default region's national format
// (07400 000000). fastParse reads those the way Parse does, from the same
// metadata, and leaves everything else (letters, extensions, an international
// dialling prefix, a national number starting with the country code, a leading zero
// kept in the national number, a region whose national prefix is a pattern) to
// Parse. TestFastParseAgreesWithLibphonenumber checks that the two agree.

// fastRegion is what fastParse needs of the default region (per worker).
type fastRegion struct {
	simple   bool // the region's national prefix is plain digits (or none), no transform rule
	ok       bool // simple, and the patterns compiled
	cc       int32
	ccStr    string
	prefixes []string       // national prefix for parsing: alternatives tried in order (none: no prefix)
	lengths  []int32        // possible national number lengths
	local    []int32        // of which local-only
	idd      *regexp.Regexp // the international dialling prefix, anchored
	iddPlain string         // the same when it is plain digits
	general  *regexp.Regexp // general national number pattern, full match
}

func plainDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func newFastRegion(region string) *fastRegion {
	m := regionMetadata(region)
	if m == nil {
		return &fastRegion{}
	}
	f := &fastRegion{cc: m.GetCountryCode(), ccStr: strconv.Itoa(int(m.GetCountryCode()))}
	if m.GetNationalPrefixTransformRule() != "" {
		return f
	}
	if np := m.GetNationalPrefixForParsing(); np != "" {
		for _, alt := range strings.Split(np, "|") {
			if !plainDigits(alt) {
				return f
			}
			f.prefixes = append(f.prefixes, alt)
		}
	}
	f.simple = true
	f.lengths, f.local = m.GetGeneralDesc().GetPossibleLength(), m.GetGeneralDesc().GetPossibleLengthLocalOnly()
	if idd := m.GetInternationalPrefix(); plainDigits(idd) {
		f.iddPlain = idd
	} else if idd != "" {
		re, err := regexp.Compile("^(?:" + idd + ")")
		if err != nil {
			return f
		}
		f.idd = re
	}
	gd := m.GetGeneralDesc().GetNationalNumberPattern()
	if gd == "" {
		return f
	}
	re, err := regexp.Compile("^(?:" + gd + ")$")
	if err != nil {
		return f
	}
	f.general, f.ok = re, true
	return f
}

// fastDigits strips the separators a plain number may have; ok false for anything
// else (letters, extensions, '+' not in front, nothing left).
func fastDigits(raw string, buf []byte) (digits []byte, plus, ok bool) {
	buf = buf[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= '0' && c <= '9':
			buf = append(buf, c)
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
			if i == 0 && c != '(' {
				return nil, false, false
			}
		default:
			return nil, false, false
		}
	}
	return buf, plus, len(buf) > 0
}

// fastParse returns the country code and national significant number of raw, read
// in region f; ok false: leave raw to phonenumbers.Parse.
func (f *fastRegion) parse(raw string, buf []byte, regionOf func(int32) *fastRegion) (cc int32, nsn []byte, ok bool) {
	d, plus, ok := fastDigits(raw, buf)
	if !ok || len(d) < 3 || len(d) > 17 {
		return 0, nil, false
	}
	if plus {
		if d[0] == '0' {
			return 0, nil, false
		}
		for l := 1; l <= 3 && l < len(d); l++ {
			v, err := strconv.Atoi(string(d[:l]))
			if err != nil {
				return 0, nil, false
			}
			if r := regionOf(int32(v)); r != nil {
				// Parse would strip the country's national prefix from the
				// national number: leave those (rare) to it
				if !r.simple || r.prefixOf(string(d[l:])) != "" {
					return 0, nil, false
				}
				cc, nsn = int32(v), d[l:]
				break
			}
		}
		if cc == 0 {
			return 0, nil, false
		}
	} else {
		if !f.ok {
			return 0, nil, false
		}
		s := string(d)
		if (f.iddPlain != "" && len(s) >= len(f.iddPlain) && s[:len(f.iddPlain)] == f.iddPlain) ||
			(f.idd != nil && f.idd.MatchString(s)) || (len(s) >= len(f.ccStr) && s[:len(f.ccStr)] == f.ccStr) {
			return 0, nil, false
		}
		nsn = d
		if p := f.prefixOf(s); p != "" {
			stripped := s[len(p):]
			// as Parse: a number viable with the prefix stays whole when it is not
			// viable without it; a stripped number of a length the region cannot
			// have is left to Parse (it may keep the prefix)
			if !f.general.MatchString(s) || f.general.MatchString(stripped) {
				if !slices.Contains(f.lengths, int32(len(stripped))) || slices.Contains(f.local, int32(len(stripped))) {
					return 0, nil, false
				}
				nsn = d[len(p):]
			}
		}
		cc = f.cc
	}
	if len(nsn) < 2 || len(nsn) > 17 || nsn[0] == '0' {
		return 0, nil, false
	}
	return cc, nsn, true
}

// prefixOf is the national prefix s starts with, as Parse's pattern would match it
// (the first alternative that matches); "" none.
func (f *fastRegion) prefixOf(s string) string {
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return p
		}
	}
	return ""
}

// fastRegions caches fastRegion per region and per calling code (one per worker).
type fastRegions struct {
	byRegion map[string]*fastRegion
	byCC     map[int32]*fastRegion // nil value: not a calling code (or a non-geographic one)
}

func (fr *fastRegions) region(r string) *fastRegion {
	if f, ok := fr.byRegion[r]; ok {
		return f
	}
	if fr.byRegion == nil {
		fr.byRegion, fr.byCC = map[string]*fastRegion{}, map[int32]*fastRegion{}
	}
	f := newFastRegion(r)
	fr.byRegion[r] = f
	return f
}

// ofCC is the main region of a calling code; nil for an unknown or non-geographic one.
func (fr *fastRegions) ofCC(cc int32) *fastRegion {
	if f, ok := fr.byCC[cc]; ok {
		return f
	}
	if fr.byCC == nil {
		fr.byRegion, fr.byCC = map[string]*fastRegion{}, map[int32]*fastRegion{}
	}
	var f *fastRegion
	if r := phonenumbers.GetRegionCodeForCountryCode(int(cc)); r != phonenumbers.UNKNOWN_REGION && r != "001" {
		f = fr.region(r)
	}
	fr.byCC[cc] = f
	return f
}
