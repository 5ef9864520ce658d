package lists

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzImportCSV: any input either fails with one of the package's sentinels or
// yields contacts whose numbers are E.164 and unique, with every row accounted for.
// Seeds: testdata/fuzz/FuzzImportCSV.
func FuzzImportCSV(f *testing.F) {
	f.Add([]byte("Phone,Name\n07400123001,Ada\n+1 212 555 0100,Alan\n"), false)
	f.Add([]byte("\xEF\xBB\xBFMobile;Home;TZ\n07400123001;020 7946 0001;Europe/London\n"), true)
	f.Add([]byte("Phone,Notes\n07400123001,\"multi\nline\"\n07400123001,dup\n"), false)
	f.Add([]byte("Phone\n\"unclosed\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, partial bool) {
		cfg := gbConfig(AllOrNothing)
		if partial {
			cfg.Mode = Partial
		}
		if bytes.Count(data, []byte(";")) > bytes.Count(data, []byte(",")) {
			cfg.Comma = ';'
		}
		cfg.MaxLineBytes, cfg.MaxRecordBytes, cfg.BatchSize, cfg.MaxReported = 4096, 8192, 3, 50
		sink := &memSink{}
		res, err := Parse(testCtx(t), bytes.NewReader(data), cfg, Mapping{}, sink, nil)
		if err != nil {
			for _, s := range []error{ErrEncoding, ErrHeader, ErrMapping, ErrLineTooLong, ErrTooManyRows, ErrRejectedRows, ErrRead, ErrSyntax} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error without a sentinel: %v", err)
		}
		if res.Imported != len(sink.got) {
			t.Fatalf("imported %d, sink got %d", res.Imported, len(sink.got))
		}
		if res.Imported+res.Rejected+res.Duplicates != res.Rows {
			t.Fatalf("rows %d != imported %d + rejected %d + duplicates %d", res.Rows, res.Imported, res.Rejected, res.Duplicates)
		}
		if !partial && res.Rejected > 0 {
			t.Fatal("all-or-nothing succeeded with rejected rows")
		}
		seen := map[string]bool{}
		for _, c := range sink.got {
			if len(c.Numbers) == 0 || c.Line < 2 {
				t.Fatalf("contact %+v", c)
			}
			for _, n := range c.Numbers {
				if _, ok := numberKey(n.Number); !ok || strings.ContainsAny(n.Number[1:], "+ -") || seen[n.Number] {
					t.Fatalf("number %q not E.164 or repeated", n.Number)
				}
				seen[n.Number] = true
			}
		}
		for _, p := range res.Problems {
			if p.Line < 2 || p.Reason == "" {
				t.Fatalf("problem %+v", p)
			}
		}
	})
}
