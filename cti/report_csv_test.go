package cti

import "testing"

func TestCSVCellDefusesFormulas(t *testing.T) {
	for in, want := range map[string]string{"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0", "+48500": "'+48500",
		"-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "sales": "sales", "": ""} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
	if got := csvCell(nil); got != "" {
		t.Errorf("csvCell(nil) = %q", got)
	}
	if got := csvCell(0.25); got != "0.25" {
		t.Errorf("csvCell(0.25) = %q", got)
	}
}
