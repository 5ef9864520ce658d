package store

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The campaign fixture: campaign "winter" on 2026-12-01 in Europe/Warsaw, hours 10
// and 11, with distractors (campaign "spring", the day before, the global DNC list,
// a cancelled callback). Every number asserted below is computed by hand.
func campaignFixture(t *testing.T, s *Store) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Warsaw")
	require.NoError(t, err)
	ctx := testCtx(t)
	d1 := func(h, m, sec int) time.Time { return time.Date(2026, 12, 1, h, m, sec, 0, loc) }
	var zero time.Time
	type att struct {
		id, campaign, contact, outcome, disp, agent string
		placed, answered, connected                 time.Time
	}
	attempts := []att{
		// Hour 10.
		{"a1", "winter", "c1", "", "sale", "anna", d1(10, 0, 0), d1(10, 0, 5), d1(10, 0, 6)},
		{"a2", "winter", "c2", "busy", "", "", d1(10, 10, 0), zero, zero},
		{"a3", "winter", "c3", "no-answer", "", "", d1(10, 12, 0), zero, zero},
		{"a4", "winter", "c4", "machine", "", "", d1(10, 14, 0), zero, zero},
		{"a5", "winter", "c5", "abandoned", "", "", d1(10, 16, 0), d1(10, 16, 4), zero},
		{"a6", "winter", "c6", "congestion", "", "", d1(10, 20, 0), zero, zero},
		{"a7", "winter", "c7", "rejected", "", "", d1(10, 22, 0), zero, zero},
		{"a8", "winter", "c8", "", "callback", "boris", d1(10, 30, 0), d1(10, 30, 2), d1(10, 30, 3)},
		{"a9", "winter", "c9", "skipped", "", "anna", d1(10, 40, 0), zero, zero},
		// Hour 11.
		{"a10", "winter", "c10", "", "dnc", "anna", d1(11, 0, 0), d1(11, 0, 3), d1(11, 0, 4)},
		{"a11", "winter", "c11", "abandoned", "", "", d1(11, 5, 0), d1(11, 5, 2), zero},
		{"a12", "winter", "c8", "", "not_interested", "boris", d1(11, 40, 30), d1(11, 40, 32), d1(11, 40, 33)},
		{"a13", "winter", "c13", "invalid", "", "", d1(11, 50, 0), zero, zero},
		// Distractors: another campaign; the day before.
		{"s1", "spring", "x1", "", "sale", "anna", d1(10, 5, 0), d1(10, 5, 2), d1(10, 5, 3)},
		{"a0", "winter", "c0", "", "sale", "anna", d1(-1, 30, 0), d1(-1, 30, 2), d1(-1, 30, 3)},
	}
	// Each attempt is saved step by step, as the dialer records it: dialled, answered,
	// connected, its outcome, its disposition (the rollups follow every step).
	for _, a := range attempts {
		at := CampaignAttempt{ID: a.id, CampaignID: a.campaign, ContactID: a.contact, Number: "+4820000" + a.id,
			InteractionID: "w" + a.id, Placed: a.placed}
		steps := []CampaignAttempt{at}
		if !a.answered.IsZero() {
			at.Answered = a.answered
			steps = append(steps, at)
		}
		if !a.connected.IsZero() {
			at.Connected, at.Agent = a.connected, a.agent
			steps = append(steps, at)
		}
		if a.outcome != "" {
			at.Outcome = a.outcome
			steps = append(steps, at)
		}
		if a.disp != "" {
			at.Disposition = a.disp
			steps = append(steps, at)
		}
		for _, st := range steps {
			require.NoError(t, s.SaveDurable(ctx, st))
		}
	}
	seg := func(k SegmentKind, agent string, a, b time.Time) Segment {
		return Segment{Kind: k, Agent: agent, Start: a, End: b}
	}
	call := func(id, campaign string, created time.Time, cause string, segs ...Segment) Interaction {
		if segs == nil {
			segs = []Segment{}
		}
		return Interaction{ID: id, Direction: Outbound, Campaign: campaign, CallerNumber: "+4820000" + id[1:],
			Created: created, Ended: created.Add(10 * time.Minute), Cause: cause, Segments: segs}
	}
	for _, x := range []Interaction{
		// w1: connected 300 s with 60 s of hold, wrap-up 30 s.
		call("wa1", "winter", d1(10, 0, 0), "",
			seg(SegTalking, "anna", d1(10, 0, 6), d1(10, 5, 6)),
			seg(SegHold, "anna", d1(10, 1, 0), d1(10, 2, 0)),
			seg(SegWrapUp, "anna", d1(10, 5, 6), d1(10, 5, 36))),
		call("wa2", "winter", d1(10, 10, 0), "busy"),
		call("wa5", "winter", d1(10, 16, 0), ""), // its cause comes with its close, below
		// w8: connected 120 s, wrap-up 60 s.
		call("wa8", "winter", d1(10, 30, 0), "",
			seg(SegTalking, "boris", d1(10, 30, 3), d1(10, 32, 3)),
			seg(SegWrapUp, "boris", d1(10, 32, 3), d1(10, 33, 3))),
		// w10: connected 60 s, wrap-up 30 s.
		call("wa10", "winter", d1(11, 0, 0), "",
			seg(SegTalking, "anna", d1(11, 0, 4), d1(11, 1, 4)),
			seg(SegWrapUp, "anna", d1(11, 1, 4), d1(11, 1, 34))),
		// w11: the message failed to play: not a play.
		call("wa11", "winter", d1(11, 5, 0), "safe-harbour message failed"),
		// w12: connected 120 s.
		call("wa12", "winter", d1(11, 40, 30), "",
			seg(SegTalking, "boris", d1(11, 40, 33), d1(11, 42, 33))),
		call("ws1", "spring", d1(10, 5, 0), "safe-harbour message played",
			seg(SegTalking, "anna", d1(10, 5, 3), d1(10, 15, 3))),
		// An inbound call: not a campaign's.
		{ID: "in1", Direction: Inbound, Queue: "sales", CallerNumber: "+48111", Created: d1(10, 0, 0), Segments: []Segment{}},
	} {
		require.NoError(t, s.SaveDurable(ctx, x))
	}
	require.NoError(t, s.SaveDurable(ctx, InteractionClose{ID: "wa5", Ended: d1(10, 16, 30), Outcome: "abandoned",
		Cause: "safe-harbour message played"}))
	for _, c := range []CampaignCallback{
		// Due 11:40, dialled at 11:40:30 (a12): kept.
		{ID: "cb1", CampaignID: "winter", ContactID: "c8", Due: d1(11, 40, 0), Status: CallbackPending, Created: d1(10, 33, 3)},
		// Due 11:50, never dialled.
		{ID: "cb2", CampaignID: "winter", ContactID: "c99", Due: d1(11, 50, 0), Status: CallbackPending, Created: d1(11, 10, 0)},
		// Cancelled: scheduled, but never due.
		{ID: "cb3", CampaignID: "winter", ContactID: "c8", Due: d1(11, 55, 0), Status: CallbackCancelled, Created: d1(11, 20, 0)},
		{ID: "cb4", CampaignID: "spring", ContactID: "x1", Due: d1(11, 0, 0), Status: CallbackDone, Created: d1(10, 20, 0)},
	} {
		require.NoError(t, s.SaveDurable(ctx, c))
	}
	_, err = s.AddDNC(ctx,
		DNCEntry{Scope: "winter", Number: "+4820000a10", Source: DNCSourceDisposition, AddedBy: "anna", Added: d1(11, 1, 34)},
		DNCEntry{Scope: DNCGlobal, Number: "+4820000a10", Source: DNCSourceDisposition, AddedBy: "anna", Added: d1(11, 1, 34)},
		DNCEntry{Scope: "spring", Number: "+4820000s1", Source: DNCSourceAPI, AddedBy: "sam", Added: d1(10, 0, 0)},
		DNCEntry{Scope: "winter", Number: "+4820000a0", Source: DNCSourceAPI, AddedBy: "sam", Added: d1(-2, 0, 0)})
	require.NoError(t, err)
	for _, a := range []SurveyAnswer{
		{InteractionID: "wa1", Agent: "anna", Kind: SurveyNPS, Score: 9, At: d1(10, 6, 0)},
		{InteractionID: "wa1", Agent: "anna", Kind: SurveyCSAT, Score: 5, At: d1(10, 6, 0)},
		{InteractionID: "wa10", Agent: "anna", Kind: SurveyNPS, Score: 4, At: d1(11, 2, 0)},
		{InteractionID: "ws1", Agent: "anna", Kind: SurveyNPS, Score: 0, At: d1(10, 16, 0)},
		{InteractionID: "in1", Queue: "sales", Kind: SurveyNPS, Score: 0, At: d1(10, 16, 0)},
	} {
		require.NoError(t, s.SaveSurveyAnswer(a))
	}
	// anna logged in 10:00-12:00, boris 10:30-11:30.
	for _, e := range []AgentStateEntry{
		{Agent: "anna", State: "ready", At: d1(10, 0, 0)},
		{Agent: "anna", State: "talking", At: d1(10, 0, 6)},
		{Agent: "anna", State: "ready", At: d1(10, 5, 36)},
		{Agent: "anna", State: "not_ready", Reason: "break", At: d1(11, 10, 0)},
		{Agent: "anna", State: "logout", At: d1(12, 0, 0)},
		{Agent: "boris", State: "ready", At: d1(10, 30, 0)},
		{Agent: "boris", State: "logout", At: d1(11, 30, 0)},
	} {
		require.NoError(t, s.LogAgentState(e))
	}
	require.NoError(t, s.Sync(ctx))
	return loc
}

