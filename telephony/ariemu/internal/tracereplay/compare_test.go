package tracereplay

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func loadPair(t *testing.T, name string) (*Trace, *Trace) {
	t.Helper()
	dir, err := DefaultDir()
	if err != nil {
		t.Fatalf("the recordings are required: %v", err)
	}
	r1, err := ParseFile(filepath.Join(dir, name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ParseFile(filepath.Join(dir, "run2", name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return r1, r2
}

// TestCompareRun1WithRun2 proves the comparator on the recordings themselves: two
// runs of a real Asterisk differ only in what the README documents.
func TestCompareRun1WithRun2(t *testing.T) {
	for _, sc := range Scenarios() {
		r1, r2 := loadPair(t, sc)
		rep := Compare(r1, r2)
		if len(rep.Mismatches) != 0 {
			t.Errorf("%s", rep)
		}
		if rep.Passed < len(r1.Lines)/3 {
			t.Errorf("%s: only %d comparisons passed for %d lines", sc, rep.Passed, len(r1.Lines))
		}
		t.Logf("%s: %d comparisons passed", sc, rep.Passed)
	}
}

func cloneTrace(t *Trace) *Trace {
	c := &Trace{Name: t.Name, Lines: make([]Line, len(t.Lines))}
	copy(c.Lines, t.Lines)
	return c
}

func findEvent(t *testing.T, tr *Trace, typ string, from int) int {
	t.Helper()
	for i := from; i < len(tr.Lines); i++ {
		if tr.Lines[i].EventType() == typ {
			return i
		}
	}
	t.Fatalf("%s: no %s event after line %d", tr.Name, typ, from)
	return -1
}

// TestCompareDetectsMutations proves that the comparator is not blind: each
// mutation of run 2 must be reported against run 1.
func TestCompareDetectsMutations(t *testing.T) {
	r1, r2 := loadPair(t, "inbound-basic")
	o1, o2 := loadPair(t, "originate-outcomes")
	e1, e2 := loadPair(t, "external-media")
	rtpWindow := func(tr *Trace) *Line {
		for i := range tr.Lines {
			if tr.Lines[i].Kind == KindRTP && tr.Lines[i].Packets > 100 && tr.Lines[i].Dir == "in" {
				return &tr.Lines[i]
			}
		}
		t.Fatal("no RTP window")
		return nil
	}
	mutations := []struct {
		name   string
		rec    *Trace
		mutate func(*Trace)
		want   string
	}{
		{"drop an event", r1, func(tr *Trace) {
			i := findEvent(t, tr, "ChannelLeftBridge", 0)
			tr.Lines = append(tr.Lines[:i], tr.Lines[i+1:]...)
		}, "event missing"},
		{"change a cause", o1, func(tr *Trace) {
			i := findEvent(t, tr, "ChannelDestroyed", 0)
			tr.Lines[i].Event = json.RawMessage(strings.Replace(string(tr.Lines[i].Event), `"cause":16,"cause_txt":"Normal Clearing"`, `"cause":17,"cause_txt":"Normal Clearing"`, 1))
		}, "cause: recorded 16, emulated 17"},
		{"swap two events of one channel", r1, func(tr *Trace) {
			i := findEvent(t, tr, "ChannelHangupRequest", 0)
			j := findEvent(t, tr, "StasisEnd", i)
			tr.Lines[i], tr.Lines[j] = tr.Lines[j], tr.Lines[i]
		}, "event order of channel:"},
		{"change a status", r1, func(tr *Trace) {
			for i := range tr.Lines {
				if tr.Lines[i].Kind == KindResponse && tr.Lines[i].Status == 204 {
					tr.Lines[i].Status = 200
					return
				}
			}
		}, "status: recorded 204, emulated 200"},
		{"extra event", r1, func(tr *Trace) {
			i := findEvent(t, tr, "PlaybackStarted", 0)
			tr.Lines = append(tr.Lines[:i+1], tr.Lines[i:]...)
		}, "unexpected event"},
		{"add a field", r1, func(tr *Trace) {
			i := findEvent(t, tr, "StasisStart", 0)
			tr.Lines[i].Event = json.RawMessage(strings.Replace(string(tr.Lines[i].Event), `"args":`, `"replace_channel":{},"args":`, 1))
		}, "unexpected field"},
		{"change a state", r1, func(tr *Trace) {
			i := findEvent(t, tr, "StasisStart", 0)
			tr.Lines[i].Event = json.RawMessage(strings.Replace(string(tr.Lines[i].Event), `"state":"Ring"`, `"state":"Up"`, 1))
		}, `state: recorded "Ring", emulated "Up"`},
		{"delay a time-driven event", o1, func(tr *Trace) {
			// noanswer's ChannelDestroyed (cause 19) comes 5 s after the originate.
			for i := range tr.Lines {
				if strings.Contains(string(tr.Lines[i].Event), `"cause":19,"cause_txt"`) {
					for j := i; j < len(tr.Lines); j++ {
						tr.Lines[j].TMs += 3000
					}
					return
				}
			}
		}, "ms after request"},
		{"move an event across a request naming its channel", r1, func(tr *Trace) {
			// ChannelEnteredBridge before the addChannel that caused it.
			i := findEvent(t, tr, "ChannelEnteredBridge", 0)
			ev := tr.Lines[i]
			tr.Lines = append(tr.Lines[:i], tr.Lines[i+1:]...)
			for j := i - 1; j >= 0; j-- {
				if tr.Lines[j].Kind == KindRequest {
					tr.Lines = append(tr.Lines[:j], append([]Line{ev}, tr.Lines[j:]...)...)
					return
				}
			}
		}, "arrived after request"},
		{"lose RTP packets", e1, func(tr *Trace) { rtpWindow(tr).Packets -= 10 }, "packets: recorded"},
		{"set an RTP marker", e1, func(tr *Trace) { rtpWindow(tr).Markers = 1 }, "markers: recorded 0, emulated 1"},
		{"change the RTP payload size", e1, func(tr *Trace) { rtpWindow(tr).PayloadBytes = 320 }, "payload_bytes"},
		{"change a dialstatus", o1, func(tr *Trace) {
			for i := range tr.Lines {
				if strings.Contains(string(tr.Lines[i].Event), `"dialstatus":"BUSY"`) {
					tr.Lines[i].Event = json.RawMessage(strings.Replace(string(tr.Lines[i].Event), `"dialstatus":"BUSY"`, `"dialstatus":"CONGESTION"`, 1))
					return
				}
			}
		}, "dialstatus"},
	}
	for _, m := range mutations {
		other := r2
		switch m.rec {
		case o1:
			other = o2
		case e1:
			other = e2
		}
		mut := cloneTrace(other)
		m.mutate(mut)
		rep := Compare(m.rec, mut)
		found := false
		for _, mm := range rep.Mismatches {
			if strings.Contains(mm.String(), m.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want a mismatch containing %q, got %s", m.name, m.want, rep)
		}
	}
}

func TestParseRejectsMalformedLines(t *testing.T) {
	for _, in := range []string{`{"t_ms":1,"kind":"request"`, `{"t_ms":1,"kind":"telepathy"}`} {
		if _, err := Parse("bad", strings.NewReader(in+"\n")); !errors.Is(err, ErrParse) {
			t.Errorf("%s: want ErrParse, got %v", in, err)
		}
	}
	tr, err := Parse("ok", strings.NewReader(`{"t_ms":0,"kind":"note","text":"x"}`+"\n\n"))
	if err != nil || len(tr.Lines) != 1 || tr.Lines[0].N != 1 {
		t.Fatalf("parse: %v %+v", err, tr)
	}
}

// TestCompareToleratesCrossingARefusedRequest: the ExternalMedia leg's first Dial may
// come before or after the early addChannel that Asterisk refuses with 422 (a refused
// request changes nothing, so it orders nothing), while an event crossing a request
// that did something is still a mismatch (TestCompareDetectsMutations).
func TestCompareToleratesCrossingARefusedRequest(t *testing.T) {
	e1, e2 := loadPair(t, "external-media")
	mut := cloneTrace(e2)
	i := findEvent(t, mut, "Dial", 0)
	ev := mut.Lines[i]
	mut.Lines = append(mut.Lines[:i], mut.Lines[i+1:]...)
	moved := false
	for j := i - 1; j >= 0; j-- {
		if mut.Lines[j].Kind == KindRequest {
			if !strings.Contains(mut.Lines[j].Path, "addChannel") {
				t.Fatalf("the request before the first Dial is %s %s, want the early addChannel", mut.Lines[j].Method, mut.Lines[j].Path)
			}
			mut.Lines = append(mut.Lines[:j], append([]Line{ev}, mut.Lines[j:]...)...)
			moved = true
			break
		}
	}
	if !moved {
		t.Fatal("no request before the first Dial")
	}
	if rep := Compare(e1, mut); len(rep.Mismatches) != 0 {
		t.Errorf("the Dial moved before the refused addChannel: %s", rep)
	}
}
