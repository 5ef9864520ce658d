package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/viper"
)

// maxFuzzConfig bounds the inputs: a configuration file is a few KB; larger inputs
// only slow the fuzzer down without reaching new code.
const maxFuzzConfig = 64 << 10

// FuzzLoadConfig feeds arbitrary YAML to the configuration loader (viper, the
// decode hooks, every section's Validate): it never panics, and every failure is an
// errConfig (exit code 2, a message naming the key), never another kind of error.
// Seeds: testdata/fuzz/FuzzLoadConfig plus the sample configurations.
func FuzzLoadConfig(f *testing.F) {
	for _, p := range []string{"../../configs/ctid.yaml", "../../configs/ctid.asterisk.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatalf("seed %s: %v", p, err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxFuzzConfig {
			return
		}
		p := filepath.Join(t.TempDir(), "ctid.yaml")
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		fc, err := loadConfig(viper.New(), p)
		if err != nil {
			if !errors.Is(err, errConfig) {
				t.Fatalf("error %v is not a configuration error", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// A configuration the loader accepted must convert into every package's
		// config without failing.
		if _, err := fc.queueConfig(); err != nil {
			t.Fatalf("accepted config has an invalid queue config: %v", err)
		}
		if err := fc.callsConfig().Validate(); err != nil {
			t.Fatalf("accepted config has invalid calls config: %v", err)
		}
	})
}
