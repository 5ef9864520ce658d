package cti_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony/ariemu"
)

func surveyConfig() cti.Config {
	cc := cti.DefaultConfig()
	cc.Surveys = []cti.QueueSurvey{{
		Queue: "sales",
		Intro: []string{"sound:queue-thankyou"},
		Questions: []cti.SurveyQuestion{
			{Kind: cti.SurveyNPS, Prompt: []string{"sound:vm-intro"}},
			{Kind: cti.SurveyCSAT, Prompt: []string{"sound:hello-world"}},
		},
		Invalid:       []string{"sound:beep"},
		Goodbye:       []string{"sound:vm-goodbye"},
		AnswerTimeout: time.Second,
		DigitTimeout:  3 * time.Second,
	}}
	return cc
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// talkThenAgentHangsUp connects a caller with agent and has the agent hang up first.
func talkThenAgentHangsUp(t *testing.T, w *world, agent string) string {
	t.Helper()
	caller, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234567", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agent, "call.offered", func(e map[string]any) bool { return e["call_id"] == caller })
	if err := w.orch.Accept(w.ctx, agent, caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agent, "call.connected", func(e map[string]any) bool { return e["call_id"] == caller })
	if err := w.orch.Hangup(w.ctx, agent, caller); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, agent, "call.ended", func(e map[string]any) bool { return e["call_id"] == caller })
	// The caller stays, out of the bridge, for the survey.
	ch, ok := w.emu.Channel(caller)
	if !ok || ch.Bridge != "" {
		t.Fatalf("caller after the agent hung up: %+v alive=%v", ch, ok)
	}
	return caller
}

// played counts the channel playbacks that included sound.
func played(w *world, sound string) int {
	n := 0
	for _, r := range w.emu.Requests() {
		if r.Method != "POST" || r.Path != "/channels/{channelId}/play" {
			continue
		}
		for _, m := range strings.Split(r.Query.Get("media"), ",") {
			if m == sound {
				n++
			}
		}
	}
	return n
}

func (w *world) surveyReport(t *testing.T) (store.QueueReportRow, map[string]store.AgentReportRow) {
	t.Helper()
	if err := w.store.Sync(w.ctx); err != nil {
		t.Fatal(err)
	}
	req := store.ReportRequest{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), Interval: store.IntervalRange, FCRWindow: 24 * time.Hour}
	rows, err := w.store.QueueReport(w.ctx, req, []store.QueueSpec{{Queue: "sales", SLThreshold: 20 * time.Second}})
	if err != nil || len(rows) != 1 {
		t.Fatalf("queue report: %v %+v", err, rows)
	}
	arows, err := w.store.AgentReport(w.ctx, req, []string{"anna", "boris"})
	if err != nil {
		t.Fatal(err)
	}
	byAgent := map[string]store.AgentReportRow{}
	for _, r := range arows {
		byAgent[r.Agent] = r
	}
	return rows[0], byAgent
}

