package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReportConfigErrorsNameKeyAndValue(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"bad zone", "reports:\n  time_zone: Mars/Olympus\n", `reports.time_zone: "Mars/Olympus"`},
		{"fcr days", "reports:\n  fcr_days: 0\n", `reports.fcr_days: 0`},
		{"formula", "queues:\n  - id: sales\n    sl_formula: magic\n", `queues[0].sl_formula`},
		{"run at", "store:\n  retention:\n    run_at: \"25:99\"\n", `store.retention.run_at: "25:99"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{"check", "--config", writeConfig(t, tc.body)}, &out, &errb); code != exitConfig {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitConfig, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q does not contain %q", errb.String(), tc.want)
			}
		})
	}
}
