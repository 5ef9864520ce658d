package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctid/ctid/queue"
)

// The fixture is one day, 2026-12-01 in Europe/Warsaw (UTC+1), of queue "sales"
// (SL 20 s, short abandons 5 s, members anna and boris) plus distractors that must
// not count. Every number asserted below is computed by hand in the comments.
func reportFixture(t *testing.T, s *Store) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Warsaw")
	require.NoError(t, err)
	at := func(day, h, m, sec int) time.Time { return time.Date(2026, 12, day, h, m, sec, 0, loc) }
	d1 := func(h, m, sec int) time.Time { return at(1, h, m, sec) }
	seg := func(k SegmentKind, agent string, a, b time.Time) Segment {
		return Segment{Kind: k, Agent: agent, Start: a, End: b}
	}
	ix := func(id, q, num string, dir Direction, created, answered, ended time.Time, outcome string, segs ...Segment) Interaction {
		if segs == nil {
			segs = []Segment{}
		}
		return Interaction{ID: id, Direction: dir, Queue: q, CallerNumber: num, Created: created, Queued: created,
			Answered: answered, Ended: ended, Outcome: outcome, Segments: segs}
	}
	var zero time.Time
	ctx := testCtx(t)
	for _, x := range []Interaction{
		// Hour 10. ix1: wait 10 s, connected 300 s with 60 s of hold, wrap-up 30 s.
		ix("ix1", "sales", "+48111", Inbound, d1(10, 0, 0), d1(10, 0, 10), d1(10, 5, 10), "answered",
			seg(SegQueued, "", d1(10, 0, 0), d1(10, 0, 10)),
			seg(SegRinging, "anna", d1(10, 0, 5), d1(10, 0, 10)),
			seg(SegTalking, "anna", d1(10, 0, 10), d1(10, 5, 10)),
			seg(SegHold, "anna", d1(10, 1, 0), d1(10, 2, 0)),
			seg(SegWrapUp, "anna", d1(10, 5, 10), d1(10, 5, 40))),
		// ix2: wait 30 s (misses SL), connected 120 s, transferred, wrap-up 30 s.
		ix("ix2", "sales", "+48222", Inbound, d1(10, 10, 0), d1(10, 10, 30), d1(10, 12, 30), "answered",
			seg(SegRinging, "boris", d1(10, 10, 20), d1(10, 10, 30)),
			seg(SegTalking, "boris", d1(10, 10, 30), d1(10, 12, 30)),
			seg(SegTransfer, "boris", d1(10, 12, 30), d1(10, 12, 30)),
			seg(SegWrapUp, "boris", d1(10, 12, 30), d1(10, 13, 0))),
		// ix3: abandoned after 3 s (short abandon, within SL). ix4: abandoned after 45 s.
		ix("ix3", "sales", "+48333", Inbound, d1(10, 20, 0), zero, d1(10, 20, 3), "abandoned"),
		ix("ix4", "sales", "+48444", Inbound, d1(10, 30, 0), zero, d1(10, 30, 45), "abandoned"),
		// Hour 11. ix5: the same caller as ix1 again (ix1 not resolved at first contact); wait 5 s, connected 60 s.
		ix("ix5", "sales", "+48111", Inbound, d1(11, 15, 0), d1(11, 15, 5), d1(11, 16, 5), "answered",
			seg(SegRinging, "anna", d1(11, 15, 0), d1(11, 15, 5)),
			seg(SegTalking, "anna", d1(11, 15, 5), d1(11, 16, 5))),
		// ix6: no caller number (not in FCR); wait exactly 20 s (meets SL), connected 60 s, wrap-up 30 s.
		ix("ix6", "sales", "", Inbound, d1(11, 30, 0), d1(11, 30, 20), d1(11, 31, 20), "answered",
			seg(SegRinging, "boris", d1(11, 30, 15), d1(11, 30, 20)),
			seg(SegTalking, "boris", d1(11, 30, 20), d1(11, 31, 20)),
			seg(SegWrapUp, "boris", d1(11, 31, 20), d1(11, 31, 50))),
		// Distractors: the day before; 8 days after ix2 from its number (outside the 7-day
		// FCR window); an outbound call of the queue; a call of another queue (anna's).
		ix("ix7", "sales", "+48222", Inbound, at(30, 23, 30, 0).AddDate(0, -1, 0), at(30, 23, 30, 5).AddDate(0, -1, 0), at(30, 23, 31, 0).AddDate(0, -1, 0), "answered"),
		ix("ix8", "sales", "+48222", Inbound, at(9, 12, 0, 0), at(9, 12, 0, 1), at(9, 12, 1, 0), "answered"),
		ix("ix9", "sales", "+48555", Outbound, d1(10, 40, 0), d1(10, 40, 10), d1(10, 41, 0), "answered"),
		ix("ix10", "support", "+48999", Inbound, d1(10, 50, 0), d1(10, 50, 2), d1(10, 51, 2), "answered",
			seg(SegRinging, "anna", d1(10, 50, 0), d1(10, 50, 2)),
			seg(SegTalking, "anna", d1(10, 50, 2), d1(10, 51, 2))),
	} {
		require.NoError(t, s.SaveDurable(ctx, x))
	}
	for _, a := range []SurveyAnswer{
		{InteractionID: "ix1", Queue: "sales", Agent: "anna", Kind: SurveyNPS, Score: 10, At: d1(10, 6, 0)},
		{InteractionID: "ix1", Queue: "sales", Agent: "anna", Kind: SurveyCSAT, Score: 5, At: d1(10, 6, 0)},
		{InteractionID: "ix2", Queue: "sales", Agent: "boris", Kind: SurveyNPS, Score: 7, At: d1(10, 14, 0)},
		{InteractionID: "ix2", Queue: "sales", Agent: "boris", Kind: SurveyCSAT, Score: 3, At: d1(10, 14, 0)},
		{InteractionID: "ix5", Queue: "sales", Agent: "anna", Kind: SurveyNPS, Score: 3, At: d1(11, 17, 0)},
		{InteractionID: "ix5", Queue: "sales", Agent: "anna", Kind: SurveyCSAT, Score: 4, At: d1(11, 17, 0)},
	} {
		require.NoError(t, s.SaveSurveyAnswer(a))
	}
	for _, c := range []Callback{
		{ID: "cb1", Queue: "sales", Number: "+48333", InteractionID: "ix3", Status: CallbackDone,
			Requested: d1(10, 20, 3), Completed: d1(10, 35, 3)}, // first response 900 s
		{ID: "cb2", Queue: "sales", Number: "+48444", Status: CallbackPending, Requested: d1(10, 45, 0)},
	} {
		require.NoError(t, s.SaveDurable(ctx, c))
	}
	states := []AgentStateEntry{
		{Agent: "anna", State: "logout", At: at(30, 18, 0, 0).AddDate(0, -1, 0)},
		{Agent: "anna", State: "login", At: at(1, 9, 50, 0)},
		{Agent: "anna", State: "ready", At: d1(10, 0, 0)},
		{Agent: "anna", State: "reserved", At: d1(10, 0, 5)},
		{Agent: "anna", State: "talking", At: d1(10, 0, 10)},
		{Agent: "anna", State: "on_hold", At: d1(10, 1, 0)},
		{Agent: "anna", State: "talking", At: d1(10, 2, 0)},
		{Agent: "anna", State: "wrap_up", At: d1(10, 5, 10)},
		{Agent: "anna", State: "ready", At: d1(10, 5, 40)},
		{Agent: "anna", State: "reserved", At: d1(10, 50, 0)},
		{Agent: "anna", State: "talking", At: d1(10, 50, 2)},
		{Agent: "anna", State: "ready", At: d1(10, 51, 2)},
		{Agent: "anna", State: "reserved", At: d1(11, 15, 0)},
		{Agent: "anna", State: "talking", At: d1(11, 15, 5)},
		{Agent: "anna", State: "ready", At: d1(11, 16, 5)},
		{Agent: "anna", State: "not_ready", Reason: "lunch", At: d1(11, 30, 0)},
		{Agent: "anna", State: "logout", At: d1(11, 45, 0)},
		// boris is ready since the evening before: ready from the start of the day.
		{Agent: "boris", State: "ready", At: at(30, 23, 0, 0).AddDate(0, -1, 0)},
		{Agent: "boris", State: "reserved", At: d1(10, 10, 20)},
		{Agent: "boris", State: "talking", At: d1(10, 10, 30)},
		{Agent: "boris", State: "wrap_up", At: d1(10, 12, 30)},
		{Agent: "boris", State: "ready", At: d1(10, 13, 0)},
		{Agent: "boris", State: "reserved", At: d1(11, 30, 15)},
		{Agent: "boris", State: "talking", At: d1(11, 30, 20)},
		{Agent: "boris", State: "wrap_up", At: d1(11, 31, 20)},
		{Agent: "boris", State: "ready", At: d1(11, 31, 50)},
		{Agent: "boris", State: "logout", At: d1(12, 0, 0)},
	}
	for _, e := range states {
		require.NoError(t, s.LogAgentState(e))
	}
	require.NoError(t, s.Sync(ctx))
	return loc
}

