package lists

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
)

// memSink keeps what Parse writes.
type memSink struct {
	existing [][2]string
	got      []store.Contact
	batches  int
}

func (m *memSink) Existing(_ context.Context, fn func(number, externalID string)) error {
	for _, e := range m.existing {
		fn(e[0], e[1])
	}
	return nil
}

func (m *memSink) Add(_ context.Context, cs []store.Contact) error {
	m.batches++
	m.got = append(m.got, cs...)
	return nil
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens an SQLite store in a temp dir with one campaign "c1".
func openStore(t testing.TB) *store.Store {
	cfg := store.DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "ctid.db")
	st, err := store.Open(testCtx(t), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := st.CreateCampaign(testCtx(t), store.Campaign{ID: "c1", Name: "c1", State: "draft", Config: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return st
}

func gbConfig(mode Mode) Config {
	c := DefaultConfig()
	c.DefaultRegion = "GB"
	c.Mode = mode
	return c
}

// countSink counts and drops what Parse writes.
type countSink struct{ n int }

func (c *countSink) Existing(context.Context, func(number, externalID string)) error { return nil }

func (c *countSink) Add(_ context.Context, cs []store.Contact) error {
	c.n += len(cs)
	return nil
}