func winterSpec() CampaignSpec {
	return CampaignSpec{Campaign: "winter", Agents: []string{"anna", "boris"}, Dispositions: []CampaignDisposition{
		{Code: "sale", Final: true, Sale: true}, {Code: "not_interested", Final: true}, {Code: "callback", Callback: true},
		{Code: "dnc", DNC: true}, {Code: "no_decision"},
	}}
}

func TestCampaignReportFixture(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		loc := campaignFixture(t, s)
		ctx := testCtx(t)
		day := time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
		next := day.AddDate(0, 0, 1)
		d := func(h, m, sec int) time.Time { return time.Date(2026, 12, 1, h, m, sec, 0, loc) }
		req := ReportRequest{From: day, To: next, Interval: IntervalHour, Location: loc, FCRWindow: 7 * 24 * time.Hour, Now: next}
		spec := winterSpec()
		rows, err := s.CampaignReport(ctx, req, []CampaignSpec{spec})
		require.NoError(t, err)
		require.Len(t, rows, 24)
		empty := func(start, end time.Time) CampaignKPIs {
			return CampaignKPIs{Start: start, End: end, AbandonFormula: CampaignAbandonFormula}
		}
		for h, r := range rows {
			start := day.Add(time.Duration(h) * time.Hour)
			want := empty(start, start.Add(time.Hour))
			k := &want
			switch h {
			case 10:
				k.Attempts, k.Skipped, k.Connects, k.Abandons, k.LiveAnswers = 8, 1, 2, 1, 3 // a1-a8; a9; a1, a8; a5
				k.Machine, k.Busy, k.NoAnswer, k.Congestion, k.Failed = 1, 1, 1, 1, 1
				k.AbandonRate, k.ConnectRate = fp(1.0/3), fp(0.25)
				k.SafeHarbourPlays = 1 // w5
				// talk 240 + 120, hold 60, wrap-up 30 + 60; per connect.
				k.TalkTime, k.HoldTime, k.WrapUpTime = sec(360), sec(60), sec(90)
				k.AHT, k.AvgTalk, k.AvgHold, k.AvgWrapUp = sec(255), sec(180), sec(30), sec(45)
				k.AgentTime, k.ContactsPerAgentHour = sec(5400), fp(2/1.5) // anna 3600 s + boris 1800 s
				k.Dispositions = map[string]int{"sale": 1, "callback": 1}
				k.Final, k.Sales, k.CallbackDispositions, k.Conversion = 1, 1, 1, fp(0.5)
				k.CallbacksScheduled = 1 // cb1
				k.NPSAnswers, k.NPS, k.CSATAnswers, k.CSAT = 1, fp(100), 1, fp(1)
			case 11:
				k.Attempts, k.Connects, k.Abandons, k.LiveAnswers, k.Failed = 4, 2, 1, 3, 1 // a10-a13; a10, a12; a11; a13
				k.AbandonRate, k.ConnectRate = fp(1.0/3), fp(0.5)
				k.TalkTime, k.WrapUpTime = sec(180), sec(30) // 60 + 120; 30
				k.AHT, k.AvgTalk, k.AvgWrapUp = sec(105), sec(90), sec(15)
				k.AgentTime, k.ContactsPerAgentHour = sec(5400), fp(2/1.5) // anna 3600 s + boris 1800 s
				k.Dispositions = map[string]int{"dnc": 1, "not_interested": 1}
				k.Final, k.DNCDispositions, k.Conversion = 2, 1, fp(0)
				k.CallbacksScheduled, k.CallbacksDue, k.CallbacksKept = 2, 2, 1 // cb2, cb3; cb1, cb2; cb1
				k.DNCAdded = 1
				k.NPSAnswers, k.NPS = 1, fp(-100)
			}
			assertCampaignRow(t, fmt.Sprintf("%s hour %d", e.name, h), CampaignReportRow{Campaign: "winter", CampaignKPIs: want}, r)
		}

		// The whole day as one row, with the distractor campaign alongside.
		req.Interval = IntervalRange
		rows, err = s.CampaignReport(ctx, req, []CampaignSpec{spec, {Campaign: "spring"}})
		require.NoError(t, err)
		require.Len(t, rows, 2)
		want := empty(day, next)
		k := &want
		k.Attempts, k.Skipped, k.Connects, k.Abandons, k.LiveAnswers = 12, 1, 4, 2, 6
		k.Machine, k.Busy, k.NoAnswer, k.Congestion, k.Failed = 1, 1, 1, 1, 2
		k.AbandonRate, k.ConnectRate, k.SafeHarbourPlays = fp(1.0/3), fp(1.0/3), 1
		k.TalkTime, k.HoldTime, k.WrapUpTime = sec(540), sec(60), sec(120)
		k.AHT, k.AvgTalk, k.AvgHold, k.AvgWrapUp = sec(180), sec(135), sec(15), sec(30)
		k.AgentTime, k.ContactsPerAgentHour = sec(10800), fp(4.0/3)
		k.Dispositions = map[string]int{"sale": 1, "callback": 1, "dnc": 1, "not_interested": 1}
		k.Final, k.Sales, k.CallbackDispositions, k.DNCDispositions, k.Conversion = 3, 1, 1, 1, fp(0.25)
		k.CallbacksScheduled, k.CallbacksDue, k.CallbacksKept, k.DNCAdded = 3, 2, 1, 1
		k.NPSAnswers, k.NPS, k.CSATAnswers, k.CSAT = 2, fp(0), 1, fp(1)
		assertCampaignRow(t, e.name+" day", CampaignReportRow{Campaign: "winter", CampaignKPIs: want}, rows[0])
		// spring: one connected sale (no flags given: not counted as a sale), its
		// play, its done callback (due 11:00, kept), its DNC entry, its survey answer.
		spring := empty(day, next)
		k = &spring
		k.Attempts, k.Connects, k.LiveAnswers, k.ConnectRate, k.AbandonRate = 1, 1, 1, fp(1), fp(0)
		k.SafeHarbourPlays, k.TalkTime, k.AHT, k.AvgTalk = 1, sec(600), sec(600), sec(600)
		k.Dispositions, k.Conversion = map[string]int{"sale": 1}, fp(0)
		k.CallbacksScheduled, k.CallbacksDue, k.CallbacksKept, k.DNCAdded = 1, 1, 1, 1
		k.NPSAnswers, k.NPS = 1, fp(-100)
		assertCampaignRow(t, e.name+" spring", CampaignReportRow{Campaign: "spring", CampaignKPIs: spring}, rows[1])

		// The writer's rollups are what migration 0007 backfills from the same rows.
		kept := campaignRollupRows(t, s)
		require.NotEmpty(t, kept)
		rebuildCampaignRollups(t, s)
		require.Equal(t, kept, campaignRollupRows(t, s))

		// A custom range not on 15-minute boundaries: its ends are read from the rows.
		// 10:12:30-11:05:01: a4-a8 (a9 skipped) and a10, a11; w5, w8, w10, w11.
		req = ReportRequest{From: d(10, 12, 30), To: d(11, 5, 1), Interval: IntervalRange, Location: loc, Now: next}
		rows, err = s.CampaignReport(ctx, req, []CampaignSpec{spec})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		r := rows[0]
		require.Equal(t, [7]int{7, 1, 2, 2, 1, 1, 0}, [7]int{r.Attempts, r.Skipped, r.Connects, r.Abandons, r.Machine, r.Congestion, r.Busy})
		require.Equal(t, [4]time.Duration{sec(180), 0, sec(90), sec(0)}, [4]time.Duration{r.TalkTime, r.HoldTime, r.WrapUpTime, 0})
		require.Equal(t, 1, r.SafeHarbourPlays)
		require.Equal(t, map[string]int{"callback": 1, "dnc": 1}, r.Dispositions)
		req.Interval = IntervalDay

		_, err = s.CampaignReport(ctx, req, []CampaignSpec{{Campaign: " "}})
		require.ErrorIs(t, err, ErrInvalidReport)
		_, err = s.CampaignReport(ctx, ReportRequest{From: day, To: day.AddDate(10, 0, 0), Interval: Interval15Min}, []CampaignSpec{spec})
		require.ErrorIs(t, err, ErrInvalidReport)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = s.CampaignReport(cctx, req, []CampaignSpec{spec})
		require.ErrorIs(t, err, context.Canceled)
	})
}

