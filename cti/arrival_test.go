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
	offerBeforeAcceptAfter(t, "/moh", "the music on hold")
}

// TestOfferBeforeAnswerAcceptAfter: the caller's answer is off the offer's path too
// (the emulator holds the answer request for two seconds): the offer goes out first,
// and the accept — the bridge request — waits until the caller is answered.
func TestOfferBeforeAnswerAcceptAfter(t *testing.T) {
	offerBeforeAcceptAfter(t, "/answer", "the caller's answer")
}

// offerBeforeAcceptAfter holds the caller's ARI request whose path ends in suffix
// for two seconds and checks that the offer does not wait for it, that the accept's
// first bridge request does, and that the caller ends up answered.
func offerBeforeAcceptAfter(t *testing.T, suffix, what string) {
	t.Helper()
	var (
		mu                 sync.Mutex
		heldDone, bridgeAt time.Time
	)
	const delay = 2 * time.Second
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, suffix):
				time.Sleep(delay)
				next.ServeHTTP(w, r)
				mu.Lock()
				heldDone = time.Now()
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
	offeredFirst := heldDone.IsZero()
	mu.Unlock()
	if !offeredFirst {
		t.Fatalf("the offer waited for %s (held %s)", what, delay)
	}
	if err := w.orch.Accept(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.connected", nil)
	mu.Lock()
	defer mu.Unlock()
	if heldDone.IsZero() || bridgeAt.IsZero() || bridgeAt.Before(heldDone) {
		t.Fatalf("accept acted on before %s was done: done %v, first bridge request %v", what, heldDone, bridgeAt)
	}
	if ch, ok := w.emu.Channel(caller); !ok || ch.State != "Up" {
		t.Fatalf("caller %+v (alive %v): want up", ch, ok)
	}
}

// TestAnswerRefusedAfterOfferAppliesFallback: an answer refused for good (409, not
// retried) comes back after the call was offered: the agent is told the call ended,
// is ready again, the caller gets the fallback (hung up by default) with no music or
// marks, and the record is closed failed.
func TestAnswerRefusedAfterOfferAppliesFallback(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var afterAnswer []string
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/answer") {
				<-release
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(`{"message":"Channel in invalid state"}`))
				mu.Lock()
				afterAnswer = append(afterAnswer, "answer")
				mu.Unlock()
				return
			}
			mu.Lock()
			if len(afterAnswer) > 0 {
				afterAnswer = append(afterAnswer, r.Method+" "+r.URL.Path)
			}
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	w := newWorldWrapped(t, salesConfig("anna"), cti.DefaultConfig(), sc, ariemu.Config{}, wrap)
	w.ready(t, "anna")
	w.desk.wait(t, "anna", "agent.state", func(e map[string]any) bool { return e["state"] == queue.Ready.String() })
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234568", Dialled: "800100200",
		Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	close(release)
	w.desk.wait(t, "anna", "call.ended", func(e map[string]any) bool { return e["call_id"] == caller && e["reason"] == "answer failed" })
	waitUntil(t, 10*time.Second, "the caller released by the fallback", func() bool {
		_, ok := w.emu.Channel(caller)
		return !ok
	})
	waitUntil(t, 10*time.Second, "anna ready with no call in the engine", func() bool {
		s, err := w.orch.Snapshot(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range s.Agents {
			if a.ID == "anna" {
				return a.State == queue.Ready && a.Call == "" && len(s.Calls) == 0
			}
		}
		return false
	})
	if err := w.store.Sync(w.ctx); err != nil {
		t.Fatal(err)
	}
	if ix := w.interaction(t, caller); ix.Ended.IsZero() || ix.Outcome != "failed" {
		t.Fatalf("record %+v: want closed failed", ix)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range afterAnswer[1:] {
		if strings.HasSuffix(r, "/moh") || strings.HasSuffix(r, "/variable") {
			t.Fatalf("%s sent to a caller whose answer failed (requests after the answer: %v)", r, afterAnswer)
		}
	}
}