func fp(v float64) *float64 { return &v }

func sec(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// zeroKPIs is a row with nothing in it (except the agent time given).
func zeroKPIs(start, end time.Time, spec *QueueSpec) KPIs {
	k := KPIs{Start: start, End: end}
	if spec != nil {
		k.SLFormula, k.SLThreshold = spec.Formula.String(), spec.SLThreshold
	}
	return k
}

func TestReportFixture(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		loc := reportFixture(t, s)
		ctx := testCtx(t)
		day := time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
		next := day.AddDate(0, 0, 1)
		req := ReportRequest{From: day, To: next, Interval: IntervalHour, Location: loc, FCRWindow: 7 * 24 * time.Hour, Now: next}
		spec := QueueSpec{Queue: "sales", SLThreshold: 20 * time.Second, ShortAbandon: 5 * time.Second,
			Formula: queue.SLAbandonsAgainst, Members: []string{"anna", "boris"}}

		rows, err := queueReportBothWays(t, s, req, []QueueSpec{spec})
		require.NoError(t, err)
		require.Len(t, rows, 24)
		for h, r := range rows {
			start := day.Add(time.Duration(h) * time.Hour)
			want := QueueReportRow{Queue: "sales", KPIs: zeroKPIs(start, start.Add(time.Hour), &spec)}
			switch {
			case h <= 8: // boris ready all hour, nobody handling: occupancy and utilisation 0
				want.ReadyTime, want.LoggedInTime = time.Hour, time.Hour
				want.Occupancy, want.Utilisation = fp(0), fp(0)
			case h == 9: // boris ready; anna logged in (not ready) from 09:50
				want.ReadyTime, want.NotReadyTime, want.LoggedInTime = time.Hour, 10*time.Minute, 70*time.Minute
				want.NotReadyByReason = map[string]time.Duration{"": 10 * time.Minute} // logged in, no reason
				want.Occupancy, want.Utilisation = fp(0), fp(0)
			case h == 10:
				k := &want.KPIs
				k.Offered, k.Answered, k.Abandoned, k.ShortAbandoned = 4, 2, 2, 1
				k.ServiceLevel = fp(0.25)   // answered within 20 s (ix1) / (2 answered + 2 abandoned)
				k.AbandonRate = fp(1.0 / 3) // (2 - 1 short) / (4 - 1 short)
				k.ASA = sec(20)             // (10 + 30) / 2
				k.AHT = sec(240)            // talk 360 + hold 60 + wrap-up 60, / 2
				k.AvgTalk, k.AvgHold, k.AvgWrapUp = sec(180), sec(30), sec(30)
				k.LongestWait = sec(45) // ix4
				k.Transfers = 1
				k.FCRCalls, k.FCR = 2, fp(0.5)  // ix1 called again (ix5), ix2 not within 7 days
				k.NPSAnswers, k.NPS = 2, fp(50) // 10 promoter, 7 passive: 50% - 0%
				k.CSATAnswers, k.CSAT = 2, fp(0.5)
				k.CallbacksRequested, k.CallbacksCompleted, k.CallbackFirstResponse = 2, 1, sec(900)
				// anna: handling 10:00:05-10:05:40 (335 s) + 10:50:00-10:51:02 (62 s), ready the rest (3203 s);
				// boris: handling 10:10:20-10:13:00 (160 s), ready 3440 s.
				k.ReadyTime, k.HandlingTime, k.LoggedInTime = sec(6643), sec(557), sec(7200)
				k.Occupancy, k.Utilisation = fp(557.0/7200), fp(557.0/7200)
				k.WrapUpStateTime = sec(60) // anna 10:05:10-10:05:40, boris 10:12:30-10:13:00
			case h == 11:
				k := &want.KPIs
				k.Offered, k.Answered = 2, 2
				k.ServiceLevel = fp(1) // 5 s and 20 s both within 20 s
				k.AbandonRate = fp(0)
				k.ASA = sec(12.5)
				k.AHT = sec(75) // connected 120 + wrap-up 30, / 2
				k.AvgTalk, k.AvgHold, k.AvgWrapUp = sec(60), 0, sec(15)
				k.LongestWait = sec(20)
				k.FCRCalls, k.FCR = 1, fp(1) // ix5 only (ix6 has no number)
				k.NPSAnswers, k.NPS = 1, fp(-100)
				k.CSATAnswers, k.CSAT = 1, fp(1)
				// anna: ready 900 + 835, handling 65, not ready 900 (out from 11:45);
				// boris: ready 1815 + 1690, handling 95.
				k.ReadyTime, k.HandlingTime, k.NotReadyTime, k.LoggedInTime = sec(5240), sec(160), sec(900), sec(6300)
				k.Occupancy, k.Utilisation = fp(160.0/5400), fp(160.0/6300)
				k.NotReadyByReason = map[string]time.Duration{"lunch": sec(900)}
				k.WrapUpStateTime = sec(30) // boris 11:31:20-11:31:50
			}
			assertRow(t, fmt.Sprintf("hour %d", h), want, r)
		}

		// The whole day as one row, under the short-abandons-neutral formula.
		spec.Formula = queue.SLShortAbandonsNeutral
		req.Interval = IntervalRange
		rows, err = queueReportBothWays(t, s, req, []QueueSpec{spec})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		want := QueueReportRow{Queue: "sales", KPIs: zeroKPIs(day, next, &spec)}
		k := &want.KPIs
		k.Offered, k.Answered, k.Abandoned, k.ShortAbandoned = 6, 4, 2, 1
		k.ServiceLevel = fp(0.6)    // (3 answered within + 1 abandoned within - 1 short) / (4 + 2 - 1)
		k.AbandonRate = fp(1.0 / 5) // (2 - 1) / (6 - 1)
		k.ASA = sec(16.25)          // (10 + 30 + 5 + 20) / 4
		k.AHT = sec(157.5)          // talk 480 + hold 60 + wrap-up 90, / 4
		k.AvgTalk, k.AvgHold, k.AvgWrapUp = sec(120), sec(15), sec(22.5)
		k.LongestWait, k.Transfers = sec(45), 1
		k.FCRCalls, k.FCR = 3, fp(2.0/3)
		k.NPSAnswers, k.NPS = 3, fp(0) // 1 promoter, 1 passive, 1 detractor
		k.CSATAnswers, k.CSAT = 3, fp(2.0/3)
		k.CallbacksRequested, k.CallbacksCompleted, k.CallbackFirstResponse = 2, 1, sec(900)
		// boris ready 10 h + 3440 + 3505 s, handling 255 s; anna ready 4938 s, handling 462 s, not ready 1500 s.
		k.ReadyTime, k.HandlingTime, k.NotReadyTime, k.LoggedInTime = sec(47883), sec(717), sec(1500), sec(50100)
		k.Occupancy, k.Utilisation = fp(717.0/48600), fp(717.0/50100)
		k.NotReadyByReason = map[string]time.Duration{"": sec(600), "lunch": sec(900)}
		k.WrapUpStateTime = sec(90)
		assertRow(t, "day", want, rows[0])

		// Agents, the whole day.
		arows, err := s.AgentReport(ctx, req, []string{"anna", "boris"})
		require.NoError(t, err)
		require.Len(t, arows, 2)
		anna := AgentReportRow{Agent: "anna", KPIs: zeroKPIs(day, next, nil)}
		k = &anna.KPIs
		k.Offered, k.Answered = 3, 3 // ix1, ix10 (another queue), ix5
		k.AHT = sec(150)             // talk 360 + hold 60 + wrap-up 30, / 3
		k.AvgTalk, k.AvgHold, k.AvgWrapUp = sec(120), sec(20), sec(10)
		k.FCRCalls, k.FCR = 3, fp(2.0/3) // ix1 repeated; ix5, ix10 resolved
		k.NPSAnswers, k.NPS = 2, fp(0)   // 10 and 3
		k.CSATAnswers, k.CSAT = 2, fp(1) // 5 and 4
		k.ReadyTime, k.HandlingTime, k.NotReadyTime, k.LoggedInTime = sec(4938), sec(462), sec(1500), sec(6900)
		k.Occupancy, k.Utilisation = fp(462.0/5400), fp(462.0/6900)
		k.NotReadyByReason = map[string]time.Duration{"": sec(600), "lunch": sec(900)}
		k.WrapUpStateTime = sec(30)
		assertRow(t, "anna", anna, arows[0])
		boris := AgentReportRow{Agent: "boris", KPIs: zeroKPIs(day, next, nil)}
		k = &boris.KPIs
		k.Offered, k.Answered = 2, 2
		k.AHT = sec(120) // connected 180 + wrap-up 60, / 2
		k.AvgTalk, k.AvgHold, k.AvgWrapUp = sec(90), 0, sec(30)
		k.Transfers = 1
		k.FCRCalls, k.FCR = 1, fp(1)
		k.NPSAnswers, k.NPS = 1, fp(0)
		k.CSATAnswers, k.CSAT = 1, fp(0)
		k.ReadyTime, k.HandlingTime, k.LoggedInTime = sec(42945), sec(255), sec(43200)
		k.Occupancy, k.Utilisation = fp(255.0/43200), fp(255.0/43200)
		k.WrapUpStateTime = sec(60)
		assertRow(t, "boris", boris, arows[1])

		// Queues with traffic that day.
		qs, err := s.ReportQueues(ctx, day, next)
		require.NoError(t, err)
		require.Equal(t, []string{"sales", "support"}, qs)
	})
}