// campaignRollupRows reads both campaign rollup tables without their zero rows.
func campaignRollupRows(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	require.NoError(t, s.eachRow(testCtx(t), "test", `SELECT campaign_id, slot, outcome, disposition, connected, n
FROM report_campaign_slots WHERE n <> 0 ORDER BY campaign_id, slot, outcome, disposition, connected`, nil, func(rows *sql.Rows) error {
		var (
			c, o, d     string
			slot, cn, n int64
		)
		if err := rows.Scan(&c, &slot, &o, &d, &cn, &n); err != nil {
			return err
		}
		out = append(out, fmt.Sprint(c, slot, o, d, cn, n))
		return nil
	}))
	require.NoError(t, s.eachRow(testCtx(t), "test", `SELECT campaign, slot, calls, connected_us, hold_us, wrapup_us, plays
FROM report_campaign_call_slots WHERE calls <> 0 ORDER BY campaign, slot`, nil, func(rows *sql.Rows) error {
		var (
			c                                    string
			slot, calls, conn, hold, wrap, plays int64
		)
		if err := rows.Scan(&c, &slot, &calls, &conn, &hold, &wrap, &plays); err != nil {
			return err
		}
		out = append(out, fmt.Sprint(c, slot, calls, conn, hold, wrap, plays))
		return nil
	}))
	return out
}

