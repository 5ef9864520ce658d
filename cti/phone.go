package cti

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// e164 normalises a caller number to E.164 with the call centre's default region
// ("PL", "GB", ...); it returns "" when the number is not a valid phone number
// (internal extensions, withheld numbers).
func e164(number, region string) string {
	n := strings.TrimSpace(number)
	if n == "" {
		return ""
	}
	if strings.HasPrefix(n, "00") {
		n = "+" + n[2:]
	}
	if region == "" && !strings.HasPrefix(n, "+") {
		return ""
	}
	p, err := phonenumbers.Parse(n, strings.ToUpper(region))
	if err != nil || !phonenumbers.IsValidNumber(p) {
		return ""
	}
	return phonenumbers.Format(p, phonenumbers.E164)
}
