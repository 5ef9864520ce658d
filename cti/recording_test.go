package cti_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

// A queue with recording "always": the call's bridge is recorded from the agent's
// connection, the name lands on the interaction, and a supervisor of the queue streams
// it through ctid once the call has ended.
func TestRecordedQueueStreamsRecording(t *testing.T) {
	cc := cti.DefaultConfig()
	cc.Recordings = []cti.QueueRecording{{Queue: "sales", Policy: cti.RecordAlways}}
	w := newWorldCfg(t, salesConfig("anna"), cc)
	w.ready(t, "anna")
	w.desk.wait(t, "anna", "agent.state", func(e map[string]any) bool { return e["state"] == queue.Ready.String() })
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234567", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.offered", nil)
	if err := w.orch.Accept(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.connected", nil)
	deadline := time.Now().Add(10 * time.Second)
	for w.interaction(t, caller).RecordingName != "ctid-"+caller {
		if time.Now().After(deadline) {
			t.Fatalf("recording name on the interaction: %q", w.interaction(t, caller).RecordingName)
		}
		time.Sleep(20 * time.Millisecond)
	}

	hash, err := desktop.HashPassword("pw-secret", 4)
	if err != nil {
		t.Fatal(err)
	}
	dc := desktop.DefaultConfig()
	dc.Auth.Users = []desktop.UserConfig{
		{Username: "anna", Role: "agent", PasswordHash: hash},
		{Username: "sam", Role: "supervisor", PasswordHash: hash, Teams: []string{"sales"}},
		{Username: "sue", Role: "supervisor", PasswordHash: hash, Teams: []string{"support"}},
	}
	api, err := desktop.NewServer(dc, noDesk{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.orch.RegisterRecordingREST(api); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	get := func(user, id string) (int, string, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, web.URL+"/api/v1/recordings/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+login(t, web.URL, user, "pw-secret"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		if _, err := b.ReadFrom(resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), b.Bytes()
	}
	// While the call is up the recording is not stored yet.
	if code, _, body := get("sam", caller); code != http.StatusNotFound {
		t.Fatalf("recording during the call: %d %s", code, body)
	}
	if err := w.orch.Hangup(w.ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.ended", nil)
	for {
		code, ctype, body := get("sam", caller)
		if code == http.StatusOK {
			if ctype != "audio/wav" || !bytes.HasPrefix(body, []byte("RIFF")) {
				t.Fatalf("recording: %s %q", ctype, body[:min(len(body), 16)])
			}
			break
		}
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("recording never streamed: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		user, id string
		code     int
	}{
		{"anna", caller, http.StatusForbidden}, // agents do not stream recordings
		{"sue", caller, http.StatusForbidden},  // not her team's queue
		{"sam", "no-such-call", http.StatusNotFound},
	} {
		if code, _, body := get(c.user, c.id); code != c.code {
			t.Errorf("%s GET %s: %d %s, want %d", c.user, c.id, code, body, c.code)
		}
	}
	// The listen is in the audit log.
	if err := w.store.Sync(w.ctx); err != nil {
		t.Fatal(err)
	}
	audit, err := w.store.AuditLog(w.ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range audit {
		found = found || (e.Actor == "sam" && e.Action == "recording.listen" && e.Target == caller)
	}
	if !found {
		t.Fatalf("no audit entry for the listen: %+v", audit)
	}
}

func TestRecordingPolicyValidation(t *testing.T) {
	for _, rs := range [][]cti.QueueRecording{
		{{Queue: "sales", Policy: "sometimes"}},
		{{Queue: "sales", Policy: "always", Format: "mp3"}},
		{{Queue: "sales", Policy: "always"}, {Queue: "sales", Policy: "never"}},
	} {
		cc := cti.DefaultConfig()
		cc.Recordings = rs
		if err := cc.Validate(); err == nil {
			t.Errorf("%+v accepted", rs)
		}
	}
}