// queueReportBothWays runs a queue report twice: first with the rollups counted for
// no or other thresholds (those counts come from the interactions and the writer is
// asked to recount), then, once the writer has, from the rollups alone. Both must agree.
func queueReportBothWays(t *testing.T, s *Store, req ReportRequest, specs []QueueSpec) ([]QueueReportRow, error) {
	t.Helper()
	ctx := testCtx(t)
	first, err := s.QueueReport(ctx, req, specs)
	if err != nil {
		return nil, err
	}
	require.NoError(t, s.Sync(ctx))
	second, err := s.QueueReport(ctx, req, specs)
	require.NoError(t, err)
	require.Equal(t, first, second, "report from the recounted rollups")
	return second, nil
}

// assertRow compares rows, ratios to 1e-9.
func assertRow[R QueueReportRow | AgentReportRow](t *testing.T, name string, want, got R) {
	t.Helper()
	wk, gk := kpisOf(&want), kpisOf(&got)
	for _, p := range []struct {
		name string
		w, g **float64
	}{
		{"service level", &wk.ServiceLevel, &gk.ServiceLevel}, {"abandon rate", &wk.AbandonRate, &gk.AbandonRate},
		{"occupancy", &wk.Occupancy, &gk.Occupancy}, {"utilisation", &wk.Utilisation, &gk.Utilisation},
		{"fcr", &wk.FCR, &gk.FCR}, {"nps", &wk.NPS, &gk.NPS}, {"csat", &wk.CSAT, &gk.CSAT},
	} {
		if *p.w == nil || *p.g == nil {
			require.Equal(t, *p.w, *p.g, "%s: %s", name, p.name)
		} else {
			require.InDelta(t, **p.w, **p.g, 1e-9, "%s: %s", name, p.name)
		}
		*p.w, *p.g = nil, nil
	}
	require.True(t, wk.Start.Equal(gk.Start) && wk.End.Equal(gk.End), "%s: interval %s-%s, want %s-%s", name, gk.Start, gk.End, wk.Start, wk.End)
	require.Equal(t, wk.Start.Location().String(), gk.Start.Location().String(), "%s: zone", name)
	wk.Start, wk.End, gk.Start, gk.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	require.Equal(t, want, got, name)
}