// The agent hangs up first on a queue with a survey: the caller hears the prompts,
// answers NPS 10 (two keys) and CSAT 7 (invalid, asked again) then 4; the next caller
// answers NPS 3 and never answers CSAT (asked again once, then skipped). Every call
// ends with ctid hanging up, and the reports' NPS and CSAT read the answers per
// queue and per agent.
func TestPostCallSurveyAfterAgentHangsUp(t *testing.T) {
	w := newWorldCfg(t, salesConfig("anna", "boris"), surveyConfig())
	w.ready(t, "anna")
	w.desk.wait(t, "anna", "agent.state", func(e map[string]any) bool { return e["state"] == queue.Ready.String() })

	c1 := talkThenAgentHangsUp(t, w, "anna")
	if err := w.emu.SendDTMF(c1, "10"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the NPS answer", func() bool { q, _ := w.surveyReport(t); return q.NPSAnswers == 1 })
	if err := w.emu.SendDTMF(c1, "74"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ctid to hang up the first caller", func() bool { _, ok := w.emu.Channel(c1); return !ok })

	w.ready(t, "boris")
	c2 := talkThenAgentHangsUp(t, w, "boris")
	if err := w.emu.SendDTMF(c2, "3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ctid to hang up the second caller", func() bool { _, ok := w.emu.Channel(c2); return !ok })

	q, agents := w.surveyReport(t)
	// NPS: one promoter (10), one detractor (3) of 2 = 0; CSAT: one answer, 4 = satisfied.
	if q.NPSAnswers != 2 || q.NPS == nil || *q.NPS != 0 || q.CSATAnswers != 1 || q.CSAT == nil || *q.CSAT != 1 {
		t.Fatalf("queue report NPS %v (%d answers) CSAT %v (%d answers)", q.NPS, q.NPSAnswers, q.CSAT, q.CSATAnswers)
	}
	if a := agents["anna"]; a.NPSAnswers != 1 || a.NPS == nil || *a.NPS != 100 || a.CSATAnswers != 1 {
		t.Fatalf("anna: NPS %v (%d) CSAT answers %d", a.NPS, a.NPSAnswers, a.CSATAnswers)
	}
	if b := agents["boris"]; b.NPSAnswers != 1 || b.NPS == nil || *b.NPS != -100 || b.CSATAnswers != 0 {
		t.Fatalf("boris: NPS %v (%d) CSAT answers %d", b.NPS, b.NPSAnswers, b.CSATAnswers)
	}
	// The invalid answer and the silence were each asked again once (the beep), and
	// both callers heard the goodbye.
	if beeps, goodbyes := played(w, "sound:beep"), played(w, "sound:vm-goodbye"); beeps != 2 || goodbyes != 2 {
		t.Fatalf("invalid-answer prompts %d (want 2), goodbyes %d (want 2)", beeps, goodbyes)
	}
	for _, id := range []string{c1, c2} {
		if ix := w.interaction(t, id); ix.Outcome != "answered" {
			t.Fatalf("interaction %s outcome %q", id, ix.Outcome)
		}
	}
}

// A caller who hangs up first gets no survey, and the caller leaving mid-survey ends it;
// the agent's leg going (a SIP phone put down) counts as the agent hanging up first.
func TestPostCallSurveyOnlyWhenAgentHangsUpFirst(t *testing.T) {
	w := newWorldCfg(t, salesConfig("anna", "boris", "ewa"), surveyConfig())
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
	if err := w.emu.Hangup(caller, 16); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "anna", "call.ended", nil)

	w.ready(t, "boris")
	c2 := talkThenAgentHangsUp(t, w, "boris")
	if err := w.emu.Hangup(c2, 16); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second interaction to close", func() bool { return w.interaction(t, c2).Outcome == "answered" })
	q, _ := w.surveyReport(t)
	if q.NPSAnswers != 0 || q.CSATAnswers != 0 {
		t.Fatalf("answers stored: NPS %d CSAT %d", q.NPSAnswers, q.CSATAnswers)
	}
	if n := played(w, "sound:queue-thankyou"); n != 1 {
		t.Fatalf("survey intros played %d times, want 1 (only the caller whose agent hung up first)", n)
	}

	// The agent's own leg hanging up (a SIP phone put down) is the agent hanging up first.
	w.ready(t, "ewa")
	c3, err := w.emu.InjectCall(w.ctx, ariemu.CallSpec{CallerNumber: "48221234567", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "ewa", "call.offered", func(e map[string]any) bool { return e["call_id"] == c3 })
	if err := w.orch.Accept(w.ctx, "ewa", c3); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "ewa", "call.connected", func(e map[string]any) bool { return e["call_id"] == c3 })
	if err := w.emu.Hangup(c3+"-agent", 16); err != nil {
		t.Fatal(err)
	}
	w.desk.wait(t, "ewa", "call.ended", func(e map[string]any) bool { return e["call_id"] == c3 })
	waitFor(t, "the survey intro for the third caller", func() bool { return played(w, "sound:queue-thankyou") == 2 })
	if err := w.emu.SendDTMF(c3, "9"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the third caller's NPS answer", func() bool { q, _ := w.surveyReport(t); return q.NPSAnswers == 1 })
}

func TestSurveyConfigValidation(t *testing.T) {
	for _, ss := range [][]cti.QueueSurvey{
		{{Queue: "sales"}},
		{{Queue: "sales", Questions: []cti.SurveyQuestion{{Kind: "ces", Prompt: []string{"sound:x"}}}}},
		{{Queue: "sales", Questions: []cti.SurveyQuestion{{Kind: cti.SurveyNPS}}}},
		{{Queue: "sales", Questions: []cti.SurveyQuestion{{Kind: cti.SurveyNPS, Prompt: []string{"sound:x"}}}, DigitTimeout: time.Millisecond}},
		{{Queue: "sales", Questions: []cti.SurveyQuestion{{Kind: cti.SurveyNPS, Prompt: []string{"sound:x"}}}},
			{Queue: "sales", Questions: []cti.SurveyQuestion{{Kind: cti.SurveyCSAT, Prompt: []string{"sound:x"}}}}},
	} {
		cc := cti.DefaultConfig()
		cc.Surveys = ss
		if err := cc.Validate(); err == nil {
			t.Errorf("%+v accepted", ss)
		}
	}
	cc := surveyConfig()
	if err := cc.Validate(); err != nil {
		t.Fatal(err)
	}
}

// ctid restarted during a survey: the caller is not queued again (the survey cleared
// the re-adoption marks) but released by the fallback; the interaction stays the one
// answered record.
func TestRestartDuringSurveyReleasesCaller(t *testing.T) {
	emu, err := ariemu.New(ariemu.Config{Users: map[string]string{"ctid": "pw"}, DialplanApp: "ctid", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "ctid.db")
	db, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Error(err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	qc := salesConfig("anna")
	cc := surveyConfig()
	cc.Surveys[0].AnswerTimeout = time.Minute // the survey outlives run 1
	run1 := startRunCfg(t, srv.URL, qc, cc, db)
	if err := run1.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run1.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	caller, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "500", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.offered", nil)
	if err := run1.orch.Accept(ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.connected", nil)
	if err := run1.orch.Hangup(ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	run1.desk.wait(t, "anna", "call.ended", nil)
	run1.stop()
	if _, ok := emu.Channel(caller); !ok {
		t.Fatal("the caller should still be in Asterisk, in the survey")
	}
	run2 := startRunCfg(t, srv.URL, qc, cc, db)
	if err := run2.orch.AgentLogin(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	if err := run2.orch.AgentReady(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "the surveyed caller released", func() bool { _, ok := emu.Channel(caller); return !ok })
	if n := run2.desk.count("anna", "call.offered"); n != 0 {
		t.Fatalf("the surveyed caller was queued again and offered %d times", n)
	}
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ix, err := db.Interaction(ctx, caller)
	if err != nil || ix.Outcome != "answered" {
		t.Fatalf("interaction %+v %v", ix, err)
	}
}
