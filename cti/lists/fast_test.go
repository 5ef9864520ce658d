package lists

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// The fast path agrees with phonenumbers.Parse + Format(E164) on every number it
// takes, over plain numbers in many shapes and regions (and takes the common ones).
func TestFastParseAgreesWithLibphonenumber(t *testing.T) {
	regions := []string{"GB", "US", "DE", "FR", "IT", "ES", "AU", "JP", "IN", "BR", "AR", "MX", "NL", "CH", "SE", "RU", "CN", "ZA", "NZ", "IE"}
	fixed := []string{"07400 123456", "+44 7400 123456", "+447400123456", "(020) 7946 0018", "020-7946-0018", "02079460018",
		"447400123456", "0044 7400 123456", "+44 07400 123456", "201-555-0123", "(201) 555-0123", "1 201 555 0123",
		"+1 201 555 0123", "011 44 7400 123456", "+39 06 1234 5678", "06 1234 5678", "+49 30 123456", "030 123456",
		"+33 1 23 45 67 89", "01 23 45 67 89", "+61 2 9876 5432", "02 9876 5432", "+800 1234 5678", "+999 1234", "12",
		"+", "0", "7400 123456", "+44 (0) 7400 123456", "07400 123456 ext 12", "07400.123.456", " 07400 123456", "-0740012345"}
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs []string
	inputs = append(inputs, fixed...)
	for range 3000 {
		n := 4 + rng.IntN(12)
		b := make([]byte, 0, n+4)
		if rng.IntN(3) == 0 {
			b = append(b, '+')
		}
		for i := range n {
			b = append(b, byte('0'+rng.IntN(10)))
			if i > 0 && rng.IntN(5) == 0 {
				b = append(b, " -."[rng.IntN(3)])
			}
		}
		inputs = append(inputs, string(b))
	}
	took := 0
	for _, region := range regions {
		nz := &normaliser{region: region, zones: newZones(), valid: validator{}}
		for _, raw := range inputs {
			pn, e164 := nz.fastParse(raw)
			if pn == nil {
				continue
			}
			took++
			var lib phonenumbers.PhoneNumber
			if err := phonenumbers.ParseToNumber(raw, region, &lib); err != nil {
				t.Errorf("%s %q: fast path read %s, Parse refused it: %v", region, raw, e164, err)
				continue
			}
			if want := phonenumbers.Format(&lib, phonenumbers.E164); want != e164 || lib.GetCountryCode() != pn.GetCountryCode() ||
				lib.GetNationalNumber() != pn.GetNationalNumber() || lib.GetItalianLeadingZero() != pn.GetItalianLeadingZero() {
				t.Errorf("%s %q: fast path %s (%d/%d), Parse %s (%d/%d)", region, raw, e164, pn.GetCountryCode(), pn.GetNationalNumber(),
					want, lib.GetCountryCode(), lib.GetNationalNumber())
				continue
			}
			if a, b := nz.valid.valid(pn, region), nz.valid.valid(&lib, region); a != b {
				t.Errorf("%s %q: valid %v on the fast path, %v on Parse's number", region, raw, a, b)
			}
		}
	}
	if took < len(inputs)*len(regions)/4 {
		t.Errorf("the fast path took only %d of %d numbers", took, len(inputs)*len(regions))
	}
	for _, c := range []struct{ region, raw string }{{"GB", "07400 123456"}, {"GB", "+44 7400 123456"}, {"US", "(201) 555-0123"}} {
		nz := &normaliser{region: c.region, zones: newZones(), valid: validator{}}
		if pn, _ := nz.fastParse(c.raw); pn == nil {
			t.Errorf("%s %q: not on the fast path", c.region, c.raw)
		}
	}
	t.Log(fmt.Sprintf("fast path took %d of %d", took, len(inputs)*len(regions)))
}
