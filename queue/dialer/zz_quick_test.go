package dialer

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestSimQuick(t *testing.T) {
	ts, _ := strconv.ParseFloat(os.Getenv("TS"), 64)
	sw, _ := strconv.ParseFloat(os.Getenv("SW"), 64)
	ba, _ := strconv.ParseFloat(os.Getenv("BA"), 64)
	r := Simulate(SimConfig{Seed: 1, Agents: 100, Duration: 2 * time.Hour, Modes: []Mode{Predictive}, Pacing: PacingConfig{TargetShare: ts, SoonWeight: sw, BrakeAt: ba}})
	if err := WriteSimTable(os.Stdout, r); err != nil {
		t.Fatal(err)
	}
}
