package lists

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestValidatorAgreesWithLibphonenumber: for every region, example numbers of every
// type with their last digits changed, and random digit strings, the validator and
// phonenumbers.IsValidNumberForRegion give the same answer.
func TestValidatorAgreesWithLibphonenumber(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	regions := make([]string, 0, 256)
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}
	v := validator{}
	checked, valid := 0, 0
	check := func(pn *phonenumbers.PhoneNumber, region string) {
		want := phonenumbers.IsValidNumberForRegion(pn, region)
		if got := v.validForRegion(pn, region); got != want {
			t.Fatalf("%s %s: validator %v, libphonenumber %v", region, phonenumbers.Format(pn, phonenumbers.E164), got, want)
		}
		if got, want := v.valid(pn, region), phonenumbers.IsValidNumber(pn); got != want {
			t.Fatalf("%s %s: valid %v, IsValidNumber %v", region, phonenumbers.Format(pn, phonenumbers.E164), got, want)
		}
		checked++
		if want {
			valid++
		}
	}
	for _, region := range regions {
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			nsn := phonenumbers.GetNationalSignificantNumber(ex)
			for range 3 {
				b := []byte(nsn)
				for k := 0; k < 3 && k < len(b); k++ {
					b[len(b)-1-k] = byte('0' + rng.IntN(10))
				}
				pn, err := phonenumbers.Parse("+"+strconv.Itoa(int(ex.GetCountryCode()))+string(b), region)
				if err == nil {
					check(pn, region)
				}
			}
		}
		for range 10 {
			n := 5 + rng.IntN(9)
			b := make([]byte, n)
			for i := range b {
				b[i] = byte('0' + rng.IntN(10))
			}
			if pn, err := phonenumbers.Parse(string(b), region); err == nil {
				check(pn, region)
				check(pn, regions[rng.IntN(len(regions))]) // another region's rules
			}
		}
	}
	if checked < 2000 || valid < 500 {
		t.Fatalf("only %d numbers checked, %d valid", checked, valid)
	}
	t.Logf("%d numbers checked, %d valid", checked, valid)
}
