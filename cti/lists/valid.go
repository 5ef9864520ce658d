package lists

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// libphonenumber's validity check (IsValidNumberForRegion → getNumberTypeHelper)
// rebuilds each pattern string, looks it up in a locked cache and matches it twice,
// for up to eleven number types: most of an import's CPU time. validator does the same
// test with the same metadata, each pattern compiled once per worker and matched once.
// TestValidatorAgreesWithLibphonenumber compares the two.

var metadata struct {
	once     sync.Once
	byRegion map[string]*phonenumbers.PhoneMetadata
}

func regionMetadata(region string) *phonenumbers.PhoneMetadata {
	metadata.once.Do(func() {
		metadata.byRegion = map[string]*phonenumbers.PhoneMetadata{}
		coll, err := phonenumbers.MetadataCollection()
		if err != nil {
			return // every lookup then falls back to the library
		}
		for _, m := range coll.GetMetadata() {
			metadata.byRegion[m.GetId()] = m
		}
	})
	return metadata.byRegion[region]
}

type descPattern struct {
	re      *regexp.Regexp // nil: the type does not exist in the region
	lengths []int32        // empty: any length the general description allows
}

func compileDesc(d *phonenumbers.PhoneNumberDesc) descPattern {
	if d == nil || d.GetNationalNumberPattern() == "" {
		return descPattern{}
	}
	re, err := regexp.Compile("^(?:" + d.GetNationalNumberPattern() + ")$")
	if err != nil {
		return descPattern{}
	}
	return descPattern{re: re, lengths: d.GetPossibleLength()}
}

func (p descPattern) match(nsn string) bool {
	if p.re == nil {
		return false
	}
	if len(p.lengths) > 0 {
		ok := false
		for _, l := range p.lengths {
			if int(l) == len(nsn) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return p.re.MatchString(nsn)
}

type regionPatterns struct {
	countryCode   int32
	general       descPattern
	special       []descPattern // premium, toll free, shared cost, VoIP, personal, pager, UAN, voicemail
	fixed, mobile descPattern
	same          bool // mobile and fixed-line patterns are the same
}

// validator is one worker's compiled patterns (not safe for concurrent use).
type validator map[string]*regionPatterns

func (v validator) patterns(region string) *regionPatterns {
	if p, ok := v[region]; ok {
		return p
	}
	m := regionMetadata(region)
	if m == nil {
		v[region] = nil
		return nil
	}
	p := &regionPatterns{countryCode: m.GetCountryCode(), general: compileDesc(m.GetGeneralDesc()),
		fixed: compileDesc(m.GetFixedLine()), mobile: compileDesc(m.GetMobile()), same: m.GetSameMobileAndFixedLinePattern()}
	for _, d := range []*phonenumbers.PhoneNumberDesc{m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(), m.GetVoip(),
		m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail()} {
		p.special = append(p.special, compileDesc(d))
	}
	v[region] = p
	return p
}

// validForRegion is phonenumbers.IsValidNumberForRegion for a geographic region.
func (v validator) validForRegion(pn *phonenumbers.PhoneNumber, region string) bool {
	p := v.patterns(region)
	if p == nil {
		return phonenumbers.IsValidNumberForRegion(pn, region)
	}
	if pn.GetCountryCode() != p.countryCode {
		return false
	}
	var nsn string
	if pn.GetItalianLeadingZero() {
		nsn = phonenumbers.GetNationalSignificantNumber(pn)
	} else {
		nsn = strconv.FormatUint(pn.GetNationalNumber(), 10) // the same, without its builder
	}
	if !p.general.match(nsn) {
		return false
	}
	for _, d := range p.special {
		if d.match(nsn) {
			return true
		}
	}
	if p.fixed.match(nsn) {
		return true
	}
	return !p.same && p.mobile.match(nsn)
}

// valid is phonenumbers.IsValidNumber, checking the default region first (most
// numbers of a list belong to it).
func (v validator) valid(pn *phonenumbers.PhoneNumber, region string) bool {
	if v.validForRegion(pn, region) {
		return true
	}
	return phonenumbers.IsValidNumber(pn)
}
