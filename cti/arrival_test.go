package cti_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// TestOfferBeforeMOHAnsweredAcceptAfter: the offer goes out while the caller's
// music on hold is still being started (it only needs the contact history), but the
// agent's accept is acted on — the bridge created — only once the MOH request is
// answered. The emulator holds the MOH request for two seconds; the arrival's other
// requests answer at once, and their events reach the actor meanwhile.
func TestOfferBeforeMOHAnsweredAcceptAfter(t *testing.T) {
	var (
		mu                sync.Mutex
		mohDone, bridgeAt time.Time
	)
	const mohDelay = 2 * time.Second
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/moh"):
				time.Sleep(mohDelay)
				next.ServeHTTP(w, r)
				mu.Lock()
				mohDone = time.Now()
				mu.Unlock()
				return
			case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/ari/bridges"):
				mu.Lock()
				if bridgeAt.IsZero() {
					bridgeAt = time.Now()
				}
				mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	}
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	w := newWorldWrapped(t, salesConfig("anna"), cti.DefaultConfig(), sc, ariemu.Config{}, wrap)
	w.ready(t, "anna")
	w.desk.wait(t, "anna", "agent.state", func(e map[string]any) bool { return e["state"] == queue.Ready.String() })
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234567", Dialled: "800100200",
		Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.offered", nil)
	mu.Lock()
	offeredFirst := mohDone.IsZero()
	mu.Unlock()
	if !offeredFirst {
		t.Fatalf("the offer waited for the music on hold (held %s)", mohDelay)
	}
	if err := w.orch.Accept(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.connected", nil)
	mu.Lock()
	defer mu.Unlock()
	if mohDone.IsZero() || bridgeAt.IsZero() || bridgeAt.Before(mohDone) {
		t.Fatalf("accept acted on before the music on hold was answered: MOH answered %v, first bridge request %v", mohDone, bridgeAt)
	}
}