func kpisOf[R QueueReportRow | AgentReportRow](r *R) *KPIs {
	switch v := any(r).(type) {
	case *QueueReportRow:
		return &v.KPIs
	case *AgentReportRow:
		return &v.KPIs
	}
	return nil
}

func TestReportBucketsInLocalTime(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Warsaw")
	require.NoError(t, err)
	// 2026-03-29: clocks go forward at 02:00, the day has 23 hours.
	day := time.Date(2026, 3, 29, 0, 0, 0, 0, loc)
	b, err := newBuckets(ReportRequest{From: day, To: day.AddDate(0, 0, 1), Interval: IntervalHour, Location: loc}, 1)
	require.NoError(t, err)
	require.Len(t, b.starts, 23)
	b, err = newBuckets(ReportRequest{From: day.Add(7 * time.Minute), To: day.AddDate(0, 0, 3).Add(time.Minute), Interval: IntervalDay, Location: loc}, 1)
	require.NoError(t, err)
	require.Len(t, b.starts, 4) // from is moved back to midnight, to forward to the next one
	start, end := b.bounds(0)
	require.Equal(t, 23*time.Hour, end.Sub(start))
	require.Equal(t, "2026-03-29T00:00:00+01:00", start.Format(time.RFC3339))
	b, err = newBuckets(ReportRequest{From: day, To: day.Add(time.Hour), Interval: Interval15Min, Location: loc}, 1)
	require.NoError(t, err)
	require.Len(t, b.starts, 4)
	// Bad requests.
	_, err = newBuckets(ReportRequest{From: day, To: day, Interval: IntervalHour, Location: loc}, 1)
	require.ErrorIs(t, err, ErrInvalidReport)
	_, err = newBuckets(ReportRequest{From: day, To: day.AddDate(10, 0, 0), Interval: Interval15Min, Location: loc}, 1)
	require.ErrorIs(t, err, ErrInvalidReport)
	_, err = ParseInterval("week")
	require.ErrorIs(t, err, ErrInvalidReport)
}