// assertCampaignRow compares rows, ratios to 1e-9.
func assertCampaignRow(t *testing.T, name string, want, got CampaignReportRow) {
	t.Helper()
	for _, p := range []struct {
		name string
		w, g **float64
	}{
		{"abandon rate", &want.AbandonRate, &got.AbandonRate}, {"connect rate", &want.ConnectRate, &got.ConnectRate},
		{"contacts per agent hour", &want.ContactsPerAgentHour, &got.ContactsPerAgentHour},
		{"conversion", &want.Conversion, &got.Conversion}, {"nps", &want.NPS, &got.NPS}, {"csat", &want.CSAT, &got.CSAT},
	} {
		if *p.w == nil || *p.g == nil {
			require.Equal(t, *p.w, *p.g, "%s: %s", name, p.name)
		} else {
			require.InDelta(t, **p.w, **p.g, 1e-9, "%s: %s", name, p.name)
		}
		*p.w, *p.g = nil, nil
	}
	require.True(t, want.Start.Equal(got.Start) && want.End.Equal(got.End), "%s: interval %s-%s, want %s-%s", name, got.Start, got.End, want.Start, want.End)
	require.Equal(t, want.Start.Location().String(), got.Start.Location().String(), "%s: zone", name)
	want.Start, want.End, got.Start, got.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	require.Equal(t, want, got, name)
}
