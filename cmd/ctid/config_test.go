package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/telephony/ariemu"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ctid.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSampleConfigIsValid(t *testing.T) {
	for _, p := range []string{"../../configs/ctid.yaml", "../../configs/ctid.asterisk.yaml"} {
		var out, errb bytes.Buffer
		if code := run([]string{"check", "--config", p}, &out, &errb); p == "../../configs/ctid.yaml" && code != exitOK {
			t.Fatalf("%s: exit %d: %s %s", p, code, out.String(), errb.String())
		} else if code == exitConfig {
			t.Fatalf("%s rejected as invalid: %s", p, errb.String())
		}
	}
}

func TestConfigErrorsNameKeyValueAndExitTwo(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"bad scheme", "asterisk:\n  mode: external\n  url: htp://x\n  username: u\n  password: p\n",
			`asterisk.url: "htp://x": scheme must be http or https`},
		{"unknown key", "asterisk:\n  mode: emulator\n  urll: http://x\n", `urll`},
		{"unknown section", "bogus:\n  a: 1\n", `bogus`},
		{"bad mode", "asterisk:\n  mode: pbx\n", `asterisk.mode: "pbx": must be emulator or external`},
		{"bad duration", "asterisk:\n  request_timeout: soon\n", `request_timeout`},
		{"bad listen", "server:\n  listen: nowhere\n", `server.listen: "nowhere"`},
		{"bad log format", "log:\n  format: xml\n", `log.format: "xml"`},
		{"missing password", "asterisk:\n  mode: external\n  username: u\n", `asterisk.password`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run([]string{"check", "--config", writeConfig(t, tc.body)}, &out, &errb)
			if code != exitConfig {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitConfig, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q does not contain %q", errb.String(), tc.want)
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", "/nonexistent/ctid.yaml"}, &out, &errb); code != exitConfig || !strings.Contains(errb.String(), "not found") {
		t.Fatalf("missing file: exit %d %q", code, errb.String())
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	p := writeConfig(t, "asterisk:\n  mode: external\n  url: http://127.0.0.1:1/ari\n  username: u\n  password: from-file\n")
	t.Setenv("CTID_ASTERISK_URL", "htp://from-env")
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", p}, &out, &errb); code != exitConfig || !strings.Contains(errb.String(), "htp://from-env") {
		t.Fatalf("env override not applied: exit %d %q", code, errb.String())
	}
}

func TestCheckFailsClearlyWhenARIUnreachableAndHidesPassword(t *testing.T) {
	p := writeConfig(t, "asterisk:\n  mode: external\n  url: http://127.0.0.1:1/ari\n  username: u\n  password: sekrit-value\n  request_timeout: 300ms\n  dial_timeout: 300ms\n")
	var out, errb bytes.Buffer
	code := run([]string{"check", "--config", p}, &out, &errb)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1; out %q err %q", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "FAIL") || !strings.Contains(out.String(), "127.0.0.1:1") {
		t.Fatalf("output should name the failure and URL: %q", out.String())
	}
	if strings.Contains(out.String()+errb.String(), "sekrit-value") {
		t.Fatal("password printed")
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "ctid ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}

func TestCheckPassesAgainstEmulatorAndFailsOnWrongPassword(t *testing.T) {
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"ctid": "pw"}, DialplanApp: "ctid", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer func() {
		srv.CloseClientConnections()
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
	}()
	good := writeConfig(t, "asterisk:\n  mode: external\n  url: "+srv.URL+"/ari\n  username: ctid\n  password: pw\n")
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", good}, &out, &errb); code != exitOK {
		t.Fatalf("check against the emulator: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"PASS  ARI reachable", "PASS  module res_stasis.so", "PASS  module chan_rtp.so", "PASS  Stasis application ctid can register", "all checks passed"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	bad := writeConfig(t, "asterisk:\n  mode: external\n  url: "+srv.URL+"/ari\n  username: ctid\n  password: nope\n")
	out.Reset()
	errb.Reset()
	if code := run([]string{"check", "--config", bad}, &out, &errb); code != exitFailure {
		t.Fatalf("wrong password: exit %d", code)
	}
	if !strings.Contains(out.String(), "401") || !strings.Contains(out.String(), srv.URL+"/ari") || strings.Contains(out.String(), "nope") {
		t.Fatalf("wrong-password output should name the URL and the 401 and hide the password:\n%s", out.String())
	}
}

func TestUserAddHashesPasswordFromStdin(t *testing.T) {
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetIn(strings.NewReader("correct horse battery\n"))
	root.SetArgs([]string{"user", "add", "--print", "--username", "zoe", "--role", "supervisor", "--teams", "sales", "--cost", "4"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "username: zoe") || !strings.Contains(out.String(), "$2a$04$") ||
		strings.Contains(out.String(), "correct horse") || !strings.Contains(out.String(), "teams: [sales]") {
		t.Fatalf("output:\n%s", out.String())
	}
	root = newRootCmd(&out, &errb)
	root.SetIn(strings.NewReader("short\n"))
	root.SetArgs([]string{"user", "add", "--print", "--username", "zoe"})
	if err := root.Execute(); err == nil {
		t.Fatal("short password accepted")
	}
}

func TestSimDialerPrintsEveryMode(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"sim", "dialer", "--agents", "10", "--hours", "0.5"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, m := range []string{"preview", "progressive", "predictive", "abandon %"} {
		if !strings.Contains(out.String(), m) {
			t.Fatalf("output lacks %q:\n%s", m, out.String())
		}
	}
}