func TestSurveyAnswerValidation(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, a := range []SurveyAnswer{
		{Kind: SurveyNPS, Score: 11}, {Kind: SurveyNPS, Score: -1}, {Kind: SurveyCSAT, Score: 0},
		{Kind: SurveyCSAT, Score: 6}, {Kind: 9, Score: 1},
	} {
		_, err := a.prepared(now)
		require.ErrorIs(t, err, ErrInvalidRecord, "%+v", a)
	}
	p, err := SurveyAnswer{Kind: SurveyCSAT, Score: 5}.prepared(now)
	require.NoError(t, err)
	require.Equal(t, SurveyAnswer{Kind: SurveyCSAT, Score: 5, At: now}, p)
}

func TestReportCancelled(t *testing.T) {
	s := mustOpen(t, engines()[0].config(t))
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	req := ReportRequest{From: day, To: day.AddDate(0, 0, 1), Interval: IntervalHour, FCRWindow: time.Hour}
	_, err := s.QueueReport(ctx, req, benchSpecs())
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.AgentReport(ctx, req, benchAgents())
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.AgentReport(testCtx(t), req, []string{" "})
	require.ErrorIs(t, err, ErrInvalidReport)
	_, err = s.QueueReport(testCtx(t), ReportRequest{From: day, To: day.Add(time.Hour), Interval: IntervalHour}, nil)
	require.ErrorIs(t, err, ErrInvalidReport, "no FCR window")
}
