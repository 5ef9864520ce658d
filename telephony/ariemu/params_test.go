package ariemu

import (
	"slices"
	"testing"

	"github.com/ctid/ctid/telephony/aridoc"
)

// The emulator's parameter table is exactly what Asterisk's ARI description defines.
func TestParamTableMatchesARIDocs(t *testing.T) {
	dir, err := aridoc.DefaultDir()
	if err != nil {
		t.Fatalf("ARI API description: %v", err)
	}
	spec, err := aridoc.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	table := ariParams()
	seen := 0
	for _, r := range spec.Routes() {
		op, ok := spec.Operation(r)
		if !ok {
			t.Fatalf("no operation for %s", r)
		}
		var want []string
		for _, p := range op.Params {
			if p.ParamType == "query" || p.ParamType == "body" {
				want = append(want, p.Name)
			}
		}
		slices.Sort(want)
		got, ok := table[r.Method+" "+r.Path]
		if !ok {
			t.Errorf("%s missing from ariParams", r)
			continue
		}
		seen++
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: table %v, description %v", r, got, want)
		}
	}
	if seen != len(table) {
		t.Errorf("ariParams has %d routes, the description %d", len(table), seen)
	}
}
