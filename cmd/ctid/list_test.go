package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
)

func TestListImportCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "ctid.db")
	cfgPath := writeConfig(t, "asterisk:\n  mode: emulator\nstore:\n  path: "+db+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sc := store.DefaultConfig()
	sc.Path = db
	st, err := store.Open(ctx, sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	def := `{"id":"spring","name":"Spring","endpoint":"PJSIP/{number}@trunk","agents":["anna"],"default_region":"GB"}`
	if err := st.CreateCampaign(ctx, store.Campaign{ID: "spring", Name: "Spring", State: "draft", Config: json.RawMessage(def)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(dir, "leads.csv")
	write := func(body string) {
		if err := os.WriteFile(csvPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// One invalid number: all-or-nothing keeps nothing, says why, exits 1.
	write("Name,Cell\nAda,07400 123001\nBob,12345\n")
	var out, errb bytes.Buffer
	code := run([]string{"list", "import", csvPath, "--campaign", "spring", "--config", cfgPath, "--map", "phone=Cell"}, &out, &errb)
	if code != exitFailure || !strings.Contains(out.String(), "failed") || !strings.Contains(out.String(), `line 3: rejected [Cell]: "12345" is not a valid phone number`) ||
		!strings.Contains(errb.String(), "nothing was kept") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	// --partial keeps the good row; progress is printed as plain lines (not a TTY).
	out.Reset()
	errb.Reset()
	code = run([]string{"list", "import", csvPath, "--campaign", "spring", "--config", cfgPath, "--map", "phone=Cell", "--partial"}, &out, &errb)
	if code != exitOK || !strings.Contains(out.String(), "partial — 2 rows, 1 imported, 1 rejected") || !strings.Contains(errb.String(), "import: 2 rows") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	// Unknown campaign and a missing phone column are clear errors.
	out.Reset()
	errb.Reset()
	if code := run([]string{"list", "import", csvPath, "--campaign", "nope", "--config", cfgPath}, &out, &errb); code != exitConfig || !strings.Contains(errb.String(), `no campaign "nope"`) {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	write("Name,Email\nAda,a@example.com\n")
	errb.Reset()
	if code := run([]string{"list", "import", csvPath, "--campaign", "spring", "--config", cfgPath}, &out, &errb); code != exitFailure || !strings.Contains(errb.String(), "no phone column") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}

	st, err = store.Open(ctx, sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	var got []store.Contact
	if err := st.EachContact(ctx, "spring", func(c store.Contact) error { got = append(got, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Numbers[0].Number != "+447400123001" || got[0].Fields["Name"] != "Ada" {
		t.Fatalf("contacts %+v", got)
	}
}
