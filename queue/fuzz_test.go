package queue

import (
	"errors"
	"testing"
)

// FuzzParseSkillExpr: the parser never panics, errors carry a position inside the
// input, and a parsed expression's canonical form parses to the same canonical form.
func FuzzParseSkillExpr(f *testing.F) {
	for _, s := range []string{"lang:pl>=3 & product:internet", "!(a|b)&c<=2", "(", "a>=", "x!=100", "a && b || !c", ")", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, err := ParseSkillExpr(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos < 0 || pe.Pos > len(s) {
				t.Fatalf("%q: bad error %v", s, err)
			}
			return
		}
		canon := x.String()
		y, err := ParseSkillExpr(canon)
		if canon == "true" {
			return
		}
		if err != nil || y.String() != canon {
			t.Fatalf("%q: canonical %q does not round-trip: %v", s, canon, err)
		}
	})
}
